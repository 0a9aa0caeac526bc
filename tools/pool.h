/* pool.h — recognises a site that is a memory pool's chunk allocation. When such a site keeps growing the
 * leak is in the buffers carved out of the chunks, and the chunk's creation stack is that of whichever
 * request needed a new chunk, not of the buffer that leaked: the verdict says so and how to get one stack
 * per buffer. The list of pool frames is kept small on purpose (docs/gateways.md lists it):
 *   Netty 4.1 pooled allocator: PoolArena.newChunk (also as PoolArena$DirectArena / PoolArena$HeapArena).
 * Pure functions over a loaded report. */
#ifndef LW_POOL_H
#define LW_POOL_H
#include <stdbool.h>
#include <stddef.h>
#include "model.h"

typedef struct {
    const char *pool;         /* "Netty's pooled allocator" */
    const char *hint;         /* one sentence: how to see each buffer's own creation stack */
} pool_kind;

/* Does a frame's function name (a JIT or JVMTI name such as
 * "io.netty.buffer.PoolArena$DirectArena::newChunk" or "Lio/netty/buffer/PoolArena;.newChunk(I)") name a
 * pool's chunk allocation? Returns the pool or NULL. */
const pool_kind *pool_match_function(const char *function);

/* The pool whose chunk allocation the site's key frames or any of its groups' creation stacks pass
 * through, or NULL; *frame gets the matching function name. */
const pool_kind *pool_site(const lw_site *s, const char **frame);

/* The verdict's note for people: "This site is a chunk allocation of <pool> (<frame>): <hint>.", with
 * control characters of the frame name escaped. */
void pool_note(const pool_kind *k, const char *frame, char *buf, size_t len);

#endif
