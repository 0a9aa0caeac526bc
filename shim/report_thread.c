/* report_thread.c — the reporter thread, report files and fork handling (see report_thread.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "report_thread.h"
#include "dirs.h"
#include "lock.h"
#include "jheap.h"
#include "jvm_attach.h"
#include "jvm.h"
#include "log.h"
#include "out.h"
#include "growth.h"
#include "state.h"
#include "threads.h"

static struct {
    atomic_uint pending;            /* bit per enum report_reason; REPORT_JAVA_* of signals << JAVA_SHIFT */
    atomic_uint wake;               /* futex word: bumped on every request */
    lw_lock_t report_lock;          /* one report at a time (thread, API, exit) */
    _Atomic(report_thread_tick_fn) tick;             /* late.c's, once attached */
    _Atomic(report_thread_describe_fn) describe;     /* http.c's, while serving */
    unsigned seq;
    int thread_running;
    uint64_t next_interval_ms, next_sample_ms;
    atomic_int exit_report_done;
} rep = { .report_lock = LW_LOCK_INIT(LOCK_RANK_REPORT) };
LOCK_REGISTER(LOCK_RANK_REPORT, &rep.report_lock, 1, 0)

#define JAVA_SHIFT 8                /* above every enum report_reason */

void report_thread_request(enum report_reason reason, unsigned java)
{
    /* one word: the reporter takes a request and what it asks of the JVM together */
    atomic_fetch_or_explicit(&rep.pending, 1u << reason | java << JAVA_SHIFT, memory_order_release);
    atomic_fetch_add_explicit(&rep.wake, 1, memory_order_release);
    syscall(SYS_futex, &rep.wake, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* ---- the report directory -------------------------------------------------------------------- */

static const char *program_name(char *buf, size_t cap)
{
    char path[512], proc[40];
    ssize_t n = readlink(lw_proc_path("exe", proc, sizeof proc), path, sizeof path - 1);
    path[n > 0 ? n : 0] = '\0';
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (len >= cap)
        len = cap - 1;
    memcpy(buf, base, len);
    buf[len] = '\0';
    if (len == 0)
        strcpy(buf, "program");
    return buf;
}

static void file_name(struct out *o, const char *prefix, const char *program, unsigned seq, const char *ext)
{
    out_str(o, prefix);
    out_str(o, program);
    out_char(o, '.');
    out_u64(o, (uint64_t)shim_state.pid);
    out_char(o, '.');
    out_u64(o, seq);
    out_str(o, ext);
}

static int create_exclusive(int dirfd, const char *name)
{
    unlinkat(dirfd, name, 0);       /* a temporary left by a crashed report of a recycled pid */
    return openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
}

/* Removes <pid>.state files of processes that no longer exist (killed, or left with _exit), reading
 * the directory with getdents64 since opendir allocates. */
/* The inode of our PID namespace ("pid:[4026531836]"), 0 if unknown. State files carry it: pids of
 * other namespaces cannot be probed with kill(), so a process in a container would otherwise take the
 * files of host processes (or of other containers) sharing its /tmp for files of dead ones. */
static uint64_t pid_namespace(void)
{
    char link[64];
    ssize_t n = readlink("/proc/self/ns/pid", link, sizeof link - 1);
    uint64_t ino = 0;
    for (ssize_t i = 0; i < n; i++)
        if (link[i] >= '0' && link[i] <= '9')
            ino = ino * 10 + (uint64_t)(link[i] - '0');
    return ino;
}

/* Whether the state file `name` says it was written in our PID namespace. */
static int state_in_our_namespace(int dirfd, const char *name, uint64_t ours)
{
    char body[1025];
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, body, sizeof body - 1);
    close(fd);
    body[n > 0 ? n : 0] = '\0';
    const char *line = strstr(body, "\npidns=");
    return line && ours != 0 && strtoull(line + 7, NULL, 10) == ours;
}

static void remove_dead_states(int dirfd)
{
    uint64_t ours = pid_namespace();
    char buf[4096];
    for (;;) {
        long n = syscall(SYS_getdents64, dirfd, buf, sizeof buf);
        if (n <= 0)
            return;
        for (long at = 0; at < n;) {
            struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; } *d =
                (void *)(buf + at);
            at += d->reclen;
            char *end;
            unsigned long pid = strtoul(d->name, &end, 10);
            if (pid == 0 || strcmp(end, ".state") != 0 || pid == (unsigned long)shim_state.pid)
                continue;
            if (kill((pid_t)pid, 0) < 0 && errno == ESRCH && state_in_our_namespace(dirfd, d->name, ours))
                unlinkat(dirfd, d->name, 0);
        }
    }
}

