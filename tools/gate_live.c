/* gate_live.c — the live gate (see gate_live.h): a server started under the shim, or one running already
 * and attached to, driven round by round and snapshotted process by process. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "attach.h"
#include "child.h"
#include "gate_live.h"
#include "gate_outdir.h"
#include "launch.h"
#include "proc.h"
#include "snap.h"
#include "util.h"


typedef struct {
    const char *shim;
    launch_opts lo;
    const char *cmd0;
} server_env;

static volatile pid_t server_pid;

/* Ctrl-C or a CI timeout must not leave the server (in its own process group) running. */
static void on_interrupt(int sig)
{
    if (server_pid > 0) {
        kill(-server_pid, SIGKILL);
        waitpid(server_pid, NULL, 0);   /* gone before its report directory goes */
    }
    gate_outdir_remove();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void catch_interrupts(void)
{
    signal(SIGINT, on_interrupt);
    signal(SIGTERM, on_interrupt);
    signal(SIGHUP, on_interrupt);
}

static void prepare_server(void *ctx)
{
    server_env *e = ctx;
    launch_setenv(e->shim, &e->lo, e->cmd0);
    /* a JVM's Java heap is sampled 8x finer than by default, so that a few rounds of load give each growing
     * site enough samples to tell growth from noise; the user's own setting wins */
    setenv("LEAKWATCH_JAVA_HEAP_SAMPLE", "64k", 0);
    /* and the one "Held by" walk, of the last round, may hold the JVM still for up to 10 s (CI, not production) */
    setenv("LEAKWATCH_JAVA_HELD_BY_MS", "10000", 0);
}

static bool port_open(long port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static void nap(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Did the server end? Then say how, once, as the error of this run. */
static bool server_gone(pid_t pid, const char *when, char *err, size_t errlen)
{
    int status;
    if (waitpid(pid, &status, WNOHANG) != pid)
        return false;
    char st[64];
    snprintf(err, errlen, "the server (PID %d) %s %s: run it by hand to see why", (int)pid,
             child_status_text(status, st, sizeof st), when);
    server_pid = 0;
    return true;
}

static bool wait_ready(const live_cfg *lc, pid_t pid, char *err, size_t errlen)
{
    long long deadline = lw_now_ms() + lc->timeout_ms;
    snap_state st;
    for (;;) {
        if (server_gone(pid, "before it was ready", err, errlen))
            return false;
        bool ready;
        if (lc->ready_port > 0) {
            ready = port_open(lc->ready_port);
        } else if (lc->ready_cmd) {
            char *argv[] = {"sh", "-c", (char *)lc->ready_cmd, NULL};
            child_opts co = {.quiet = true};
            int status = 1;
            pid_t c = child_spawn(argv, &co, err, errlen);
            if (c < 0)
                return false;
            if (!child_wait(c, deadline, &status))
                child_stop(c, false, 500);
            ready = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        } else {
            ready = snap_prepare(pid, &st, err, errlen);
        }
        if (ready)
            break;
        if (lw_now_ms() >= deadline) {
            snprintf(err, errlen, "the server (PID %d) was not ready within %.0f s (%s): check it starts, or raise "
                     "--timeout", (int)pid, lc->timeout_ms / 1000.0,
                     lc->ready_port > 0 ? "nothing accepted on its --ready-port" :
                     lc->ready_cmd ? "--ready-cmd kept failing" : "the shim published no state file");
            return false;
        }
        nap(100);
    }
    if (!snap_prepare(pid, &st, err, errlen)) {
        char *inner = strdup(err);
        snprintf(err, errlen, "the server is ready but cannot be snapshot: %s", inner ? inner : "");
        free(inner);
        return false;
    }
    return true;
}

static bool run_load(const live_cfg *lc, long round, pid_t server, char *err, size_t errlen)
{
    char r[24];
    snprintf(r, sizeof r, "%ld", round);
    setenv("LEAKWATCH_ROUND", r, 1);
    char *argv[] = {"sh", "-c", (char *)lc->load_cmd, NULL};
    child_opts co = {.stdout_to_stderr = true};
    pid_t c = child_spawn(argv, &co, err, errlen);
    if (c < 0)
        return false;
    int status;
    if (!child_wait(c, lw_now_ms() + lc->timeout_ms, &status)) {
        child_stop(c, false, 2000);
        snprintf(err, errlen, "round %ld: the load command ran longer than --timeout %.0f s and was stopped: "
                 "shorten it or raise --timeout", round, lc->timeout_ms / 1000.0);
        return false;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char st[64];
        snprintf(err, errlen, "round %ld: the load command %s: fix it (it must succeed for the round to count)",
                 round, child_status_text(status, st, sizeof st));
        return false;
    }
    return !server_gone(server, "during the load", err, errlen);
}

#define MAX_TREE 256

/* Snapshots every process of the server's tree that carries the shim: signal them all, then wait for each. */
static bool snapshot_tree(const live_cfg *lc, gate_run *g, long round, pid_t server, char *err, size_t errlen)
{
    int pids[MAX_TREE];
    size_t n = proc_descendants(server, pids, MAX_TREE);
    static snap_state st[MAX_TREE];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char e2[PATH_MAX + 512];
        if (proc_has_shim(pids[i], e2, sizeof e2) != 1)
            continue;
        snap_refresh_jit_names(pids[i], "gate");
        gate_outdir_admit(pids[i]);
        if (!snap_prepare(pids[i], &st[k], e2, sizeof e2)) {
            lw_err("gate: round %ld: skipping PID %d: %s", round, pids[i], e2);
            continue;
        }
        /* a full GC before every snapshot, so that rounds compare like with like; the "Held by" heap walk
         * (which makes the JVM allocate for its own bookkeeping) only for the last round's report */
        if (!snap_request_gc(&st[k], round == lc->rounds ? SNAP_GC : SNAP_GC_NO_WALK, e2, sizeof e2)) {
            lw_err("gate: round %ld: skipping PID %d: %s", round, pids[i], e2);
            continue;
        }
        k++;
    }
    if (k == 0) {
        snprintf(err, errlen, "round %ld: no process of the server's tree (PID %d) carries the shim", round,
                 (int)server);
        return false;
    }
    long long deadline = lw_now_ms() + lc->timeout_ms;
    lw_report *reports[MAX_TREE];
    size_t nr = 0;
    bool ok = true;
    for (size_t i = 0; i < k && ok; i++) {
        char json[PATH_MAX], txt[PATH_MAX];
        if (!snap_wait(&st[i], deadline, json, txt, sizeof json, err, errlen)) {
            if (st[i].pid != server && proc_status(st[i].pid) != PROC_ALIVE)
                continue; /* a worker that exited meanwhile: the others still make the round */
            ok = false;
            break;
        }
        int fd = snap_open(&st[i], json, err, errlen);
        reports[nr] = fd < 0 ? NULL : model_load_fd(fd, json, err, errlen);
        if (fd >= 0)
            close(fd);
        if (reports[nr] && reports[nr]->pid != st[i].ns.own_pid) {   /* its own pid, in a container */
            snprintf(err, errlen, "refusing %s: it is not a leakwatch report of PID %d", json, st[i].pid);
            model_free(reports[nr]);
            reports[nr] = NULL;
        }
        ok = reports[nr] != NULL;
        nr += ok;
    }
    if (!ok) {
        for (size_t i = 0; i < nr; i++)
            model_free(reports[i]);
        return false;
    }
    char name[64];
    snprintf(name, sizeof name, "round %ld", round);
    gate_add_loaded(g, name, reports, nr);
    double live = 0;          /* only shown rounded: a double cannot overflow here */
    for (size_t i = 0; i < nr; i++)
        live += (double)reports[i]->live_bytes + (double)reports[i]->mmap_live_bytes;
    char b[32];
    fprintf(stderr, "leakwatch: gate: round %ld/%ld: snapshot of %zu process%s, %s live\n", round, lc->rounds, nr,
            nr == 1 ? "" : "es", lw_bytes(live, false, b, sizeof b));
    return true;
}

/* The report directory template for the server. Our own default is a fresh directory with one private
 * subdirectory per uid ("%u", expanded by the shim), because the shim writes only into a directory of its
 * own user and servers started as root (nginx) run their workers as another user. */
static bool make_out_dir(const live_cfg *lc, char *out, size_t len, char *err, size_t errlen)
{
    const char *given = lc->out ? lc->out : getenv("LEAKWATCH_OUT");
    char dir[PATH_MAX];
    if (given && *given) {
        snprintf(dir, sizeof dir, "%s", given);
        if (!strstr(dir, "%u") && mkdir(dir, 0700) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "report directory %s: cannot create it (%s): check --out or LEAKWATCH_OUT", dir,
                     strerror(errno));
            return false;
        }
    } else if (!gate_outdir_make("/tmp", dir, sizeof dir, err, errlen)) {
        return false;
    }
    char cwd[PATH_MAX];
    if (dir[0] != '/' && getcwd(cwd, sizeof cwd))
        snprintf(out, len, "%.2000s/%.2000s", cwd, dir);
    else
        snprintf(out, len, "%s", dir);
    return true;
}

/* Prints where the last round's text reports are, largest first, so a person (or the demo) can read one. */
static void print_report_paths(const gate_run *g)
{
    size_t last = g->nrounds - 1;
    const lw_report *order[MAX_TREE];
    size_t n = 0;
    for (size_t k = 0; k < g->nreports && n < MAX_TREE; k++)
        if (g->report_round[k] == last)
            order[n++] = g->reports[k];
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && order[j]->live_bytes > order[j - 1]->live_bytes; j--) {
            const lw_report *t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(order[i]->file);
        printf("leakwatch gate: round %zu report: ", g->nrounds);
        lw_fwrite_esc(stdout, order[i]->file, l > 5 ? l - 5 : l, 0);
        printf(".txt\n");
    }
    printf("\n");
}

