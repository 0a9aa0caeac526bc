/* threads.h — the shim's own threads (the report thread, the live endpoint, the JVM helpers).
 * Each is created through the real pthread_create (the exported hook would wrap it for frame-pointer
 * walks and count it as the program's), detached, with every signal blocked so that the host's signals
 * are always delivered to the host's threads. No locks; not async-signal-safe. */
#ifndef LW_THREADS_H
#define LW_THREADS_H

#include <stddef.h>

/* Starts fn(NULL) on a new thread named name (at most 15 characters), with a stack of stack_bytes.
 * Returns 0, or an errno value (ENOSYS before the real pthread_create is known). */
int threads_start(const char *name, void *(*fn)(void *), size_t stack_bytes);

#endif
