/* check_attach — `leakwatch attach`/`detach` against running processes started without the shim: tracking
 * from the attach on (a leak that keeps growing is found, memory from before is never attributed and its
 * frees are counted as untracked), modules loaded after the attach are followed, detach gives the allocation
 * functions back, and the refusals (a static binary, attaching twice, detaching a preloaded process, another
 * user's process, a dead PID) are one line each and leave the target as it was. The targets count system
 * calls that failed with EINTR: a tracer's stop must restart them as the kernel does. nginx workers and the
 * Netty gateway (through HotSpot's attach mechanism) are attached under wrk's load without a failed request,
 * and `gate --attach` gates a process that runs already. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_suites.h"
#include "testutil.h"

static int exit_code(const struct tu_proc *p)
{
    return WIFEXITED(p->status) ? WEXITSTATUS(p->status) : -1;
}

/* Runs build/leakwatch with args (NULL-terminated). */
static void lw(struct tu_proc *p, struct tu_env *env, char **args)
{
    char *argv[32];
    int n = 0;
    argv[n++] = tu_strf("%s/leakwatch", tu_build_dir());
    while (args[n - 1] && n < 31) {
        argv[n] = args[n - 1];
        n++;
    }
    argv[n] = NULL;
    tu_run(p, argv, env->vars, 60);
    free(argv[0]);
}

static int lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void nap_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int maps_mention(pid_t pid, const char *what)
{
    char *path = tu_strf("/proc/%d/maps", (int)pid);
    char *maps = tu_slurp(path);
    int found = maps && strstr(maps, what) != NULL;
    free(maps);
    free(path);
    return found;
}

/* Starts a fixture without the shim and waits for its "ready". */
static void start_bare(struct tu_proc *p, struct tu_env *env, const char *fixture)
{
    char *path = tu_fixture(fixture);
    char *argv[] = {path, NULL};
    tu_env_base(env, "/nonexistent");
    tu_env_unset(env, "LEAKWATCH_OUT");
    tu_spawn(p, argv, env->vars, NULL);
    ck_assert_msg(tu_read_until(p, "ready", 20) == 0, "%s never said ready: %s", fixture, p->err);
    free(path);
}

/* Stops attach_target with SIGTERM and checks it ran on unharmed: exit 0, no read failed with EINTR, and
 * no sleep either unless signals (reports) were sent to it. */
static void expect_target_unharmed(struct tu_proc *t, int signalled)
{
    kill(t->pid, SIGTERM);
    tu_finish(t, 20);
    ck_assert_msg(exit_code(t) == 0 && strstr(t->out, " iterations, 0 read eintr, ") &&
                  (signalled || strstr(t->out, ", 0 sleep eintr")),
                  "the target did not run on as before: %s, stdout %s, stderr %s", tu_status_str(t), t->out, t->err);
}

/* expect_target_unharmed, then frees the target and the environment it was started with. */
static void end_target(struct tu_proc *t, struct tu_env *env, int signalled)
{
    expect_target_unharmed(t, signalled);
    tu_proc_free(t);
    tu_env_free(env);
}

/* Stops an idle fixture with SIGTERM: it must exit 0 saying "name: stopped". Frees it and its environment. */
static void end_idle(struct tu_proc *t, struct tu_env *env, const char *name)
{
    kill(t->pid, SIGTERM);
    tu_finish(t, 20);
    char *stopped = tu_strf("%s: stopped", name);
    ck_assert_msg(exit_code(t) == 0 && strstr(t->out, stopped), "%s: %s %s", name, tu_status_str(t), t->out);
    free(stopped);
    tu_proc_free(t);
    tu_env_free(env);
}

/* Runs build/leakwatch with args; it must exit with code (what names the step in the failure message). */
static void lw_expect(struct tu_env *env, char **args, int code, const char *what)
{
    struct tu_proc p;
    lw(&p, env, args);
    ck_assert_msg(exit_code(&p) == code, "%s: %s, expected exit %d; stderr: %s", what, tu_status_str(&p), code,
                  p.err);
    tu_proc_free(&p);
}

static long long site_live(json_t *report, const char *fn)
{
    return tu_int(tu_site(report, fn), "live_bytes");
}

