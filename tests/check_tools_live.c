/* check_tools_live — the leakwatch command against live processes carrying the shim: `run` sets up the
 * preload environment, `dump` gets a report from a running fixture (and refuses a dead PID, a PID without the
 * shim, and times out on a stopped one), `report --lines/--format folded` on what the shim wrote, and the live
 * gate over a forking server's whole process tree, including servers that die or never get ready. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_suites.h"
#include "testutil.h"

static char *lw_path(void)
{
    char *p = tu_strf("%s/leakwatch", tu_build_dir());
    ck_assert_msg(access(p, X_OK) == 0, "%s is not built (make all)", p);
    char *shim = tu_shim_path();
    ck_assert_msg(access(shim, R_OK) == 0, "%s is not built (make all): the live tools tests need it", shim);
    free(shim);
    return p;
}

static int exit_code(const struct tu_proc *p)
{
    return WIFEXITED(p->status) ? WEXITSTATUS(p->status) : -1;
}

/* Runs leakwatch with args (NULL-terminated) in env. */
static void lw(struct tu_proc *p, struct tu_env *env, double timeout_s, char **args)
{
    char *argv[48];
    int n = 0;
    argv[n++] = lw_path();
    while (args[n - 1] && n < 47) {
        argv[n] = args[n - 1];
        n++;
    }
    argv[n] = NULL;
    tu_run(p, argv, env->vars, timeout_s);
    free(argv[0]);
}

/* The idle fixture started through `leakwatch run`, with its reports in out; ready to be asked. */
static void start_idle(struct tu_proc *p, struct tu_env *env, const char *out)
{
    char *leakwatch = lw_path(), *idle = tu_fixture("idle");
    char *argv[] = {leakwatch, "run", "--out", (char *)out, "--min-age", "0", "--", idle, NULL};
    tu_env_base(env, "/nonexistent");
    tu_spawn(p, argv, env->vars, NULL);
    ck_assert_msg(tu_read_until(p, "ready", 20) == 0, "idle under leakwatch run never said ready: %s", p->err);
    free(leakwatch);
    free(idle);
}

START_TEST(run_then_dump)
{
    char *out = tu_tempdir();
    struct tu_proc idle, p;
    struct tu_env env;
    start_idle(&idle, &env, out);
    char *pid = tu_strf("%d", (int)idle.pid);
    char *a1[] = {"dump", pid, NULL};
    lw(&p, &env, 30, a1);
    ck_assert_msg(exit_code(&p) == 0, "dump: %s; stderr: %s", tu_status_str(&p), p.err);
    ck_assert_msg(strstr(p.out, "LEAK: 1 block (4.2 KiB) allocated here is still live") &&
                  strstr(p.out, " fx_idle_leak+0x"), "dump printed:\n%s", p.out);
    ck_assert_msg(strstr(p.out, "leakwatch report #1 (signal) for "), "%s", p.out);
    tu_proc_free(&p);
    char *json = tu_report_path(out, "idle", idle.pid, 1, "json");
    ck_assert_msg(access(json, R_OK) == 0, "%s is missing", json);

    /* A second dump gets the next report, not the first one again. */
    lw(&p, &env, 30, a1);
    ck_assert_msg(exit_code(&p) == 0 && strstr(p.out, "leakwatch report #2 (signal)"), "second dump: %s %s",
                  tu_status_str(&p), p.out);
    tu_proc_free(&p);

    char *a2[] = {"report", json, "--lines", NULL};
    lw(&p, &env, 30, a2);
    ck_assert_msg(exit_code(&p) == 0, "report --lines: %s %s", tu_status_str(&p), p.err);
    ck_assert_msg(strstr(p.out, "fx_idle_leak+0xe (idle.c:") || strstr(p.out, " (idle.c:"),
                  "report --lines resolved no line of the fixture (built with -g):\n%s", p.out);
    tu_proc_free(&p);

    char *a3[] = {"report", json, "--format", "folded", NULL};
    lw(&p, &env, 30, a3);
    ck_assert_msg(exit_code(&p) == 0 && strstr(p.out, ";main;fx_idle_leak 4321\n"), "folded:\n%s", p.out);
    tu_proc_free(&p);

    kill(idle.pid, SIGKILL);
    tu_finish(&idle, 10);
    tu_proc_free(&idle);
    tu_env_free(&env);
    free(json);
    free(pid);
    tu_rmtree(out);
    free(out);
}
END_TEST

