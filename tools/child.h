/* child.h — child processes with time bounds for dump and the live gate: start a command (optionally in
 * its own process group, with its stdout sent to our stderr so leakwatch's stdout stays the verdict), wait
 * for it until a deadline, stop it with SIGTERM then SIGKILL. */
#ifndef LW_CHILD_H
#define LW_CHILD_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct {
    bool new_group;             /* setpgid(0, 0): the whole tree can be signalled at once */
    bool stdout_to_stderr;
    bool quiet;                 /* stdout and stderr to /dev/null */
    void (*prepare)(void *ctx); /* runs in the child just before exec (e.g. sets the preload environment) */
    void *ctx;
} child_opts;

/* Forks and execs argv (PATH searched). Returns the pid, or -1 with err set. An exec failure makes the
 * child exit with status 127 after saying so on stderr. */
pid_t child_spawn(char *const argv[], const child_opts *o, char *err, size_t errlen);

/* Waits for pid until deadline (lw_now_ms clock). True with *status when it ended, false when it still
 * runs at the deadline. */
bool child_wait(pid_t pid, long long deadline_ms, int *status);

/* SIGTERM to pid (and its group when group is true), up to grace_ms for it to end, then SIGKILL; reaps it. */
void child_stop(pid_t pid, bool group, long long grace_ms);

/* "exited with status 3", "was killed by SIGSEGV". */
const char *child_status_text(int status, char *buf, size_t len);

#endif
