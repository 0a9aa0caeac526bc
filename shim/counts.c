/* counts.c — the per-thread count tables (see counts.h). */
#include <pthread.h>
#include <string.h>
#include "counts.h"
#include "arena.h"
#include "lock.h"
#include "sites.h"

#define COUNT_DIRS (SITES_MAX / COUNTS_PER_DIR)

__thread struct count_table *counts_tls __attribute__((tls_model("initial-exec")));

static lw_lock_t tables_lock = LW_LOCK_INIT(LOCK_RANK_COUNT_TABLES);   /* making, freeing and listing tables */
LOCK_REGISTER(LOCK_RANK_COUNT_TABLES, &tables_lock, 1, 0)
static _Atomic(struct count_table *) all_tables;
static struct count_table *free_tables;
static pthread_key_t exit_key;
static int have_exit_key;
static struct site_count no_memory;                 /* counts nobody reads, when no table could be made */

static size_t table_size(void)
{
    return sizeof(struct count_table) + COUNT_DIRS * sizeof(struct site_count **);
}

/* Runs when a thread exits (every way a thread can): its table goes to the next new thread. */
static void table_release(void *table)
{
    counts_tls = NULL;
    lw_lock(&tables_lock);
    struct count_table *t = table;
    t->next_free = free_tables;
    free_tables = t;
    lw_unlock(&tables_lock);
}

int counts_init(void)
{
    have_exit_key = pthread_key_create(&exit_key, table_release) == 0;
    return 0;
}

static struct count_table *table_for_thread(void)
{
    lw_lock(&tables_lock);
    struct count_table *t = free_tables;
    if (t) {
        free_tables = t->next_free;
    } else if ((t = arena_alloc(table_size()))) {
        t->next = atomic_load_explicit(&all_tables, memory_order_relaxed);
        atomic_store_explicit(&all_tables, t, memory_order_release);
    }
    lw_unlock(&tables_lock);
    if (t && have_exit_key)
        pthread_setspecific(exit_key, t);
    return t;
}

__attribute__((noinline, cold)) struct site_count *counts_make(uint32_t site)
{
    struct count_table *t = counts_tls;
    if (!t && !(t = counts_tls = table_for_thread()))
        goto no_memory;
    struct site_count ***dir = &t->dirs[site / COUNTS_PER_DIR];
    if (!*dir) {
        struct site_count **made = arena_alloc(CHUNKS_PER_DIR * sizeof **dir);
        if (!made)
            goto no_memory;
        __atomic_store_n(dir, made, __ATOMIC_RELEASE);
    }
    struct site_count **chunk = &(*dir)[site / COUNTS_PER_CHUNK % CHUNKS_PER_DIR];
    if (!*chunk) {
        struct site_count *made = arena_alloc(COUNTS_PER_CHUNK * sizeof(struct site_count));
        if (!made)
            goto no_memory;
        __atomic_store_n(chunk, made, __ATOMIC_RELEASE);
    }
    return &(*chunk)[site % COUNTS_PER_CHUNK];
no_memory:
    lw_disable("no memory for the site counters (the kernel refused mmap)");
    return &no_memory;
}

static void add_count(struct site_totals *t, const struct site_count *c)
{
    t->allocs += atomic_load_explicit(&c->allocs, memory_order_relaxed);
    t->frees += atomic_load_explicit(&c->frees, memory_order_relaxed);
    t->bytes_allocated += atomic_load_explicit(&c->bytes_allocated, memory_order_relaxed);
    t->bytes_freed += atomic_load_explicit(&c->bytes_freed, memory_order_relaxed);
}

void site_read_totals(uint32_t site, struct site_totals *out)
{
    memset(out, 0, sizeof *out);
    for (struct count_table *t = atomic_load_explicit(&all_tables, memory_order_acquire); t; t = t->next) {
        struct site_count **dir = __atomic_load_n(&t->dirs[site / COUNTS_PER_DIR], __ATOMIC_ACQUIRE);
        struct site_count *chunk = dir ? __atomic_load_n(&dir[site / COUNTS_PER_CHUNK % CHUNKS_PER_DIR],
                                                         __ATOMIC_ACQUIRE) : NULL;
        if (chunk)
            add_count(out, &chunk[site % COUNTS_PER_CHUNK]);
    }
}

void counts_read_all(struct site_totals *out, uint32_t nsites)
{
    memset(out, 0, nsites * sizeof *out);
    for (struct count_table *t = atomic_load_explicit(&all_tables, memory_order_acquire); t; t = t->next) {
        for (uint32_t d = 0; d * COUNTS_PER_DIR < nsites; d++) {
            struct site_count **dir = __atomic_load_n(&t->dirs[d], __ATOMIC_ACQUIRE);
            for (uint32_t c = 0; dir && c < CHUNKS_PER_DIR; c++) {
                struct site_count *chunk = __atomic_load_n(&dir[c], __ATOMIC_ACQUIRE);
                uint32_t first = d * COUNTS_PER_DIR + c * COUNTS_PER_CHUNK;
                for (uint32_t k = 0; chunk && k < COUNTS_PER_CHUNK && first + k < nsites; k++)
                    add_count(&out[first + k], &chunk[k]);
            }
        }
    }
}

void counts_clear(void)
{
    for (struct count_table *t = atomic_load_explicit(&all_tables, memory_order_acquire); t; t = t->next)
        for (uint32_t d = 0; d < COUNT_DIRS; d++) {
            struct site_count **dir = __atomic_load_n(&t->dirs[d], __ATOMIC_ACQUIRE);
            for (uint32_t c = 0; dir && c < CHUNKS_PER_DIR; c++) {
                struct site_count *chunk = __atomic_load_n(&dir[c], __ATOMIC_ACQUIRE);
                for (uint32_t k = 0; chunk && k < COUNTS_PER_CHUNK; k++) {
                    atomic_store_explicit(&chunk[k].allocs, 0, memory_order_relaxed);
                    atomic_store_explicit(&chunk[k].frees, 0, memory_order_relaxed);
                    atomic_store_explicit(&chunk[k].bytes_allocated, 0, memory_order_relaxed);
                    atomic_store_explicit(&chunk[k].bytes_freed, 0, memory_order_relaxed);
                }
            }
        }
}

unsigned counts_tables(void)
{
    unsigned n = 0;
    for (struct count_table *t = atomic_load_explicit(&all_tables, memory_order_acquire); t; t = t->next)
        n++;
    return n;
}

