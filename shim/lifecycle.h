/* lifecycle.h — the shim's process lifecycle: start-up (resolving the real functions, reading the settings,
 * starting tracking, the report signal and the report thread) and fork (every lock of the table in lock.h
 * taken before, released in the parent, reset in the child). The top of the module graph: it may call every
 * other module, and no module below it calls back except through these entry points. Not async-signal-safe. */
#ifndef LW_LIFECYCLE_H
#define LW_LIFECYCLE_H

/* Resolves the real functions and starts tracking if nobody has yet; returns the status after. */
int lw_init(void);

/* A shim its constructor started (settings from the environment) that finds itself outside the global scope (a
 * JVM's -agentpath): its real functions become the definitions the program's modules are bound to, which the GOT
 * entries it is about to redirect hold (a preloaded jemalloc's, say), not the next after it in its own scope.
 * Call before any entry is redirected: until then no module calls the hooks. Returns 0, or -1 (nothing changed)
 * when one of the functions tracking needs is not found. */
int lw_become_late(void);

/* lw_init for a shim loaded into a running process: settings from `settings` instead of the environment,
 * real functions from the global scope. */
int lw_init_late(const char *(*settings)(const char *name));

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
