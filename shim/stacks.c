/* stacks.c — the interned stack table (see stacks.h): a uthash keyed by the frames, plus a
 * directory from id to stack that readers use without the lock (an entry is written before its id
 * is handed out and never changes). */
#include <stdatomic.h>
#include <string.h>
#include "stacks.h"
#include "lock.h"

/* Keys are arrays of return addresses: a word-at-a-time mix is several times cheaper than uthash's
 * byte-wise default, and this runs for every sampled allocation. */
#define HASH_FUNCTION(keyptr, keylen, hashv) ((hashv) = stack_hash((const uintptr_t *)(keyptr), (keylen)))
static inline unsigned stack_hash(const uintptr_t *frames, size_t bytes)
{
    uint64_t h = 0x9ae16a3b2f90404full;
    for (size_t i = 0; i < bytes / sizeof *frames; i++) {
        h = (h ^ frames[i]) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 32;
    }
    return (unsigned)h;
}

#include "uthash_arena.h"

int uthash_oom_seen;

struct stack_entry {
    UT_hash_handle hh;
    struct stack stack;              /* flexible: must stay last */
};

#define DIR_CHUNK 4096u

static struct {
    lw_lock_t lock;
    struct stack_entry *by_frames;
    struct stack **dir[STACKS_MAX / DIR_CHUNK];
    atomic_uint next_id;
    atomic_uint_fast64_t bytes;
    atomic_uint_fast64_t dropped;
} stacks = { .next_id = 1 };

static size_t entry_size(unsigned n)
{
    return sizeof(struct stack_entry) + n * sizeof(uintptr_t);
}

uint32_t stacks_intern(const uintptr_t *frames, unsigned n)
{
    if (n == 0)
        return 0;
    size_t keylen = n * sizeof(uintptr_t);
    struct stack_entry *e;
    uint32_t id = 0;
    lw_lock(&stacks.lock);
    HASH_FIND(hh, stacks.by_frames, frames, keylen, e);
    if (e) {
        id = e->stack.id;
        goto out;
    }
    uint32_t next = atomic_load_explicit(&stacks.next_id, memory_order_relaxed);
    if (next >= STACKS_MAX || atomic_load_explicit(&stacks.bytes, memory_order_relaxed) >= STACKS_MAX_BYTES)
        goto drop;
    struct stack ***chunk = &stacks.dir[next / DIR_CHUNK];
    if (!*chunk && !(*chunk = arena_alloc(DIR_CHUNK * sizeof(struct stack *))))
        goto drop;
    e = arena_alloc(entry_size(n));
    if (!e)
        goto drop;
    e->stack.id = next;
    e->stack.nframes = n;
    memcpy(e->stack.frames, frames, keylen);
    uthash_oom_seen = 0;
    HASH_ADD_KEYPTR(hh, stacks.by_frames, e->stack.frames, keylen, e);
    if (uthash_oom_seen) {
        arena_free(e, entry_size(n));
        goto drop;
    }
    (*chunk)[next % DIR_CHUNK] = &e->stack;
    atomic_fetch_add_explicit(&stacks.bytes, entry_size(n), memory_order_relaxed);
    atomic_store_explicit(&stacks.next_id, next + 1, memory_order_release);
    id = next;
    goto out;
drop:
    atomic_fetch_add_explicit(&stacks.dropped, 1, memory_order_relaxed);
out:
    lw_unlock(&stacks.lock);
    return id;
}

const struct stack *stacks_get(uint32_t id)
{
    if (id == 0 || id >= atomic_load_explicit(&stacks.next_id, memory_order_acquire))
        return NULL;
    struct stack **chunk = stacks.dir[id / DIR_CHUNK];
    return chunk ? chunk[id % DIR_CHUNK] : NULL;
}

uint32_t stacks_count(void)
{
    return atomic_load_explicit(&stacks.next_id, memory_order_relaxed) - 1;
}

uint64_t stacks_bytes(void)
{
    return atomic_load_explicit(&stacks.bytes, memory_order_relaxed);
}

uint64_t stacks_dropped(void)
{
    return atomic_load_explicit(&stacks.dropped, memory_order_relaxed);
}

void stacks_atfork_prepare(void) { lw_lock(&stacks.lock); }
void stacks_atfork_parent(void) { lw_unlock(&stacks.lock); }
void stacks_atfork_child(void) { lw_lock_reinit(&stacks.lock); }
