/* signals.c — our handler for the report signal and the program's view of it (see signals.h).
 * The program's action is kept in two slots flipped atomically, so the handler always reads a whole
 * one while the program changes it. */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "signals.h"
#include "lock.h"
#include "log.h"
#include "report_thread.h"
#include "state.h"

static struct {
    struct sigaction program[2];     /* what the program believes is installed */
    atomic_int current;              /* which slot is valid */
    lw_lock_t lock;                  /* serialises changes made by the program */
    atomic_int installed;
    int told;
} sig = { .lock = LW_LOCK_INIT(LOCK_RANK_SIGNAL) };
LOCK_REGISTER(LOCK_RANK_SIGNAL, &sig.lock, 1, 0)

static int is_function(const struct sigaction *a)
{
    return a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN;
}

/* The report signal arrived for the program with the default action: do that action, as if we were not
 * there. Ignored by default: nothing. Otherwise put the default back and send the signal again to this
 * thread; it is blocked while this handler runs, so it is delivered when the handler returns and the
 * kernel terminates the process with it (status 128+signal, a core where that is the default). Only
 * async-signal-safe calls. */
static void act_as_default(int signo)
{
    if (signo == SIGWINCH || signo == SIGURG)
        return;
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    shim_state.real.sigaction(signo, &dfl, NULL);
    syscall(SYS_tgkill, (pid_t)syscall(SYS_getpid), (pid_t)syscall(SYS_gettid), signo);
}

static void on_report_signal(int signo, siginfo_t *info, void *context)
{
    int saved_errno = errno;
    const struct sigaction *program = &sig.program[atomic_load_explicit(&sig.current, memory_order_acquire)];
    /* Sent by another process (kill, sigqueue, tgkill): a report request. Sent by this process itself (a
     * thread of the program, e.g. HotSpot's suspend/resume, or raise), or arranged by it (timers, alarm,
     * I/O signals, the kernel): the program's business. */
    int sent = info && (info->si_code == SI_USER || info->si_code == SI_QUEUE || info->si_code == SI_TKILL);
    if (sent && info->si_pid != (pid_t)syscall(SYS_getpid)) {
        /* sigqueue with LW_GC_VALUE (leakwatch dump --gc, gate): a full GC in a JVM first; kill never asks it */
        unsigned java = REPORT_JAVA_HELD_BY;
        if (info->si_code == SI_QUEUE && info->si_value.sival_int == LW_GC_VALUE)
            java = REPORT_JAVA_GC | REPORT_JAVA_HELD_BY;
        else if (info->si_code == SI_QUEUE && info->si_value.sival_int == LW_GC_NO_WALK_VALUE)
            java = REPORT_JAVA_GC;
        report_thread_request(REASON_SIGNAL, java);
    } else if (is_function(program)) {
        errno = saved_errno;
        if (program->sa_flags & SA_SIGINFO)
            program->sa_sigaction(signo, info, context);
        else
            program->sa_handler(signo);
        return;
    } else if (program->sa_handler == SIG_DFL) {
        act_as_default(signo);
    }
    errno = saved_errno;
}

/* Puts our handler in the kernel with the program's mask and flags, so the kernel treats the
 * program's signal as it asked (restart, alternate stack, mask), only running through us first. */
static int install_locked(const struct sigaction *program)
{
    struct sigaction ours;
    memset(&ours, 0, sizeof ours);
    ours.sa_sigaction = on_report_signal;
    if (is_function(program)) {
        ours.sa_mask = program->sa_mask;
        ours.sa_flags = (program->sa_flags | SA_SIGINFO) & ~SA_RESETHAND;
    } else {
        sigemptyset(&ours.sa_mask);
        ours.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    }
    return shim_state.real.sigaction(shim_state.config.signal, &ours, NULL);
}

void signals_install(void)
{
    struct sigaction before;
    lw_lock(&sig.lock);
    if (shim_state.real.sigaction(shim_state.config.signal, NULL, &before) == 0) {
        sig.program[0] = before;
        atomic_store_explicit(&sig.current, 0, memory_order_release);
        if (install_locked(&before) == 0)
            atomic_store_explicit(&sig.installed, 1, memory_order_release);
        else
            lw_log("cannot install the handler for ", shim_state.config.signal_name, ": ", strerror(errno),
                   "; reports come only at exit and from leakwatch_dump()");
        if (is_function(&before) && !sig.told) {
            sig.told = 1;
            lw_log("a handler for ", shim_state.config.signal_name,
                   " was installed before leakwatch; it keeps the signals the process sends itself,",
                   " and the signal sent from other processes writes a leak report", NULL);
        }
    }
    lw_unlock(&sig.lock);
}

int signals_sigaction(int signo, const struct sigaction *act, struct sigaction *old)
{
    if (signo != shim_state.config.signal || signo == 0 || !atomic_load_explicit(&sig.installed, memory_order_acquire))
        return -2;
    lw_lock(&sig.lock);
    int cur = atomic_load_explicit(&sig.current, memory_order_relaxed);
    if (old)
        *old = sig.program[cur];
    if (act) {
        sig.program[!cur] = *act;
        atomic_store_explicit(&sig.current, !cur, memory_order_release);
        if (install_locked(act) < 0) {
            int e = errno;
            atomic_store_explicit(&sig.current, cur, memory_order_release);
            lw_unlock(&sig.lock);
            errno = e;
            return -1;
        }
        if (is_function(act) && !sig.told) {
            sig.told = 1;
            lw_log("the program installed its own handler for ", shim_state.config.signal_name,
                   ": signals the process sends itself still reach it; the signal from other processes now"
                   " writes a leak report instead. If the program needs ", shim_state.config.signal_name,
                   " from outside, set LEAKWATCH_SIGNAL to another signal (e.g. SIGRTMIN+3) or none.");
        }
    }
    lw_unlock(&sig.lock);
    return 0;
}

sighandler_t signals_signal(int signo, sighandler_t handler, int *handled)
{
    struct sigaction act, old;
    memset(&act, 0, sizeof act);
    act.sa_handler = handler;
    sigemptyset(&act.sa_mask);
    sigaddset(&act.sa_mask, signo);
    act.sa_flags = SA_RESTART;
    int rc = signals_sigaction(signo, &act, &old);
    *handled = rc != -2;
    if (rc == -2)
        return SIG_ERR;
    return rc == 0 ? old.sa_handler : SIG_ERR;
}

void signals_restore_program(void)
{
    lw_lock(&sig.lock);
    if (atomic_load_explicit(&sig.installed, memory_order_acquire)) {
        int cur = atomic_load_explicit(&sig.current, memory_order_relaxed);
        shim_state.real.sigaction(shim_state.config.signal, &sig.program[cur], NULL);
        atomic_store_explicit(&sig.installed, 0, memory_order_release);
    }
    lw_unlock(&sig.lock);
}
