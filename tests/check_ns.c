/* check_ns — a process in another PID namespace (a container) seen from the host: `leakwatch dump HOSTPID`
 * when its /tmp is private (state file and reports reachable only through /proc/PID/root), and the live
 * gate when the server runs under unshare --pid --fork --mount-proc. Needs root (unshare). */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_suites.h"
#include "testutil.h"

/* The host pid of the descendant of `top` that is pid 1 of its own PID namespace, or -1. */
static pid_t namespace_init_below(pid_t top)
{
    double end = tu_now() + 10;
    while (tu_now() < end) {
        char *path = tu_strf("/proc/%d/task/%d/children", (int)top, (int)top);
        char *kids = tu_slurp(path);
        free(path);
        for (char *p = kids; p && *p;) {
            char *next;
            long kid = strtol(p, &next, 10);
            if (next == p)
                break;
            p = next;
            char *status_path = tu_strf("/proc/%ld/status", kid);
            char *status = tu_slurp(status_path);
            char *ns = status ? strstr(status, "\nNSpid:") : NULL;
            int is_init = ns && strstr(ns, "\t1\n") && strchr(ns + 1, '\n') >= strstr(ns, "\t1\n");
            free(status);
            free(status_path);
            if (is_init) {
                free(kids);
                return (pid_t)kid;
            }
        }
        free(kids);
        usleep(50 * 1000);
    }
    return -1;
}

