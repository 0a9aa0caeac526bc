/* dirs.h — the directories the shim writes into: the report directory (LEAKWATCH_OUT) and the state
 * directory, where <pid>.state tells `leakwatch dump` how to ask this process for a report. A directory is
 * used only when it is this user's own, not a symlink and private; when another user squats the first state
 * directory (/tmp/leakwatch-<uid>), the next of CONFIG_STATE_DIRS is taken and that is said once.
 * Callers serialise (the report lock, or start-up); not async-signal-safe (it logs). */
#ifndef LW_DIRS_H
#define LW_DIRS_H

#include <stddef.h>
#include <sys/types.h>

typedef void (*dirs_log_fn)(const char *, const char *, const char *, const char *, const char *);

/* Copies template to dst with "%u" replaced by uid. */
void dirs_expand(const char *template, char *dst, size_t cap, uid_t uid);

/* Opens (creating if needed) a directory only this user can write to; -1 after saying why with say.
 * A default directory must be private (0700-like), a chosen one only not writable by others. */
int dirs_open_private(const char *path, int is_default, dirs_log_fn say);

/* Opens the state directory for the effective uid: its path goes to path and the template it came
 * from to *template. -1 when none is usable, said once with say. */
int dirs_open_state(char *path, size_t cap, const char **template, dirs_log_fn say);

#endif