int gate_live_start(const live_cfg *lc, gate_run *g)
{
    char shim[PATH_MAX], out[4200], err[PATH_MAX * 2 + 512];
    if (!launch_find_shim(shim, sizeof shim, err, sizeof err) || !make_out_dir(lc, out, sizeof out, err, sizeof err)) {
        lw_err("gate: %s", err);
        return LW_EXIT_ERROR;
    }
    server_env env = {shim, {.out = out, .signal = lc->signal, .min_age = "0", .quiet = true}, lc->server[0]};
    child_opts co = {.new_group = true, .stdout_to_stderr = true, .prepare = prepare_server, .ctx = &env};
    catch_interrupts();
    pid_t pid = child_spawn(lc->server, &co, err, sizeof err);
    if (pid < 0) {
        lw_err("gate: %s", err);
        return LW_EXIT_ERROR;
    }
    server_pid = pid;
    char *uid = strstr(out, "%u");
    lw_err("gate: started %s as PID %d, reports in %.*s%s", lc->server[0], (int)pid,
           uid ? (int)(uid - out) : (int)strlen(out), out, uid ? "<uid>/" : "");
    bool ok = wait_ready(lc, pid, err, sizeof err);
    for (long r = 1; ok && r <= lc->rounds; r++)
        ok = run_load(lc, r, pid, err, sizeof err) && snapshot_tree(lc, g, r, pid, err, sizeof err);
    int tree[MAX_TREE];
    size_t nt = server_pid ? proc_descendants(pid, tree, MAX_TREE) : 0;
    if (server_pid)
        child_stop(pid, true, 5000);
    else
        kill(-pid, SIGKILL); /* what is left of its process group after it died */
    /* Descendants that left the server's process group (setsid) were started by it: stop them too. */
    for (size_t i = 1; i < nt; i++)
        if (proc_status(tree[i]) == PROC_ALIVE)
            kill(tree[i], SIGKILL);
    server_pid = 0;
    if (!ok) {
        lw_err("gate: %s", err);
        return LW_EXIT_ERROR;
    }
    print_report_paths(g);
    return LW_EXIT_OK;
}

