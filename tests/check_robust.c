/* Robustness: the shim must never crash, hang or change the behaviour of its host (issue 2). Each test
 * runs a stress fixture (tests/fixtures/stress_*.c) under the shim with a time limit; a program that
 * overruns it is a failure, and the failure message carries gdb's backtraces of every thread of the
 * program and of its children, taken before it is killed. Totals are checked against what the fixtures
 * leave live by construction. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_suites.h"
#include "testutil.h"

#define RUN_LIMIT_S 30.0
#define REPORT_LIMIT_S 10.0
#define TRACE_MAX 6000

static char *tmp;   /* this test's private directory */
static char *out;   /* LEAKWATCH_OUT */
static char *hang_trace;

static void setup(void)
{
    tmp = tu_tempdir();
    out = tu_strf("%s/reports", tmp);
    hang_trace = NULL;
}

static void teardown(void)
{
    tu_rmtree(tmp);
    free(tmp);
    free(out);
    free(hang_trace);
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Reads what the program writes for up to seconds (so it never blocks on a full pipe); sleeps instead
 * once its stdout is closed. */
static void pump(struct tu_proc *p, double seconds)
{
    if (tu_read_until(p, "\n\001not printed\001", seconds) < 0 && p->out_fd < 0)
        sleep_ms((long)(seconds * 1000) + 1);
}

/* Starts build/fixtures/name with the arguments (NULL-terminated, may be NULL) under the shim, with
 * extra "NAME=value" settings. */
static void start(struct tu_proc *p, const char *name, const char *const *args, const char *const *settings,
                  int shim)
{
    struct tu_env env;
    tu_env_with(&env, out, shim, settings);
    char *argv[8] = { tu_fixture(name) };
    for (int i = 0; args && args[i]; i++) {
        ck_assert_msg(i < 6, "too many arguments");
        argv[i + 1] = (char *)args[i];
    }
    tu_spawn(p, argv, env.vars, NULL);
    free(argv[0]);
    tu_env_free(&env);
}

static void await_line(struct tu_proc *p, const char *needle)
{
    ck_assert_msg(tu_read_until(p, needle, RUN_LIMIT_S) == 0, "the program never printed \"%s\" (%s); stderr:\n%s",
                  needle, tu_status_str(p), p->err);
}

/* Appends gdb's backtraces of every thread of pid to hang_trace. */
static void trace_one(pid_t pid)
{
    char *cmd = tu_strf("timeout 60 gdb -p %d -batch -nx -ex 'thread apply all bt' 2>&1", (int)pid);
    FILE *f = popen(cmd, "r");
    free(cmd);
    char *head = tu_strf("%s\n==== gdb backtraces of pid %d ====\n", hang_trace ? hang_trace : "", (int)pid);
    free(hang_trace);
    hang_trace = head;
    if (!f) {
        hang_trace = tu_strf("%s(gdb could not be started: %s)\n", head, strerror(errno));
        free(head);
        return;
    }
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        /* keep the frames and thread headers, drop gdb's chatter */
        if (line[0] != '#' && strncmp(line, "Thread ", 7) != 0)
            continue;
        char *more = tu_strf("%s%s", hang_trace, line);
        free(hang_trace);
        hang_trace = more;
    }
    int rc = pclose(f);
    if (rc != 0 && strstr(hang_trace, "#0") == NULL) {
        char *more = tu_strf("%s(gdb exited with status %d and printed no frames: is gdb installed?)\n",
                             hang_trace, rc);
        free(hang_trace);
        hang_trace = more;
    }
}

/* The program and its direct children (a fork storm's children may be the ones that hang). */
static void trace_hang(pid_t pid)
{
    trace_one(pid);
    char *dir = tu_strf("/proc/%d/task", (int)pid);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char *path = tu_strf("%s/%s/children", dir, e->d_name);
        char *kids = tu_slurp(path);
        for (char *s = kids; s && *s;) {
            char *end;
            long child = strtol(s, &end, 10);
            if (end == s)
                break;
            trace_one((pid_t)child);
            s = end;
        }
        free(kids);
        free(path);
    }
    if (d)
        closedir(d);
    free(dir);
    fprintf(stderr, "check_robust: a program overran its time limit; backtraces:%s\n", hang_trace);
}

/* Waits for the program to end. If it overruns limit_s it hangs: its stacks go to hang_trace, then it is
 * killed. */
static void finish(struct tu_proc *p, double limit_s)
{
    double end = tu_now() + limit_s;
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == p->pid)
            break;
        if (tu_now() >= end) {
            trace_hang(p->pid);
            break;
        }
        pump(p, 0.05);
    }
    tu_finish(p, hang_trace ? 0.0 : 5.0);
}

static const char *trace_text(void)
{
    if (!hang_trace)
        return "";
    size_t len = strlen(hang_trace);
    return len > TRACE_MAX ? hang_trace + len - TRACE_MAX : hang_trace;
}

static void assert_exit(const struct tu_proc *p, int code)
{
    ck_assert_msg(!p->timed_out && WIFEXITED(p->status) && WEXITSTATUS(p->status) == code,
                  "expected exit %d, got %s; stderr:\n%.3000s%s", code, tu_status_str(p), p->err, trace_text());
}

/* Runs fixture name (with args and settings, under the shim) to its end; it must exit with code. */
static void run_to_exit(struct tu_proc *p, const char *name, const char *const *args, const char *const *settings,
                        int code)
{
    start(p, name, args, settings, 1);
    finish(p, RUN_LIMIT_S);
    assert_exit(p, code);
}

/* Runs fixture name bare, then under the shim: both must exit 0 and print the same. */
static void run_bare_then_shim(struct tu_proc *bare, struct tu_proc *p, const char *name)
{
    start(bare, name, NULL, NULL, 0);
    finish(bare, RUN_LIMIT_S);
    assert_exit(bare, 0);
    run_to_exit(p, name, NULL, NULL, 0);
    ck_assert_msg(strcmp(p->out, bare->out) == 0, "%s prints differently under the shim:\n%s\nbare:\n%s", name,
                  p->out, bare->out);
}

/* How many reports program[pid] wrote into out: JSON reports #1, #2 ... up to the first that is missing. */
static int reports_written(const char *program, pid_t pid)
{
    int seq = 1;
    for (;; seq++) {
        char *path = tu_report_path(out, program, pid, seq, "json");
        int exists = access(path, F_OK) == 0;
        free(path);
        if (!exists)
            return seq - 1;
    }
}

/* Waits up to limit_s for dir/program.pid.seq.json; 0 when it appeared. Reads the pipes meanwhile. */
static int wait_report(struct tu_proc *p, const char *dir, const char *program, int seq, double limit_s)
{
    char *path = tu_report_path(dir, program, p->pid, seq, "json");
    double end = tu_now() + limit_s;
    int rc = -1;
    while (tu_now() < end) {
        if (access(path, F_OK) == 0) {
            rc = 0;
            break;
        }
        pump(p, 0.01);
    }
    free(path);
    return rc;
}

