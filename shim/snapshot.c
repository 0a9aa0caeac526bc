/* snapshot.c — copying what a report shows (see snapshot.h). Each shard is copied in one hold of its
 * lock, blocks and access records together; the program's threads wait only for those copies. */
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "snapshot.h"
#include "arena.h"
#include "out.h"
#include "regions.h"
#include "residency.h"
#include "sites.h"
#include "sort.h"
#include "stacks.h"
#include "state.h"
#include "track.h"

/* Makes room for `need` elements of `size` bytes in an arena mapping, keeping the first `used`. */
static int ensure(void **array, size_t *mapped, size_t used, size_t need, size_t size)
{
    if (need * size <= *mapped)
        return 0;
    size_t bytes = need * size * 5 / 4 + 65536;
    void *bigger = arena_map_populated(bytes);     /* filled right away: one call, not a fault a page */
    if (!bigger)
        return -1;
    memcpy(bigger, *array, used * size);
    arena_unmap(*array, *mapped);
    *array = bigger;
    *mapped = bytes;
    return 0;
}

static int append_shard(struct snapshot *s, const struct shard_copy *c)
{
    if (ensure((void **)&s->items, &s->items_mapped, s->nitems, s->nitems + c->nblocks, sizeof *s->items) < 0 ||
        ensure((void **)&s->records, &s->records_mapped, s->nrecords, s->nrecords + c->nrecords,
               sizeof *s->records) < 0)
        return -1;
    size_t with_records = 0;
    for (size_t i = 0; i < c->nblocks; i++)
        with_records += c->blocks[i].nrecords > 0;
    if (ensure((void **)&s->records_of, &s->records_of_mapped, s->nrecords_of, s->nrecords_of + with_records,
               sizeof *s->records_of) < 0)
        return -1;
    memcpy(s->records + s->nrecords, c->records, c->nrecords * sizeof *c->records);
    for (size_t i = 0; i < c->nblocks; i++) {
        const struct block_view *b = &c->blocks[i];
        s->items[s->nitems++] = (struct item){ .site = b->site, .stack = b->stack, .size = b->size,
                                               .birth = b->birth, .ptr = b->ptr };
        if (b->nrecords)
            s->records_of[s->nrecords_of++] = (struct records_of){ b->ptr, (uint32_t)(s->nrecords + b->first_record),
                                                                   b->nrecords };
    }
    s->nrecords += c->nrecords;
    return 0;
}

static int copy_blocks(struct snapshot *s)
{
    struct shard_copy c = { .blocks_cap = blocks_count() + 4096, .records_cap = 4096 };
    c.blocks = arena_map(c.blocks_cap * sizeof *c.blocks);
    c.records = arena_map(c.records_cap * sizeof *c.records);
    /* the items of every block mapped once: grown a quarter at a time as shards come in, they were
     * copied and faulted in again about twenty times over (4 MB for 100,000 blocks) */
    int rc = c.blocks && c.records &&
             ensure((void **)&s->items, &s->items_mapped, 0, c.blocks_cap, sizeof *s->items) == 0 ? 0 : -1;
    for (unsigned shard = 0; rc == 0 && shard < BLOCKS_SHARDS; shard++) {
        while (rc == 0 && blocks_copy_shard(shard, &c, s->now) < 0) {
            if (c.nblocks > c.blocks_cap) {
                arena_unmap(c.blocks, c.blocks_cap * sizeof *c.blocks);
                c.blocks_cap = c.nblocks * 2;
                c.blocks = arena_map(c.blocks_cap * sizeof *c.blocks);
            }
            if (c.nrecords > c.records_cap) {
                arena_unmap(c.records, c.records_cap * sizeof *c.records);
                c.records_cap = c.nrecords * 2;
                c.records = arena_map(c.records_cap * sizeof *c.records);
            }
            rc = c.blocks && c.records ? 0 : -1;
        }
        if (rc == 0)
            rc = append_shard(s, &c);
    }
    arena_unmap(c.blocks, c.blocks_cap * sizeof *c.blocks);
    arena_unmap(c.records, c.records_cap * sizeof *c.records);
    return rc;
}

static int copy_regions(struct snapshot *s)
{
    size_t cap = 1024, n;
    struct region *scratch = arena_map(cap * sizeof *scratch);
    if (!scratch)
        return -1;
    while ((n = regions_copy(scratch, cap)) > cap) {
        arena_unmap(scratch, cap * sizeof *scratch);
        cap = n * 2;
        if (!(scratch = arena_map(cap * sizeof *scratch)))
            return -1;
    }
    int rc = ensure((void **)&s->items, &s->items_mapped, s->nitems, s->nitems + n, sizeof *s->items);
    struct residency pages;
    residency_begin(&pages);        /* without memory for it every byte counts as touched */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const struct region *r = &scratch[i];
        s->items[s->nitems++] = (struct item){ .site = r->site, .stack = r->stack, .size = r->len,
                                               .birth = r->birth, .ptr = r->start,
                                               .untouched = r->heap ? 0 : residency_untouched(&pages, r->start,
                                                                                              r->len) };
    }
    s->untouched_swap_unseen = pages.swap_unseen;
    residency_end(&pages);
    arena_unmap(scratch, cap * sizeof *scratch);
    return rc;
}