START_TEST(attach_tracks_from_now_on)
{
    struct tu_env env;
    struct tu_proc t, p;
    start_bare(&t, &env, "attach_target");
    ck_assert_msg(!maps_mention(t.pid, "libleakwatch"), "the target carries the shim before the attach");
    char *out = tu_tempdir(), *spid = tu_strf("%d", (int)t.pid);
    char *a1[] = {"attach", "--out", out, "--min-age", "0", "--quiet", spid, NULL};
    lw(&p, &env, a1);
    ck_assert_msg(exit_code(&p) == 0 && strstr(p.err, "attached to PID"), "attach: %s %s", tu_status_str(&p), p.err);
    tu_proc_free(&p);
    ck_assert(maps_mention(t.pid, "libleakwatch.so"));

    nap_ms(500);
    char *a2[] = {"dump", spid, NULL};
    lw(&p, &env, a2);
    ck_assert_msg(exit_code(&p) == 0, "first dump: %s %s", tu_status_str(&p), p.err);
    ck_assert_msg(strstr(p.out, "\nTracking started ") && strstr(p.out, "when leakwatch attached to the running "
                  "process: memory allocated before then is not attributed to any site"),
                  "the text report does not say when tracking started: %s", p.out);
    tu_proc_free(&p);
    nap_ms(500);
    lw_expect(&env, a2, 0, "second dump");

    json_t *r1 = tu_report(out, "attach_target", t.pid, 1), *r2 = tu_report(out, "attach_target", t.pid, 2);
    ck_assert(json_is_true(json_object_get(r1, "attached")));
    ck_assert(json_is_string(json_object_get(r1, "tracking_since")));
    /* the leak that goes on after the attach is found, and keeps growing: 256 bytes every 10 ms */
    long long before = site_live(r1, "fx_attach_leak"), after = site_live(r2, "fx_attach_leak");
    ck_assert_msg(before >= 256 * 10 && before % 256 == 0 && after >= before + 256 * 10,
                  "fx_attach_leak: %lld then %lld live bytes", before, after);
    /* the blocks from before the attach belong to no site; freeing them is counted, never subtracted */
    ck_assert_int_eq(tu_sites_naming(r2, "fx_old_alloc"), 0);
    json_t *totals = json_object_get(r2, "totals");
    ck_assert_msg(tu_int(totals, "untracked_frees") >= 20, "untracked frees: %lld",
                  tu_int(totals, "untracked_frees"));
    /* the C library's own calls (strdup) reach the hooks too: the churn frees everything it allocates */
    ck_assert_int_eq(tu_sites_naming(r2, "fx_churn"), 0);
    /* allocations minus frees are the live blocks, give or take the few the program made while the report
     * copied the map (it keeps running) */
    long long balance = tu_int(totals, "allocs") - tu_int(totals, "frees") - tu_int(totals, "live_blocks");
    ck_assert_msg(tu_int(totals, "allocs") > 3 * 50 && balance >= -8 && balance <= 8,
                  "allocs %lld frees %lld live blocks %lld", tu_int(totals, "allocs"), tu_int(totals, "frees"),
                  tu_int(totals, "live_blocks"));
    tu_assert_totals(r2, site_live(r2, "fx_attach_leak"), site_live(r2, "fx_attach_leak") / 256);
    json_decref(r1);
    json_decref(r2);

    char *a3[] = {"detach", spid, NULL};
    lw(&p, &env, a3);
    ck_assert_msg(exit_code(&p) == 0 && strstr(p.err, "detached from PID"), "detach: %s %s", tu_status_str(&p),
                  p.err);
    tu_proc_free(&p);
    /* inert: nothing answers a dump any more, and the report signal is the program's again */
    lw_expect(&env, a2, 2, "dump after detach");
    end_target(&t, &env, 1);
    tu_rmtree(out);
    free(out);
    free(spid);
}
END_TEST

static uint64_t realtime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Attach, detach, attach again with other settings: tracking starts afresh (a new start time, the new
 * report directory, nothing counted from the first attach), the leak is found again, and the target runs on. */