/* Sends the report signal (SIGUSR2) n times, pause_ms apart, to fixture name (running, ready); returns
 * what wait_report says of its report #1. */
static int send_report_signals(struct tu_proc *p, const char *name, int n, long pause_ms)
{
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(kill(p->pid, SIGUSR2), 0);
        sleep_ms(pause_ms);
    }
    return wait_report(p, out, name, 1, REPORT_LIMIT_S);
}

/* Waits up to limit_s for what stderr says from offset on to contain needle. */
static int wait_stderr(struct tu_proc *p, size_t offset, const char *needle, double limit_s)
{
    double end = tu_now() + limit_s;
    while (!strstr(p->err + offset, needle) && tu_now() < end)
        pump(p, 0.02);
    return strstr(p->err + offset, needle) ? 0 : -1;
}

static void assert_site(json_t *r, const char *fn, long long bytes, long long blocks)
{
    json_t *s = tu_site(r, fn);
    ck_assert_msg(tu_int(s, "live_bytes") == bytes && tu_int(s, "live_blocks") == blocks,
                  "site %s: %lld bytes in %lld blocks, expected %lld in %lld", fn, tu_int(s, "live_bytes"),
                  tu_int(s, "live_blocks"), bytes, blocks);
}

static const char *reason_of(json_t *r)
{
    const char *why = json_string_value(json_object_get(r, "reason"));
    return why ? why : "(none)";
}

/* Entries of dir whose names start with '.', other than "." and "..": temporary report files. */
static int temporaries(const char *dir)
{
    return tu_count_files(dir, ".") - 2;
}

static int lines_starting(const char *text, const char *prefix)
{
    int n = 0;
    for (const char *s = text; s && *s;) {
        if (strncmp(s, prefix, strlen(prefix)) == 0)
            n++;
        s = strchr(s, '\n');
        s = s ? s + 1 : NULL;
    }
    return n;
}

/* Whether /tmp/leakwatch-<uid>/<pid>.state exists; removes it, so failed tests leave no litter. */
static int stale_state(int uid, pid_t pid)
{
    char *state = tu_strf("/tmp/leakwatch-%d/%d.state", uid, (int)pid);
    int stale = access(state, F_OK) == 0;
    unlink(state);
    free(state);
    return stale;
}

/* 1. A storm of report signals from another process while four threads churn. */
START_TEST(test_signal_storm)
{
    struct tu_proc p;
    const char *settings[] = { TU_NO_STACK_CACHE, NULL };
    start(&p, "stress_storm", NULL, settings, 1);
    await_line(&p, "ready\n");
    int first = send_report_signals(&p, "stress_storm", 200, 1);
    kill(p.pid, SIGUSR1);
    finish(&p, RUN_LIMIT_S);
    assert_exit(&p, 7);
    ck_assert_msg(first == 0, "200 report signals and no report within %.0f s; stderr:\n%s", REPORT_LIMIT_S, p.err);
    long long bytes = 0;
    int blocks = 0;
    ck_assert_msg(sscanf(p.out, "ready\nstress_storm: expect %lld bytes in %d blocks", &bytes, &blocks) == 2,
                  "stdout: %s", p.out);
    int reports = reports_written("stress_storm", p.pid);
    json_t *last = NULL;
    for (int seq = 1; seq <= reports; seq++) {
        json_decref(last);
        last = tu_report(out, "stress_storm", p.pid, seq);
        ck_assert_int_eq(tu_int(last, "seq"), seq);
        ck_assert_int_eq(tu_int(last, "previous_seq"), seq - 1);
        char *txt = tu_report_path(out, "stress_storm", p.pid, seq, "txt");
        ck_assert_msg(access(txt, F_OK) == 0, "%s is missing", txt);
        free(txt);
    }
    ck_assert_msg(reports >= 2 && reports <= 201, "%d reports for 200 signals and the exit", reports);
    ck_assert_int_eq(tu_count_files(out, "stress_storm."), 2 * reports);
    ck_assert_int_eq(temporaries(out), 0);
    ck_assert_str_eq(reason_of(last), "exit");
    for (int s = 1; s < reports; s++) {
        json_t *r = tu_report(out, "stress_storm", p.pid, s);
        ck_assert_msg(strcmp(reason_of(r), "signal") == 0, "report %d has reason %s", s, reason_of(r));
        json_decref(r);
    }
    tu_assert_totals(last, bytes, blocks);
    json_t *t = json_object_get(last, "totals");
    ck_assert_int_eq(tu_int(t, "allocs") - tu_int(t, "frees"), blocks);
    /* One line per report, but the shim caps its stderr lines (LOG_MAX_LINES): past the cap one line says
     * further messages are suppressed. Nothing else may be said. */
    int said = lines_starting(p.err, "leakwatch: report #");
    int capped = lines_starting(p.err, "leakwatch: further messages suppressed");
    ck_assert_msg(said == reports || (said >= 100 && capped == 1), "%d report lines for %d reports:\n%s", said,
                  reports, p.err);
    ck_assert_msg(lines_starting(p.err, "leakwatch: ") == said + capped, "unexpected lines on stderr:\n%s", p.err);
    json_decref(last);
    tu_proc_free(&p);
}
END_TEST

/* 1b. Report signals keep coming while the program exits. The exit report must stay the last one (it
 * counts what is live after every exit handler) and the state file must be gone once the process is:
 * a report written after the exit report publishes <pid>.state again, for a process that no longer
 * exists. The race is narrow, so the scenario runs ten times. */