static void run_leakwatch(struct tu_proc *p, const char *dir, char **args, double timeout_s)
{
    char *argv[32];
    argv[0] = tu_strf("%s/leakwatch", tu_build_dir());
    int n = 1;
    for (; args[n - 1]; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    struct tu_env env;
    tu_env_base(&env, dir);
    tu_run(p, argv, env.vars, timeout_s);
    tu_env_free(&env);
    free(argv[0]);
}

START_TEST(dump_through_proc_root)
{
    ck_assert_msg(geteuid() == 0, "this suite needs root (unshare --pid --mount)");
    char *dir = tu_tempdir();
    char *fx = tu_fixture("ns_leak");
    char *shim = tu_strf("LD_PRELOAD=%s", tu_shim_path());
    /* a private state directory (where the reports go too): what the process writes there is visible from
     * the host only through /proc/PID/root. Only the program carries the shim, as in a container. */
    char *argv[] = { "/usr/bin/unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "--mount", "/bin/sh",
                     "-c", "mkdir -p -m 700 /tmp/leakwatch-0 && mount -t tmpfs -o mode=700 none /tmp/leakwatch-0 && "
                     "exec /usr/bin/env \"$0\" \"$1\" 60", shim, fx, NULL };
    const char *settings[] = { "LEAKWATCH_MIN_AGE=0", NULL };
    struct tu_env env;
    tu_env_with(&env, dir, 0, settings);
    tu_env_unset(&env, "LEAKWATCH_OUT");
    struct tu_proc p;
    tu_spawn(&p, argv, env.vars, dir);
    tu_env_free(&env);
    ck_assert_msg(tu_read_until(&p, "ready", 20) == 0, "fixture not ready: %s", p.err);
    pid_t host_pid = namespace_init_below(p.pid);
    ck_assert_msg(host_pid > 0, "no pid 1 of a new namespace below %d", (int)p.pid);
    char *hidden = tu_strf("/proc/%d/root/tmp/leakwatch-0/1.state", (int)host_pid);
    ck_assert_msg(access(hidden, F_OK) == 0, "the shim in the namespace wrote no %s", hidden);
    char pidtext[24];
    snprintf(pidtext, sizeof pidtext, "%d", (int)host_pid);
    char *args[] = { "dump", pidtext, "--timeout", "20s", NULL };
    struct tu_proc d;
    run_leakwatch(&d, dir, args, 60);
    ck_assert_msg(WIFEXITED(d.status) && WEXITSTATUS(d.status) == 0, "dump %d: %s\n%s", (int)host_pid,
                  tu_status_str(&d), d.err);
    ck_assert_msg(strstr(d.out, "fx_ns_leak"), "the report names the leak:\n%.3000s", d.out);
    char *where = tu_strf("/proc/%d/root/tmp/leakwatch-0/ns_leak.1.", (int)host_pid);
    ck_assert_msg(strstr(d.err, where), "dump says where the report is (%s): %s", where, d.err);
    tu_proc_free(&d);
    kill(p.pid, SIGTERM);
    tu_finish(&p, 20);
    tu_proc_free(&p);
    free(where), free(hidden), free(fx), free(shim);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(gate_on_a_server_in_a_pid_namespace)
{
    ck_assert_msg(geteuid() == 0, "this suite needs root (unshare --pid)");
    char *dir = tu_tempdir();
    char *fx = tu_fixture("ns_leak");
    char *args[] = { "gate", "--rounds", "4", "--warmup", "1", "--load", "sleep 0.5", "--min-growth", "1K", "--",
                     "/usr/bin/unshare", "--pid", "--fork", "--kill-child", "--mount-proc", fx, "120", NULL };
    struct tu_proc g;
    run_leakwatch(&g, dir, args, 180);
    ck_assert_msg(WIFEXITED(g.status) && WEXITSTATUS(g.status) == 1, "gate: %s\nout: %s\nerr: %s",
                  tu_status_str(&g), g.out, g.err);
    ck_assert_msg(strstr(g.out, "FAIL  site ") && strstr(g.out, "fx_ns_leak"), "%s", g.out);
    tu_proc_free(&g);
    free(fx);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* Starts ns_leak as pid 1 of a new PID namespace that shares our /tmp, reports in out. */
static pid_t start_in_namespace(struct tu_proc *p, const char *dir, const char *out)
{
    char *fx = tu_fixture("ns_leak");
    char *shim = tu_strf("LD_PRELOAD=%s", tu_shim_path());
    /* only the program carries the shim, as in a container: no ancestor's state file stands in for its own */
    char *argv[] = { "/usr/bin/unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "/usr/bin/env", shim, fx,
                     "60", NULL };
    char *setting = tu_strf("LEAKWATCH_OUT=%s", out);
    const char *settings[] = { setting, "LEAKWATCH_MIN_AGE=0", NULL };
    struct tu_env env;
    tu_env_with(&env, dir, 0, settings);
    tu_spawn(p, argv, env.vars, dir);
    tu_env_free(&env);
    ck_assert_msg(tu_read_until(p, "ready", 20) == 0, "fixture not ready: %s", p->err);
    free(setting);
    free(fx);
    free(shim);
    pid_t host_pid = namespace_init_below(p->pid);
    ck_assert_msg(host_pid > 0, "no pid 1 of a new namespace below %d", (int)p->pid);
    return host_pid;
}

/* Two containers' pid 1 in one shared /tmp: the second's state file replaces the first's, and dump must not
 * take it for the first's (it would signal the first and wait on the wrong reports). */
START_TEST(same_pid_in_two_namespaces)
{
    ck_assert_msg(geteuid() == 0, "this suite needs root (unshare --pid)");
    char *dir = tu_tempdir();
    char *out_a = tu_strf("%s/a", dir), *out_b = tu_strf("%s/b", dir);
    struct tu_proc a, b;
    pid_t pid_a = start_in_namespace(&a, dir, out_a);
    usleep(300 * 1000);
    pid_t pid_b = start_in_namespace(&b, dir, out_b);
    usleep(300 * 1000);
    char text_a[24], text_b[24];
    snprintf(text_a, sizeof text_a, "%d", (int)pid_a);
    snprintf(text_b, sizeof text_b, "%d", (int)pid_b);
    char *args_a[] = { "dump", text_a, "--timeout", "10s", NULL };
    struct tu_proc d;
    run_leakwatch(&d, dir, args_a, 60);
    ck_assert_msg(WIFEXITED(d.status) && WEXITSTATUS(d.status) == 2 && strstr(d.err, "another PID namespace"),
                  "dump of the first: %s\nout: %.500s\nerr: %s", tu_status_str(&d), d.out, d.err);
    tu_proc_free(&d);
    char *args_b[] = { "dump", text_b, "--timeout", "20s", NULL };
    run_leakwatch(&d, dir, args_b, 60);
    ck_assert_msg(WIFEXITED(d.status) && WEXITSTATUS(d.status) == 0 && strstr(d.out, "fx_ns_leak"),
                  "dump of the second: %s\n%s", tu_status_str(&d), d.err);
    ck_assert_msg(strstr(d.err, out_b), "the second's report is in its own directory: %s", d.err);
    tu_proc_free(&d);
    kill(a.pid, SIGTERM);
    kill(b.pid, SIGTERM);
    tu_finish(&a, 20);
    tu_finish(&b, 20);
    tu_proc_free(&a);
    tu_proc_free(&b);
    free(out_a), free(out_b);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

Suite *ns_suite(void);
Suite *ns_suite(void)
{
    Suite *s = suite_create("containers");
    TCase *tc = tcase_create("namespaces");
    tcase_add_checked_fixture(tc, tu_tempbase_setup, tu_tempbase_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, dump_through_proc_root);
    tcase_add_test(tc, gate_on_a_server_in_a_pid_namespace);
    tcase_add_test(tc, same_pid_in_two_namespaces);
    suite_add_tcase(s, tc);
    return s;
}
LW_SUITE(ns_suite)
