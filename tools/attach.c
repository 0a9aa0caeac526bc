/* attach.c — leakwatch attach and detach for native processes (see attach.h). */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "attach.h"
#include "hotspot.h"
#include "inject.h"
#include "proc.h"
#include "rsym.h"
#include "util.h"

/* The shim's answers (shim/late.h, enum late_result). */
enum { LATE_OK, LATE_ALREADY, LATE_DETACHED, LATE_NO_SETTINGS, LATE_CANNOT_TRACK, LATE_NO_HOOKS, LATE_NOT_ATTACHED };

extern char **environ;

/* The pid as the target itself sees it (its own PID namespace): the last NSpid entry. */
static int pid_inside(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    int inner = pid;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "NSpid:", 6) == 0)
            for (char *p = line + 6; *p;) {
                char *end;
                long v = strtol(p, &end, 10);
                if (end == p)
                    break;
                inner = (int)v;
                p = end;
            }
    if (f)
        fclose(f);
    return inner;
}

static bool target_ids(int pid, int *euid, int *egid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    int got = 0;
    while (f && fgets(line, sizeof line, f)) {
        got += sscanf(line, "Uid: %*d %d", euid) == 1;
        got += sscanf(line, "Gid: %*d %d", egid) == 1;
    }
    if (f)
        fclose(f);
    return got == 2;
}

/* 1 when the executable has no program interpreter (statically linked), 0 when it has one (its path in
 * interp), -1 unknown. */
static int read_interp(int pid, char *interp, size_t len)
{
    interp[0] = '\0';
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/exe", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    Elf64_Ehdr eh;
    int result = -1;
    if (pread(fd, &eh, sizeof eh, 0) == sizeof eh && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
        eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_phnum <= 64) {
        Elf64_Phdr ph[64];
        if (pread(fd, ph, eh.e_phnum * sizeof *ph, (off_t)eh.e_phoff) == (ssize_t)(eh.e_phnum * sizeof *ph)) {
            result = 1;
            for (int i = 0; i < eh.e_phnum; i++)
                if (ph[i].p_type == PT_INTERP) {
                    size_t n = ph[i].p_filesz < len ? (size_t)ph[i].p_filesz : len - 1;
                    if (pread(fd, interp, n, (off_t)ph[i].p_offset) != (ssize_t)n)
                        n = 0;
                    interp[n] = '\0';
                    result = 0;
                }
        }
    }
    close(fd);
    return result;
}

bool attach_other_root(int pid)
{
    char path[64];
    struct stat ours, theirs;
    snprintf(path, sizeof path, "/proc/%d/root/tmp", pid);
    return stat("/tmp", &ours) == 0 && stat(path, &theirs) == 0 &&
           (ours.st_dev != theirs.st_dev || ours.st_ino != theirs.st_ino);
}

/* The library must be this very file at the same path in the target's mount namespace. */
static bool shim_visible(int pid, const char *shim, char *err, size_t errlen)
{
    char there[PATH_MAX + 64];
    struct stat ours, theirs;
    snprintf(there, sizeof there, "/proc/%d/root%s", pid, shim);
    if (stat(shim, &ours) == 0 && stat(there, &theirs) == 0 && ours.st_dev == theirs.st_dev &&
        ours.st_ino == theirs.st_ino)
        return true;
    snprintf(err, errlen, "PID %d runs in another mount namespace (a container) where %s is not this "
             "libleakwatch.so: make the same file visible at that path inside it (a bind mount or a copy at the "
             "same path), then attach again", pid, shim);
    return false;
}

/* The settings as KEY=VALUE lines: our LEAKWATCH_* variables, then the command line's options. */
/* "start=<ticks>" first (the shim takes the file only if that is its own start time, see shim/late.c), then
 * the LEAKWATCH_* settings. */
static size_t settings_text(unsigned long long start_ticks, const launch_opts *o, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "start=%llu\n", start_ticks);
    for (char **e = environ; *e; e++)
        if (strncmp(*e, "LEAKWATCH_", 10) == 0 && strncmp(*e, "LEAKWATCH_BUILD=", 16) != 0 &&
            strncmp(*e, "LEAKWATCH_TEST_", 15) != 0 && !strchr(*e, '\n'))
            n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s\n", *e);
    const struct { const char *name, *value; } opts[] = {
        {"LEAKWATCH_OUT", o->out}, {"LEAKWATCH_SIGNAL", o->signal}, {"LEAKWATCH_MIN_AGE", o->min_age},
        {"LEAKWATCH_INTERVAL", o->interval}, {"LEAKWATCH_TOP", o->top}, {"LEAKWATCH_DEPTH", o->depth},
        {"LEAKWATCH_QUIET", o->quiet ? "1" : NULL},
    };
    for (size_t i = 0; i < sizeof opts / sizeof *opts; i++)
        if (opts[i].value)
            n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s=%s\n", opts[i].name, opts[i].value);
    return n < cap ? n : cap;
}