START_TEST(test_signals_during_exit)
{
    const char *settings[] = { TU_NO_STACK_CACHE, NULL };
    for (int run = 0; run < 10; run++) {
        struct tu_proc p;
        start(&p, "stress_storm", NULL, settings, 1);
        await_line(&p, "ready\n");
        for (int i = 0; i < 20; i++) {
            kill(p.pid, SIGUSR2);
            sleep_ms(1);
        }
        kill(p.pid, SIGUSR1);
        double end = tu_now() + RUN_LIMIT_S;
        for (;;) {
            siginfo_t si;
            memset(&si, 0, sizeof si);
            if ((waitid(P_PID, (id_t)p.pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == p.pid) ||
                tu_now() >= end)
                break;
            kill(p.pid, SIGUSR2);
            pump(&p, 0.0005);
        }
        finish(&p, 1.0);
        assert_exit(&p, 7);
        int stale = stale_state((int)geteuid(), p.pid);
        int seq = reports_written("stress_storm", p.pid) + 1;
        json_t *last = tu_report(out, "stress_storm", p.pid, seq - 1);
        ck_assert_msg(strcmp(reason_of(last), "exit") == 0,
                      "run %d: report #%d, written after the exit report, has reason %s; stderr:\n%s", run, seq - 1,
                      reason_of(last), p.err);
        ck_assert_msg(!stale, "run %d: /tmp/leakwatch-%d/%d.state is left behind after the process ended", run,
                      (int)geteuid(), (int)p.pid);
        json_decref(last);
        tu_proc_free(&p);
        tu_rmtree(out);
    }
}
END_TEST

/* 2. The program's SIGALRM handler allocates, interrupting the shim's own hot path. */
START_TEST(test_alarm_handler_allocates)
{
    struct tu_proc p;
    run_to_exit(&p, "stress_alarm", NULL, NULL, 0);
    long long bytes = 0;
    int blocks = 0, allocated = 0;
    ck_assert_msg(sscanf(p.out, "stress_alarm: expect %lld bytes in %d blocks; handler allocated %d times", &bytes,
                         &blocks, &allocated) == 3, "stdout: %s", p.out);
    ck_assert_msg(allocated > 0, "the handler never allocated, so the test proved nothing: %s", p.out);
    json_t *r = tu_report(out, "stress_alarm", p.pid, 1);
    ck_assert_str_eq(reason_of(r), "exit");
    tu_assert_totals(r, bytes, blocks);
    assert_site(r, "fx_alarm_alloc", bytes, blocks);
    ck_assert_int_eq(tu_int(json_object_get(r, "totals"), "untracked_frees"), 0);
    json_decref(r);
    tu_proc_free(&p);
}
END_TEST

/* 2b. The same handler on an 8 KiB alternate signal stack (the SIGSTKSZ of programs built before glibc
 * 2.34): the program's own allocations fit there, so the shim's malloc path must fit too. */
START_TEST(test_alarm_handler_on_altstack)
{
    struct tu_proc bare, p;
    const char *args[] = { "altstack", NULL };
    start(&bare, "stress_alarm", args, NULL, 0);
    finish(&bare, RUN_LIMIT_S);
    ck_assert_msg(!bare.timed_out && WIFEXITED(bare.status) && WEXITSTATUS(bare.status) == 0,
                  "without the shim the program already fails (%s): the test's premise does not hold here",
                  tu_status_str(&bare));
    start(&p, "stress_alarm", args, NULL, 1);
    finish(&p, RUN_LIMIT_S);
    ck_assert_msg(!p.timed_out && WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0,
                  "runs without the shim, but under it: %s (signal 11: the shim's malloc path overflowed the "
                  "8 KiB signal stack)%s", tu_status_str(&p), trace_text());
    long long bytes = 0;
    int blocks = 0, allocated = 0;
    ck_assert_msg(sscanf(p.out, "stress_alarm: expect %lld bytes in %d blocks; handler allocated %d times", &bytes,
                         &blocks, &allocated) == 3 && allocated > 0, "stdout: %s", p.out);
    json_t *r = tu_report(out, "stress_alarm", p.pid, 1);
    tu_assert_totals(r, bytes, blocks);
    json_decref(r);
    tu_proc_free(&bare);
    tu_proc_free(&p);
}
END_TEST

/* 3. 100 children forked while four threads churn: none hangs; each exit() child reports under its pid. */
START_TEST(test_fork_storm)
{
    struct tu_proc p;
    const char *settings[] = { TU_NO_STACK_CACHE, NULL };
    run_to_exit(&p, "stress_fork", NULL, settings, 0);
    ck_assert_msg(strstr(p.out, "forked 100 ok 100\n") != NULL, "stdout: %s", p.out);
    int index = 0, exits = 0, stale = 0;
    for (const char *line = p.out; line && *line && index < 100; index++) {
        char kind[8];
        int pid = 0;
        ck_assert_msg(sscanf(line, "%7s %d", kind, &pid) == 2, "line %d of stdout: %s", index, line);
        stale += stale_state((int)geteuid(), pid);
        char *own = tu_strf("stress_fork.%d.", pid);
        char *exec_prefix = tu_strf("true.%d.", pid);
        if (strcmp(kind, "exit") == 0) {
            json_t *c = tu_report(out, "stress_fork", pid, 1);
            ck_assert_str_eq(reason_of(c), "exit");
            ck_assert_int_eq(tu_int(c, "pid"), pid);
            ck_assert_int_eq(tu_int(c, "ppid"), p.pid);
            assert_site(c, "fx_fork_storm_leak", 100 + index, 1);
            ck_assert_int_eq(tu_count_files(out, own), 2);
            json_decref(c);
            exits++;
        } else if (strcmp(kind, "_exit") == 0) {
            ck_assert_msg(tu_count_files(out, own) == 0, "child %d left with _exit but wrote a report", pid);
        } else {
            ck_assert_str_eq(kind, "exec");
            ck_assert_msg(tu_count_files(out, own) == 0, "child %d exec'd but its old image wrote a report", pid);
            ck_assert_msg(tu_count_files(out, exec_prefix) == 2, "/bin/true exec'd by child %d wrote no report",
                          pid);
        }
        free(own);
        free(exec_prefix);
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    ck_assert_int_eq(index, 100);
    ck_assert_int_eq(exits, 49);
    json_t *r = tu_report(out, "stress_fork", p.pid, 1);
    ck_assert_str_eq(reason_of(r), "exit");
    ck_assert_int_eq(tu_sites_naming(r, "fx_fork_storm_leak"), 0);
    tu_assert_totals(r, 0, 0);
    ck_assert_int_eq(temporaries(out), 0);
    /* docs/report-format.md: a forked child writes no <pid>.state until it reports, and removes it at exit.
     * A child that leaves with _exit runs no exit handler: had it published eagerly, the file would stay. */
    ck_assert_msg(stale == 0, "%d of the 100 children left /tmp/leakwatch-%d/<pid>.state behind after they ended",
                  stale, (int)geteuid());
    json_decref(r);
    tu_proc_free(&p);
}
END_TEST

/* 4. 2,000 short-lived threads: exact totals, and the shim's memory does not grow per thread. */
START_TEST(test_thread_churn)
{
    struct tu_proc p;
    const char *settings[] = { TU_NO_STACK_CACHE, NULL };
    run_to_exit(&p, "stress_threads", NULL, settings, 0);
    int maps[3], rc[3], threads[3];
    long long bytes = 0;
    int blocks = 0;
    ck_assert_msg(sscanf(p.out,
                         "after %d threads: dump %d, %d mappings\nafter %d threads: dump %d, %d mappings\n"
                         "after %d threads: dump %d, %d mappings\nstress_threads: expect %lld bytes in %d blocks",
                         &threads[0], &rc[0], &maps[0], &threads[1], &rc[1], &maps[1], &threads[2], &rc[2], &maps[2],
                         &bytes, &blocks) == 11, "stdout: %s", p.out);
    ck_assert_msg(rc[0] == 0 && rc[1] == 0 && rc[2] == 0, "leakwatch_dump failed: %s\nstderr:\n%s", p.out, p.err);
    long long meta[3];
    for (int i = 0; i < 3; i++) {
        json_t *d = tu_report(out, "stress_threads", p.pid, i + 1);
        ck_assert_str_eq(reason_of(d), "api");
        meta[i] = tu_int(json_object_get(d, "totals"), "metadata_bytes");
        json_decref(d);
    }
    /* Report 1 loads the symbol tables the shim keeps, so growth is measured from report 2, taken after
     * 1,000 threads, to report 3, after 1,000 more: 64 bytes a thread would already show. */
    ck_assert_msg(meta[2] - meta[1] < 64 * 1000,
                  "the shim's memory grew by %lld bytes over %d threads (%lld -> %lld)", meta[2] - meta[1],
                  threads[2] - threads[1], meta[1], meta[2]);
    ck_assert_msg(maps[2] - maps[1] <= 16, "the process gained %d mappings over %d threads (%d -> %d)",
                  maps[2] - maps[1], threads[2] - threads[1], maps[1], maps[2]);
    json_t *r = tu_report(out, "stress_threads", p.pid, 4);
    ck_assert_str_eq(reason_of(r), "exit");
    tu_assert_totals(r, bytes, blocks);
    assert_site(r, "fx_thread_churn_leak", bytes, blocks);
    json_decref(r);
    tu_proc_free(&p);
}
END_TEST

/* 5. A daemon that closes every descriptor and dup2's its own files onto the low numbers. */
START_TEST(test_closed_fds)
{
    struct tu_proc p;
    char *data = tu_strf("%s/data.log", tmp);
    const char *args[] = { data, NULL };
    start(&p, "stress_fds", args, NULL, 1);
    await_line(&p, "ready\n");
    ck_assert_int_eq(kill(p.pid, SIGUSR2), 0);
    int got = wait_report(&p, out, "stress_fds", 1, REPORT_LIMIT_S);
    kill(p.pid, SIGUSR1);
    finish(&p, RUN_LIMIT_S);
    assert_exit(&p, 0);
    ck_assert_msg(got == 0, "no report after SIGUSR2 once the program closed its descriptors; stderr:\n%s", p.err);
    char *want = strdup("");
    const char *when[] = { "before", "after" };
    for (int w = 0; w < 2; w++)
        for (int fd = 3; fd <= 12; fd++) {
            char *more = tu_strf("%sfd %d %s\n", want, fd, when[w]);
            free(want);
            want = more;
        }
    char *have = tu_slurp(data);
    ck_assert_msg(have != NULL, "%s is gone", data);
    ck_assert_msg(strcmp(have, want) == 0, "the program's file holds something it did not write:\n%.2000s", have);
    json_t *r = tu_report(out, "stress_fds", p.pid, 1);
    ck_assert_str_eq(reason_of(r), "signal");
    json_decref(r);
    r = tu_report(out, "stress_fds", p.pid, 2);
    ck_assert_str_eq(reason_of(r), "exit");
    assert_site(r, "fx_fds_leak", 4096, 1);
    json_decref(r);
    free(have);
    free(want);
    free(data);
    tu_proc_free(&p);
}
END_TEST

/* Makes tmp/shared, a sticky directory open to all like /tmp (this test's directory and its base are 0700
 * root, so they are opened to others for traversal only), and returns its path. */
static char *shared_with_nobody(void)
{
    ck_assert_msg(geteuid() == 0, "this test starts a program as root that drops to uid 65534: run it as root");
    char *base = strdup(tmp);
    *strrchr(base, '/') = '\0';
    ck_assert_int_eq(chmod(base, 0711), 0);
    ck_assert_int_eq(chmod(tmp, 0711), 0);
    free(base);
    char *shared = tu_strf("%s/shared", tmp);
    ck_assert_int_eq(mkdir(shared, 0700), 0);
    ck_assert_int_eq(chmod(shared, 01777), 0);
    return shared;
}

/* 6a. After setuid(65534) reports go to the directory of uid 65534, never to root's. */
START_TEST(test_setuid_report_dir)
{
    char *shared = shared_with_nobody();
    free(out);
    out = tu_strf("%s/rep-%%u", shared);
    char *root_dir = tu_strf("%s/rep-0", shared), *nobody_dir = tu_strf("%s/rep-65534", shared);
    struct tu_proc p;
    start(&p, "stress_setuid", NULL, NULL, 1);
    await_line(&p, "root ready\n");
    ck_assert_int_eq(kill(p.pid, SIGUSR2), 0);
    int as_root = wait_report(&p, root_dir, "stress_setuid", 1, REPORT_LIMIT_S);
    kill(p.pid, SIGUSR1);
    await_line(&p, "dropped ready\n");
    ck_assert_int_eq(kill(p.pid, SIGUSR2), 0);
    int as_nobody = wait_report(&p, nobody_dir, "stress_setuid", 2, REPORT_LIMIT_S);
    kill(p.pid, SIGUSR1);
    finish(&p, RUN_LIMIT_S);
    assert_exit(&p, 0);
    ck_assert_msg(as_root == 0, "no report in %s before the drop; stderr:\n%s", root_dir, p.err);
    ck_assert_msg(as_nobody == 0, "no report in %s after the drop; stderr:\n%s", nobody_dir, p.err);
    ck_assert_msg(tu_count_files(root_dir, "stress_setuid.") == 2, "root's directory got reports after the drop");
    struct stat st;
    ck_assert_int_eq(lstat(nobody_dir, &st), 0);
    ck_assert_msg(S_ISDIR(st.st_mode) && st.st_uid == 65534 && (st.st_mode & 07777) == 0700,
                  "%s: uid %d mode %o", nobody_dir, (int)st.st_uid, st.st_mode & 07777);
    for (int seq = 2; seq <= 3; seq++) {
        char *path = tu_report_path(nobody_dir, "stress_setuid", p.pid, seq, "json");
        ck_assert_msg(lstat(path, &st) == 0 && st.st_uid == 65534 && (st.st_mode & 07777) == 0600,
                      "%s missing or not owned by 65534 with mode 0600", path);
        free(path);
    }
    json_t *r = tu_report(nobody_dir, "stress_setuid", p.pid, 3);
    ck_assert_str_eq(reason_of(r), "exit");
    assert_site(r, "fx_root_leak", 4242, 1);
    assert_site(r, "fx_nobody_leak", 65, 1);
    json_decref(r);
    /* docs/report-format.md: the state file is removed at exit, whichever user the process was by then */
    for (int uid = 0; uid <= 65534; uid += 65534)
        ck_assert_msg(!stale_state(uid, p.pid), "/tmp/leakwatch-%d/%d.state is left behind after the process "
                      "ended (it was published while the process was uid 0; at exit it was uid 65534)", uid,
                      (int)p.pid);
    free(root_dir);
    free(nobody_dir);
    free(shared);
    tu_proc_free(&p);
}
END_TEST

/* 6b. The directory for uid 65534 was made first by another user (and left writable to all): refused. */
START_TEST(test_setuid_foreign_dir)
{
    char *shared = shared_with_nobody();
    free(out);
    out = tu_strf("%s/rep-%%u", shared);
    char *nobody_dir = tu_strf("%s/rep-65534", shared);
    ck_assert_int_eq(mkdir(nobody_dir, 0777), 0);
    ck_assert_int_eq(chmod(nobody_dir, 0777), 0);
    ck_assert_int_eq(chown(nobody_dir, 1234, 1234), 0);
    struct tu_proc p;
    start(&p, "stress_setuid", NULL, NULL, 1);
    await_line(&p, "root ready\n");
    kill(p.pid, SIGUSR1);
    await_line(&p, "dropped ready\n");
    ck_assert_int_eq(kill(p.pid, SIGUSR2), 0);
    int said = wait_stderr(&p, 0, nobody_dir, REPORT_LIMIT_S);
    kill(p.pid, SIGUSR1);
    finish(&p, RUN_LIMIT_S);
    stale_state(0, p.pid);
    stale_state(65534, p.pid);
    assert_exit(&p, 0);
    ck_assert_msg(said == 0, "stderr does not name the refused directory %s:\n%s", nobody_dir, p.err);
    const char *line = strstr(p.err, nobody_dir);
    while (line > p.err && line[-1] != '\n')
        line--;
    char *one = strndup(line, strcspn(line, "\n"));
    ck_assert_msg(strncmp(one, "leakwatch: ", 11) == 0 && strstr(one, "another user"),
                  "the line should say the directory belongs to another user: %s", one);
    ck_assert_msg(tu_count_files(nobody_dir, "") == 2, "something was written into %s", nobody_dir);
    free(one);
    free(nobody_dir);
    free(shared);
    tu_proc_free(&p);
}
END_TEST

/* A private mount namespace for this test process (and the programs it starts), so the tmpfs vanishes
 * with it even when the test fails. */
static void private_mounts(void)
{
    ck_assert_msg(unshare(CLONE_NEWNS) == 0,
                  "unshare(CLONE_NEWNS): %s; the disk-full test mounts a small tmpfs and needs root (CAP_SYS_ADMIN)",
                  strerror(errno));
    ck_assert_msg(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0, "making / private: %s", strerror(errno));
}

/* Mounts a tmpfs of the given size on tmp/disk, makes out a directory below it and returns tmp/disk. */
static char *small_disk(const char *size)
{
    private_mounts();
    char *disk = tu_strf("%s/disk", tmp);
    ck_assert_int_eq(mkdir(disk, 0700), 0);
    char *options = tu_strf("size=%s,mode=0700", size);
    ck_assert_msg(mount("tmpfs", disk, "tmpfs", 0, options) == 0, "mount tmpfs on %s: %s", disk, strerror(errno));
    free(options);
    free(out);
    out = tu_strf("%s/reports", disk);
    return disk;
}

/* 7. The report does not fit on the disk: one clear line, nothing half-written, and the next report works. */
START_TEST(test_disk_full)
{
    char *disk = small_disk("64k");
    struct tu_proc p;
    start(&p, "stress_sites", NULL, NULL, 1);
    await_line(&p, "ready\n");
    long long bytes = 0;
    int blocks = 0;
    ck_assert_msg(sscanf(p.out, "stress_sites: expect %lld bytes in %d blocks", &bytes, &blocks) == 2, "stdout: %s",
                  p.out);
    ck_assert_int_eq(kill(p.pid, SIGUSR2), 0);
    int said = wait_stderr(&p, 0, "leakwatch: ", 20.0);
    /* the line comes before the cleanup: give the temporaries a moment to go */
    for (int i = 0; i < 100 && tu_count_files(out, "") > 2; i++)
        sleep_ms(50);
    pump(&p, 0.3);
    char *after_failure = strdup(p.err);
    int files_after_failure = tu_count_files(out, "");
    ck_assert_msg(mount(NULL, disk, NULL, MS_REMOUNT, "size=256m") == 0, "remount: %s", strerror(errno));
    ck_assert_int_eq(kill(p.pid, SIGUSR2), 0);
    json_t *later = NULL;
    for (double end = tu_now() + 20.0; !later && tu_now() < end;)
        if (!(later = tu_find_report(out, p.pid, "signal")))
            pump(&p, 0.05);
    kill(p.pid, SIGUSR1);
    finish(&p, RUN_LIMIT_S);
    assert_exit(&p, 0);
    ck_assert_msg(said == 0, "the failed report said nothing on stderr");
    ck_assert_msg(lines_starting(after_failure, "leakwatch: ") == 1,
                  "expected one line about the failed report, got:\n%s", after_failure);
    ck_assert_msg(strstr(after_failure, out) && (strstr(after_failure, "full") || strstr(after_failure, "No space")),
                  "the line should name %s and say the disk is full: %s", out, after_failure);
    ck_assert_msg(files_after_failure <= 2, "the failed report left %d files in %s", files_after_failure - 2, out);
    ck_assert_msg(later != NULL, "no report after space was freed; stderr:\n%s", p.err);
    tu_assert_totals(later, bytes, blocks);
    ck_assert_int_eq(tu_sites_naming(later, "fx_sites_leaf"), blocks);
    json_t *ex = tu_find_report(out, p.pid, "exit");
    ck_assert_msg(ex != NULL, "no exit report; stderr:\n%s", p.err);
    tu_assert_totals(ex, bytes, blocks);
    ck_assert_int_eq(temporaries(out), 0);
    json_decref(ex);
    json_decref(later);
    free(after_failure);
    free(disk);
    tu_proc_free(&p);
}
END_TEST

/* 7b. A long-running server has written more than a hundred reports when its disk fills up: the
 * failure is still said (issue 2: a report that cannot be written is reported on stderr). */
START_TEST(test_disk_full_after_many_reports)
{
    char *disk = small_disk("64m");
    struct tu_proc p;
    const char *settings[] = { TU_NO_STACK_CACHE, NULL };
    start(&p, "stress_storm", NULL, settings, 1);
    await_line(&p, "ready\n");
    int written = 0;
    for (int seq = 1; seq <= 110; seq++) {
        ck_assert_int_eq(kill(p.pid, SIGUSR2), 0);
        if (wait_report(&p, out, "stress_storm", seq, REPORT_LIMIT_S) < 0)
            break;
        written = seq;
    }
    char *filler = tu_strf("%s/filler", disk);
    FILE *f = fopen(filler, "w");
    ck_assert_ptr_nonnull(f);
    static const char block[65536];
    while (fwrite(block, 1, sizeof block, f) == sizeof block)
        ;
    fclose(f);
    size_t before = p.err_len;
    ck_assert_int_eq(kill(p.pid, SIGUSR2), 0);
    int said = wait_stderr(&p, before, "full", REPORT_LIMIT_S) == 0 || wait_stderr(&p, before, "No space", 0.1) == 0;
    kill(p.pid, SIGUSR1);
    finish(&p, RUN_LIMIT_S);
    assert_exit(&p, 7);
    ck_assert_msg(written == 110, "only %d of 110 reports were written; stderr:\n%s", written, p.err);
    ck_assert_msg(said, "report #111 could not be written (the disk is full) and nothing said so on stderr; "
                  "stderr from then on:\n%s", p.err + before);
    free(filler);
    free(disk);
    tu_proc_free(&p);
}
END_TEST

/* 8. Zero, huge, impossible and odd sizes; a JVM-like reservation cut into pieces. */
START_TEST(test_huge_and_odd_sizes)
{
    struct tu_proc bare, p;
    run_bare_then_shim(&bare, &p, "stress_sizes");
    long long heap = 0, map = 0;
    int blocks = 0, regions = 0;
    const char *line = strstr(p.out, "stress_sizes: ");
    ck_assert_msg(line && sscanf(line, "stress_sizes: expect heap %lld bytes in %d blocks, mmap %lld bytes in %d regions",
                                 &heap, &blocks, &map, &regions) == 4, "stdout: %s", p.out);
    json_t *r = tu_report(out, "stress_sizes", p.pid, 1);
    tu_assert_totals(r, heap, blocks);
    /* The committed part lost its second half to a munmap across two pieces; the kernel refused the
     * munmap(base + 1, 4096) that followed (EINVAL), so the first 8 MiB stay mapped, in one piece. */
    json_t *commit = tu_site(r, "fx_commit");
    ck_assert_msg(tu_int(commit, "live_bytes") == 8 << 20 && tu_int(commit, "live_blocks") == 1,
                  "site fx_commit: %lld bytes in %lld regions, expected 8 MiB (8388608) in 1: a munmap the kernel "
                  "refused was subtracted", tu_int(commit, "live_bytes"), tu_int(commit, "live_blocks"));
    json_t *t = json_object_get(r, "totals");
    ck_assert_msg(tu_int(t, "mmap_live_bytes") == map && tu_int(t, "mmap_live_regions") == regions,
                  "mappings: %lld bytes in %lld regions, expected %lld in %d (what the kernel has mapped)",
                  tu_int(t, "mmap_live_bytes"), tu_int(t, "mmap_live_regions"), map, regions);
    ck_assert_int_eq(tu_int(t, "untracked_frees"), 0);
    json_decref(r);
    tu_proc_free(&bare);
    tu_proc_free(&p);
}
END_TEST

/* 8b. The address space runs out (RLIMIT_AS) while the program holds millions of small blocks: the
 * shim's tables cannot grow either. The program must run exactly as without the shim; the shim either
 * keeps exact counts or turns tracking off and says so. */
START_TEST(test_address_space_exhausted)
{
    struct tu_proc bare, p;
    run_bare_then_shim(&bare, &p, "stress_oom");
    ck_assert_msg(lines_starting(p.err, "leakwatch: ") == lines_starting(p.err, ""),
                  "stderr has lines that are not the shim's:\n%s", p.err);
    json_t *r = tu_find_report(out, p.pid, "exit");
    if (r) {
        tu_assert_totals(r, 0, 0);
        json_t *t = json_object_get(r, "totals");
        ck_assert_int_eq(tu_int(t, "allocs"), tu_int(t, "frees"));
        json_decref(r);
    } else {
        ck_assert_msg(strstr(p.err, "tracking is off"), "no exit report, and stderr does not say why:\n%s", p.err);
    }
    tu_proc_free(&bare);
    tu_proc_free(&p);
}
END_TEST

/* 9. vfork + exec and posix_spawn from a threaded program. */
START_TEST(test_vfork_and_spawn)
{
    struct tu_proc p;
    run_to_exit(&p, "stress_spawn", NULL, NULL, 0);
    ck_assert_str_eq(p.out, "vfork 50 ok 50, posix_spawn 50 ok 50\n");
    ck_assert_int_eq(tu_count_files(out, "true."), 2 * 100);
    json_t *r = tu_report(out, "stress_spawn", p.pid, 1);
    ck_assert_str_eq(reason_of(r), "exit");
    json_decref(r);
    tu_proc_free(&p);
}
END_TEST

/* 10. dlopen/dlclose loops against allocation and reports (the loader lock against the shim's locks). */
START_TEST(test_dlopen_while_reporting)
{
    struct tu_proc p;
    start(&p, "stress_dlopen", NULL, NULL, 1);
    await_line(&p, "ready\n");
    int first = send_report_signals(&p, "stress_dlopen", 60, 15);
    kill(p.pid, SIGUSR1);
    finish(&p, RUN_LIMIT_S);
    assert_exit(&p, 0);
    ck_assert_msg(first == 0, "no report within %.0f s of the signals; stderr:\n%s", REPORT_LIMIT_S, p.err);
    int opens = 0, failures = -1;
    ck_assert_msg(sscanf(p.out, "ready\nstress_dlopen: %d opens, failures %d", &opens, &failures) == 2 && opens > 0 &&
                  failures == 0, "stdout: %s", p.out);
    int seq = reports_written("stress_dlopen", p.pid) + 1;
    for (int s = 1; s < seq; s++)
        json_decref(tu_report(out, "stress_dlopen", p.pid, s));
    json_t *ex = tu_report(out, "stress_dlopen", p.pid, seq - 1);
    ck_assert_str_eq(reason_of(ex), "exit");
    ck_assert_msg(seq - 1 >= 2, "only the exit report was written");
    json_decref(ex);
    tu_proc_free(&p);
}
END_TEST

/* 11. A C++ program (new/delete, std::string, vector growth, exceptions) runs unchanged, and its report
 * names C++ functions demangled. Built here because the Makefile builds C fixtures only. */
static const char cxx_source[] =
    "#include <cstdio>\n"
    "#include <stdexcept>\n"
    "#include <string>\n"
    "#include <vector>\n"
    "namespace fxcxx {\n"
    "struct Widget { std::string name; std::vector<int> parts; };\n"
    "class Factory {\n"
    "public:\n"
    "    static Widget *build(int i);\n"
    "};\n"
    "__attribute__((noinline)) Widget *Factory::build(int i)\n"
    "{\n"
    "    Widget *w = new Widget;\n"
    "    w->name = \"widget-\" + std::to_string(i) + std::string(40, 'x');\n"
    "    w->parts.assign(i + 1, i);\n"
    "    return w;\n"
    "}\n"
    "__attribute__((noinline)) int parse(int i)\n"
    "{\n"
    "    if (i % 3 == 0)\n"
    "        throw std::runtime_error(\"bad number \" + std::to_string(i) + \", long enough to allocate\");\n"
    "    return i;\n"
    "}\n"
    "}\n"
    "fxcxx::Widget *volatile kept[3];\n"
    "int main()\n"
    "{\n"
    "    long sum = 0;\n"
    "    int caught = 0;\n"
    "    std::vector<std::string> grow;\n"
    "    for (int i = 0; i < 20000; i++)\n"
    "        grow.push_back(std::to_string(i) + \" is a string long enough to allocate\");\n"
    "    for (int i = 0; i < 3000; i++) {\n"
    "        try {\n"
    "            sum += fxcxx::parse(i);\n"
    "        } catch (const std::exception &e) {\n"
    "            caught++;\n"
    "            sum += e.what()[0];\n"
    "        }\n"
    "    }\n"
    "    for (int i = 0; i < 100; i++) {\n"
    "        fxcxx::Widget *w = fxcxx::Factory::build(i);\n"
    "        sum += (long)w->name.size() + (long)w->parts.size();\n"
    "        if (i < 3)\n"
    "            kept[i] = w;\n"
    "        else\n"
    "            delete w;\n"
    "    }\n"
    "    std::printf(\"sum %ld caught %d strings %zu\\n\", sum, caught, grow.size());\n"
    "    return 5;\n"
    "}\n";

static int frames_contain(json_t *frames, const char *text)
{
    size_t i;
    json_t *f;
    json_array_foreach(frames, i, f) {
        const char *name = json_string_value(json_object_get(f, "function"));
        if (name && strstr(name, text))
            return 1;
    }
    return 0;
}

START_TEST(test_cxx_program)
{
    char *src = tu_strf("%s/fxcxx.cc", tmp), *bin = tu_strf("%s/fxcxx", tmp);
    FILE *f = fopen(src, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(cxx_source, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
    char *gxx[] = { "/usr/bin/g++", "-O1", "-g", "-o", bin, src, NULL };
    ck_assert_msg(access(gxx[0], X_OK) == 0, "g++ is needed to build the C++ test program (scripts/deps.sh)");
    struct tu_env env;
    tu_env_base(&env, out);
    struct tu_proc cc;
    tu_run(&cc, gxx, env.vars, 120);
    ck_assert_msg(!cc.timed_out && WIFEXITED(cc.status) && WEXITSTATUS(cc.status) == 0, "g++: %s\n%s",
                  tu_status_str(&cc), cc.err);
    tu_proc_free(&cc);
    tu_env_free(&env);
    char *argv[] = { bin, NULL };
    struct tu_proc bare, p;
    tu_env_base(&env, out);
    tu_spawn(&bare, argv, env.vars, NULL);
    finish(&bare, RUN_LIMIT_S);
    tu_env_free(&env);
    tu_env_shim(&env, out);
    tu_spawn(&p, argv, env.vars, NULL);
    finish(&p, RUN_LIMIT_S);
    tu_env_free(&env);
    assert_exit(&bare, 5);
    assert_exit(&p, 5);
    ck_assert_str_eq(p.out, bare.out);
    ck_assert_msg(strstr(p.out, "caught 1000 strings 20000\n") != NULL, "stdout: %s", p.out);
    json_t *r = tu_report(out, "fxcxx", p.pid, 1);
    ck_assert_str_eq(reason_of(r), "exit");
    size_t i;
    json_t *s;
    int named = 0, mangled = 0;
    json_array_foreach(json_object_get(r, "sites"), i, s) {
        named += frames_contain(json_object_get(s, "frames"), "fxcxx::Factory::build(int)");
        mangled += frames_contain(json_object_get(s, "frames"), "_ZN5fxcxx");
    }
    ck_assert_msg(named >= 1, "no site names fxcxx::Factory::build(int) (demangled)");
    ck_assert_int_eq(mangled, 0);
    json_decref(r);
    free(src);
    free(bin);
    tu_proc_free(&bare);
    tu_proc_free(&p);
}
END_TEST

/* A process that looks like a JVM (it exports JNI_GetCreatedJavaVMs and AsyncGetCallTrace) but whose VM refuses
 * to attach a thread, or (ATTACH_OK) attaches it and has no JVMTI: the shim must try once per module, say so in one
 * line, never call AsyncGetCallTrace, and keep native frames. Built with -rdynamic so that the shim finds its
 * symbols, as it finds libjvm.so's. */
static const char fake_jvm_source[] =
    "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <unistd.h>\n"
    "struct vm_functions { void *reserved[3]; int (*destroy)(void *); int (*attach)(void *, void **, void *);\n"
    "    int (*detach)(void *); int (*get_env)(void *, void **, int); int (*attach_daemon)(void *, void **, void *); };\n"
    "static int attaches, envs;\n"
    "static void *fake_jni_env;\n"
    "static int refuse(void *vm, void **env, void *args) { (void)vm; (void)args; *env = NULL; attaches++; return -1; }\n"
    "static int accept(void *vm, void **env, void *args) { (void)vm; (void)args; *env = &fake_jni_env; attaches++;\n"
    "    return 0; }\n"
    "static int no_env(void *vm, void **env, int version) { (void)vm; (void)version; *env = NULL; envs++; return -3; }\n"
    "static int fail(void *vm) { (void)vm; return -1; }\n"
    "#if defined JDK8\n"
    /* JDK 8's HotSpot: JVMTI 1.x only (GetEnv answers JNI_EVERSION for JVMTI_VERSION_11), an environment whose
     * AddCapabilities (function 142) has no sampled allocations (can_generate_sampled_object_alloc_events, bit 43) */
    "static void *jvmti_functions[156], *jvmti_env = jvmti_functions;\n"
    "static int not_available(void) { return 98; }\n"
    "static int dispose(void *env) { (void)env; return 0; }\n"
    "static int add_capabilities(void *env, const unsigned *caps) { (void)env; return caps[1] & 0x800 ? 98 : 0; }\n"
    "__attribute__((constructor)) static void jdk8_jvmti(void) {\n"
    "    for (int i = 0; i < 156; i++) jvmti_functions[i] = (void *)not_available;\n"
    "    jvmti_functions[126] = (void *)dispose; jvmti_functions[141] = (void *)add_capabilities; }\n"
    "static int jdk8_env(void *vm, void **env, int version) { (void)vm; envs++;\n"
    "    if ((version & 0x70ff0000) == 0x30010000) { *env = &jvmti_env; return 0; }\n"
    "    *env = NULL; return -3; }\n"
    "static struct vm_functions functions = { { 0, 0, 0 }, fail, accept, fail, jdk8_env, accept };\n"
    "#elif defined ATTACH_OK\n"
    "static struct vm_functions functions = { { 0, 0, 0 }, fail, accept, fail, no_env, accept };\n"
    "#else\n"
    "static struct vm_functions functions = { { 0, 0, 0 }, fail, refuse, fail, no_env, refuse };\n"
    "#endif\n"
    "static struct vm_functions *vm = &functions;\n"
    "int JNI_GetCreatedJavaVMs(void **vms, int n, int *count) { if (n > 0) vms[0] = &vm; *count = 1; return 0; }\n"
    "void AsyncGetCallTrace(void *trace, int depth, void *uc) { (void)trace; (void)depth; (void)uc; abort(); }\n"
    "__attribute__((noinline)) static char *fake_jvm_keep(size_t n) { char *p = malloc(n); memset(p, 1, n); return p; }\n"
    "int main(void) {\n"
    "    for (int i = 0; i < 40; i++) { fake_jvm_keep(1000); usleep(50000); }\n"
    "    printf(\"attaches %d\\n\", attaches); fflush(stdout); return 3; }\n";

/* Builds the fake JVM with `define` (-DREFUSE, -DATTACH_OK, -DJDK8) and runs it under the shim with `settings`
 * (NULL-terminated, may be NULL) to its end; the program's exit code is its own (3). */
static char *run_fake_jvm(const char *define, const char *const *settings, struct tu_proc *p)
{
    char *src = tu_strf("%s/fakejvm.c", tmp), *bin = tu_strf("%s/fakejvm", tmp);
    FILE *f = fopen(src, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(fake_jvm_source, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
    char *cc_argv[] = { "/usr/bin/gcc", "-O1", "-g", "-fno-omit-frame-pointer", "-rdynamic", (char *)define,
                        "-o", bin, src, NULL };
    struct tu_env env;
    tu_env_base(&env, out);
    struct tu_proc cc;
    tu_run(&cc, cc_argv, env.vars, 120);
    ck_assert_msg(!cc.timed_out && WIFEXITED(cc.status) && WEXITSTATUS(cc.status) == 0, "gcc: %s\n%s",
                  tu_status_str(&cc), cc.err);
    tu_proc_free(&cc);
    tu_env_free(&env);
    char *argv[] = { bin, NULL };
    tu_env_with(&env, out, 1, settings);
    tu_spawn(p, argv, env.vars, NULL);
    finish(p, RUN_LIMIT_S);
    tu_env_free(&env);
    assert_exit(p, 3);
    free(src);
    return bin;
}

/* The number of sites of the fake JVM's exit report whose native frames name fake_jvm_keep. */
static int sites_naming_keep(pid_t pid)
{
    json_t *r = tu_report(out, "fakejvm", pid, 1);
    size_t i;
    json_t *s;
    int named = 0;
    json_array_foreach(json_object_get(r, "sites"), i, s)
        named += frames_contain(json_object_get(s, "frames"), "fake_jvm_keep");
    json_decref(r);
    return named;
}

/* Builds the fake JVM (attach_ok: it attaches threads but has no JVMTI), runs it under the shim and checks what
 * every refusal must leave: the program's exit code and output, one line on stderr naming `why`, native frames. */
static void check_fake_jvm(int attach_ok, const char *why)
{
    struct tu_proc p;
    char *bin = run_fake_jvm(attach_ok ? "-DATTACH_OK" : "-DREFUSE", NULL, &p);
    /* once for Java frames (jvm.c) and once for Java-heap sites (jheap.c), each on its own thread, and no retry;
     * the program's output is its own */
    ck_assert_msg(strcmp(p.out, "attaches 2\n") == 0, "the shim did not try to attach once per module: %s", p.out);
    char *line = tu_strf("leakwatch: %s: no Java frames in reports and no Java-heap sites; native tracking goes on\n",
                         why);
    const char *at = strstr(p.err, line);
    ck_assert_msg(at != NULL, "stderr does not say \"%s\" in one line:\n%s", line, p.err);
    const char *first = strstr(p.err, "JVM");
    ck_assert_msg(first > at && first < at + strlen(line) && strstr(at + strlen(line), "JVM") == NULL,
                  "said more than the one line about the JVM:\n%s", p.err);
    int named = sites_naming_keep(p.pid);
    ck_assert_msg(named == 1, "%d sites name fake_jvm_keep (native frames), expected 1", named);
    free(line);
    free(bin);
    tu_proc_free(&p);
}

START_TEST(test_jvm_that_refuses_to_attach)
{
    check_fake_jvm(0, "the JVM refused to attach a thread");
}
END_TEST

/* The JVM tool interface unavailable (a JVM built without it, or one that refuses every version). */
START_TEST(test_jvm_without_jvmti)
{
    check_fake_jvm(1, "the JVM offers no JVMTI");
}
END_TEST

/* A JVM older than JDK 11 (JDK 8: JVMTI 1.2, no sampled allocations; Debian 12 has no such JDK, hence the fake):
 * one line says there are no Java-heap sites because the JVM is older than JDK 11, and nothing else about the JVM;
 * the program's exit code and output are its own and native sites go on. Java frames are off (they need a real
 * interpreter to name), so the only module asking the JVM is the Java-heap one: one attach. */
START_TEST(test_jvm_older_than_jdk11)
{
    struct tu_proc p;
    const char *settings[] = { "LEAKWATCH_JAVA_FRAMES=0", NULL };
    char *bin = run_fake_jvm("-DJDK8", settings, &p);
    ck_assert_msg(strcmp(p.out, "attaches 1\n") == 0, "the Java-heap module did not attach once: %s", p.out);
    const char *line = "leakwatch: no Java-heap sites (the JVM is older than JDK 11; JDK 11 or later samples "
                       "allocations); native tracking goes on\n";
    const char *at = strstr(p.err, line);
    ck_assert_msg(at != NULL, "stderr does not say \"%s\" in one line:\n%s", line, p.err);
    const char *first = strstr(p.err, "Java");
    ck_assert_msg(first > at && first < at + strlen(line) && strstr(at + strlen(line), "Java") == NULL &&
                  strstr(p.err, "JVMTI") == NULL, "said more than the one line about the JVM:\n%s", p.err);
    int named = sites_naming_keep(p.pid);
    ck_assert_msg(named == 1, "%d sites name fake_jvm_keep (native frames), expected 1", named);
    free(bin);
    tu_proc_free(&p);
}
END_TEST

static TCase *robust_case(Suite *s, const char *name, int timeout_s)
{
    TCase *tc = tcase_create(name);
    tcase_add_unchecked_fixture(tc, tu_tempbase_setup, tu_tempbase_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, timeout_s);
    suite_add_tcase(s, tc);
    return tc;
}

/* Timeouts leave room for a program's own limit (RUN_LIMIT_S), gdb's backtraces and the checks. */
static Suite *robust_suite(void)
{
    Suite *s = suite_create("robust");
    TCase *tc = robust_case(s, "signals", 120);
    tcase_add_test(tc, test_signal_storm);
    tcase_add_test(tc, test_signals_during_exit);
    tcase_add_test(tc, test_alarm_handler_allocates);
    tcase_add_test(tc, test_alarm_handler_on_altstack);
    tc = robust_case(s, "processes", 120);
    tcase_add_test(tc, test_fork_storm);
    tcase_add_test(tc, test_thread_churn);
    tcase_add_test(tc, test_vfork_and_spawn);
    tcase_add_test(tc, test_dlopen_while_reporting);
    tc = robust_case(s, "environment", 120);
    tcase_add_test(tc, test_closed_fds);
    tcase_add_test(tc, test_setuid_report_dir);
    tcase_add_test(tc, test_setuid_foreign_dir);
    tcase_add_test(tc, test_disk_full);
    tcase_add_test(tc, test_disk_full_after_many_reports);
    tc = robust_case(s, "sizes", 240);
    tcase_add_test(tc, test_huge_and_odd_sizes);
    tcase_add_test(tc, test_address_space_exhausted);
    tcase_add_test(tc, test_cxx_program);
    tcase_add_test(tc, test_jvm_that_refuses_to_attach);
    tcase_add_test(tc, test_jvm_without_jvmti);
    tc = robust_case(s, "old_jdk", 120);
    tcase_add_test(tc, test_jvm_older_than_jdk11);
    return s;
}

LW_SUITE(robust_suite)
