/* snapshot.h — everything one report shows, copied once: the live blocks with their access records
 * (each shard under its lock, in one hold), the regions, the per-site totals, the counters and the
 * loaded modules. A report is rendered from this copy alone, so its text and JSON tell the same story
 * and nothing shown can belong to an allocation made after the copy.
 * Takes the shard, regions and count-table locks one at a time, and the loader's lock (modules) before
 * any of them. The caller serialises reports and has the guard set. Not async-signal-safe. */
#ifndef LW_SNAPSHOT_H
#define LW_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "blocks.h"
#include "counts.h"
#include "symbols.h"

/* A live block or region, reduced to what grouping needs. */
struct item {
    uint32_t site;
    uint32_t stack;                 /* own creation stack, 0: none; after grouping, the one shown */
    uint64_t size;
    uint64_t birth : 63;            /* ms since start */
    uint64_t unstacked : 1;         /* no stack of its own: grouped under the site's representative */
    uintptr_t ptr;
    uint64_t untouched;             /* bytes of a mapping in pages that hold no memory (residency.h) */
};

/* The access records of one block of the snapshot: records[at .. at+n), newest first. */
struct records_of { uintptr_t ptr; uint32_t at, n; };

struct snapshot {
    struct module_set modules;
    struct item *items;
    size_t nitems, items_mapped;
    struct access_record *records;
    size_t nrecords, records_mapped;
    struct records_of *records_of;  /* sorted by ptr */
    size_t nrecords_of, records_of_mapped;
    struct site_totals *totals;     /* per site, summed over threads */
    size_t totals_mapped;
    uint32_t nsites;                /* sites [1, nsites) existed when the copy ended */
    uint64_t now;                   /* ms since start, after the copy: every birth is before it */
    int untouched_swap_unseen;      /* swap in use and unreadable: swapped-out pages counted untouched */
    uint64_t untracked_frees;
    uint64_t stacks, stack_bytes, stacks_dropped;
    uint64_t metadata_bytes;        /* the shim's own memory before this report's */
    pid_t pid, ppid;
    char program[512];              /* /proc/self/exe */
    char cmdline[4096];             /* /proc/self/cmdline: arguments separated by NULs */
    size_t cmdline_len;
    char when[40];                  /* UTC, ISO 8601 with ms */
    int attached;                   /* tracking began at a leakwatch attach: older memory has no site */
    char tracking_since[40];        /* when tracking began, as `when`; empty if unknown */
};

/* Copies everything; 0, or -1 without memory (release it anyway). Settle queued frees first. */
int snapshot_take(struct snapshot *s);
void snapshot_release(struct snapshot *s);

/* The access records kept with the block at ptr in this snapshot; returns how many. */
unsigned snapshot_records(const struct snapshot *s, uintptr_t ptr, const struct access_record **records);

/* Ages never go negative, even for a record made by another thread after the clock was read. */
static inline uint64_t snapshot_age(const struct snapshot *s, uint64_t birth)
{
    return s->now > birth ? s->now - birth : 0;
}

#endif