START_TEST(dump_refuses_clearly)
{
    struct tu_proc p, bare;
    struct tu_env env;
    tu_env_base(&env, "/nonexistent");

    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    char *spid = tu_strf("%d", (int)dead);
    char *a1[] = {"dump", spid, NULL};
    lw(&p, &env, 30, a1);
    ck_assert_msg(exit_code(&p) == 2 && strstr(p.err, "no such process") && strstr(p.err, spid), "dead PID: %s %s",
                  tu_status_str(&p), p.err);
    tu_proc_free(&p);
    free(spid);

    char *idle = tu_fixture("idle");
    char *argv[] = {idle, NULL};
    tu_spawn(&bare, argv, env.vars, NULL);
    ck_assert(tu_read_until(&bare, "ready", 20) == 0);
    spid = tu_strf("%d", (int)bare.pid);
    char *a2[] = {"dump", spid, NULL};
    lw(&p, &env, 30, a2);
    ck_assert_msg(exit_code(&p) == 2 && strstr(p.err, "has no leakwatch loaded: start it with leakwatch run"),
                  "PID without the shim: %s %s", tu_status_str(&p), p.err);
    tu_proc_free(&p);
    kill(bare.pid, SIGKILL);
    tu_finish(&bare, 10);
    tu_proc_free(&bare);
    free(spid);
    tu_env_free(&env);

    /* A thread id is not a process: dump names the process it belongs to (the shim's reporter thread). */
    char *out = tu_tempdir();
    struct tu_proc stopped;
    start_idle(&stopped, &env, out);
    char *task_dir = tu_strf("/proc/%d/task", (int)stopped.pid);
    DIR *tasks = opendir(task_dir);
    ck_assert(tasks != NULL);
    struct dirent *e;
    long tid = 0;
    while ((e = readdir(tasks)))
        if (atol(e->d_name) > 0 && atol(e->d_name) != stopped.pid)
            tid = atol(e->d_name);
    closedir(tasks);
    ck_assert_msg(tid > 0, "the idle fixture under the shim has no second thread");
    spid = tu_strf("%ld", tid);
    char *a4[] = {"dump", spid, NULL};
    lw(&p, &env, 30, a4);
    char *named = tu_strf("%ld is a thread of PID %d", tid, (int)stopped.pid);
    ck_assert_msg(exit_code(&p) == 2 && strstr(p.err, named), "thread id: %s %s", tu_status_str(&p), p.err);
    tu_proc_free(&p);
    free(named);
    free(task_dir);
    free(spid);

    /* A stopped process cannot answer: the wait is bounded and says so. */
    kill(stopped.pid, SIGSTOP);
    spid = tu_strf("%d", (int)stopped.pid);
    char *a3[] = {"dump", spid, "--timeout", "300ms", NULL};
    lw(&p, &env, 30, a3);
    ck_assert_msg(exit_code(&p) == 2 && strstr(p.err, "wrote no new report") && strstr(p.err, "--timeout"),
                  "stopped PID: %s %s", tu_status_str(&p), p.err);
    tu_proc_free(&p);
    kill(stopped.pid, SIGKILL);
    kill(stopped.pid, SIGCONT);
    tu_finish(&stopped, 10);
    tu_proc_free(&stopped);
    tu_env_free(&env);
    free(spid);
    free(idle);
    tu_rmtree(out);
    free(out);
}
END_TEST

static void copy_file(const char *from, const char *to, mode_t mode)
{
    char *data = NULL;
    size_t len = 0;
    FILE *in = fopen(from, "rb");
    ck_assert_msg(in != NULL, "cannot read %s", from);
    FILE *mem = open_memstream(&data, &len);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, mem);
    fclose(in);
    fclose(mem);
    FILE *out = fopen(to, "wb");
    ck_assert_msg(out != NULL && fwrite(data, 1, len, out) == len && fclose(out) == 0, "cannot write %s", to);
    ck_assert(chmod(to, mode) == 0);
    free(data);
}

/* Installed as PREFIX/bin/leakwatch, the command finds PREFIX/lib/libleakwatch.so; with neither layout it says
 * what to do. */
