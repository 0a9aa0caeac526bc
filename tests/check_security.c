/* check_security — root's `leakwatch dump` against other users' tricks. Each test plays the attacker (uid
 * 65534) in a private mount namespace with its own /tmp and /run (so nothing another test or user keeps in
 * /tmp is touched): it plants state files, squats directories and swaps report files for symlinks or FIFOs,
 * then checks that dump signals only as the shim asked, prints only the target's own report, and otherwise
 * refuses in one line. Needs root (chown, setpriv, mounts). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_suites.h"
#include "testutil.h"

/* Mounts a fresh /tmp and /run, then runs the body; B is the build directory (bound to /mnt first, so a build
 * under /tmp stays reachable). Output: the body's. */
static const char prologue[] =
    "set -u\n"
    /* the build may itself be under /tmp (a clone there): keep it reachable at /mnt first */
    "mount --bind \"$B\" /mnt && B=/mnt || exit 99\n"
    "mount -t tmpfs -o mode=1777 lwtest /tmp && mount -t tmpfs -o mode=755 lwtest /run || exit 99\n"
    "export LW=$B/leakwatch SHIM=$B/libleakwatch.so\n"
    "wait_file() { i=0; while [ ! -s \"$1\" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; }\n"
    "state_of() { awk '{print $3}' /proc/$1/stat 2>/dev/null; }\n";

