/* snap.h — asking a running process for a report: find its state file (published by the shim for every
 * process in /tmp/leakwatch-<uid>/<pid>.state, since /proc/PID/environ cannot be trusted), send the signal
 * it listens on and wait for the report with a newer sequence number. Used by `dump` and the live gate. */
#ifndef LW_SNAP_H
#define LW_SNAP_H
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include "ns.h"
#include "trust.h"

typedef struct {
    int pid;                  /* as the host sees it: for kill() and /proc */
    ns_view ns;               /* its own pid (in file names and reports) and root, for a process in a container */
    int signal;               /* 0: the process was started with LEAKWATCH_SIGNAL=none */
    char signal_name[32];
    char out[PATH_MAX];       /* report directory, "%u" expanded with the process's uid; inside ns.root */
    long last_seq;            /* the newest report before our request */
    unsigned long long pidns; /* the PID namespace the state file says it was written in, 0: not said */
    char state_path[PATH_MAX];
    int euid;                 /* the process's effective uid when asked */
    trust_owners owners;      /* root and the process's uids: the only owners of files we read for it */
} snap_state;

/* Checks that pid is alive and carries the shim, and reads its state file. False with one error line in
 * err (dead PID, a thread id, no shim: "start it with leakwatch run", no state file, one planted by another
 * user, unreadable maps). */
bool snap_prepare(int pid, snap_state *st, char *err, size_t errlen);

/* The newest report of st->pid in its report directory: its sequence number (0 when none or the directory
 * does not exist yet) and .json path; -1 with one line in err when the directory is not to be trusted. */
long snap_latest(const snap_state *st, char *json, size_t len, char *err, size_t errlen);

/* Opens one of the process's report files (a path snap_wait gave) safely, see trust.h; -1 with err. */
int snap_open(const snap_state *st, const char *path, char *err, size_t errlen);

/* For a JVM: asks it (jcmd PID Compiler.perfmap, bounded to 20 s) to write /tmp/perf-PID.map so the shim
 * can name JIT-compiled frames. A failure is said on stderr and otherwise ignored. Does nothing for other
 * programs. */
void snap_refresh_jit_names(int pid, const char *who);

/* Sends the report signal. */
bool snap_request(const snap_state *st, char *err, size_t errlen);
/* The same; with gc, a JVM under the shim first runs a full GC, so that Java-heap figures compare like with
 * like (sigqueue with LW_GC_VALUE; the shim ignores the value elsewhere). */
#define LW_GC_VALUE 0x4c574743          /* "LWGC": a full GC first */
#define LW_GC_NO_WALK_VALUE 0x4c57474e  /* "LWGN": the same, and no "Held by" heap walk in this report */
enum snap_gc { SNAP_NO_GC, SNAP_GC, SNAP_GC_NO_WALK };
bool snap_request_gc(const snap_state *st, enum snap_gc gc, char *err, size_t errlen);

/* Polls every 50 ms until both files of a report newer than st->last_seq exist; deadline is on
 * lw_now_ms(). Fills json and txt with their paths. False on timeout or when the process died first. */
bool snap_wait(const snap_state *st, long long deadline_ms, char *json, char *txt, size_t len, char *err,
               size_t errlen);

#endif