/* Writes <pid>.state into the default per-user directory so `leakwatch dump PID` finds our signal
 * and directory without reading the environment (which nginx overwrites). */
/* The state directory this process last published into ("" when none), so it can take its file back. */
static char state_dir[96];

static void publish_state(unsigned last_seq)
{
    char dir[96], tmp[64], name[64], body[1024];
    const char *template;
    int dirfd = dirs_open_state(dir, sizeof dir, &template, lw_log);
    if (dirfd < 0)
        return;
    memcpy(state_dir, dir, sizeof state_dir);
    if (last_seq == 0) {
        int saved = errno;
        remove_dead_states(dirfd);
        errno = saved;
    }
    struct out o;
    out_init(&o, -1, name, sizeof name - 1);
    out_u64(&o, (uint64_t)shim_state.pid);
    out_str(&o, ".state");
    name[o.len] = '\0';
    out_init(&o, -1, tmp, sizeof tmp - 1);
    out_str(&o, ".");
    out_str(&o, name);
    out_str(&o, ".tmp");
    tmp[o.len] = '\0';
    out_init(&o, -1, body, sizeof body);
    out_str(&o, "version=1\npid=");
    out_u64(&o, (uint64_t)shim_state.pid);
    out_str(&o, "\nsignal=");
    out_u64(&o, (uint64_t)shim_state.config.signal);
    out_str(&o, "\nsignal_name=");
    out_str(&o, shim_state.config.signal_name);
    out_str(&o, "\nout=");
    /* Default reports go where the state goes (they share a directory, which may be a fallback). */
    out_str(&o, strcmp(shim_state.config.out, CONFIG_DEFAULT_OUT) == 0 ? template : shim_state.config.out);
    out_str(&o, "\nlast_seq=");
    out_u64(&o, last_seq);
    out_str(&o, "\npidns=");
    out_u64(&o, pid_namespace());
    out_char(&o, '\n');
    report_thread_describe_fn describe = atomic_load_explicit(&rep.describe, memory_order_acquire);
    if (describe)
        describe(&o);
    int fd = create_exclusive(dirfd, tmp);
    if (fd >= 0) {
        int ok = write(fd, body, o.len) == (ssize_t)o.len;
        close(fd);
        if (!ok || renameat(dirfd, tmp, dirfd, name) < 0)
            unlinkat(dirfd, tmp, 0);
    }
    close(dirfd);
}

static void remove_state(void)
{
    if (!state_dir[0])
        return;
    char path[128];
    struct out o;
    out_init(&o, -1, path, sizeof path - 1);
    out_str(&o, state_dir);
    out_char(&o, '/');
    out_u64(&o, (uint64_t)shim_state.pid);
    out_str(&o, ".state");
    path[o.len] = '\0';
    unlink(path);
    state_dir[0] = '\0';
}

void report_thread_withdraw(void)
{
    remove_state();
}

