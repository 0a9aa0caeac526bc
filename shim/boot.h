/* boot.h — the bootstrap allocator: serves the allocations that arrive before the real malloc has been
 * found with dlsym (dlsym itself may call calloc). A static buffer and a bump pointer; freeing a boot
 * block does nothing. Thread-safe, lock-free. */
#ifndef LW_BOOT_H
#define LW_BOOT_H

#include <stddef.h>

void *boot_alloc(size_t size, size_t align);   /* zeroed; NULL when the buffer is exhausted */
int boot_owns(const void *p);
size_t boot_size(const void *p);               /* the size asked for; p must be owned */

#endif
