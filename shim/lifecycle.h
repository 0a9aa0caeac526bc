/* lifecycle.h — the shim's process lifecycle: start-up (resolving the real functions, reading the settings,
 * starting tracking, the report signal and the report thread) and fork (every lock of the table in lock.h
 * taken before, released in the parent, reset in the child). The top of the module graph: it may call every
 * other module, and no module below it calls back except through these entry points. Not async-signal-safe. */
#ifndef LW_LIFECYCLE_H
#define LW_LIFECYCLE_H

/* Resolves the real functions and starts tracking if nobody has yet; returns the status after. */
int lw_init(void);

/* lw_init for a shim loaded into a running process: settings from `settings` instead of the environment,
 * real functions from the global scope; LEAKWATCH_* names in `named` (may be NULL) that are no setting are
 * said, one line each. */
int lw_init_late(const char *(*settings)(const char *name), char *const *named);

/* A late shim that was detached (status off) tracks again: the settings that need no new tables (report
 * directory, signal, interval, minimum age, top, depth, quiet) from `settings`, every table emptied, a
 * new start time, the signal handler and state file back. Returns the status after. */
int lw_restart_late(const char *(*settings)(const char *name));

/* Starts what needs a fully initialised C library: the report signal, the reporter thread and the
 * fork handlers. Called once, from the preload constructor. */
void lw_start(void);

/* The fork handlers (lifecycle.c): every lock of the table in lock.h around fork; the child's reporter. */
void lw_install_fork_handlers(void);

#endif