START_TEST(attach_again_after_detach)
{
    struct tu_env env;
    struct tu_proc t, p;
    start_bare(&t, &env, "attach_target");
    char *out1 = tu_tempdir(), *out2 = tu_tempdir(), *spid = tu_strf("%d", (int)t.pid);
    char *a1[] = {"attach", "--out", out1, "--min-age", "0", "--quiet", spid, NULL};
    lw_expect(&env, a1, 0, "first attach");
    nap_ms(1500);
    char *dump[] = {"dump", spid, NULL};
    lw_expect(&env, dump, 0, "first dump");
    json_t *r1 = tu_report(out1, "attach_target", t.pid, 1);
    long long first_live = site_live(r1, "fx_attach_leak");
    ck_assert_msg(first_live >= 256 * 50, "first attach: fx_attach_leak has %lld live bytes", first_live);
    char *first_since = strdup(json_string_value(json_object_get(r1, "tracking_since")));
    char *detach[] = {"detach", spid, NULL};
    lw_expect(&env, detach, 0, "detach");
    nap_ms(300);

    /* the second attach's own settings: another directory, and the report signal SIGUSR1 */
    uint64_t before_ms = realtime_ms();
    char *a2[] = {"attach", "--out", out2, "--min-age", "0", "--signal", "SIGUSR1", "--quiet", spid, NULL};
    lw(&p, &env, a2);
    ck_assert_msg(exit_code(&p) == 0 && strstr(p.err, "attached to PID"), "attach after detach: %s %s",
                  tu_status_str(&p), p.err);
    tu_proc_free(&p);
    nap_ms(400);
    lw(&p, &env, dump);
    ck_assert_msg(exit_code(&p) == 0 && strstr(p.out, "\nTracking started ") && strstr(p.out, "fx_attach_leak"),
                  "dump after the second attach: %s %.2000s %s", tu_status_str(&p), p.out, p.err);
    tu_proc_free(&p);
    uint64_t after_ms = realtime_ms();
    json_t *r2 = NULL;
    for (int seq = 1; seq < 10 && !r2; seq++) {
        char *path = tu_strf("%s/attach_target.%d.%d.json", out2, (int)t.pid, seq);
        if (access(path, F_OK) == 0)
            r2 = tu_report(out2, "attach_target", t.pid, seq);
        free(path);
    }
    ck_assert_msg(r2 != NULL, "no report in the second attach's directory %s", out2);
    ck_assert(json_is_true(json_object_get(r2, "attached")));
    const char *second_since = json_string_value(json_object_get(r2, "tracking_since"));
    ck_assert_msg(second_since && strcmp(second_since, first_since) > 0,
                  "tracking_since %s after the second attach, %s after the first", second_since, first_since);
    /* counted afresh: at most one 256-byte block per 10 ms since the second attach began (and a few for
     * sleeps the dump's signal cut short), far fewer than the first attach had already counted */
    long long live = site_live(r2, "fx_attach_leak");
    long long bound = 256 * ((long long)(after_ms - before_ms) / 10 + 4);
    ck_assert_msg(live >= 256 * 5 && live <= bound, "fx_attach_leak: %lld live bytes after the second attach "
                  "(at most %lld), %lld in the first", live, bound, first_live);
    tu_assert_totals(r2, live, live / 256);
    json_decref(r1);
    json_decref(r2);
    /* the new signal writes a report */
    kill(t.pid, SIGUSR1);
    int found = 0;
    for (int i = 0; i < 100 && !found; i++) {
        found = tu_count_files(out2, "attach_target.") >= 4;
        nap_ms(50);
    }
    ck_assert_msg(found, "SIGUSR1 wrote no report after the second attach");
    lw_expect(&env, detach, 0, "second detach");
    end_target(&t, &env, 1);
    tu_rmtree(out1);
    tu_rmtree(out2);
    free(out1);
    free(out2);
    free(spid);
    free(first_since);
}
END_TEST

/* Waits until pid is stopped (state T in /proc/PID/stat); false after 20 s. */
static int wait_stopped(pid_t pid)
{
    for (int i = 0; i < 2000; i++) {
        char *path = tu_strf("/proc/%d/stat", (int)pid), *stat = tu_slurp(path);
        char *end = stat ? strrchr(stat, ')') : NULL;
        int stopped = end && end[1] == ' ' && end[2] == 'T';
        free(stat);
        free(path);
        if (stopped)
            return 1;
        nap_ms(10);
    }
    return 0;
}

/* The target exits in the middle of an attach, at a step the tool pauses at (LEAKWATCH_TEST_PAUSE): after the
 * settings file was written, and while one of its threads is held. One line says so, nothing hangs, and the
 * settings file does not outlive the attempt (it would keep a later process with that pid, preloaded, from
 * starting its shim). */
START_TEST(attach_target_exits_midway)
{
    const char *steps[] = {"settings", "seized"};
    for (int i = 0; i < 2; i++) {
        struct tu_env env;
        struct tu_proc t, a;
        start_bare(&t, &env, "attach_target");
        tu_env_set(&env, "LEAKWATCH_TEST_PAUSE", steps[i]);
        char *spid = tu_strf("%d", (int)t.pid), *lwpath = tu_strf("%s/leakwatch", tu_build_dir());
        char *argv[] = {lwpath, "attach", "--quiet", spid, NULL};
        tu_spawn(&a, argv, env.vars, NULL);
        char *paused = tu_strf("paused at %s", steps[i]);
        ck_assert_msg(tu_read_until(&a, paused, 20) == 0, "attach never paused at %s: %s", steps[i], a.err);
        char *file = tu_strf("/tmp/leakwatch-%d/%d.attach", (int)geteuid(), (int)t.pid);
        ck_assert_msg(access(file, F_OK) == 0, "no settings file %s at the pause", file);
        ck_assert_msg(wait_stopped(a.pid), "attach did not stop at %s", steps[i]);
        kill(t.pid, SIGKILL);
        kill(a.pid, SIGCONT);
        tu_finish(&a, 30);
        ck_assert_msg(exit_code(&a) == 2 && strncmp(a.err, "leakwatch: attach: ", 19) == 0 &&
                      strstr(a.err, "exited") && lines(a.err) == 1,
                      "target killed at %s: %s: %s", steps[i], tu_status_str(&a), a.err);
        ck_assert_msg(access(file, F_OK) != 0, "the settings file %s outlived the failed attach", file);
        tu_finish(&t, 20);
        ck_assert_msg(WIFSIGNALED(t.status) && WTERMSIG(t.status) == SIGKILL, "target: %s", tu_status_str(&t));
        tu_proc_free(&a);
        tu_proc_free(&t);
        tu_env_free(&env);
        free(file);
        free(paused);
        free(spid);
        free(lwpath);
    }
}
END_TEST