START_TEST(run_finds_the_installed_shim)
{
    char *prefix = tu_tempdir();
    char *bin = tu_strf("%s/bin", prefix), *lib = tu_strf("%s/lib", prefix);
    ck_assert(mkdir(bin, 0755) == 0 && mkdir(lib, 0755) == 0);
    char *lwsrc = lw_path(), *shimsrc = tu_shim_path();
    char *lw = tu_strf("%s/leakwatch", bin), *shim = tu_strf("%s/libleakwatch.so", lib);
    copy_file(lwsrc, lw, 0755);
    struct tu_env env;
    tu_env_base(&env, "/nonexistent");
    struct tu_proc p;
    char *argv[] = {lw, "run", "--quiet", "--", "/bin/sh", "-c", "echo \"[$LD_PRELOAD]\"", NULL};
    tu_run(&p, argv, env.vars, 30);
    ck_assert_msg(exit_code(&p) == 2 && strstr(p.err, "libleakwatch.so is neither in") && strstr(p.err, "make"),
                  "without a shim: %s %s", tu_status_str(&p), p.err);
    tu_proc_free(&p);
    copy_file(shimsrc, shim, 0755);
    tu_run(&p, argv, env.vars, 30);
    char *want = tu_strf("[%s]", shim);
    ck_assert_msg(exit_code(&p) == 0 && strstr(p.out, want), "installed run printed %s, want %s; stderr %s", p.out,
                  want, p.err);
    tu_proc_free(&p);
    tu_env_free(&env);
    free(want);
    free(lw);
    free(shim);
    free(lwsrc);
    free(shimsrc);
    free(bin);
    free(lib);
    tu_rmtree(prefix);
    free(prefix);
}
END_TEST

/* run and gate refuse up front every value the shim would refuse (it would only say so on stderr and use its
 * default): one line naming the option, exit 2, and the command never starts. */
static const char *const refused_run_options[][2] = {
    {"--depth", "100000"}, {"--depth", "0"}, {"--top", "1000001"}, {"--min-age", "0x10"}, {"--min-age", "1e3"},
    {"--interval", "50ms"}, {"--signal", "9"}, {"--signal", "SIGPIPE"}, {"--signal", "SIGTERM"},
    {"--signal", "SIGCHLD"},
};

/* The exit report counts every live block as a leak (age 0): report must say "older than 0.0 s" as the shim's
 * own text does, not the configured LEAKWATCH_MIN_AGE of 10 s. */
START_TEST(report_of_exit_report_age)
{
    char *out = tu_tempdir();
    struct tu_proc p;
    struct tu_env env;
    tu_env_base(&env, "/nonexistent");
    char *fixture = tu_fixture("leak_direct");
    char *a1[] = {"run", "--out", out, "--", fixture, NULL};
    lw(&p, &env, 30, a1);
    ck_assert_msg(exit_code(&p) == 3, "leak_direct under run: %s %s", tu_status_str(&p), p.err);
    tu_proc_free(&p);
    DIR *d = opendir(out);
    ck_assert(d != NULL);
    struct dirent *e;
    char *json = NULL;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".1.json"))
            json = tu_strf("%s/%s", out, e->d_name);
    closedir(d);
    ck_assert_msg(json != NULL, "no exit report in %s", out);
    char *txt = tu_strf("%.*s.txt", (int)(strlen(json) - 5), json);
    char *shim_text = tu_slurp(txt);
    ck_assert_msg(shim_text && strstr(shim_text, "Leak records: live blocks older than 0.0 s"), "%s", shim_text);
    char *a2[] = {"report", json, NULL};
    lw(&p, &env, 30, a2);
    ck_assert_msg(exit_code(&p) == 0 && strstr(p.out, "Leak records: live blocks older than 0.0 s") &&
                  strstr(p.out, "LEAK: "), "report of the exit report:\n%s", p.out);
    tu_proc_free(&p);
    free(shim_text);
    free(txt);
    free(json);
    free(fixture);
    tu_env_free(&env);
    tu_rmtree(out);
    free(out);
}
END_TEST