/* Writes the attach file into the target's /tmp/leakwatch-<euid>/ (through /proc/PID/root, so a container's
 * own /tmp), owned by the target's user and private to it. *dir_fd (the directory, kept open so the file can be
 * removed even after the target exited and its /proc/PID/root went away) and name say where, for removal. */
static bool write_settings(int pid, const launch_opts *o, int *dir_fd, char *name, size_t namelen, char *err,
                           size_t errlen)
{
    char dir[PATH_MAX];
    size_t dirlen = sizeof dir;
    *dir_fd = -1;
    int euid, egid;
    if (!target_ids(pid, &euid, &egid)) {
        snprintf(err, errlen, "PID %d exited while leakwatch was attaching", pid);
        return false;
    }
    snprintf(dir, dirlen, "/proc/%d/root/tmp/leakwatch-%d", pid, euid);
    snprintf(name, namelen, "%d.attach", pid_inside(pid));
    if (mkdir(dir, 0700) == 0 && geteuid() == 0 && chown(dir, (uid_t)euid, (gid_t)egid) != 0) {
        snprintf(err, errlen, "cannot give %s to uid %d (%s)", dir, euid, strerror(errno));
        return false;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (dfd < 0 || fstat(dfd, &st) != 0 || st.st_uid != (uid_t)euid || (st.st_mode & 022)) {
        snprintf(err, errlen, "%s is not a private directory of uid %d (a symlink, another owner, or writable by "
                 "others): remove it and attach again", dir, euid);
        if (dfd >= 0)
            close(dfd);
        return false;
    }
    unsigned long long start_ticks;
    if (!proc_start_ticks(pid, &start_ticks)) {
        snprintf(err, errlen, "PID %d exited while leakwatch was attaching", pid);
        close(dfd);
        return false;
    }
    char tmp[96], text[8192];
    snprintf(tmp, sizeof tmp, ".%.60s.tmp", name);
    unlinkat(dfd, tmp, 0);
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    size_t n = settings_text(start_ticks, o, text, sizeof text);
    bool ok = fd >= 0 && write(fd, text, n) == (ssize_t)n && (geteuid() != 0 || fchown(fd, (uid_t)euid, (gid_t)egid) == 0);
    if (fd >= 0)
        close(fd);
    ok = ok && renameat(dfd, tmp, dfd, name) == 0;
    if (!ok) {
        snprintf(err, errlen, "cannot write the settings file %s/%s (%s)", dir, name, strerror(errno));
        unlinkat(dfd, tmp, 0);
        close(dfd);
        return false;
    }
    *dir_fd = dfd;
    return true;
}

/* The shim removes the file once it has read it; this removes it when the attach failed before that (a file
 * left behind would keep a preloaded shim of a later process with the same pid from starting). */
static void remove_settings(int dir_fd, const char *name)
{
    if (dir_fd < 0)
        return;
    unlinkat(dir_fd, name, 0);
    close(dir_fd);
}

/* For tests only: LEAKWATCH_TEST_PAUSE=STEP stops this command (SIGSTOP) at the named step of an attach
 * ("settings": the settings file written; "seized": a thread of the target held), after printing
 * "paused at STEP" on stdout, so a test can make the target exit exactly there and then send SIGCONT. */
static void test_pause(const char *step)
{
    const char *want = getenv("LEAKWATCH_TEST_PAUSE");
    if (!want || strcmp(want, step) != 0)
        return;
    printf("paused at %s\n", step);
    fflush(stdout);
    raise(SIGSTOP);
}

/* The target's dlopen and dlerror: libc.so.6 from glibc 2.34 on, libdl.so.2 before when it is loaded. */
static bool find_loader_calls(int pid, uintptr_t *dlopen_at, uintptr_t *dlerror_at, char *err, size_t errlen)
{
    rsym_module m;
    if (rsym_find_module(pid, "ld-musl-", &m) == 1 || rsym_find_module(pid, "libc.musl", &m) == 1) {
        snprintf(err, errlen, "PID %d uses musl libc (%s), not glibc: leakwatch tracks programs on glibc 2.34 or "
                 "later only (its library is built for glibc), attached or preloaded", pid, m.path);
        return false;
    }
    const char *mods[] = {"libc.so.6", "libdl.so.2"};
    bool have_libc = false;
    for (int i = 0; i < 2; i++) {
        if (rsym_find_module(pid, mods[i], &m) != 1)
            continue;
        have_libc = true;
        if (rsym_lookup(pid, &m, "dlopen", dlopen_at) && rsym_lookup(pid, &m, "dlerror", dlerror_at))
            return true;
    }
    if (have_libc)
        snprintf(err, errlen, "the glibc of PID %d is older than 2.34 and the program has not loaded libdl.so.2, "
                 "so it has no dlopen to call: preload the shim at start instead (leakwatch run)", pid);
    else
        snprintf(err, errlen, "PID %d has no glibc (libc.so.6) loaded: leakwatch attach needs glibc 2.34 or "
                 "later", pid);
    return false;
}

static const char *late_text(int rc)
{
    switch (rc) {
    case LATE_ALREADY: return "is already tracked by leakwatch (preloaded or attached before): use leakwatch dump";
    case LATE_DETACHED: return "refused an earlier attach (its allocation functions could not be redirected), "
                               "and its inert copy of the library stays off: restart the program to attach anew";
    case LATE_NO_SETTINGS: return "could not read its settings file (removed meanwhile, or not private to its user)";
    case LATE_CANNOT_TRACK: return "could not start tracking (see the line the program printed on its stderr)";
    case LATE_NO_HOOKS: return "could not redirect its allocation functions to the shim; tracking is off";
    case LATE_NOT_ATTACHED: return "carries the shim from its start (preloaded), not attached: there is nothing "
                                   "to detach";
    default: return "gave an unknown answer (a libleakwatch.so of another version?)";
    }
}

/* Calls the shim's entry point `fn` in the seized thread; the shim is mapped by now. */
static bool call_shim(inject_session *s, const char *fn, int *rc, char *err, size_t errlen)
{
    rsym_module m;
    uintptr_t at, ret;
    if (rsym_find_module(s->pid, "libleakwatch.so", &m) != 1 || !rsym_lookup(s->pid, &m, fn, &at)) {
        snprintf(err, errlen, "the libleakwatch.so in PID %d has no %s(): it is of another version", s->pid, fn);
        return false;
    }
    if (!inject_call(s, at, 0, 0, &ret, err, errlen))
        return false;
    *rc = (int)ret;
    return true;
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* A JVM: through HotSpot's attach listener, which calls the shim's Agent_OnAttach. */
static bool attach_jvm(int pid, const char *shim, const launch_opts *o, long long timeout_ms, double *elapsed_ms,
                       char *err, size_t errlen)
{
    char name[64];
    int dir_fd;
    if (!write_settings(pid, o, &dir_fd, name, sizeof name, err, errlen))
        return false;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc;
    bool ok = hotspot_load_agent(pid, shim, "", lw_now_ms() + timeout_ms, &rc, err, errlen);
    *elapsed_ms = ms_since(&t0);
    if (ok && rc != LATE_OK) {
        snprintf(err, errlen, "PID %d %s", pid, late_text(rc));
        ok = false;
    }
    remove_settings(dir_fd, name);
    return ok;
}

bool attach_process(int pid, const char *shim, const launch_opts *o, long long timeout_ms, double *elapsed_ms,
                    char *err, size_t errlen)
{
    if (pid == getpid()) {
        snprintf(err, errlen, "PID %d is leakwatch itself", pid);
        return false;
    }
    if (proc_status(pid) != PROC_ALIVE) {
        snprintf(err, errlen, "no running process has PID %d", pid);
        return false;
    }
    int ruid = -1, euid = -1;
    if (geteuid() != 0 && proc_uids(pid, &ruid, &euid) && (ruid != (int)geteuid() || euid != (int)geteuid())) {
        snprintf(err, errlen, "PID %d belongs to uid %d, not to you (uid %d): run leakwatch attach as that user or "
                 "as root", pid, euid, (int)geteuid());
        return false;
    }
    char interp[256];
    int st = read_interp(pid, interp, sizeof interp);
    if (st == 1) {
        snprintf(err, errlen, "PID %d runs a statically linked program: it has no dynamic loader to load "
                 "libleakwatch.so with; leakwatch cannot track it", pid);
        return false;
    }
    const char *interp_base = strrchr(interp, '/');
    if (st == 0 && strncmp(interp_base ? interp_base + 1 : interp, "ld-musl-", 8) == 0) {
        for (char *c = interp; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                *c = '?';
        snprintf(err, errlen, "PID %d uses musl libc (its loader is %s), not glibc: leakwatch tracks programs on "
                 "glibc 2.34 or later only (its library is built for glibc), attached or preloaded", pid, interp);
        return false;
    }
    char shimerr[PATH_MAX + 256];
    int mapped = proc_has_shim(pid, shimerr, sizeof shimerr);
    if (mapped < 0 || st < 0) {
        snprintf(err, errlen, "cannot read /proc/%d (%s): run leakwatch as the user of PID %d, or as root", pid,
                 mapped < 0 ? "its memory map" : "its executable", pid);
        return false;
    }
    if (!mapped && !shim_visible(pid, shim, err, errlen))
        return false;
    if (hotspot_is_jvm(pid))
        return attach_jvm(pid, shim, o, timeout_ms, elapsed_ms, err, errlen);
    uintptr_t dlopen_at = 0, dlerror_at = 0;
    if (!mapped && !find_loader_calls(pid, &dlopen_at, &dlerror_at, err, errlen))
        return false;
    char name[64];
    int dir_fd;
    if (!write_settings(pid, o, &dir_fd, name, sizeof name, err, errlen))
        return false;
    test_pause("settings");
    inject_session *s = calloc(1, sizeof *s);
    struct timespec t0;
    bool ok = false;
    if (!s || !inject_begin(s, pid, lw_now_ms() + timeout_ms, err, errlen))
        goto done;
    test_pause("seized");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!mapped) {
        uintptr_t path_at, handle;
        if (!inject_push(s, shim, strlen(shim) + 1, &path_at, err, errlen) ||
            !inject_call(s, dlopen_at, path_at, RTLD_NOW, &handle, err, errlen))
            goto end;
        if (!handle) {
            uintptr_t msg_at = 0;
            char msg[512] = "no reason given";
            if (inject_call(s, dlerror_at, 0, 0, &msg_at, err, errlen) && msg_at) {
                if (!rsym_read(pid, msg_at, msg, sizeof msg - 1))
                    rsym_read(pid, msg_at, msg, 64);
                msg[sizeof msg - 1] = '\0';
                for (char *p = msg; *p; p++)
                    if ((unsigned char)*p < 0x20)
                        *p = '?';
            }
            snprintf(err, errlen, "the dynamic loader of PID %d could not load %s: %s (a different or older glibc "
                     "than leakwatch was built for?)", pid, shim, msg);
            goto end;
        }
    }
    int rc;
    if (!call_shim(s, "leakwatch_attach", &rc, err, errlen))
        goto end;
    if (rc != LATE_OK)
        snprintf(err, errlen, "PID %d %s", pid, late_text(rc));
    ok = rc == LATE_OK;
end:
    inject_end(s);
    *elapsed_ms = ms_since(&t0);
done:
    remove_settings(dir_fd, name);
    free(s);
    return ok;
}

bool detach_process(int pid, long long timeout_ms, char *err, size_t errlen)
{
    if (proc_status(pid) != PROC_ALIVE) {
        snprintf(err, errlen, "no running process has PID %d", pid);
        return false;
    }
    char shimerr[PATH_MAX + 256];
    int mapped = proc_has_shim(pid, shimerr, sizeof shimerr);
    if (mapped < 0) {
        snprintf(err, errlen, "%s", shimerr);
        return false;
    }
    if (mapped == 0) {
        snprintf(err, errlen, "PID %d has no libleakwatch.so loaded: there is nothing to detach", pid);
        return false;
    }
    int rc;
    if (hotspot_is_jvm(pid)) {
        char shim[PATH_MAX];
        rsym_module m;
        if (rsym_find_module(pid, "libleakwatch.so", &m) != 1) {
            snprintf(err, errlen, "cannot read the memory map of PID %d", pid);
            return false;
        }
        snprintf(shim, sizeof shim, "%s", m.path);
        if (!hotspot_load_agent(pid, shim, "detach", lw_now_ms() + timeout_ms, &rc, err, errlen))
            return false;
        if (rc != LATE_OK)
            snprintf(err, errlen, "PID %d %s", pid, rc == LATE_DETACHED ? "is already detached" : late_text(rc));
        return rc == LATE_OK;
    }
    inject_session *s = calloc(1, sizeof *s);
    bool ok = false;
    if (s && inject_begin(s, pid, lw_now_ms() + timeout_ms, err, errlen)) {
        if (call_shim(s, "leakwatch_detach", &rc, err, errlen)) {
            ok = rc == LATE_OK;
            if (!ok)
                snprintf(err, errlen, "PID %d %s", pid, rc == LATE_DETACHED ? "is already detached" : late_text(rc));
        }
        inject_end(s);
    }
    free(s);
    return ok;
}
