/* snap.c — state files, report signals and waiting for the new report (see snap.h). */
#include "snap.h"
#include "child.h"
#include "config.h"
#include "proc.h"
#include "trust.h"
#include "util.h"
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* "%u" in the directory template stands for the uid at report time. */
static void expand_out(const char *tmpl, int uid, char *buf, size_t len)
{
    size_t o = 0;
    for (const char *p = tmpl; *p && o + 1 < len; p++) {
        if (p[0] == '%' && p[1] == 'u') {
            o += (size_t)snprintf(buf + o, len - o, "%d", uid);
            p++;
        } else {
            buf[o++] = *p;
        }
    }
    buf[o < len ? o : len - 1] = '\0';
}

/* Reads a state file through a checked fd. A signal the shim would refuse (SIGKILL, SIGSTOP, ...) means the
 * file was not written by it. */
static bool parse_state(int fd, snap_state *st)
{
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return false;
    }
    char line[PATH_MAX + 64], out[PATH_MAX] = "";
    bool have_signal = false, signal_ok = true;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        const char *k = line, *v = eq + 1;
        long n;
        if (strcmp(k, "signal") == 0) {
            int sig;
            char name[24];
            have_signal = true;
            signal_ok = config_parse_signal(v, &sig, name, sizeof name) == 0;
            st->signal = signal_ok ? sig : -1;
        } else if (strcmp(k, "signal_name") == 0) {
            snprintf(st->signal_name, sizeof st->signal_name, "%s", v);
        } else if (strcmp(k, "out") == 0) {
            snprintf(out, sizeof out, "%s", v);
        } else if (strcmp(k, "last_seq") == 0 && lw_parse_count(v, &n)) {
            st->last_seq = n;
        } else if (strcmp(k, "pidns") == 0) {
            st->pidns = strtoull(v, NULL, 10);
        }
    }
    fclose(f);
    if (!have_signal || !signal_ok || out[0] != '/')
        return false;
    expand_out(out, st->euid, st->out, sizeof st->out);
    return true;
}

/* Opens dir, a path as the process sees it, through trust.h: from the process's root directory when it is
 * in a container (/proc/PID/root, which the kernel resolves), else from ours. */
static int open_dir(const ns_view *v, const char *dir, const trust_owners *owners, char *err, size_t errlen)
{
    if (!v->root[0])
        return trust_open_dir(dir, owners, err, errlen);
    int root = ns_open_root(v);
    if (root < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot open %s (%s)", v->root, strerror(e));
        errno = e;
        return -1;
    }
    int fd = trust_open_dir_in(root, v->root, dir, owners, err, errlen);
    int e = errno;
    close(root);
    errno = e;
    return fd;
}

/* The state file sits in the shim's state directory for the uid the process had when it wrote it (it moves
 * the file when the uid changes), or in root's. Only directories and files of root and of the process's
 * own uids count: any other user could plant one there. */
static int find_state_of(const ns_view *v, snap_state *st, char *refused, size_t refusedlen)
{
    static const char *const dirs[] = CONFIG_STATE_DIRS;
    int pid = v->own_pid;
    const uid_t *uids = st->owners.uid;
    for (int i = 2; i >= 0; i--) {
        bool seen = false;
        for (int j = i + 1; j < 3; j++)
            seen |= uids[j] == uids[i];
        for (size_t d = 0; d < sizeof dirs / sizeof dirs[0] && !seen; d++) {
            char dir[256], name[32], err[PATH_MAX + 256];
            expand_out(dirs[d], (int)uids[i], dir, sizeof dir);
            snprintf(name, sizeof name, "%d.state", pid);
            int dfd = open_dir(v, dir, &st->owners, err, sizeof err);
            int fd = dfd < 0 ? -1 : trust_open_file(dfd, dir, name, &st->owners, err, sizeof err);
            if (dfd >= 0)
                close(dfd);
            if (fd < 0) {
                if (errno != ENOENT && !refused[0])
                    snprintf(refused, refusedlen, "%s", err);
                continue;
            }
            snprintf(st->state_path, sizeof st->state_path, "%s%s/%s", v->root, dir, name);
            st->pidns = 0;
            bool parsed = parse_state(fd, st);
            if (parsed && st->pidns && v->pidns && st->pidns != v->pidns) {
                /* containers sharing a /tmp: another namespace's process with the same pid wrote it */
                if (!refused[0])
                    snprintf(refused, refusedlen, "refusing %s: written by a process of another PID namespace "
                             "with the same pid", st->state_path);
                continue;
            }
            if (parsed)
                return 1;
            if (!refused[0])
                snprintf(refused, refusedlen, "refusing %s: not a state file written by leakwatch (no usable "
                         "signal or report directory)", st->state_path);
        }
    }
    return 0;
}

