/* attach.h — loading libleakwatch.so into a running native process and unloading its effect again:
 * the checks that make a failed attach leave the target exactly as it was (a static binary, a C library
 * other than glibc 2.34+, another mount namespace, a process already tracked), the settings file the shim
 * reads (/tmp/leakwatch-<euid>/<pid>.attach, private to the target's user) and the calls made inside the
 * target through inject.h: its own dlopen, then leakwatch_attach() or leakwatch_detach(). Not thread-safe. */
#ifndef LW_ATTACH_H
#define LW_ATTACH_H
#include <stdbool.h>
#include <stddef.h>
#include "launch.h"

/* Attaches to pid with the settings in o (NULL fields: the LEAKWATCH_* variables of our environment, else
 * the defaults). *elapsed_ms gets the time the target's thread was held. False with one line in err. */
bool attach_process(int pid, const char *shim, const launch_opts *o, long long timeout_ms, double *elapsed_ms,
                    char *err, size_t errlen);

/* True when pid sees another /tmp than we do (a container's mount namespace): its reports and state file are
 * then in its own /tmp, reachable from here as /proc/PID/root/tmp/..., and `leakwatch dump` run here does not
 * find them. */
bool attach_other_root(int pid);

/* Puts the original GOT entries back in pid; the library stays loaded and inert. False with one line in err. */
bool detach_process(int pid, long long timeout_ms, char *err, size_t errlen);

#endif
