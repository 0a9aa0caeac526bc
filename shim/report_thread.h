/* report_thread.h — when and where reports are written: the reporter thread (started with every signal
 * blocked and its guard set), report requests from the signal handler (a flag and a futex wake, both
 * async-signal-safe), the periodic interval, leakwatch_dump(), the exit report, and the report
 * directory with its safety checks. A forked child (lifecycle.c) starts its own series and thread.
 * Locks: the report lock (rank "report" in lock.h), held while a report is written. */
#ifndef LW_REPORT_THREAD_H
#define LW_REPORT_THREAD_H

#include "out.h"
#include "report.h"

/* After tracking is on; 0 or -1 (said why on stderr). publish: write the state file (not in a forked
 * child, see report_thread.c). */
int report_thread_start(int publish);

/* Around a change of the effective uid (the setuid family): the state file moves to the new uid's
 * directory. Must be called in pairs. */
void report_thread_uid_changing(void);
void report_thread_uid_changed(void);

/* Async-signal-safe: asks the reporter thread for a report that asks the JVM what `java` says
 * (REPORT_JAVA_*; only for REASON_SIGNAL). Requests that arrive together get one report, which asks
 * what any of them asked. */
void report_thread_request(enum report_reason reason, unsigned java);

/* Writes a report now from the calling thread (the guard must be set), with the "Held by" walk and no
 * forced GC; 0 or -1. */
int report_thread_write_now(enum report_reason reason);

/* In a forked child (its locks already reset; guard set): a new series of reports under the child's
 * pid, and its own reporter thread. */
void report_thread_after_fork_in_child(void);

/* Tracking starts again with new settings (a detached late shim attached anew; tracking still off): the
 * interval counts from now, the next report compares with nothing before, and the thread starts if the
 * first settings needed none. 0 or -1 (said why on stderr). */
int report_thread_restart(void);

/* Writes the state file again (a forked child that serves: its address is not its parent's). */
void report_thread_republish_state(void);

/* Modules above this one that the thread serves without depending on them (one each; NULL removes):
 * tick runs on every wake of the reporter thread (about every 200 ms); describe appends lines to the
 * state file. Both run on the reporter thread, guard set. */
typedef void (*report_thread_tick_fn)(void);
typedef void (*report_thread_describe_fn)(struct out *o);
void report_thread_on_tick(report_thread_tick_fn tick);
void report_thread_on_describe(report_thread_describe_fn describe);

/* For the live endpoint (http.h), guard set: runs fn(fd) under the report lock, so it sees the same
 * state a report would and never runs beside one; returns fn's result, or -1 once the exit report is
 * done. report_thread_json_now writes the JSON of a report (reason "http", no number of its own) to fd. */
int report_thread_with_lock(int (*fn)(int fd), int fd);
int report_thread_json_now(int fd);

/* Removes this process's state file, so `leakwatch dump` no longer signals it (leakwatch detach). */
void report_thread_withdraw(void);

/* Called from the shim's destructor, which runs inside _dl_fini: registers an exit handler that runs
 * after _dl_fini has finished (glibc runs handlers registered while exiting), i.e. after every other
 * library destructor — when valgrind counts "in use at exit" too. */
void report_thread_arrange_exit_report(void);

#endif
