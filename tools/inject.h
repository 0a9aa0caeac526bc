/* inject.h — calling a function inside another process with ptrace, the way a debugger's `call` does, for
 * `leakwatch attach`/`detach`: one thread of the target is seized only while it waits in a system call
 * where no lock of the C library or the loader is held (an event loop's epoll_wait, poll, accept, a
 * socket read, a sleep), its registers and FPU state are saved, calls run on its stack below the red zone
 * and return to address 0 (the fault is caught here and never reaches the target), and everything is put
 * back before the thread is let go: an interrupted system call then restarts, or returns EINTR, exactly as
 * the kernel would after any signal. Other threads keep running. Not thread-safe (one session at a time);
 * SIGINT, SIGTERM and SIGHUP are held off while a session is open, so ^C cannot leave the target halfway. */
#ifndef LW_INJECT_H
#define LW_INJECT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/user.h>
#include <signal.h>

typedef struct {
    int pid, tid;
    struct user_regs_struct saved;
    unsigned char xstate[16384];
    size_t xstate_len;             /* 0: the FPU state is kept with PTRACE_GETFPREGS instead */
    struct user_fpregs_struct fpregs;
    uintptr_t cursor;              /* pushed data grows down from here */
    bool seized, gone;
    sigset_t old_mask;
} inject_session;

/* Yama's ptrace_scope, read from path (INJECT_YAMA_SCOPE_PATH outside tests): 0 to 3, or -1 when the file
 * is missing (no Yama) or holds something else. */
#define INJECT_YAMA_SCOPE_PATH "/proc/sys/kernel/yama/ptrace_scope"
int inject_yama_scope(const char *path);

/* The one line for a kernel that refused to let us trace pid under ptrace_scope `scope` (1 to 3): what the
 * value means and what to do. */
void inject_scope_message(int pid, int scope, char *err, size_t errlen);

/* Seizes a thread of pid at a safe point, trying until deadline_ms (lw_now_ms clock). False with one
 * line in err: no permission (ptrace_scope, uid, capability, another tracer), the process is gone or
 * stopped, or no thread reached a safe point in time. The target is untouched then. */
bool inject_begin(inject_session *s, int pid, long long deadline_ms, char *err, size_t errlen);

/* Copies len bytes onto the thread's stack (below the red zone, 16-byte aligned); *remote is their address. */
bool inject_push(inject_session *s, const void *data, size_t len, uintptr_t *remote, char *err, size_t errlen);

/* Calls fn(a0, a1) in the seized thread and returns its rax in *ret. Signals that arrive meanwhile go to
 * the program. False when the call faulted or the process exited (err says which). */
bool inject_call(inject_session *s, uintptr_t fn, uintptr_t a0, uintptr_t a1, uintptr_t *ret, char *err,
                 size_t errlen);

/* Puts the thread's registers and FPU state back and lets it go. Safe to call after any failure. */
void inject_end(inject_session *s);

#endif
