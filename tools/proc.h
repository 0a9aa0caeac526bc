/* proc.h — what leakwatch learns about other processes from /proc: whether a PID is alive, its uids and
 * executable name, whether libleakwatch.so is mapped into it, and its descendants. Linux only. */
#ifndef LW_PROC_H
#define LW_PROC_H
#include <stdbool.h>
#include <stddef.h>

typedef enum { PROC_ALIVE, PROC_GONE, PROC_ZOMBIE } proc_state;

proc_state proc_status(int pid);

/* The parent's pid, 0 when unknown. */
int proc_parent(int pid);

/* The process's start time (field 22 of /proc/PID/stat: clock ticks after boot); false if it is gone. */
bool proc_start_ticks(int pid, unsigned long long *ticks);

/* Real and effective uid from /proc/PID/status; false when unreadable. */
bool proc_uids(int pid, int *ruid, int *euid);

/* The process a thread id belongs to (pid itself for a process), 0 when unknown. /proc/TID exists for
 * every thread even though /proc lists only processes. */
int proc_tgid(int pid);

/* Basename of the executable (/proc/PID/exe, else /proc/PID/comm). */
bool proc_exe_name(int pid, char *buf, size_t len);

/* 1 when libleakwatch.so is mapped, 0 when not, -1 when /proc/PID/maps cannot be read (err says why). */
int proc_has_shim(int pid, char *err, size_t errlen);

/* pid and every live descendant, pid first, parents before children. Returns the count (at most max). */
size_t proc_descendants(int pid, int *out, size_t max);

#endif