/* Writes both files of one report; report_lock held. */
static int write_report_locked(enum report_reason reason, unsigned java)
{
    char dir[600], program[256], tmp_txt[400], tmp_json[400], txt[400], json[400];
    const char *template;
    int dirfd;
    if (strcmp(shim_state.config.out, CONFIG_DEFAULT_OUT) == 0) {
        dirfd = dirs_open_state(dir, sizeof dir, &template, lw_log_always);
    } else {
        dirs_expand(shim_state.config.out, dir, sizeof dir, geteuid());
        dirfd = dirs_open_private(dir, 0, lw_log_always);
    }
    if (dirfd < 0)
        return -1;
    unsigned seq = rep.seq + 1;
    program_name(program, sizeof program);
    struct out o;
    char *names[] = { tmp_txt, tmp_json, txt, json };
    const char *prefixes[] = { ".", ".", "", "" };
    const char *exts[] = { ".txt.tmp", ".json.tmp", ".txt", ".json" };
    for (int i = 0; i < 4; i++) {
        out_init(&o, -1, names[i], 399);
        file_name(&o, prefixes[i], program, seq, exts[i]);
        names[i][o.len] = '\0';
    }
    int txt_fd = create_exclusive(dirfd, tmp_txt);
    int json_fd = txt_fd >= 0 ? create_exclusive(dirfd, tmp_json) : -1;
    int rc = -1;
    if (txt_fd < 0 || json_fd < 0) {
        lw_log_always("cannot create a report file in ", dir, ": ", strerror(errno), "");
        goto out;
    }
    uint64_t min_age = reason == REASON_EXIT ? 0 : shim_state.config.min_age_ms;
    struct report_summary summary;
    int err = report_write(reason, java, seq, min_age, txt_fd, json_fd, &summary);
    if ((close(txt_fd) | close(json_fd)) < 0 && err == 0)
        err = errno;
    txt_fd = json_fd = -1;
    if (err == 0 && (renameat(dirfd, tmp_json, dirfd, json) < 0 || renameat(dirfd, tmp_txt, dirfd, txt) < 0))
        err = errno;
    if (err) {
        char num[24];
        lw_log_always("could not write report #", log_num(num, seq), " to ", dir,
               err == ENOSPC ? ": the disk is full; tracking goes on, free space and ask again"
                             : ": write failed; tracking goes on");
        unlinkat(dirfd, tmp_txt, 0);
        unlinkat(dirfd, tmp_json, 0);
        unlinkat(dirfd, json, 0);
        goto out;
    }
    rep.seq = seq;
    rc = 0;
    if (!shim_state.config.quiet) {
        char line[1200], num[24];
        out_init(&o, -1, line, sizeof line);
        out_str(&o, "report #");
        out_u64(&o, seq);
        out_str(&o, " (");
        out_str(&o, report_reason_name(reason));
        out_str(&o, ") for ");
        out_str(&o, program);
        out_char(&o, '[');
        out_str(&o, log_num(num, (uint64_t)shim_state.pid));
        out_str(&o, "]: ");
        out_str(&o, dir);
        out_char(&o, '/');
        out_str(&o, txt);
        out_str(&o, " and .json");
        line[o.len < sizeof line ? o.len : sizeof line - 1] = '\0';
        lw_log_always(line, NULL, NULL, NULL, NULL);
    }
out:
    if (txt_fd >= 0)
        close(txt_fd), unlinkat(dirfd, tmp_txt, 0);
    if (json_fd >= 0)
        close(json_fd), unlinkat(dirfd, tmp_json, 0);
    close(dirfd);
    if (rc == 0 && reason != REASON_EXIT)
        publish_state(rep.seq);
    return rc;
}

static int write_now(enum report_reason reason, unsigned java)
{
    if (!lw_is_on())
        return -1;
    int saved = errno;
    lw_lock(&rep.report_lock);
    /* the exit report is the last: nothing after it, not even a signal that arrived during exit */
    int rc = reason != REASON_EXIT && atomic_load(&rep.exit_report_done) ? -1 : write_report_locked(reason, java);
    lw_unlock(&rep.report_lock);
    errno = saved;
    return rc;
}