/* A refused attach: exit 2, one line naming the problem, and the target untouched. */
static void expect_refusal(struct tu_env *env, char **args, const char *needle)
{
    struct tu_proc p;
    lw(&p, env, args);
    ck_assert_msg(exit_code(&p) == 2 && strstr(p.err, needle) && lines(p.err) == 1 &&
                  strncmp(p.err, "leakwatch: ", 11) == 0,
                  "%s %s: expected one line with \"%s\", got %s: %s", args[0], args[1], needle, tu_status_str(&p),
                  p.err);
    tu_proc_free(&p);
}

/* An attach file left for an earlier process (its attach never finished) must not take over a later process
 * that gets the same pid: before, such a file made the preloaded shim skip its start-up and wait for an attach
 * that would never come, so the program had no report signal handler and `kill -USR2` killed it. */
START_TEST(stale_attach_file_is_ignored)
{
    char *out = tu_tempdir();
    struct tu_env env;
    tu_env_init(&env);
    tu_env_shim(&env, out);
    char *fixture = tu_fixture("idle");
    int go[2], said[2];
    ck_assert_int_eq(pipe(go), 0);
    ck_assert_int_eq(pipe(said), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char c;
        close(go[1]);
        close(said[0]);
        dup2(said[1], 1);
        if (read(go[0], &c, 1) != 1)
            _exit(120);
        char *argv[] = { fixture, NULL };
        execve(fixture, argv, env.vars);
        _exit(121);
    }
    close(go[0]);
    close(said[1]);
    char *dir = tu_strf("/tmp/leakwatch-%d", (int)geteuid());
    mkdir(dir, 0700);
    char *file = tu_strf("%s/%d.attach", dir, (int)pid);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fputs("start=1\nLEAKWATCH_OUT=/nonexistent\n", f);   /* a start time no process of this boot has */
    fclose(f);
    chmod(file, 0600);
    ck_assert_int_eq(write(go[1], "x", 1), 1);
    close(go[1]);
    char ready[64] = "";
    ssize_t n = read(said[0], ready, sizeof ready - 1);   /* "ready" comes after the shim's constructor */
    close(said[0]);
    ck_assert_msg(n > 0 && strstr(ready, "ready"), "idle never said ready");

    ck_assert_int_eq(kill(pid, SIGUSR2), 0);
    json_t *r = NULL;
    for (int i = 0; i < 100 && !r; i++, nap_ms(100))
        r = tu_find_report(out, pid, "signal");
    int status = 0;
    int gone = waitpid(pid, &status, WNOHANG) == pid;
    ck_assert_msg(!gone, "kill -USR2 ended idle (%s): a stale attach file kept its shim from starting",
                  tu_wait_str(status));
    ck_assert_msg(r != NULL, "no report on SIGUSR2 from idle (pid %d) after a stale attach file", (int)pid);
    ck_assert_msg(access(file, F_OK) != 0, "the stale attach file %s was left in place", file);
    kill(pid, SIGTERM);
    tu_wait_pid(pid, 20);
    json_decref(r);
    unlink(file);
    free(file);
    free(dir);
    free(fixture);
    tu_env_free(&env);
    tu_rmtree(out);
    free(out);
}
END_TEST

