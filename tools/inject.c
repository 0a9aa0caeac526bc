/* inject.c — function calls inside another process through ptrace (see inject.h). */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "inject.h"
#include "util.h"

/* System calls a thread waits in outside every lock of the C library and the loader: event-loop waits,
 * sleeps, and I/O on sockets, pipes and terminals (a read of a regular file may be the loader's own).
 * The thread is stopped at the system call boundary, in the libc wrapper. */
static const long waits[] = {
    SYS_epoll_wait, SYS_epoll_pwait, SYS_poll, SYS_ppoll, SYS_select, SYS_pselect6, SYS_nanosleep,
    SYS_clock_nanosleep, SYS_pause, SYS_rt_sigsuspend, SYS_rt_sigtimedwait, SYS_wait4, SYS_waitid,
    SYS_accept, SYS_accept4, SYS_io_getevents, SYS_restart_syscall,
#ifdef SYS_epoll_pwait2
    SYS_epoll_pwait2,
#endif
};
static const long stream_io[] = {
    SYS_read, SYS_readv, SYS_write, SYS_writev, SYS_recvfrom, SYS_recvmsg, SYS_sendto, SYS_sendmsg,
};

static bool fd_is_stream(int pid, long fd)
{
    char path[64], target[128];
    snprintf(path, sizeof path, "/proc/%d/fd/%ld", pid, fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n <= 0)
        return false;
    target[n] = '\0';
    return strncmp(target, "socket:", 7) == 0 || strncmp(target, "pipe:", 5) == 0 ||
           strncmp(target, "anon_inode:", 11) == 0 || strncmp(target, "/dev/pts/", 9) == 0 ||
           strcmp(target, "/dev/null") == 0;
}

static bool safe_point(int pid, long nr, long first_arg)
{
    for (size_t i = 0; i < sizeof waits / sizeof *waits; i++)
        if (nr == waits[i])
            return true;
    for (size_t i = 0; i < sizeof stream_io / sizeof *stream_io; i++)
        if (nr == stream_io[i])
            return fd_is_stream(pid, first_arg);
    return false;
}

/* What /proc says the thread is doing: its system call and first argument, or false when it runs. */
static bool task_syscall(int pid, int tid, long *nr, long *arg0)
{
    char path[96], buf[256];
    snprintf(path, sizeof path, "/proc/%d/task/%d/syscall", pid, tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    unsigned long a0;
    return sscanf(buf, "%ld %lx", nr, &a0) == 2 && *nr >= 0 && (*arg0 = (long)a0, true);
}

int inject_yama_scope(const char *path)
{
    FILE *f = fopen(path, "r");
    int scope = -1;
    if (f) {
        if (fscanf(f, "%d", &scope) != 1 || scope < 0 || scope > 3)
            scope = -1;
        fclose(f);
    }
    return scope;
}

void inject_scope_message(int pid, int scope, char *err, size_t errlen)
{
    if (scope >= 3)
        snprintf(err, errlen, "the kernel refuses to let leakwatch trace PID %d: /proc/sys/kernel/yama/ptrace_scope "
                 "is 3 (no process may trace another until reboot, not even root): start the program under the "
                 "shim instead (leakwatch run)", pid);
    else if (scope == 2)
        snprintf(err, errlen, "the kernel refuses to let leakwatch trace PID %d: /proc/sys/kernel/yama/ptrace_scope "
                 "is 2 (only with CAP_SYS_PTRACE): run leakwatch attach as root or with CAP_SYS_PTRACE", pid);
    else
        snprintf(err, errlen, "the kernel refuses to let leakwatch trace PID %d: /proc/sys/kernel/yama/ptrace_scope "
                 "is %d (only a parent may trace its child): run leakwatch attach as root or with CAP_SYS_PTRACE, "
                 "or set kernel.yama.ptrace_scope=0 with sysctl", pid, scope);
}

static void ptrace_denied(int pid, char *err, size_t errlen)
{
    char path[64], line[256];
    int tracer = 0, uid = -1;
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f)) {
        sscanf(line, "TracerPid: %d", &tracer);
        sscanf(line, "Uid: %*d %d", &uid);
    }
    if (f)
        fclose(f);
    int scope = inject_yama_scope(INJECT_YAMA_SCOPE_PATH);
    if (tracer > 0)
        snprintf(err, errlen, "PID %d is already traced by PID %d (a debugger or strace): detach it first", pid,
                 tracer);
    else if (uid >= 0 && (uid_t)uid != geteuid() && geteuid() != 0)
        snprintf(err, errlen, "PID %d belongs to uid %d, not to you (uid %d): run leakwatch attach as that user or "
                 "as root", pid, uid, (int)geteuid());
    else if (scope >= 1)
        inject_scope_message(pid, scope, err, errlen);
    else
        snprintf(err, errlen, "the kernel refuses to let leakwatch trace PID %d: it needs CAP_SYS_PTRACE "
                 "(in a container: --cap-add SYS_PTRACE) or a process that is not set-uid/undumpable", pid);
}

