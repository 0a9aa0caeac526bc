/* stacks.h — full call stacks, interned once: equal stacks share one id, so a leaking site with a
 * million blocks keeps one copy of its stack. A stack is kept as the differences between successive
 * return addresses in a variable-length code (frames of one object are close together: 2-4 bytes a
 * frame instead of 8). Memory is capped (STACKS_MAX_BYTES); past the cap new stacks get id 0 and their
 * blocks fall back to the site's representative stack. Interning takes one spinlock (it runs only for
 * sampled allocations); reading a stack by id is lock-free. */
#ifndef LW_STACKS_H
#define LW_STACKS_H

#include <stdint.h>

#define STACKS_MAX (1u << 20)                  /* ids fit the 20 bits a block's extra keeps */
#define STACKS_MAX_BYTES (256ull << 20)

uint32_t stacks_intern(const uintptr_t *frames, unsigned n);   /* 0 when it cannot be kept */

/* Copies the frames of stack id (at most cap) into out; returns how many, 0 for id 0 or unknown. */
unsigned stacks_copy(uint32_t id, uintptr_t *out, unsigned cap);

uint32_t stacks_count(void);
uint64_t stacks_bytes(void);                                   /* everything the stacks take */
uint64_t stacks_dropped(void);                                 /* stacks not kept because of the cap */


#endif