START_TEST(attach_refuses_clearly)
{
    struct tu_env env;
    struct tu_proc t;

    /* a statically linked program has no loader to load the shim with */
    start_bare(&t, &env, "static_idle");
    char *spid = tu_strf("%d", (int)t.pid);
    char *a1[] = {"attach", spid, NULL};
    expect_refusal(&env, a1, "statically linked");
    end_idle(&t, &env, "static_idle");
    free(spid);

    /* a program on another C library (musl, dynamically linked): no glibc dlopen to call */
    start_bare(&t, &env, "musl_idle");
    spid = tu_strf("%d", (int)t.pid);
    char *m1[] = {"attach", spid, NULL};
    expect_refusal(&env, m1, "uses musl libc");
    ck_assert(!maps_mention(t.pid, "libleakwatch"));
    end_idle(&t, &env, "musl_idle");
    free(spid);

    /* attaching twice, and detaching twice */
    start_bare(&t, &env, "attach_target");
    spid = tu_strf("%d", (int)t.pid);
    char *a2[] = {"attach", "--quiet", spid, NULL};
    lw_expect(&env, a2, 0, "attach");
    expect_refusal(&env, a2, "is already tracked by leakwatch");
    char *a3[] = {"detach", spid, NULL};
    lw_expect(&env, a3, 0, "detach");
    expect_refusal(&env, a3, "is already detached");
    end_target(&t, &env, 0);
    free(spid);

    /* another user's process: refused before anything is touched */
    start_bare(&t, &env, "attach_target");
    spid = tu_strf("%d", (int)t.pid);
    if (geteuid() == 0) {
        char *lwpath = tu_strf("%s/leakwatch", tu_build_dir());
        int errp[2];
        ck_assert(pipe(errp) == 0);
        pid_t c = fork();
        if (c == 0) {
            dup2(errp[1], 2);
            if (setgid(65534) != 0 || setuid(65534) != 0)
                _exit(99);
            execl(lwpath, lwpath, "attach", spid, (char *)NULL);
            _exit(98);
        }
        close(errp[1]);
        char buf[1024] = "";
        size_t got = 0;
        ssize_t n;
        while (got < sizeof buf - 1 && (n = read(errp[0], buf + got, sizeof buf - 1 - got)) > 0)
            got += (size_t)n;
        buf[got] = '\0';
        close(errp[0]);
        int st;
        waitpid(c, &st, 0);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2 && strstr(buf, "belongs to uid 0, not to you") &&
                      lines(buf) == 1, "attach as nobody: status %d: %s", st, buf);
        free(lwpath);
    }
    ck_assert(!maps_mention(t.pid, "libleakwatch"));
    /* a bad PID */
    char *a4[] = {"attach", "999999999", NULL};
    expect_refusal(&env, a4, "no running process has PID 999999999");
    char *a7[] = {"detach", spid, NULL};
    expect_refusal(&env, a7, "has no libleakwatch.so loaded");
    end_target(&t, &env, 0);
    free(spid);

    /* a process that carries the shim from its start: already tracked; nothing to detach */
    char *out = tu_tempdir(), *idle = tu_fixture("idle");
    char *run[] = {tu_strf("%s/leakwatch", tu_build_dir()), "run", "--out", out, "--", idle, NULL};
    tu_env_base(&env, "/nonexistent");
    tu_spawn(&t, run, env.vars, NULL);
    ck_assert(tu_read_until(&t, "ready", 20) == 0);
    spid = tu_strf("%d", (int)t.pid);
    char *a5[] = {"attach", spid, NULL};
    expect_refusal(&env, a5, "is already tracked by leakwatch");
    char *a6[] = {"detach", spid, NULL};
    expect_refusal(&env, a6, "carries the shim from its start (preloaded)");
    kill(t.pid, SIGKILL);
    tu_finish(&t, 10);
    tu_proc_free(&t);
    tu_env_free(&env);
    free(run[0]);
    free(spid);
    free(idle);
    tu_rmtree(out);
    free(out);
}
END_TEST

/* Attaching as an ordinary user to that user's own process (not a child): works, unless Yama's ptrace_scope
 * forbids it, and then the one line names ptrace_scope and its value. */
START_TEST(attach_as_the_same_user)
{
    /* as root, both become nobody with setpriv (which execs in place); otherwise both are already us */
    int skip = geteuid() == 0 ? 0 : 4;
    ck_assert_msg(skip || access("/usr/bin/setpriv", X_OK) == 0, "setpriv (util-linux) is missing");
    struct tu_env env;
    struct tu_proc t, p;
    char *fixture = tu_fixture("attach_target");
    char *as_nobody[] = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", fixture, NULL};
    tu_env_base(&env, "/nonexistent");
    tu_env_unset(&env, "LEAKWATCH_OUT");
    tu_spawn(&t, as_nobody + skip, env.vars, NULL);
    ck_assert_msg(tu_read_until(&t, "ready", 20) == 0, "attach_target as nobody: %s", t.err);
    int target = t.pid;
    char *spid = tu_strf("%d", target), *lwpath = tu_strf("%s/leakwatch", tu_build_dir());
    char *attach[] = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", lwpath, "attach",
                      "--quiet", "--min-age", "0", spid, NULL};
    tu_run(&p, attach + skip, env.vars, 60);
    int scope = -1;
    char *text = tu_slurp("/proc/sys/kernel/yama/ptrace_scope");
    if (text)
        scope = atoi(text);
    free(text);
    if (scope >= 1) {
        ck_assert_msg(exit_code(&p) == 2 && strstr(p.err, "ptrace_scope is") && lines(p.err) == 1,
                      "ptrace_scope %d: %s %s", scope, tu_status_str(&p), p.err);
        ck_assert(!maps_mention(target, "libleakwatch"));
    } else {
        ck_assert_msg(exit_code(&p) == 0 && strstr(p.err, "attached to PID"), "as nobody: %s %s",
                      tu_status_str(&p), p.err);
        tu_proc_free(&p);
        nap_ms(300);
        char *dump[] = {"dump", spid, NULL};
        lw(&p, &env, dump);
        ck_assert_msg(exit_code(&p) == 0 && strstr(p.out, "\nTracking started ") && strstr(p.out, "fx_attach_leak"),
                      "dump of the process nobody attached: %s %.2000s %s", tu_status_str(&p), p.out, p.err);
    }
    tu_proc_free(&p);
    end_target(&t, &env, 1);
    free(spid);
    free(lwpath);
    free(fixture);
}
END_TEST