static void hold_signals(inject_session *s)
{
    sigset_t hold;
    sigemptyset(&hold);
    sigaddset(&hold, SIGINT);
    sigaddset(&hold, SIGTERM);
    sigaddset(&hold, SIGHUP);
    sigaddset(&hold, SIGQUIT);
    sigprocmask(SIG_BLOCK, &hold, &s->old_mask);
}

/* Seizes tid and waits for the interrupt stop, passing on signals that arrive first. 1 stopped, 0 the
 * thread is gone, -1 ptrace refused (errno). */
static int seize_and_stop(int tid)
{
    if (ptrace(PTRACE_SEIZE, tid, 0, 0) < 0)
        return errno == ESRCH ? 0 : -1;
    if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0)
        return 0;
    for (int tries = 0; tries < 100; tries++) {
        int st;
        if (waitpid(tid, &st, __WALL) < 0 || !WIFSTOPPED(st))
            return 0;
        if (st >> 16 == PTRACE_EVENT_STOP)
            return 1;
        ptrace(PTRACE_CONT, tid, 0, (void *)(long)WSTOPSIG(st));   /* a signal on its way: deliver it */
    }
    return 0;
}

static bool save_fpu(inject_session *s)
{
    struct iovec iov = { s->xstate, sizeof s->xstate };
    if (ptrace(PTRACE_GETREGSET, s->tid, (void *)NT_X86_XSTATE, &iov) == 0) {
        s->xstate_len = iov.iov_len;
        return true;
    }
    s->xstate_len = 0;
    return ptrace(PTRACE_GETFPREGS, s->tid, 0, &s->fpregs) == 0;
}

static void restore_fpu(inject_session *s)
{
    if (s->xstate_len) {
        struct iovec iov = { s->xstate, s->xstate_len };
        ptrace(PTRACE_SETREGSET, s->tid, (void *)NT_X86_XSTATE, &iov);
    } else {
        ptrace(PTRACE_SETFPREGS, s->tid, 0, &s->fpregs);
    }
}

/* Tries one thread: true when it is now seized at a safe point. */
static bool try_thread(inject_session *s, int tid, int *denied)
{
    int rc = seize_and_stop(tid);
    if (rc < 0) {
        *denied = errno;
        return false;
    }
    if (rc == 0) {
        ptrace(PTRACE_DETACH, tid, 0, 0);
        return false;
    }
    s->tid = tid;
    s->seized = true;
    if (ptrace(PTRACE_GETREGS, tid, 0, &s->saved) == 0 &&
        safe_point(s->pid, (long)s->saved.orig_rax, (long)s->saved.rdi) && save_fpu(s)) {
        s->cursor = (s->saved.rsp - 256) & ~(uintptr_t)15;     /* 128 bytes of red zone, and a margin */
        return true;
    }
    ptrace(PTRACE_DETACH, tid, 0, 0);                         /* moved on meanwhile: nothing was changed */
    s->seized = false;
    return false;
}

static char process_state(int pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p[2] : 0;
}

bool inject_begin(inject_session *s, int pid, long long deadline_ms, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->pid = pid;
    char state = process_state(pid);
    if (state == 0 || state == 'Z' || state == 'X') {
        snprintf(err, errlen, "PID %d is not running (it exited)", pid);
        return false;
    }
    if (state == 'T' || state == 't') {
        snprintf(err, errlen, "PID %d is stopped (SIGSTOP or a debugger): continue it first", pid);
        return false;
    }
    hold_signals(s);
    int denied = 0;
    for (;;) {
        char dir[64];
        snprintf(dir, sizeof dir, "/proc/%d/task", pid);
        DIR *d = NULL;
        state = process_state(pid);
        if (state == 0 || state == 'Z' || state == 'X' || !(d = opendir(dir))) {
            snprintf(err, errlen, "PID %d exited while leakwatch was attaching", pid);
            break;
        }
        int tids[256], n = 0;
        tids[n++] = pid;                                      /* the main thread first */
        struct dirent *e;
        while ((e = readdir(d)) && n < 256) {
            int tid = atoi(e->d_name);
            if (tid > 0 && tid != pid)
                tids[n++] = tid;
        }
        closedir(d);
        for (int i = 0; i < n; i++) {
            long nr, arg0;
            if (task_syscall(pid, tids[i], &nr, &arg0) && safe_point(pid, nr, arg0) &&
                try_thread(s, tids[i], &denied))
                return true;
            if (denied) {
                ptrace_denied(pid, err, errlen);
                sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
                return false;
            }
        }
        if (lw_now_ms() >= deadline_ms) {
            snprintf(err, errlen, "no thread of PID %d waited in a safe place (an event loop's epoll_wait or poll, "
                     "accept, a socket read, a sleep) before the timeout: the program is busy or in a lock; "
                     "try again, or with a longer --timeout", pid);
            break;
        }
        struct timespec pause_ts = { 0, 5 * 1000000L };
        nanosleep(&pause_ts, NULL);
    }
    sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
    return false;
}

