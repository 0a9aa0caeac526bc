/* signals.h — the report signal. Our handler stays installed even when the program installs its own
 * for the same signal (we interpose sigaction/signal): signals the process sends itself (si_pid ==
 * getpid(), e.g. HotSpot suspending its threads with SIGUSR2) and those the kernel or its timers generate
 * go to the program's handler, or with none take the default action, exactly as if we were not there;
 * signals from other processes are report requests. The program is told once on stderr when it installs
 * a handler. The handler only sets a flag and wakes the reporter, or re-raises (async-signal-safe).
 * Locks: the signal lock (the first rank in lock.h) is held around the real sigaction call while the
 * program changes its action; fork takes it too, so a child never inherits it held. */
#ifndef LW_SIGNALS_H
#define LW_SIGNALS_H

#include <signal.h>

void signals_install(void);                /* at start-up, when a signal is configured */

/* The interposed sigaction for our signal; for any other signal it returns -2 (not ours). */
int signals_sigaction(int sig, const struct sigaction *act, struct sigaction *old);

/* The interposed signal()/bsd_signal() for our signal, BSD semantics (SA_RESTART). */
sighandler_t signals_signal(int sig, sighandler_t handler, int *handled);

/* Gives the signal back to the program: its own action goes back into the kernel (leakwatch detach). */
void signals_restore_program(void);

#endif