START_TEST(run_refuses_what_the_shim_refuses)
{
    struct tu_proc p;
    struct tu_env env;
    tu_env_base(&env, "/nonexistent");
    const char *opt = refused_run_options[_i][0], *value = refused_run_options[_i][1];
    char *a1[] = {"run", (char *)opt, (char *)value, "--", "/bin/sh", "-c", "echo started", NULL};
    lw(&p, &env, 30, a1);
    char *named = tu_strf("%s \"%s\"", opt, value);
    ck_assert_msg(exit_code(&p) == 2 && strstr(p.out, "started") == NULL && strstr(p.err, named) &&
                  strchr(p.err, '\n') == p.err + strlen(p.err) - 1,
                  "run %s %s: %s, stdout %s, stderr %s", opt, value, tu_status_str(&p), p.out, p.err);
    tu_proc_free(&p);
    if (strcmp(opt, "--signal") == 0) {
        char *a2[] = {"gate", "--signal", (char *)value, "--rounds", "1", "--load", "true", "--", "/bin/sh", "-c",
                      "echo started", NULL};
        lw(&p, &env, 30, a2);
        ck_assert_msg(exit_code(&p) == 2 && strstr(p.out, "started") == NULL && strstr(p.err, named),
                      "gate --signal %s: %s, stdout %s, stderr %s", value, tu_status_str(&p), p.out, p.err);
        tu_proc_free(&p);
    }
    free(named);
    tu_env_free(&env);
}
END_TEST

START_TEST(run_sets_the_environment)
{
    struct tu_proc p;
    struct tu_env env;
    tu_env_base(&env, "/nonexistent");
    tu_env_set(&env, "LD_PRELOAD", "libm.so.6");
    char *a1[] = {"run", "--signal", "SIGUSR1", "--interval", "5s", "--quiet", "--top", "7", "--", "/bin/sh", "-c",
                  "echo \"[$LD_PRELOAD|$LEAKWATCH_SIGNAL|$LEAKWATCH_INTERVAL|$LEAKWATCH_QUIET|$LEAKWATCH_TOP]\"", NULL};
    lw(&p, &env, 30, a1);
    char *shim = tu_shim_path();
    char *want = tu_strf("[libm.so.6:%s|SIGUSR1|5s|1|7]", shim);
    ck_assert_msg(exit_code(&p) == 0 && strstr(p.out, want), "run printed %s (want %s); stderr %s", p.out, want,
                  p.err);
    tu_proc_free(&p);
    free(want);

    /* A JVM gets frame pointers so that walks from malloc reach Java frames. */
    char *dir = tu_tempdir();
    char *java = tu_strf("%s/java", dir);
    ck_assert(symlink("/bin/sh", java) == 0);
    tu_env_set(&env, "JAVA_TOOL_OPTIONS", "-Xss1m");
    char *a2[] = {"run", "--quiet", "--", java, "-c", "echo \"[$JAVA_TOOL_OPTIONS|$LEAKWATCH_SITE_DEPTH]\"", NULL};
    lw(&p, &env, 30, a2);
    ck_assert_msg(exit_code(&p) == 0 && strstr(p.out, "[-Xss1m -XX:+PreserveFramePointer|20]"), "java run: %s %s",
                  p.out, p.err);
    tu_proc_free(&p);
    /* a site depth the user chose stays */
    tu_env_set(&env, "LEAKWATCH_SITE_DEPTH", "6");
    lw(&p, &env, 30, a2);
    ck_assert_msg(exit_code(&p) == 0 && strstr(p.out, "|6]"), "java run: %s %s", p.out, p.err);
    tu_proc_free(&p);

    char *a3[] = {"run", "--signal", "SIGBOGUS", "--", "/bin/true", NULL};
    lw(&p, &env, 30, a3);
    ck_assert_msg(exit_code(&p) == 2 && strstr(p.err, "--signal \"SIGBOGUS\""), "%s", p.err);
    tu_proc_free(&p);
    char *a4[] = {"run", "--", "/nonexistent/cmd", NULL};
    lw(&p, &env, 30, a4);
    ck_assert_msg(exit_code(&p) == 2 && strstr(p.err, "cannot run /nonexistent/cmd"), "%s", p.err);
    tu_proc_free(&p);
    tu_env_free(&env);
    free(java);
    tu_rmtree(dir);
    free(dir);
    free(shim);
}
END_TEST

/* tests/data/tree_server.c, compiled into dir. */
static char *build_tree_server(const char *dir)
{
    char *src = tu_strf("%s/../tests/data/tree_server.c", tu_build_dir());
    ck_assert_msg(access(src, R_OK) == 0, "%s is missing", src);
    char *bin = tu_strf("%s/tree_server", dir);
    char *argv[] = {"/usr/bin/cc", "-O1", "-g", "-fno-omit-frame-pointer", "-fno-inline", "-o", bin, src, NULL};
    struct tu_env env;
    tu_env_base(&env, "/nonexistent");
    struct tu_proc p;
    tu_run(&p, argv, env.vars, 60);
    ck_assert_msg(exit_code(&p) == 0, "cc %s: %s %s", src, tu_status_str(&p), p.err);
    tu_proc_free(&p);
    tu_env_free(&env);
    free(src);
    return bin;
}