static int find_state(int pid, snap_state *st, char *refused, size_t refusedlen)
{
    ns_view v;
    ns_view_of(pid, &v);            /* a process in a container names its file with its own pid, in its root */
    return find_state_of(&v, st, refused, refusedlen);
}

bool snap_prepare(int pid, snap_state *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    st->pid = pid;
    ns_view_of(pid, &st->ns);
    proc_state ps = proc_status(pid);
    if (ps == PROC_GONE) {
        snprintf(err, errlen, "PID %d: no such process (it may have exited): check the PID", pid);
        return false;
    }
    if (ps == PROC_ZOMBIE) {
        snprintf(err, errlen, "PID %d has exited (a zombie waiting for its parent): its exit report, if any, is "
                 "in the report directory", pid);
        return false;
    }
    int tgid = proc_tgid(pid);
    if (tgid > 0 && tgid != pid) {
        snprintf(err, errlen, "%d is a thread of PID %d, not a process: run leakwatch dump %d", pid, tgid, tgid);
        return false;
    }
    int has = proc_has_shim(pid, err, errlen);
    if (has < 0)
        return false;
    if (has == 0) {
        snprintf(err, errlen, "PID %d has no leakwatch loaded: start it with leakwatch run -- CMD", pid);
        return false;
    }
    int ruid, euid;
    if (!proc_uids(pid, &ruid, &euid)) {
        snprintf(err, errlen, "cannot read the uids of PID %d from /proc/%d/status: check the PID", pid, pid);
        return false;
    }
    st->euid = euid;
    st->owners = trust_owners_of((uid_t)ruid, (uid_t)euid);
    /* A forked child (an nginx worker) publishes no state file of its own: it has its parent's settings,
     * so the nearest ancestor's file says how to ask it. */
    char refused[PATH_MAX + 256] = "";
    bool found = find_state(pid, st, refused, sizeof refused);
    for (int up = proc_parent(pid), hops = 0; !found && up > 1 && hops < 32; up = proc_parent(up), hops++)
        if ((found = find_state(up, st, refused, sizeof refused)))
            st->last_seq = 0;           /* the ancestor's count; the child's own comes from its files below */
    if (!found && refused[0]) {
        snprintf(err, errlen, "PID %d: %s; leakwatch trusts only files of root and of the process's user "
                 "(uid %d): remove it and restart the process", pid, refused, euid);
        return false;
    }
    if (!found) {
        snprintf(err, errlen, "PID %d has leakwatch loaded but no readable state file /tmp/leakwatch-%d/%d.state: "
                 "it may still be starting (retry), or run leakwatch as root", pid, euid, pid);
        return false;
    }
    if (st->signal == 0) {
        snprintf(err, errlen, "PID %d was started with LEAKWATCH_SIGNAL=none and cannot be asked for a report: "
                 "restart it with a signal, or call leakwatch_dump() from the program", pid);
        return false;
    }
    char json[PATH_MAX];
    long seen = snap_latest(st, json, sizeof json, err, errlen);
    if (seen < 0)
        return false;
    if (seen > st->last_seq)
        st->last_seq = seen;
    return true;
}

long snap_latest(const snap_state *st, char *json, size_t len, char *err, size_t errlen)
{
    int dfd = open_dir(&st->ns, st->out, &st->owners, err, errlen);
    if (dfd < 0)
        return errno == ENOENT ? 0 : -1;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return 0;
    }
    long best = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        /* <program>.<pid>.<seq>.json: the program name may contain dots, so parse from the right. */
        size_t nl = strlen(e->d_name);
        if (nl < 6 || strcmp(e->d_name + nl - 5, ".json") != 0)
            continue;
        char name[NAME_MAX + 1];
        snprintf(name, sizeof name, "%s", e->d_name);
        name[nl - 5] = '\0';
        char *dot = strrchr(name, '.');
        long seq;
        if (!dot || !lw_parse_count(dot + 1, &seq))
            continue;
        *dot = '\0';
        char *pdot = strrchr(name, '.');
        long p;
        if (!pdot || pdot == name || !lw_parse_count(pdot + 1, &p) || p != st->ns.own_pid)
            continue;
        if (seq > best) {
            best = seq;
            snprintf(json, len, "%s%s/%s", st->ns.root, st->out, e->d_name);
        }
    }
    closedir(d);
    return best;
}