int report_thread_write_now(enum report_reason reason)
{
    return write_now(reason, REPORT_JAVA_HELD_BY);
}

int report_thread_with_lock(int (*fn)(int fd), int fd)
{
    lw_lock(&rep.report_lock);
    int rc = atomic_load(&rep.exit_report_done) ? -1 : fn(fd);
    lw_unlock(&rep.report_lock);
    return rc;
}

static int json_only(int fd)
{
    return report_write(REASON_HTTP, 0, rep.seq, shim_state.config.min_age_ms, -1, fd, NULL) == 0 ? 0 : -1;
}

int report_thread_json_now(int fd)
{
    return report_thread_with_lock(json_only, fd);
}

/* The state file lives in the directory of the effective uid: move it when the uid changes (nginx
 * workers, daemons dropping root), or it would be left behind where the process can no longer remove
 * it. Reports are serialised with this by the report lock. */
static uid_t uid_before_change;
static int had_state;

void report_thread_uid_changing(void)
{
    lw_lock(&rep.report_lock);
    uid_before_change = geteuid();
    had_state = state_dir[0] != '\0';
    remove_state();
}

void report_thread_uid_changed(void)
{
    if (had_state && geteuid() != uid_before_change && !atomic_load(&rep.exit_report_done))
        publish_state(rep.seq);
    else if (had_state && geteuid() == uid_before_change)
        publish_state(rep.seq);     /* the change failed or kept the uid: put it back */
    lw_unlock(&rep.report_lock);
}

/* ---- the thread ------------------------------------------------------------------------------ */

#define TICK_MS 200

/* True when every thread of the program is gone and only ours keeps the process alive: main left with
 * pthread_exit (a zombie leader, still counted) and the others ended. Without us glibc would have called
 * exit(0) when the last of them ended, so that is what the caller does. */
static int only_report_thread_left(void)
{
    char text[24], path[64];
    if (lw_stat_field("/proc/self/stat", 20, text, sizeof text) < 0 || strcmp(text, "2") != 0)
        return 0;
    struct out o;
    out_init(&o, -1, path, sizeof path - 1);
    out_str(&o, "/proc/self/task/");
    out_u64(&o, (uint64_t)shim_state.pid);
    out_str(&o, "/stat");
    path[o.len] = '\0';
    return lw_stat_field(path, 3, text, sizeof text) == 0 && text[0] == 'Z';
}

static void *report_thread_main(void *arg)
{
    (void)arg;
    lw_guard = 1;
    uint64_t now = lw_now_ms();
    rep.next_sample_ms = now + SAMPLE_PERIOD_MS;
    rep.next_interval_ms = shim_state.config.interval_ms ? now + shim_state.config.interval_ms : UINT64_MAX;
    for (;;) {
        unsigned seen = atomic_load_explicit(&rep.wake, memory_order_acquire);
        if (atomic_load_explicit(&rep.pending, memory_order_acquire) == 0) {
            struct timespec tick = { 0, TICK_MS * 1000000L };
            syscall(SYS_futex, &rep.wake, FUTEX_WAIT_PRIVATE, seen, &tick, NULL, 0);
        }
        if (only_report_thread_left()) {
            /* the program's exit handlers and destructors run on this thread now, as on its own last
             * thread: their allocations and frees are the program's (the exit report sets the guard
             * itself), or a block they free would stay live in the exit report */
            lw_guard = 0;
            exit(0);
        }
        if (!lw_is_on())
            continue;
        report_thread_tick_fn tick = atomic_load_explicit(&rep.tick, memory_order_acquire);
        if (tick)
            tick();
        jvm_attach_poll();
        jvm_poll();
        jheap_poll();
        now = lw_now_ms();
        if (now >= rep.next_sample_ms) {
            growth_sample();
            rep.next_sample_ms = now + SAMPLE_PERIOD_MS;
        }
        if (now >= rep.next_interval_ms) {
            atomic_fetch_or_explicit(&rep.pending, 1u << REASON_INTERVAL, memory_order_relaxed);
            rep.next_interval_ms = now + shim_state.config.interval_ms;
        }
        unsigned pending = atomic_exchange_explicit(&rep.pending, 0, memory_order_acq_rel);
        /* one report answers every request that arrived together; a signal names it */
        if (pending & (1u << REASON_SIGNAL))
            write_now(REASON_SIGNAL, pending >> JAVA_SHIFT);
        else if (pending & (1u << REASON_INTERVAL))
            report_thread_write_now(REASON_INTERVAL);
    }
    return NULL;
}