/* A process in its own mount and PID namespace with its own /tmp (a container, made with unshare): attached
 * from here, it writes its reports into its own /tmp, and attach says so; when the library's path holds
 * something else in there, attach refuses in one line and the target is untouched. */
START_TEST(attach_into_a_container)
{
    ck_assert_msg(geteuid() == 0 && access("/usr/bin/unshare", X_OK) == 0, "needs root and unshare (util-linux)");
    struct tu_env env;
    struct tu_proc t, p;
    char *fixture = tu_fixture("attach_target");
    /* The fixture is read through a descriptor opened before /tmp is replaced, and the build directory is bound
     * back in: a build under /tmp (a clone there) must stay where the host sees it. */
    const char *b = tu_build_dir();
    char *inner = tu_strf("exec 3<%s && mount --bind %s /mnt && mount -t tmpfs tmpfs /tmp && mkdir -p %s && "
                          "mount --bind /mnt %s && cat <&3 >/tmp/target && chmod 755 /tmp/target && exec 3<&- && "
                          "if [ \"$HIDE\" = 1 ]; then mount -t tmpfs tmpfs %s; fi && exec /tmp/target",
                          fixture, b, b, b, b);
    for (int hide = 0; hide < 2; hide++) {
        tu_env_base(&env, "/nonexistent");
        tu_env_unset(&env, "LEAKWATCH_OUT");
        tu_env_set(&env, "HIDE", hide ? "1" : "0");
        char *argv[] = {"/usr/bin/unshare", "--mount", "--pid", "--fork", "--mount-proc", "/bin/sh", "-c", inner,
                        NULL};
        tu_spawn(&t, argv, env.vars, NULL);
        ck_assert_msg(tu_read_until(&t, "ready", 20) == 0, "no container: %s", t.err);
        char *children = tu_strf("/proc/%d/task/%d/children", (int)t.pid, (int)t.pid);
        char *kids = tu_slurp(children);
        int target = kids ? atoi(kids) : 0;
        ck_assert_msg(target > 0, "no process inside the container");
        char *spid = tu_strf("%d", target);
        char *a1[] = {"attach", "--min-age", "0", "--quiet", spid, NULL};
        lw(&p, &env, a1);
        if (hide) {
            ck_assert_msg(exit_code(&p) == 2 && strstr(p.err, "runs in another mount namespace (a container) where")
                          && lines(p.err) == 1, "hidden library: %s %s", tu_status_str(&p), p.err);
            ck_assert(!maps_mention(target, "libleakwatch"));
        } else {
            ck_assert_msg(exit_code(&p) == 0 && strstr(p.err, "its reports and state file are in its own /tmp"),
                          "container: %s %s", tu_status_str(&p), p.err);
            nap_ms(300);
            kill(target, SIGUSR2);
            char *report = tu_strf("/proc/%d/root/tmp/leakwatch-0/target.1.1.txt", target), *text = NULL;
            for (int i = 0; i < 100 && !(text = tu_slurp(report)); i++)
                nap_ms(50);
            ck_assert_msg(text && strstr(text, "\nTracking started ") && strstr(text, "fx_attach_leak"),
                          "no report in the container's /tmp (%s): %.1500s", report, text ? text : "");
            free(text);
            free(report);
        }
        tu_proc_free(&p);
        kill(target, SIGTERM);
        tu_finish(&t, 20);
        ck_assert_msg(strstr(t.out, " iterations, 0 read eintr"), "target in the container: %s %s", t.out, t.err);
        tu_proc_free(&t);
        tu_env_free(&env);
        free(spid);
        free(kids);
        free(children);
    }
    free(inner);
    free(fixture);
}
END_TEST

/* A module the program loads after the attach (python3 importing sqlite3, which loads _sqlite3 and
 * libsqlite3) is followed: the live blocks sqlite keeps for its open database have libsqlite3 sites. */