/* The PID the gate says it started the server as, from its stderr. */
static pid_t started_pid(const char *err)
{
    const char *at = strstr(err, " as PID ");
    return at ? (pid_t)atoi(at + 8) : -1;
}

static void expect_server_gone(pid_t pid)
{
    ck_assert_msg(pid > 0, "the gate did not say which PID it started");
    char *path = tu_strf("/proc/%d/stat", (int)pid);
    ck_assert_msg(access(path, F_OK) != 0, "the gate left its server PID %d behind", (int)pid);
    free(path);
}

START_TEST(gate_live_process_tree)
{
    char *dir = tu_tempdir();
    char *server = build_tree_server(dir);
    struct tu_env env;
    tu_env_base(&env, "/nonexistent");
    tu_env_unset(&env, "LEAKWATCH_OUT");
    struct tu_proc p;
    char *a1[] = {"gate", "--rounds", "4", "--warmup", "1", "--load", "test \"$LEAKWATCH_ROUND\" -ge 1 && sleep 0.4",
                  "--", server, "3", "leak", NULL};
    lw(&p, &env, 120, a1);
    ck_assert_msg(exit_code(&p) == 1, "gate on a leaking process tree: %s\nout: %s\nerr: %s", tu_status_str(&p),
                  p.out, p.err);
    ck_assert_msg(strstr(p.err, "round 4/4: snapshot of 3 processes"), "not all 3 processes were snapshot: %s", p.err);
    ck_assert_msg(strstr(p.out, "FAIL  site ") && strstr(p.out, "leak_tick+0x"), "%s", p.out);
    ck_assert_msg(strstr(p.out, "leakwatch gate: round 4 report: /tmp/leakwatch-gate."), "%s", p.out);
    expect_server_gone(started_pid(p.err));
    tu_proc_free(&p);

    char *a2[] = {"gate", "--rounds", "4", "--warmup", "1", "--load", "sleep 0.4", "--", server, "3", "ok", NULL};
    lw(&p, &env, 120, a2);
    ck_assert_msg(exit_code(&p) == 0, "gate on a process tree without a leak: %s\nout: %s\nerr: %s",
                  tu_status_str(&p), p.out, p.err);
    expect_server_gone(started_pid(p.err));
    tu_proc_free(&p);
    tu_env_free(&env);
    free(server);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(gate_live_errors)
{
    char *out = tu_tempdir();
    struct tu_env env;
    tu_env_base(&env, out);
    struct tu_proc p;
    char *a1[] = {"gate", "--rounds", "3", "--load", "true", "--", "/bin/false", NULL};
    lw(&p, &env, 60, a1);
    ck_assert_msg(exit_code(&p) == 2 && strstr(p.err, "exited with status 1 before it was ready"),
                  "server dying at once: %s %s", tu_status_str(&p), p.err);
    tu_proc_free(&p);

    char *idle = tu_fixture("idle");
    char *a2[] = {"gate", "--rounds", "3", "--load", "true", "--ready-port", "1", "--timeout", "1s", "--", idle, NULL};
    lw(&p, &env, 60, a2);
    ck_assert_msg(exit_code(&p) == 2 && strstr(p.err, "was not ready within 1 s"), "never ready: %s %s",
                  tu_status_str(&p), p.err);
    expect_server_gone(started_pid(p.err));
    tu_proc_free(&p);

    char *a3[] = {"gate", "--rounds", "3", "--load", "exit 3", "--", idle, NULL};
    lw(&p, &env, 60, a3);
    ck_assert_msg(exit_code(&p) == 2 && strstr(p.err, "round 1: the load command exited with status 3"),
                  "failing load: %s %s", tu_status_str(&p), p.err);
    expect_server_gone(started_pid(p.err));
    tu_proc_free(&p);
    tu_env_free(&env);
    free(idle);
    tu_rmtree(out);
    free(out);
}
END_TEST

/* Reads the gate's stderr until it has said where its reports go; returns that directory (the part before
 * "/<uid>/"), or NULL after timeout_s. */
static char *gate_report_dir(struct tu_proc *p, double timeout_s)
{
    double end = tu_now() + timeout_s;
    while (tu_now() < end) {
        const char *at = p->err ? strstr(p->err, "reports in ") : NULL;
        const char *uid = at ? strstr(at, "/<uid>/") : NULL;
        if (uid)
            return strndup(at + 11, (size_t)(uid - (at + 11)));
        struct pollfd pf = {.fd = p->err_fd, .events = POLLIN};
        if (poll(&pf, 1, 100) > 0) {
            char buf[4096];
            ssize_t n = read(p->err_fd, buf, sizeof buf);
            if (n <= 0)
                return NULL;
            p->err = realloc(p->err, p->err_len + (size_t)n + 1);
            memcpy(p->err + p->err_len, buf, (size_t)n);
            p->err_len += (size_t)n;
            p->err[p->err_len] = '\0';
        }
    }
    return NULL;
}

/* The gate's own report directory is private (0700, not a sticky 1777 anyone may write into) and is removed,
 * with the reports in it, when the gate is stopped by SIGTERM, SIGINT or SIGHUP, which still end the gate
 * as they would without it (killed by that signal); its server goes too. */
START_TEST(gate_interrupted_leaves_nothing)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    int sig = sigs[_i];
    char *dir = tu_tempdir();
    char *mark = tu_strf("%s/round1", dir), *load = tu_strf("touch %s; sleep 60", mark);
    char *leakwatch = lw_path(), *idle = tu_fixture("idle");
    char *argv[] = {leakwatch, "gate", "--rounds", "3", "--load", load, "--", idle, NULL};
    struct tu_env env;
    tu_env_base(&env, "/nonexistent");
    tu_env_unset(&env, "LEAKWATCH_OUT");
    struct tu_proc p;
    tu_spawn(&p, argv, env.vars, NULL);
    char *out = gate_report_dir(&p, 30);
    ck_assert_msg(out != NULL, "the gate did not say where its reports go: %s", p.err);
    for (int i = 0; i < 300 && access(mark, F_OK) != 0; i++)
        tu_sleep_ms(100);
    ck_assert_msg(access(mark, F_OK) == 0, "round 1's load never ran: %s", p.err);
    struct stat st;
    ck_assert_msg(stat(out, &st) == 0, "%s: %s", out, strerror(errno));
    ck_assert_msg((st.st_mode & 07777) == 0700, "the gate's report directory %s has mode %04o, not 0700", out,
                  (unsigned)(st.st_mode & 07777));
    /* a report in it, as a snapshot would leave one: removed with the directory */
    char *sub = tu_strf("%s/%u", out, (unsigned)geteuid()), *file = tu_strf("%s/x.1.1.json", sub);
    ck_assert(mkdir(sub, 0700) == 0);
    FILE *f = fopen(file, "w");
    ck_assert(f && fclose(f) == 0);
    kill(p.pid, sig);
    tu_finish(&p, 30);
    ck_assert_msg(WIFSIGNALED(p.status) && WTERMSIG(p.status) == sig, "the gate, sent signal %d, ended with %s",
                  sig, tu_status_str(&p));
    ck_assert_msg(access(out, F_OK) != 0, "the interrupted gate left %s behind", out);
    expect_server_gone(started_pid(p.err));
    tu_proc_free(&p);
    tu_env_free(&env);
    free(sub);
    free(file);
    free(out);
    free(mark);
    free(load);
    free(leakwatch);
    free(idle);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

static Suite *tools_live_suite(void)
{
    Suite *s = suite_create("tools_live");
    TCase *tc = tcase_create("live");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, run_then_dump);
    tcase_add_loop_test(tc, gate_interrupted_leaves_nothing, 0, 3);
    tcase_add_test(tc, dump_refuses_clearly);
    tcase_add_test(tc, run_sets_the_environment);
    tcase_add_test(tc, report_of_exit_report_age);
    tcase_add_loop_test(tc, run_refuses_what_the_shim_refuses, 0,
                        (int)(sizeof refused_run_options / sizeof *refused_run_options));
    tcase_add_test(tc, run_finds_the_installed_shim);
    tcase_add_test(tc, gate_live_process_tree);
    tcase_add_test(tc, gate_live_errors);
    suite_add_tcase(s, tc);
    return s;
}

LW_SUITE(tools_live_suite)