static bool write_mem(inject_session *s, uintptr_t addr, const void *data, size_t len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", s->tid);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = pwrite(fd, data, len, (off_t)addr);
    close(fd);
    return n == (ssize_t)len;
}

/* A write to the target's memory failed: it exited (killed meanwhile), or its stack is not writable. */
static void write_failed(inject_session *s, char *err, size_t errlen)
{
    int e = errno;
    char state = process_state(s->pid);
    if (e == ESRCH || e == ENOENT || state == 0 || state == 'Z' || state == 'X') {
        s->gone = true;
        snprintf(err, errlen, "PID %d exited while leakwatch was attaching", s->pid);
    } else {
        snprintf(err, errlen, "cannot write to the stack of PID %d (%s)", s->pid, strerror(e));
    }
}

bool inject_push(inject_session *s, const void *data, size_t len, uintptr_t *remote, char *err, size_t errlen)
{
    s->cursor = (s->cursor - len) & ~(uintptr_t)15;
    if (!write_mem(s, s->cursor, data, len)) {
        write_failed(s, err, errlen);
        return false;
    }
    *remote = s->cursor;
    return true;
}

bool inject_call(inject_session *s, uintptr_t fn, uintptr_t a0, uintptr_t a1, uintptr_t *ret, char *err,
                 size_t errlen)
{
    struct user_regs_struct regs = s->saved;
    uintptr_t sp = ((s->cursor - 64) & ~(uintptr_t)15) - 8;   /* as after a call: return address at sp */
    uint64_t return_to = 0;
    if (!write_mem(s, sp, &return_to, sizeof return_to)) {
        write_failed(s, err, errlen);
        return false;
    }
    regs.rip = fn;
    regs.rdi = a0;
    regs.rsi = a1;
    regs.rax = 0;
    regs.rsp = sp;
    regs.orig_rax = (unsigned long)-1;          /* not in a system call: the kernel must not restart one */
    regs.eflags &= ~(0x400ul | 0x100ul);         /* direction and trap flags clear, as the ABI expects */
    if (ptrace(PTRACE_SETREGS, s->tid, 0, &regs) < 0 || ptrace(PTRACE_CONT, s->tid, 0, 0) < 0) {
        snprintf(err, errlen, "PID %d exited while leakwatch was attaching", s->pid);
        s->gone = true;
        return false;
    }
    for (;;) {
        int st;
        if (waitpid(s->tid, &st, __WALL) < 0 || WIFEXITED(st) || WIFSIGNALED(st)) {
            snprintf(err, errlen, "PID %d exited while leakwatch was attaching", s->pid);
            s->gone = true;
            return false;
        }
        int sig = WSTOPSIG(st);
        if (st >> 16 != 0) {                       /* a stop request or an event: keep going */
            ptrace(PTRACE_CONT, s->tid, 0, 0);
            continue;
        }
        if (sig == SIGSEGV) {
            struct user_regs_struct now;
            if (ptrace(PTRACE_GETREGS, s->tid, 0, &now) < 0) {
                s->gone = true;
                snprintf(err, errlen, "PID %d exited while leakwatch was attaching", s->pid);
                return false;
            }
            if (now.rip == 0) {
                *ret = now.rax;
                return true;
            }
            snprintf(err, errlen, "the call at 0x%lx in PID %d faulted at 0x%llx; its thread was put back as it was",
                     (unsigned long)fn, s->pid, (unsigned long long)now.rip);
            return false;
        }
        ptrace(PTRACE_CONT, s->tid, 0, (void *)(long)sig);   /* the program's signal: deliver it */
    }
}

void inject_end(inject_session *s)
{
    if (s->seized && !s->gone) {
        ptrace(PTRACE_SETREGS, s->tid, 0, &s->saved);
        restore_fpu(s);
        ptrace(PTRACE_DETACH, s->tid, 0, 0);
    }
    s->seized = false;
    sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
}
