/* arena.h — the shim's own memory, taken from the kernel with raw mmap system calls, never from the
 * heap it tracks (and never through our own mmap hook). Small sized blocks come from size-class free
 * lists under one spinlock; big ones are whole mappings. Both report failure with NULL, never abort.
 * Thread-safe; not async-signal-safe. */
#ifndef LW_ARENA_H
#define LW_ARENA_H

#include <stddef.h>
#include <stdint.h>

void *arena_alloc(size_t size);              /* zeroed; NULL when the kernel refuses */
void arena_free(void *p, size_t size);       /* size must be the size asked for */
void *arena_map(size_t size);                /* zeroed pages; NULL on failure */
/* The same with every page already there and writable: for tables that are read before they are
 * written, whose first writes would otherwise replace the shared zero page (a TLB flush on every
 * CPU the process runs on, for each page). */
void *arena_map_populated(size_t size);
void arena_unmap(void *p, size_t size);

uint64_t arena_bytes_in_use(void);           /* everything mapped by the arena, for the report */


#endif
