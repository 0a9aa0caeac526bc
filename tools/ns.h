/* ns.h — a process in another PID or mount namespace (a container) as the host sees it: the pid it calls
 * itself (the last NSpid field of /proc/PID/status), which the shim writes in its state and report file
 * names and in its reports, and the directory its paths are relative to (/proc/PID/root when its mount
 * namespace or root directory is not ours). Outside a container both are what they would be anyway.
 * Stateless; reads /proc only. */
#ifndef LW_NS_H
#define LW_NS_H
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    int host_pid;             /* as we see it: for kill() and /proc */
    int own_pid;              /* as it sees itself: in its file names and reports */
    char root[32];            /* "" (our /) or "/proc/PID/root" */
    unsigned long long pidns; /* inode of its PID namespace (the shim writes it as pidns=), 0 if unknown */
} ns_view;

/* Never fails: a process whose status cannot be read is taken to be in our namespaces. */
void ns_view_of(int pid, ns_view *v);

/* True when the process is in another PID namespace or mount namespace than ours. */
bool ns_is_foreign(const ns_view *v);

/* An fd of the directory its absolute paths start from ("/" or its root through /proc, which the kernel
 * resolves: no symlink of anyone's can be in the way), or -1. */
int ns_open_root(const ns_view *v);

#endif