/* A forked child publishes no state file: it has its parent's settings, and `leakwatch dump` looks up
 * the nearest ancestor's file. So children that leave with _exit (which runs no exit handler) leave no
 * file behind. The file appears once the child writes a report. */
int report_thread_start(int publish)
{
    rep.thread_running = 0;
    if (shim_state.config.signal == 0 && shim_state.config.interval_ms == 0) {
        if (publish)
            publish_state(rep.seq);
        return 0;                   /* nothing to wait for: reports come from exit and the API */
    }
    int rc = threads_start("leakwatch", report_thread_main, 256 * 1024);
    if (rc != 0) {
        lw_log("cannot start the reporter thread (", strerror(rc),
               "); reports come only at exit and from leakwatch_dump()", NULL, NULL);
        return -1;
    }
    rep.thread_running = 1;
    if (publish)
        publish_state(rep.seq);
    return 0;
}

/* ---- exit ------------------------------------------------------------------------------------ */

static void exit_report(void *unused)
{
    (void)unused;
    int saved_guard = lw_guard;
    lw_guard = 1;
    lw_lock(&rep.report_lock);
    int first = !atomic_exchange(&rep.exit_report_done, 1);
    if (first && lw_is_on())
        write_report_locked(REASON_EXIT, REPORT_JAVA_HELD_BY);
    lw_unlock(&rep.report_lock);
    if (!first) {
        lw_guard = saved_guard;
        return;
    }
    remove_state();
    lw_guard = saved_guard;
}

/* atexit() from a shared object ties the handler to that object, and glibc runs such handlers when the
 * object is finalised, i.e. right now inside _dl_fini. Registered for no object (NULL handle), it runs
 * after _dl_fini has finished, once every library destructor (GnuTLS's, libstdc++'s) is done. */
extern int __cxa_atexit(void (*fn)(void *), void *arg, void *dso_handle);

void report_thread_arrange_exit_report(void)
{
    if (lw_is_on() && __cxa_atexit(exit_report, NULL, NULL) != 0)
        exit_report(NULL);
}

/* ---- fork ------------------------------------------------------------------------------------ */

void report_thread_after_fork_in_child(void)
{
    state_dir[0] = '\0';           /* the parent's file; this child has none until it writes a report */
    rep.seq = 0;
    report_reset_history();
    atomic_store(&rep.pending, 0);
    if (lw_is_on())
        report_thread_start(0);
}

int report_thread_restart(void)
{
    report_reset_history();
    atomic_store(&rep.pending, 0);
    uint64_t now = lw_now_ms();
    rep.next_interval_ms = shim_state.config.interval_ms ? now + shim_state.config.interval_ms : UINT64_MAX;
    if (rep.thread_running || (shim_state.config.signal == 0 && shim_state.config.interval_ms == 0))
        return 0;
    return report_thread_start(0);
}

void report_thread_republish_state(void)
{
    if (lw_is_on())
        publish_state(rep.seq);
}

void report_thread_on_tick(report_thread_tick_fn tick)
{
    atomic_store_explicit(&rep.tick, tick, memory_order_release);
}

void report_thread_on_describe(report_thread_describe_fn describe)
{
    atomic_store_explicit(&rep.describe, describe, memory_order_release);
}