static int cmp_records_of(const void *a, const void *b)
{
    uintptr_t x = ((const struct records_of *)a)->ptr, y = ((const struct records_of *)b)->ptr;
    return x < y ? -1 : x > y;
}

/* realtime_ms as UTC ISO 8601 with milliseconds: "2026-12-06T05:38:23.412Z". */
static void format_time(char *dst, size_t cap, uint64_t realtime_ms)
{
    time_t secs = (time_t)(realtime_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    struct out o;
    out_init(&o, -1, dst, cap - 1);
    const int parts[] = { tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec };
    const char seps[] = "--T::";
    out_u64(&o, (uint64_t)parts[0]);
    for (int i = 1; i < 6; i++) {
        out_char(&o, seps[i - 1]);
        out_char(&o, (char)('0' + parts[i] / 10));
        out_char(&o, (char)('0' + parts[i] % 10));
    }
    unsigned ms = (unsigned)(realtime_ms % 1000);
    out_char(&o, '.');
    out_char(&o, (char)('0' + ms / 100));
    out_char(&o, (char)('0' + ms / 10 % 10));
    out_char(&o, (char)('0' + ms % 10));
    out_char(&o, 'Z');
    dst[o.len] = '\0';
}

int snapshot_take(struct snapshot *s)
{
    memset(s, 0, sizeof *s);
    s->metadata_bytes = arena_bytes_in_use();   /* before this report's scratch memory */
    /* modules first: dl_iterate_phdr takes the loader's lock, which must never be taken inside ours */
    if (symbols_snapshot(&s->modules) < 0)
        return -1;
    s->now = lw_now_ms() - shim_state.start_ms;         /* what the copies read block births against */
    if (copy_blocks(s) < 0 || copy_regions(s) < 0)
        return -1;
    /* after the copies: every block in them was born before "now" */
    s->now = lw_now_ms() - shim_state.start_ms;
    s->nsites = sites_count();
    s->totals_mapped = (size_t)s->nsites * sizeof *s->totals;
    if (!(s->totals = arena_map(s->totals_mapped)))
        return -1;
    counts_read_all(s->totals, s->nsites);
    lw_sort(s->records_of, s->nrecords_of, sizeof *s->records_of, cmp_records_of);
    s->untracked_frees = track_untracked_frees();
    s->stacks = stacks_count();
    s->stack_bytes = stacks_bytes();
    s->stacks_dropped = stacks_dropped();
    s->pid = shim_state.pid;
    s->ppid = getppid();
    char proc[40];
    ssize_t n = readlink(lw_proc_path("exe", proc, sizeof proc), s->program, sizeof s->program - 1);
    s->program[n > 0 ? n : 0] = '\0';
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    format_time(s->when, sizeof s->when, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
    s->attached = shim_state.late;
    if (shim_state.start_realtime_ms)
        format_time(s->tracking_since, sizeof s->tracking_since, shim_state.start_realtime_ms);
    int fd = open(lw_proc_path("cmdline", proc, sizeof proc), O_RDONLY | O_CLOEXEC);
    n = fd >= 0 ? read(fd, s->cmdline, sizeof s->cmdline - 1) : -1;
    if (fd >= 0)
        close(fd);
    s->cmdline_len = n > 0 ? (size_t)n : 0;
    s->cmdline[s->cmdline_len] = '\0';
    return 0;
}

void snapshot_release(struct snapshot *s)
{
    symbols_release(&s->modules);
    arena_unmap(s->items, s->items_mapped);
    arena_unmap(s->records, s->records_mapped);
    arena_unmap(s->records_of, s->records_of_mapped);
    arena_unmap(s->totals, s->totals_mapped);
    memset(s, 0, sizeof *s);
}

unsigned snapshot_records(const struct snapshot *s, uintptr_t ptr, const struct access_record **records)
{
    size_t lo = 0, hi = s->nrecords_of;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->records_of[mid].ptr < ptr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == s->nrecords_of || s->records_of[lo].ptr != ptr) {
        *records = NULL;
        return 0;
    }
    *records = s->records + s->records_of[lo].at;
    return s->records_of[lo].n;
}
