/* uthash_arena.h — includes uthash with its memory taken from the shim's arena and its out-of-memory
 * handling made non-fatal (uthash's default is exit()). Include this instead of <uthash.h>. */
#ifndef LW_UTHASH_ARENA_H
#define LW_UTHASH_ARENA_H

#include "arena.h"

extern int uthash_oom_seen;
#define uthash_malloc(sz) arena_alloc(sz)
#define uthash_free(ptr, sz) arena_free((ptr), (sz))
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) (uthash_oom_seen = 1)
#include <uthash.h>

#endif
