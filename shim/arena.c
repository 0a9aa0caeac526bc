/* arena.c — size-class allocator over raw mmap for the shim's internal data (see arena.h).
 * Classes go from 16 B to 64 KiB in steps of a power of two and one and a half times it (16, 24, 32,
 * 48, ...), so a block wastes at most a third; they are carved from 1 MiB slabs that are never
 * returned: the shim's small structures (sites, stacks, hash buckets) live as long as the process. */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "arena.h"
#include "lock.h"

#define MIN_SHIFT 4
#define MAX_SHIFT 16
#define NCLASSES (2 * (MAX_SHIFT - MIN_SHIFT) + 1)
#define SLAB_SIZE (1u << 20)

struct free_block { struct free_block *next; };

static struct {
    lw_lock_t lock;
    struct free_block *free_lists[NCLASSES];
    char *slab_cur, *slab_end;
    atomic_uint_fast64_t mapped;
} arena = { .lock = LW_LOCK_INIT(LOCK_RANK_ARENA) };
LOCK_REGISTER(LOCK_RANK_ARENA, &arena.lock, 1, 0)

static void *raw_mmap(size_t size, int extra_flags)
{
    int saved = errno;
    void *p = (void *)syscall(SYS_mmap, NULL, size, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, -1, 0);
    errno = saved;
    return p == MAP_FAILED ? NULL : p;
}

static size_t page_round(size_t size)
{
    return (size + 4095) & ~(size_t)4095;
}

static void *map_counted(size_t size, int extra_flags)
{
    size = page_round(size);
    void *p = raw_mmap(size, extra_flags);
    if (p)
        atomic_fetch_add_explicit(&arena.mapped, size, memory_order_relaxed);
    return p;
}

void *arena_map(size_t size)
{
    return map_counted(size, 0);
}

void *arena_map_populated(size_t size)
{
    return map_counted(size, MAP_POPULATE);
}

void arena_unmap(void *p, size_t size)
{
    if (!p)
        return;
    int saved = errno;
    size = page_round(size);
    syscall(SYS_munmap, p, size);
    atomic_fetch_sub_explicit(&arena.mapped, size, memory_order_relaxed);
    errno = saved;
}

/* Class c holds blocks of class_size(c): 16, 24, 32, 48, 64, ... 65,536. */
static size_t class_size(unsigned cls)
{
    size_t base = (size_t)1 << (MIN_SHIFT + cls / 2);
    return cls % 2 ? base + base / 2 : base;
}

static unsigned size_class(size_t size)
{
    unsigned cls = 0;
    while (class_size(cls) < size)
        cls++;
    return cls;
}

void *arena_alloc(size_t size)
{
    if (size == 0)
        size = 1;
    if (size > ((size_t)1 << MAX_SHIFT))
        return arena_map(size);
    unsigned cls = size_class(size);
    size_t block = class_size(cls);
    void *p = NULL;
    lw_lock(&arena.lock);
    if (arena.free_lists[cls]) {
        struct free_block *fb = arena.free_lists[cls];
        arena.free_lists[cls] = fb->next;
        p = fb;
    } else {
        if ((size_t)(arena.slab_end - arena.slab_cur) < block) {
            char *slab = arena_map(SLAB_SIZE);
            if (slab) {
                arena.slab_cur = slab;
                arena.slab_end = slab + SLAB_SIZE;
            }
        }
        if ((size_t)(arena.slab_end - arena.slab_cur) >= block) {
            p = arena.slab_cur;
            arena.slab_cur += block;
        }
    }
    lw_unlock(&arena.lock);
    if (p)
        memset(p, 0, block);
    return p;
}

void arena_free(void *p, size_t size)
{
    if (!p)
        return;
    if (size == 0)
        size = 1;
    if (size > ((size_t)1 << MAX_SHIFT)) {
        arena_unmap(p, size);
        return;
    }
    unsigned cls = size_class(size);
    lw_lock(&arena.lock);
    struct free_block *fb = p;
    fb->next = arena.free_lists[cls];
    arena.free_lists[cls] = fb;
    lw_unlock(&arena.lock);
}

uint64_t arena_bytes_in_use(void)
{
    return atomic_load_explicit(&arena.mapped, memory_order_relaxed);
}

