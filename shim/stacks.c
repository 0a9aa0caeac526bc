/* stacks.c — the interned stack table (see stacks.h): an open-addressing table of ids keyed by the
 * frames' hash, plus a directory from id to entry that readers use without the lock (an entry is
 * written before its id is handed out and never changes). */
#include <stdatomic.h>
#include <string.h>
#include "stacks.h"
#include "arena.h"
#include "config.h"
#include "lock.h"

struct stack_entry {
    uint32_t hash;
    uint16_t nframes;
    uint16_t nbytes;
    uint8_t code[];                  /* zigzag LEB128 of each frame minus the one before */
};

#define DIR_CHUNK 4096u
#define MAX_CODE (CONFIG_MAX_DEPTH * 10)

static struct {
    lw_lock_t lock;
    uint32_t *slots;                 /* ids, 0 = empty; at most half full */
    uint32_t mask;
    struct stack_entry **dir[STACKS_MAX / DIR_CHUNK];
    atomic_uint next_id;
    atomic_uint_fast64_t bytes;
    atomic_uint_fast64_t dropped;
} stacks = { .lock = LW_LOCK_INIT(LOCK_RANK_STACKS), .next_id = 1 };
LOCK_REGISTER(LOCK_RANK_STACKS, &stacks.lock, 1, 0)

static uint32_t frames_hash(const uintptr_t *frames, unsigned n)
{
    uint64_t h = 0x9ae16a3b2f90404full;
    for (unsigned i = 0; i < n; i++) {
        h = (h ^ frames[i]) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 32;
    }
    return (uint32_t)h;
}

static unsigned encode(const uintptr_t *frames, unsigned n, uint8_t *code)
{
    unsigned len = 0;
    uintptr_t prev = 0;
    for (unsigned i = 0; i < n; i++) {
        int64_t delta = (int64_t)(frames[i] - prev);
        uint64_t z = ((uint64_t)delta << 1) ^ (uint64_t)(delta >> 63);
        prev = frames[i];
        do {
            code[len++] = (uint8_t)((z & 0x7f) | (z > 0x7f ? 0x80 : 0));
            z >>= 7;
        } while (z);
    }
    return len;
}

static const struct stack_entry *entry_of(uint32_t id)
{
    struct stack_entry **chunk = stacks.dir[id / DIR_CHUNK];
    return chunk ? chunk[id % DIR_CHUNK] : NULL;
}

static size_t entry_size(unsigned nbytes)
{
    return sizeof(struct stack_entry) + nbytes;
}

/* Makes the id table twice as large (or the first one); lock held. */
static int table_grow_locked(void)
{
    uint32_t cap = stacks.slots ? (stacks.mask + 1) * 2 : 1024;
    uint32_t *bigger = arena_map(cap * sizeof *bigger);
    if (!bigger)
        return -1;
    for (uint32_t i = 0; stacks.slots && i <= stacks.mask; i++) {
        uint32_t id = stacks.slots[i];
        if (!id)
            continue;
        uint32_t j = entry_of(id)->hash & (cap - 1);
        while (bigger[j])
            j = (j + 1) & (cap - 1);
        bigger[j] = id;
    }
    if (stacks.slots) {
        arena_unmap(stacks.slots, (stacks.mask + 1) * sizeof *stacks.slots);
        atomic_fetch_sub_explicit(&stacks.bytes, (stacks.mask + 1) * sizeof *stacks.slots, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&stacks.bytes, cap * sizeof *bigger, memory_order_relaxed);
    stacks.slots = bigger;
    stacks.mask = cap - 1;
    return 0;
}

uint32_t stacks_intern(const uintptr_t *frames, unsigned n)
{
    if (n == 0)
        return 0;
    if (n > CONFIG_MAX_DEPTH)
        n = CONFIG_MAX_DEPTH;
    uint8_t code[MAX_CODE];
    unsigned nbytes = encode(frames, n, code);
    uint32_t hash = frames_hash(frames, n), id = 0;
    lw_lock(&stacks.lock);
    uint32_t next = atomic_load_explicit(&stacks.next_id, memory_order_relaxed);
    if ((!stacks.slots || (uint64_t)next * 2 > stacks.mask) && table_grow_locked() < 0)
        goto drop;
    uint32_t i = hash & stacks.mask;
    for (; stacks.slots[i]; i = (i + 1) & stacks.mask) {
        const struct stack_entry *e = entry_of(stacks.slots[i]);
        if (e->hash == hash && e->nframes == n && e->nbytes == nbytes && memcmp(e->code, code, nbytes) == 0) {
            id = stacks.slots[i];
            goto out;
        }
    }
    if (next >= STACKS_MAX || atomic_load_explicit(&stacks.bytes, memory_order_relaxed) >= STACKS_MAX_BYTES)
        goto drop;
    struct stack_entry ***chunk = &stacks.dir[next / DIR_CHUNK];
    if (!*chunk && !(*chunk = arena_alloc(DIR_CHUNK * sizeof(struct stack_entry *))))
        goto drop;
    struct stack_entry *e = arena_alloc(entry_size(nbytes));
    if (!e)
        goto drop;
    e->hash = hash;
    e->nframes = (uint16_t)n;
    e->nbytes = (uint16_t)nbytes;
    memcpy(e->code, code, nbytes);
    __atomic_store_n(&(*chunk)[next % DIR_CHUNK], e, __ATOMIC_RELEASE);
    stacks.slots[i] = next;
    atomic_fetch_add_explicit(&stacks.bytes, entry_size(nbytes), memory_order_relaxed);
    atomic_store_explicit(&stacks.next_id, next + 1, memory_order_release);
    id = next;
    goto out;
drop:
    atomic_fetch_add_explicit(&stacks.dropped, 1, memory_order_relaxed);
out:
    lw_unlock(&stacks.lock);
    return id;
}

unsigned stacks_copy(uint32_t id, uintptr_t *out, unsigned cap)
{
    if (id == 0 || id >= atomic_load_explicit(&stacks.next_id, memory_order_acquire))
        return 0;
    struct stack_entry **chunk = __atomic_load_n(&stacks.dir[id / DIR_CHUNK], __ATOMIC_ACQUIRE);
    const struct stack_entry *e = chunk ? __atomic_load_n(&chunk[id % DIR_CHUNK], __ATOMIC_ACQUIRE) : NULL;
    if (!e)
        return 0;
    unsigned n = 0, at = 0;
    uintptr_t prev = 0;
    while (n < e->nframes && n < cap && at < e->nbytes) {
        uint64_t z = 0;
        for (unsigned shift = 0; at < e->nbytes; shift += 7) {
            uint8_t b = e->code[at++];
            z |= (uint64_t)(b & 0x7f) << shift;
            if (!(b & 0x80))
                break;
        }
        prev += (uintptr_t)((z >> 1) ^ -(z & 1));
        out[n++] = prev;
    }
    return n;
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