static void run_in_namespace(struct tu_proc *p, const char *body)
{
    ck_assert_msg(geteuid() == 0, "the security tests play another user against root: run them as root");
    char *script = tu_strf("%s%s", prologue, body);
    char *argv[] = {"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script, NULL};
    struct tu_env env;
    tu_env_base(&env, "/nonexistent");
    tu_env_unset(&env, "LEAKWATCH_OUT");
    tu_env_set(&env, "B", tu_build_dir());
    tu_run(p, argv, env.vars, 60);
    tu_env_free(&env);
    free(script);
    ck_assert_msg(WIFEXITED(p->status) && WEXITSTATUS(p->status) != 99, "the namespace could not be set up: %s\n%s",
                  tu_status_str(p), p->err);
}

/* The value after "key=" on its own line of out, or "" (a static buffer). */
static const char *field(const char *out, const char *key)
{
    static char value[256];
    char *want = tu_strf("\n%s=", key);
    char *line = tu_strf("\n%s", out);
    const char *at = strstr(line, want);
    value[0] = '\0';
    if (at)
        sscanf(at + strlen(want), "%255[^\n]", value);
    free(want);
    free(line);
    return value;
}

/* A forked child of a root process has no state file of its own. Another user plants one for it in their own
 * directory saying signal=19 (SIGSTOP): dump must use the root parent's file, not stop the child. */
START_TEST(planted_state_for_forked_child)
{
    struct tu_proc p;
    run_in_namespace(&p,
        "LD_PRELOAD=$SHIM sh -c '(while :; do sleep 1; done) & echo $! > /tmp/child; wait' >/dev/null 2>&1 &\n"
        "parent=$!\n"
        "wait_file /tmp/child; child=$(cat /tmp/child); wait_file /tmp/leakwatch-0/$parent.state\n"
        "mkdir -m 700 /tmp/leakwatch-65534 /tmp/evil\n"
        "printf 'version=1\\npid=%s\\nsignal=19\\nsignal_name=SIGSTOP\\nout=/tmp/evil\\nlast_seq=0\\n' $child "
        "> /tmp/leakwatch-65534/$child.state\n"
        "chown -R 65534:65534 /tmp/leakwatch-65534 /tmp/evil\n"
        "timeout 20 $LW dump $child --timeout 5s > /tmp/dump.out 2> /tmp/dump.err; echo dump_rc=$?\n"
        "echo child=$child; echo child_state=$(state_of $child)\n"
        "kill -9 $child $parent\n"
        "echo; cat /tmp/dump.out; echo '--- stderr'; cat /tmp/dump.err\n");
    const char *child = tu_strf("%s", field(p.out, "child"));
    ck_assert_msg(strcmp(field(p.out, "child_state"), "T") != 0, "dump followed the planted state file and stopped "
                  "the child:\n%s", p.out);
    ck_assert_msg(strcmp(field(p.out, "dump_rc"), "0") == 0, "dump failed:\n%s", p.out);
    char *own = tu_strf("[pid %s]", child);
    ck_assert_msg(strstr(p.out, own) != NULL, "dump did not print the child's own report:\n%s", p.out);
    free(own);
    free((char *)child);
    tu_proc_free(&p);
}
END_TEST

/* uid 65534's own process under the shim rewrites its state file to point at a directory of its own and,
 * when asked, answers with a report whose text is a symlink to a root-only file (or a FIFO that would hang
 * the reader). dump must refuse in one line and print nothing of the file. */
static const char *const planted_text[] = {"ln -s /tmp/secret", "mkfifo"};
static const char *const planted_why[] = {"is a symlink", "not a regular file"};

START_TEST(report_text_planted_by_target)
{
    struct tu_proc p;
    char *body = tu_strf(
        "echo TOP-SECRET-ROOT-ONLY > /tmp/secret; chmod 600 /tmp/secret\n"
        "mkdir -m 700 /tmp/evil; chown 65534:65534 /tmp/evil\n"
        "cat > /tmp/attacker.sh <<'X'\n"
        "trap '%s /tmp/evil/sh.$$.1.txt; echo \"{\\\"pid\\\": $$}\" > /tmp/evil/sh.$$.1.json' USR1\n"
        "st=/tmp/leakwatch-65534/$$.state\n"
        "while [ ! -e $st ]; do sleep 0.05; done\n"
        "printf 'version=1\\npid=%%s\\nsignal=10\\nsignal_name=SIGUSR1\\nout=/tmp/evil\\nlast_seq=0\\n' $$ > $st.new\n"
        "mv $st.new $st; echo $$ > /tmp/evil/ready\n"
        "while :; do sleep 0.2; done\n"
        "X\n"
        "setpriv --reuid=65534 --regid=65534 --clear-groups env LD_PRELOAD=$SHIM sh /tmp/attacker.sh "
        ">/dev/null 2>&1 &\n"
        "wait_file /tmp/evil/ready; pid=$(cat /tmp/evil/ready)\n"
        "timeout 20 $LW dump $pid --timeout 5s > /tmp/dump.out 2> /tmp/dump.err; echo dump_rc=$?\n"
        "kill -9 $pid\n"
        "echo; cat /tmp/dump.out; echo '--- stderr'; cat /tmp/dump.err\n", planted_text[_i]);
    run_in_namespace(&p, body);
    free(body);
    ck_assert_msg(strstr(p.out, "TOP-SECRET") == NULL, "dump printed the root-only file:\n%s", p.out);
    ck_assert_msg(strcmp(field(p.out, "dump_rc"), "2") == 0, "dump should refuse (exit 2):\n%s", p.out);
    const char *err = strstr(p.out, "--- stderr\n") + 11;
    ck_assert_msg(strstr(err, "leakwatch: dump: PID ") == err && strstr(err, planted_why[_i]) &&
                  strchr(err, '\n') == err + strlen(err) - 1, "dump should say in one line that the report "
                  "file %s:\n%s", planted_why[_i], err);
    tu_proc_free(&p);
}
END_TEST

/* Another user squats /tmp/leakwatch-0 and plants <pid>.state (signal=19) in it for a root process under the
 * shim. The shim must say so once and publish its state elsewhere; dump must find that, not stop the process. */
START_TEST(squatted_state_directory)
{
    struct tu_proc p;
    run_in_namespace(&p,
        "mkdir -m 755 /tmp/leakwatch-0; chown 65534:65534 /tmp/leakwatch-0\n"
        "LD_PRELOAD=$SHIM $B/fixtures/idle > /tmp/idle.out 2> /tmp/idle.err &\n"
        "pid=$!; wait_file /tmp/idle.out\n"
        "printf 'version=1\\npid=%s\\nsignal=19\\nsignal_name=SIGSTOP\\nout=/tmp/leakwatch-0\\nlast_seq=0\\n' $pid "
        "> /tmp/leakwatch-0/$pid.state; chown 65534 /tmp/leakwatch-0/$pid.state\n"
        "timeout 20 $LW dump $pid --timeout 5s > /tmp/dump.out 2> /tmp/dump.err; echo dump_rc=$?\n"
        "echo pid=$pid; echo state=$(state_of $pid)\n"
        "kill -9 $pid; wait\n"
        "echo; cat /tmp/dump.out; echo '--- shim'; cat /tmp/idle.err; echo '--- stderr'; cat /tmp/dump.err\n");
    ck_assert_msg(strcmp(field(p.out, "state"), "T") != 0, "dump followed the squatter's state file:\n%s", p.out);
    ck_assert_msg(strcmp(field(p.out, "dump_rc"), "0") == 0, "dump failed:\n%s", p.out);
    char *own = tu_strf("[pid %s]", field(p.out, "pid"));
    ck_assert_msg(strstr(p.out, own) != NULL, "dump did not print the process's report:\n%s", p.out);
    free(own);
    const char *shim = strstr(p.out, "--- shim\n");
    const char *said = shim ? strstr(shim, "using /run/leakwatch-0 instead") : NULL;
    ck_assert_msg(said && !strstr(said + 1, "using /run/leakwatch-0 instead") &&
                  strstr(shim, "/tmp/leakwatch-0: it belongs to another user"),
                  "the shim should say once that it moved away from the squatted directory:\n%s", p.out);
    tu_proc_free(&p);
}
END_TEST

/* A FIFO given to report (or diff) must not hang it. */
START_TEST(report_of_a_fifo)
{
    struct tu_proc p;
    run_in_namespace(&p,
        "mkfifo /tmp/r.json\n"
        "timeout 10 $LW report /tmp/r.json > /tmp/out 2> /tmp/err; echo rc=$?\n"
        "cat /tmp/err\n");
    ck_assert_msg(strcmp(field(p.out, "rc"), "2") == 0 && strstr(p.out, "not a regular file"),
                  "report of a FIFO should fail at once with exit 2:\n%s", p.out);
    tu_proc_free(&p);
}
END_TEST

static Suite *security_suite(void)
{
    Suite *s = suite_create("security");
    TCase *tc = tcase_create("attacker");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, planted_state_for_forked_child);
    tcase_add_loop_test(tc, report_text_planted_by_target, 0, 2);
    tcase_add_test(tc, squatted_state_directory);
    tcase_add_test(tc, report_of_a_fifo);
    suite_add_tcase(s, tc);
    return s;
}

LW_SUITE(security_suite)
