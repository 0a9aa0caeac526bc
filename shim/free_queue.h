/* free_queue.h — per-thread queues of freed addresses whose records the block map removes a few frees
 * later (blocks.c settles them), so that a free does not wait on the map's cache misses.
 * Locks: LOCK_RANK_FREE_QUEUES, only while a queue is made, reused or handed back; a queue's slots are
 * atomics that blocks.c reads and clears under the shard lock of the address they hold. Not
 * async-signal-safe (a queue may be made from the arena). Below blocks.c in the module graph: it knows
 * nothing of records, and settles a slot through the function given to free_queue_init. */
#ifndef LW_FREE_QUEUE_H
#define LW_FREE_QUEUE_H

#include <stdint.h>
#include "state.h"

#define FREE_QUEUE_SLOTS 8

struct free_queue {
    struct free_queue *next;                     /* every queue ever made */
    struct free_queue *next_free;
    unsigned head;                               /* owner only: the slot to settle and refill next */
    _Atomic uintptr_t slot[FREE_QUEUE_SLOTS];    /* addresses freed, records not yet removed; 0: none */
};

/* How a slot is settled when its thread ends (with the done argument last given to free_queue_mine). */
typedef void (*free_queue_settle_fn)(_Atomic uintptr_t *slot, const void *done);

void free_queue_init(free_queue_settle_fn settle);

/* This thread's queue, made (or reused) on first use; NULL when there is no memory for one. `done` is
 * kept for settling the queue when the thread ends. Inline: every tracked free asks. */
extern __thread struct free_queue *free_queue_of_thread __attribute__((tls_model("initial-exec"))) LW_HIDDEN;
struct free_queue *free_queue_make(const void *done);
static inline struct free_queue *free_queue_mine(const void *done)
{
    struct free_queue *q = free_queue_of_thread;
    return __builtin_expect(q != NULL, 1) ? q : free_queue_make(done);
}

/* Clears any slot of any queue holding ptr (the caller holds ptr's shard lock); returns whether one did.
 * This thread's queue is searched first: an address is most often handed out again by its freer. */
int free_queue_clear(uintptr_t ptr);

/* Calls settle on every slot of every queue (before a report). */
void free_queue_each_slot(free_queue_settle_fn settle, const void *done);

#endif