START_TEST(attach_follows_modules_loaded_later)
{
    ck_assert_msg(access("/usr/bin/python3", X_OK) == 0, "/usr/bin/python3 is not installed (make deps)");
    char *out = tu_tempdir(), *go = tu_strf("%s/go", out);
    char *script = tu_strf("import os, time\n"
                           "print('ready', flush=True)\n"
                           "while not os.path.exists('%s'): time.sleep(0.02)\n"
                           "import sqlite3\n"
                           "db = sqlite3.connect(':memory:')\n"
                           "db.execute('create table t(a text)')\n"
                           "time.sleep(0.5)\n"
                           "for i in range(2000): db.execute('insert into t values(?)', ('x' * 100,))\n"
                           "print('loaded', flush=True)\n"
                           "time.sleep(30)\n", go);
    struct tu_env env;
    tu_env_base(&env, "/nonexistent");
    tu_env_unset(&env, "LEAKWATCH_OUT");
    struct tu_proc t, p;
    char *argv[] = {"/usr/bin/python3", "-c", script, NULL};
    tu_spawn(&t, argv, env.vars, NULL);
    ck_assert_msg(tu_read_until(&t, "ready", 20) == 0, "python3 never said ready: %s", t.err);
    char *spid = tu_strf("%d", (int)t.pid);
    char *a1[] = {"attach", "--out", out, "--min-age", "0", "--quiet", spid, NULL};
    lw_expect(&env, a1, 0, "attach");
    ck_assert(!maps_mention(t.pid, "libsqlite3"));
    FILE *f = fopen(go, "w");
    ck_assert(f != NULL);
    fclose(f);
    ck_assert_msg(tu_read_until(&t, "loaded", 30) == 0, "python3 never loaded sqlite3: %s", t.err);
    char *a2[] = {"dump", spid, NULL};
    lw(&p, &env, a2);
    ck_assert_msg(exit_code(&p) == 0 && strstr(p.out, "/libsqlite3.so.0"),
                  "no site in libsqlite3, loaded after the attach: %s %.3000s", tu_status_str(&p), p.out);
    tu_proc_free(&p);
    kill(t.pid, SIGKILL);
    tu_finish(&t, 10);
    tu_proc_free(&t);
    tu_env_free(&env);
    tu_rmtree(out);
    free(out);
    free(go);
    free(script);
    free(spid);
}
END_TEST

/* gate --attach on a running process: attached for the rounds, the growing site fails, detached after. */
START_TEST(gate_attach_running_server)
{
    struct tu_env env;
    struct tu_proc t, p;
    start_bare(&t, &env, "attach_target");
    char *out = tu_tempdir(), *spid = tu_strf("%d", (int)t.pid);
    char *a1[] = {"gate", "--attach", spid, "--rounds", "4", "--warmup", "1", "--min-growth", "4K", "--out", out,
                  "--load", "sleep 0.4", NULL};
    lw(&p, &env, a1);
    ck_assert_msg(exit_code(&p) == 1 && strstr(p.out, "FAIL  site") && strstr(p.out, "fx_attach_leak") &&
                  strstr(p.out, "FAIL: 1 site keeps growing") && strstr(p.err, "attached to PID"),
                  "gate --attach: %s\n%s\n%s", tu_status_str(&p), p.out, p.err);
    ck_assert_int_eq(tu_count_files(out, "attach_target."), 8);
    tu_proc_free(&p);
    char *a2[] = {"dump", spid, NULL};
    lw_expect(&env, a2, 2, "the gate left the process attached");
    end_target(&t, &env, 1);
    tu_rmtree(out);
    free(out);
    free(spid);
}
END_TEST

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    ck_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
              getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* nginx started without the shim, two workers, wrk over loopback: attach both workers in the middle of the
 * load, dump them, detach after it. Not one request may fail (wrk prints "Socket errors" or "Non-2xx" then). */
