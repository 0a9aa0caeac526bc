/* stacks.h — full call stacks, interned once: equal stacks share one id, so a leaking site with a
 * million blocks keeps one copy of its stack. Memory is capped (STACKS_MAX_BYTES); past the cap new
 * stacks get id 0 and their blocks fall back to the site's representative stack. Interning takes one
 * spinlock (it runs only for sampled allocations); reading a stack by id is lock-free. */
#ifndef LW_STACKS_H
#define LW_STACKS_H

#include <stdint.h>

#define STACKS_MAX (1u << 24)                  /* ids fit the 24 bits a block record keeps */
#define STACKS_MAX_BYTES (256ull << 20)

struct stack {
    uint32_t id;
    uint32_t nframes;
    uintptr_t frames[];
};

uint32_t stacks_intern(const uintptr_t *frames, unsigned n);   /* 0 when it cannot be kept */
const struct stack *stacks_get(uint32_t id);                   /* NULL for 0 or unknown */
uint32_t stacks_count(void);
uint64_t stacks_bytes(void);
uint64_t stacks_dropped(void);                                 /* stacks not kept because of the cap */

void stacks_atfork_prepare(void);
void stacks_atfork_parent(void);
void stacks_atfork_child(void);

#endif