int snap_open(const snap_state *st, const char *path, char *err, size_t errlen)
{
    int dfd = open_dir(&st->ns, st->out, &st->owners, err, errlen);
    if (dfd < 0)
        return -1;
    int fd = trust_open_file(dfd, st->out, lw_basename(path), &st->owners, err, errlen);
    close(dfd);
    return fd;
}

bool snap_request(const snap_state *st, char *err, size_t errlen)
{
    return snap_request_gc(st, SNAP_NO_GC, err, errlen);
}

/* A plain kill never forces a GC; sigqueue's value LW_GC_VALUE asks a JVM for a full GC before the report. */
bool snap_request_gc(const snap_state *st, enum snap_gc gc, char *err, size_t errlen)
{
    union sigval v = {.sival_int = gc == SNAP_GC_NO_WALK ? LW_GC_NO_WALK_VALUE : LW_GC_VALUE};
    if ((gc != SNAP_NO_GC ? sigqueue(st->pid, st->signal, v) : kill(st->pid, st->signal)) != 0) {
        snprintf(err, errlen, "PID %d: sending %s failed (%s): %s", st->pid,
                 st->signal_name[0] ? st->signal_name : "the report signal", strerror(errno),
                 errno == EPERM ? "run leakwatch as the user of the process, or as root" : "check the PID");
        return false;
    }
    return true;
}

bool snap_wait(const snap_state *st, long long deadline_ms, char *json, char *txt, size_t len, char *err,
               size_t errlen)
{
    for (;;) {
        long seq = snap_latest(st, json, len, err, errlen);
        if (seq < 0)
            return false;
        if (seq > st->last_seq) {
            snprintf(txt, len, "%.*s.txt", (int)(strlen(json) - 5), json);
            if (faccessat(AT_FDCWD, txt, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                return true;
        }
        if (proc_status(st->pid) != PROC_ALIVE) {
            snprintf(err, errlen, "PID %d exited before writing the requested report to %s", st->pid, st->out);
            return false;
        }
        if (lw_now_ms() >= deadline_ms) {
            snprintf(err, errlen, "PID %d wrote no new report to %s in time: check its stderr for a leakwatch: "
                     "line, that the directory is writable by it, or raise --timeout", st->pid, st->out);
            return false;
        }
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Does the JVM have the shim's helper thread, which names Java frames through JVMTI? */
static bool names_java_itself(int pid)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/task", pid);
    DIR *d = opendir(dir);
    if (!d)
        return false;
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[320], comm[32] = "";
        snprintf(path, sizeof path, "%s/%.40s/comm", dir, e->d_name);
        FILE *f = fopen(path, "re");
        if (f) {
            found = fgets(comm, sizeof comm, f) && strcmp(comm, "leakwatch-jvm\n") == 0;
            fclose(f);
        }
    }
    closedir(d);
    return found;
}

void snap_refresh_jit_names(int pid, const char *who)
{
    char exe[256];
    if (!proc_exe_name(pid, exe, sizeof exe) || strcmp(exe, "java") != 0 || names_java_itself(pid))
        return;
    char spid[24], err[256], st[64];
    snprintf(spid, sizeof spid, "%d", pid);
    char *argv[] = {"jcmd", spid, "Compiler.perfmap", NULL};
    child_opts co = {.quiet = true};
    int status = 0;
    pid_t c = child_spawn(argv, &co, err, sizeof err);
    if (c < 0) {
        lw_err("%s: %s; Java frames compiled by the JIT will stay unnamed", who, err);
        return;
    }
    if (!child_wait(c, lw_now_ms() + 20000, &status)) {
        child_stop(c, false, 1000);
        lw_err("%s: jcmd %d Compiler.perfmap took over 20 s and was stopped; JIT frames will stay unnamed", who, pid);
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        lw_err("%s: jcmd %d Compiler.perfmap %s; JIT frames will stay unnamed (is a JDK's jcmd on PATH?)", who, pid,
               child_status_text(status, st, sizeof st));
    }
}