/* The live gate on a server that runs already: every process of its tree without the shim is attached
 * for the rounds and detached afterwards; processes that carry it already are only snapshotted. */
int gate_live_attach(const live_cfg *lc, gate_run *g)
{
    char shim[PATH_MAX], out[4200], err[PATH_MAX * 2 + 512];
    pid_t pid = (pid_t)lc->attach_pid;
    if (!launch_find_shim(shim, sizeof shim, err, sizeof err) || !make_out_dir(lc, out, sizeof out, err, sizeof err)) {
        lw_err("gate: %s", err);
        return LW_EXIT_ERROR;
    }
    catch_interrupts();
    launch_opts lo = {.out = out, .signal = lc->signal, .min_age = "0", .quiet = true};
    int tree[MAX_TREE], attached[MAX_TREE];
    size_t nt = proc_descendants(pid, tree, MAX_TREE), na = 0;
    bool ok = nt > 0 || (snprintf(err, sizeof err, "no running process has PID %d", (int)pid), false);
    for (size_t i = 0; ok && i < nt; i++) {
        char e2[PATH_MAX + 512];
        double ms;
        if (proc_has_shim(tree[i], e2, sizeof e2) != 1 &&
            (ok = attach_process(tree[i], shim, &lo, lc->timeout_ms, &ms, err, sizeof err))) {
            attached[na++] = tree[i];
            fprintf(stderr, "leakwatch: gate: attached to PID %d in %.1f ms\n", tree[i], ms);
        }
    }
    for (long r = 1; ok && r <= lc->rounds; r++)
        ok = run_load(lc, r, pid, err, sizeof err) && snapshot_tree(lc, g, r, pid, err, sizeof err);
    for (size_t i = 0; i < na; i++) {
        char e2[PATH_MAX + 512];
        if (proc_status(attached[i]) == PROC_ALIVE && !detach_process(attached[i], lc->timeout_ms, e2, sizeof e2))
            lw_err("gate: %s", e2);
    }
    if (!ok) {
        lw_err("gate: %s", err);
        return LW_EXIT_ERROR;
    }
    print_report_paths(g);
    return LW_EXIT_OK;
}
