/* gate_outdir.h — the report directory the live gate makes for a server when --out is not given: a fresh
 * mkdtemp directory (mode 0700) that holds one subdirectory per uid ("%u", expanded by the shim). A process
 * of the server's tree that runs as another user (an nginx worker of a root master) gets its subdirectory
 * made for it, owned by it, before it is asked for a report, and only then may others pass through the
 * directory (0711: never list it or add to it). When the gate is interrupted the directory is removed with
 * everything in it. One directory per process; gate_outdir_remove is async-signal-safe, the rest is not. */
#ifndef LW_GATE_OUTDIR_H
#define LW_GATE_OUTDIR_H
#include <stdbool.h>
#include <stddef.h>

/* Makes the directory under tmp_parent (e.g. "/tmp"); *template gets "<dir>/%u". */
bool gate_outdir_make(const char *tmp_parent, char *template, size_t len, char *err, size_t errlen);

/* Before process pid is asked for a report: makes its uid's subdirectory when it runs as another user. */
void gate_outdir_admit(int pid);

/* Removes the directory made by gate_outdir_make and all below it (nothing when none was made). Uses only
 * system calls and static memory: safe in a signal handler. */
void gate_outdir_remove(void);

#endif
