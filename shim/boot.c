/* boot.c — static bump allocator for the calls that precede initialisation (see boot.h).
 * Each block has a 16-byte header holding its size so realloc and malloc_usable_size work on it. */
#include <stdatomic.h>
#include <stdint.h>
#include "boot.h"

#define BOOT_SIZE (256 * 1024)

static _Alignas(64) char boot_buf[BOOT_SIZE];
static atomic_size_t boot_used;

void *boot_alloc(size_t size, size_t align)
{
    if (align < 16)
        align = 16;
    if (size > BOOT_SIZE || align > 4096)
        return NULL;
    size_t need = size + 16 + align;
    size_t start = atomic_fetch_add_explicit(&boot_used, need, memory_order_relaxed);
    if (start + need > BOOT_SIZE)
        return NULL;
    uintptr_t base = (uintptr_t)boot_buf + start + 16;
    uintptr_t user = (base + align - 1) & ~(uintptr_t)(align - 1);
    ((size_t *)user)[-1] = size;
    return (void *)user;
}

int boot_owns(const void *p)
{
    return (const char *)p >= boot_buf && (const char *)p < boot_buf + BOOT_SIZE;
}

size_t boot_size(const void *p)
{
    return ((const size_t *)p)[-1];
}
