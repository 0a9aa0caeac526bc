/* free_queue.c — per-thread queues of freed addresses (see free_queue.h).
 * A queue is made once per thread from the arena and never given back to it: when its thread ends, its
 * slots are settled and it waits on a free list for the next new thread. Every queue ever made stays on
 * one list that a report walks without the lock (queues are only ever prepended, with release order). */
#include <pthread.h>
#include <stdatomic.h>
#include "free_queue.h"
#include "arena.h"
#include "lock.h"

__thread struct free_queue *free_queue_of_thread __attribute__((tls_model("initial-exec")));
static lw_lock_t queues_lock = LW_LOCK_INIT(LOCK_RANK_FREE_QUEUES);   /* making, reusing and listing queues */
LOCK_REGISTER(LOCK_RANK_FREE_QUEUES, &queues_lock, 1, 0)
static _Atomic(struct free_queue *) all_queues;
static struct free_queue *unused_queues;
static pthread_key_t thread_end_key;
static int have_thread_end_key;
static free_queue_settle_fn settle_slot;
static const void *thread_end_done;              /* how a queue is settled when its thread ends */

/* Runs when a thread ends: its queue is settled and goes to the next new thread. */
static void thread_ended(void *queue)
{
    struct free_queue *q = queue;
    free_queue_of_thread = NULL;
    for (unsigned i = 0; i < FREE_QUEUE_SLOTS; i++)
        settle_slot(&q->slot[i], thread_end_done);
    lw_lock(&queues_lock);
    q->next_free = unused_queues;
    unused_queues = q;
    lw_unlock(&queues_lock);
}

void free_queue_init(free_queue_settle_fn settle)
{
    settle_slot = settle;
    have_thread_end_key = pthread_key_create(&thread_end_key, thread_ended) == 0;
}

struct free_queue *free_queue_make(const void *done)
{
    thread_end_done = done;
    lw_lock(&queues_lock);
    struct free_queue *q = unused_queues;
    if (q) {
        unused_queues = q->next_free;
    } else if ((q = arena_alloc(sizeof *q))) {
        q->next = atomic_load_explicit(&all_queues, memory_order_relaxed);
        atomic_store_explicit(&all_queues, q, memory_order_release);
    }
    lw_unlock(&queues_lock);
    if (q && have_thread_end_key)
        pthread_setspecific(thread_end_key, q);
    return free_queue_of_thread = q;
}

static int clear_in(struct free_queue *q, uintptr_t ptr)
{
    for (unsigned i = 0; i < FREE_QUEUE_SLOTS; i++)
        if (atomic_load_explicit(&q->slot[i], memory_order_acquire) == ptr) {
            atomic_store_explicit(&q->slot[i], 0, memory_order_release);
            return 1;
        }
    return 0;
}

int free_queue_clear(uintptr_t ptr)
{
    struct free_queue *own = free_queue_of_thread;
    if (own && clear_in(own, ptr))
        return 1;
    for (struct free_queue *q = atomic_load_explicit(&all_queues, memory_order_acquire); q; q = q->next)
        if (q != own && clear_in(q, ptr))
            return 1;
    return 0;
}

void free_queue_each_slot(free_queue_settle_fn settle, const void *done)
{
    for (struct free_queue *q = atomic_load_explicit(&all_queues, memory_order_acquire); q; q = q->next)
        for (unsigned i = 0; i < FREE_QUEUE_SLOTS; i++)
            settle(&q->slot[i], done);
}