START_TEST(attach_nginx_workers_under_load)
{
    ck_assert_msg(access("/usr/sbin/nginx", X_OK) == 0, "/usr/sbin/nginx is not installed (make deps)");
    ck_assert_msg(system("command -v wrk >/dev/null") == 0, "wrk is not installed (make deps)");
    char *dir = tu_tempdir();
    char *script = tu_strf("%s/../tests/e2e/attach-nginx.sh", tu_build_dir());
    int front = free_port(), back;
    do
        back = free_port();
    while (back == front);
    char *fs = tu_strf("%d", front), *bs = tu_strf("%d", back);
    char *argv[] = {"/bin/bash", script, (char *)tu_build_dir(), dir, fs, bs, "5", NULL};
    struct tu_env env;
    struct tu_proc p;
    tu_env_base(&env, "/nonexistent");
    tu_env_unset(&env, "LEAKWATCH_OUT");
    tu_run(&p, argv, env.vars, 90);
    ck_assert_msg(exit_code(&p) == 0, "%s: %s\n%s\n%s", script, tu_status_str(&p), p.out, p.err);
    int attached = 0, dumped = 0, detached = 0, alive = 0;
    for (char *line = p.out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        int pid;
        attached += sscanf(line, "attach %d rc=0 ", &pid) == 1;
        if (sscanf(line, "dump %d rc=0 ", &pid) == 1 && strncmp(strstr(line, "tracking="), "tracking=yes", 12) == 0)
            dumped++;
        detached += sscanf(line, "detach %d rc=0", &pid) == 1;
        alive += sscanf(line, "alive %d yes", &pid) == 1;
    }
    ck_assert_msg(attached == 2 && dumped == 2 && detached == 2 && alive == 2, "steps:\n%s\n%s", p.out, p.err);
    ck_assert_msg(strstr(p.out, " requests in ") && !strstr(p.out, "Socket errors") && !strstr(p.out, "Non-2xx"),
                  "wrk saw failed requests:\n%s", p.out);
    tu_proc_free(&p);
    tu_env_free(&env);
    free(fs);
    free(bs);
    free(script);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* The Netty gateway (Netty's default pooled allocator, leak mode, no flag of ours) attached through HotSpot's
 * attach mechanism while wrk runs: no request fails, the dump says when tracking started, its native leak records
 * name Java frames as with a preloaded shim (the pooled allocator's chunk malloc under PoolArena$DirectArena.newChunk,
 * reached from NettyGateway.buildOrderBody at the line that allocates the body), detach works. */
START_TEST(attach_jvm_under_load)
{
    ck_assert_msg(system("command -v java >/dev/null && command -v javac >/dev/null") == 0,
                  "java/javac are not installed (make deps)");
    ck_assert_msg(system("command -v wrk >/dev/null") == 0, "wrk is not installed (make deps)");
    char *dir = tu_tempdir();
    char *script = tu_strf("%s/../tests/e2e/attach-java.sh", tu_build_dir());
    char *port = tu_strf("%d", free_port());
    char *argv[] = {"/bin/bash", script, (char *)tu_build_dir(), dir, port, "8", NULL};
    struct tu_env env;
    struct tu_proc p;
    tu_env_base(&env, "/nonexistent");
    tu_env_unset(&env, "LEAKWATCH_OUT");
    tu_run(&p, argv, env.vars, 180);
    ck_assert_msg(exit_code(&p) == 0, "%s: %s\n%s\n%s", script, tu_status_str(&p), p.out, p.err);
    int pid;
    char *at = strstr(p.out, "attach ");
    ck_assert_msg(at && sscanf(at, "attach %d rc=0 ", &pid) == 1, "attach failed:\n%s", p.out);
    int java_frames = 0, new_chunk = 0, body = 0;
    char *dump_line = tu_strf("dump %d rc=0 tracking=yes java_frames=", pid), *d = strstr(p.out, dump_line);
    ck_assert_msg(d && sscanf(d + strlen(dump_line), "%d new_chunk=%d body=%d", &java_frames, &new_chunk, &body) == 3 &&
                  java_frames >= 5 && new_chunk >= 1 && body >= 1,
                  "the attached JVM's native leak records do not name the allocating Java path (java_frames=%d "
                  "new_chunk=%d body=%d):\n%s\n%s", java_frames, new_chunk, body, p.out, p.err);
    free(dump_line);
    char *expect_dump = tu_strf("dump %d rc=0 tracking=yes", pid), *expect_detach = tu_strf("detach %d rc=0", pid),
         *expect_alive = tu_strf("alive %d yes", pid);
    ck_assert_msg(strstr(p.out, expect_dump) && strstr(p.out, expect_detach) && strstr(p.out, expect_alive),
                  "steps:\n%s\n%s", p.out, p.err);
    ck_assert_msg(strstr(p.out, " requests in ") && !strstr(p.out, "Socket errors") && !strstr(p.out, "Non-2xx"),
                  "wrk saw failed requests:\n%s", p.out);
    tu_proc_free(&p);
    tu_env_free(&env);
    free(expect_dump);
    free(expect_detach);
    free(expect_alive);
    free(port);
    free(script);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

static Suite *attach_suite(void)
{
    Suite *s = suite_create("attach");
    TCase *tc = tcase_create("native");
    tcase_add_unchecked_fixture(tc, tu_tempbase_setup, tu_tempbase_teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, attach_tracks_from_now_on);
    tcase_add_test(tc, attach_refuses_clearly);
    tcase_add_test(tc, stale_attach_file_is_ignored);
    tcase_add_test(tc, attach_again_after_detach);
    tcase_add_test(tc, attach_target_exits_midway);
    tcase_add_test(tc, gate_attach_running_server);
    tcase_add_test(tc, attach_follows_modules_loaded_later);
    tcase_add_test(tc, attach_as_the_same_user);
    tcase_add_test(tc, attach_into_a_container);
    suite_add_tcase(s, tc);
    /* the servers under load, in a case of their own so the quick cases run without them */
    tc = tcase_create("servers");
    tcase_add_unchecked_fixture(tc, tu_tempbase_setup, tu_tempbase_teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, attach_nginx_workers_under_load);
    tcase_add_test(tc, attach_jvm_under_load);
    suite_add_tcase(s, tc);
    return s;
}

LW_SUITE(attach_suite)
