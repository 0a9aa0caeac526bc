/* report.c — building and writing a report (see report.h).
 * The snapshot copies each shard under its lock (a memcpy of that shard), then everything else —
 * grouping, sorting, naming, writing — runs with no shim lock held, so the program's threads are held
 * up only for those copies. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "report.h"
#include "arena.h"
#include "blocks.h"
#include "late.h"
#include "log.h"
#include "out.h"
#include "rank.h"
#include "residency.h"
#include "counts.h"
#include "jvm.h"
#include "regions.h"
#include "sites.h"
#include "sort.h"
#include "stacks.h"
#include "state.h"
#include "symbols.h"
#include "track.h"

const char *report_reason_name(enum report_reason reason)
{
    static const char *const names[] = { "signal", "exit", "interval", "api", "http" };
    return names[reason];
}

/* A live block or region reduced to what grouping needs. */
struct item {
    uint64_t key;                   /* site << 24 | own stack (0: none); then the group key */
    uint64_t size;
    uint64_t birth : 63;
    uint64_t unstacked : 1;         /* no stack of its own: grouped under the site's representative */
    uintptr_t ptr;
    uint64_t untouched;             /* bytes of a mapping in pages that hold no memory (residency.h) */
};

struct group {
    uint64_t key;
    uint64_t blocks, bytes;
    uint64_t unstacked;             /* blocks shown under the representative stack */
    uint64_t oldest_birth;
    uintptr_t oldest_ptr;
    int64_t delta;
    int had_previous;
};

struct site_sum {
    uint64_t live_bytes, live_blocks;
    uint64_t untouched_bytes;       /* reserved or never touched: part of live_bytes, never a leak */
    uint64_t oldest_birth;
    uint32_t first_group, ngroups;
};

struct previous_group { uint64_t key, bytes; };

static struct {
    struct previous_group *groups;
    size_t count, mapped;
    unsigned seq;
} previous;

void report_reset_history(void)
{
    previous.groups = NULL;          /* the mapping belongs to the parent's series; a child just forgets it */
    previous.count = previous.mapped = 0;
    previous.seq = 0;
}

static inline uint32_t key_site(uint64_t key) { return (uint32_t)(key >> 24); }
static inline uint32_t key_stack(uint64_t key) { return (uint32_t)(key & 0xffffff); }

/* In a JVM, the compiled versions of one Java path are one site and one stack (jvm.h). */
static inline uint64_t logical_key(uint64_t key)
{
    return ((uint64_t)jvm_canonical_site(key_site(key)) << 24) | jvm_canonical_stack(key_stack(key));
}

static int cmp_item(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->birth < y->birth ? -1 : x->birth > y->birth;
}

static int cmp_group_in_site(const void *a, const void *b)
{
    const struct group *x = a, *y = b;
    if (key_site(x->key) != key_site(y->key))
        return key_site(x->key) < key_site(y->key) ? -1 : 1;
    return x->bytes > y->bytes ? -1 : x->bytes < y->bytes;
}

/* Sorting helpers for index arrays need the arrays they index; reports are serialised. */
static const struct group *sort_groups;
static const struct site_sum *sort_sums;

static struct rank_entry group_rank(const struct group *g)
{
    return (struct rank_entry){ .growth = rank_growth(previous.seq != 0, g->had_previous, g->bytes, g->delta),
                                .bytes = g->bytes, .key = g->key };
}

static int cmp_group_index(const void *a, const void *b)
{
    struct rank_entry x = group_rank(&sort_groups[*(const uint32_t *)a]);
    struct rank_entry y = group_rank(&sort_groups[*(const uint32_t *)b]);
    return rank_compare(&x, &y);
}

static int cmp_site_index(const void *a, const void *b)
{
    uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    if (sort_sums[i].live_bytes != sort_sums[j].live_bytes)
        return sort_sums[i].live_bytes > sort_sums[j].live_bytes ? -1 : 1;
    return i < j ? -1 : i > j;
}

struct snapshot {
    struct module_set modules;
    struct item *items;
    size_t nitems, items_mapped;
    struct site_sum *sums;
    uint32_t nsites;
    size_t sums_mapped;
    struct group *groups;
    size_t ngroups, groups_mapped;
    uint32_t *order;                /* group indexes, largest first */
    uint32_t *site_order;           /* sites with live blocks, largest first */
    uint32_t nlive_sites;
    uint64_t now;                   /* ms since start */
    uint64_t heap_bytes, heap_blocks, map_bytes, map_regions;
    uint64_t map_untouched_bytes;   /* of map_bytes: reserved or never touched */
    int untouched_swap_unseen;      /* swap in use and unreadable: swapped-out pages counted untouched */
    uint64_t min_age_ms;
    uint64_t metadata_bytes;
    struct site_totals *totals;     /* per site, summed over threads once for the whole report */
    size_t totals_mapped;
};

/* Ages never go negative, even for a record made by another thread after the clock was read. */
static inline uint64_t age(const struct snapshot *s, uint64_t birth)
{
    return s->now > birth ? s->now - birth : 0;
}

static int grow_items(struct snapshot *s, size_t need)
{
    if (need * sizeof(struct item) <= s->items_mapped)
        return 0;
    size_t bytes = need * sizeof(struct item) * 5 / 4 + 65536;
    struct item *bigger = arena_map(bytes);
    if (!bigger)
        return -1;
    memcpy(bigger, s->items, s->nitems * sizeof(struct item));
    arena_unmap(s->items, s->items_mapped);
    s->items = bigger;
    s->items_mapped = bytes;
    return 0;
}

static int collect_blocks(struct snapshot *s)
{
    size_t cap = blocks_count() + 4096;
    struct block_view *scratch = arena_map(cap * sizeof *scratch);
    if (!scratch)
        return -1;
    for (unsigned shard = 0; shard < BLOCKS_SHARDS; shard++) {
        size_t n;
        while ((n = blocks_copy_shard(shard, scratch, cap, s->now)) > cap) {
            arena_unmap(scratch, cap * sizeof *scratch);
            cap = n * 2;
            if (!(scratch = arena_map(cap * sizeof *scratch)))
                return -1;
        }
        if (grow_items(s, s->nitems + n) < 0) {
            arena_unmap(scratch, cap * sizeof *scratch);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            const struct block_view *b = &scratch[i];
            s->items[s->nitems++] = (struct item){ .key = ((uint64_t)b->site << 24) | b->stack,
                                                   .size = b->size, .birth = b->birth, .ptr = b->ptr };
        }
    }
    arena_unmap(scratch, cap * sizeof *scratch);
    return 0;
}

static int collect_regions(struct snapshot *s)
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
    int rc = grow_items(s, s->nitems + n);
    struct residency pages;
    residency_begin(&pages);        /* without memory for it every byte counts as touched */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const struct region *r = &scratch[i];
        s->items[s->nitems++] = (struct item){ .key = ((uint64_t)r->site << 24) | r->stack, .size = r->len,
                                               .birth = r->birth, .ptr = r->start,
                                               .untouched = r->heap ? 0 : residency_untouched(&pages, r->start,
                                                                                              r->len) };
    }
    s->untouched_swap_unseen = pages.swap_unseen;
    residency_end(&pages);
    arena_unmap(scratch, cap * sizeof *scratch);
    return rc;
}

/* Groups an item by its own stack; an item without one joins its site's representative stack and is
 * counted as such, so the record can say how many of its blocks were not unwound one by one. */
static void assign_group(struct item *it)
{
    uint32_t site = key_site(it->key), stack = key_stack(it->key);
    it->unstacked = stack == 0;
    if (stack == 0)
        stack = atomic_load_explicit(&site_get(site)->rep_stack, memory_order_relaxed);
    it->key = ((uint64_t)site << 24) | stack;
}

static uint64_t previous_bytes(uint64_t key, int *found)
{
    size_t lo = 0, hi = previous.count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (previous.groups[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < previous.count && previous.groups[lo].key == key;
    return *found ? previous.groups[lo].bytes : 0;
}

static int build(struct snapshot *s)
{
    s->nsites = sites_count();
    s->sums_mapped = (size_t)s->nsites * sizeof *s->sums;
    s->sums = arena_map(s->sums_mapped);
    if (!s->sums)
        return -1;
    size_t nold = 0;
    for (size_t i = 0; i < s->nitems; i++) {
        struct item *it = &s->items[i];
        it->key = logical_key(it->key);
        uint32_t site = key_site(it->key);
        if (site >= s->nsites)
            continue;               /* a site born after we counted: next report */
        struct site_sum *sum = &s->sums[site];
        if (sum->live_blocks == 0 || it->birth < sum->oldest_birth)
            sum->oldest_birth = it->birth;
        sum->live_bytes += it->size;
        sum->live_blocks++;
        sum->untouched_bytes += it->untouched;
        if (site_get(site)->kind == KIND_HEAP) {
            s->heap_bytes += it->size;
            s->heap_blocks++;
        } else {
            s->map_bytes += it->size;
            s->map_regions++;
            s->map_untouched_bytes += it->untouched;
        }
        /* untouched address space holds no memory: it is never a leak candidate, and a mapping's record
         * counts only its touched bytes */
        if (age(s, it->birth) >= s->min_age_ms && (it->untouched == 0 || it->size > it->untouched)) {
            it->size -= it->untouched;
            assign_group(it);
            it->key = logical_key(it->key);
            s->items[nold++] = *it;  /* items are used for grouping only from here on */
        }
    }
    s->nitems = nold;
    lw_sort(s->items, s->nitems, sizeof *s->items, cmp_item);
    s->groups_mapped = (s->nitems + 1) * (sizeof(struct group) + sizeof(uint32_t));
    s->groups = arena_map(s->groups_mapped);
    if (!s->groups)
        return -1;
    for (size_t i = 0; i < s->nitems; i++) {
        const struct item *it = &s->items[i];
        if (s->ngroups == 0 || s->groups[s->ngroups - 1].key != it->key)
            s->groups[s->ngroups++] = (struct group){ .key = it->key, .oldest_birth = it->birth,
                                                      .oldest_ptr = it->ptr };
        struct group *g = &s->groups[s->ngroups - 1];
        g->blocks++;
        g->bytes += it->size;
        g->unstacked += it->unstacked;
    }
    for (size_t i = 0; i < s->ngroups; i++) {
        struct group *g = &s->groups[i];
        g->delta = (int64_t)g->bytes - (int64_t)previous_bytes(g->key, &g->had_previous);
    }
    lw_sort(s->groups, s->ngroups, sizeof *s->groups, cmp_group_in_site);
    for (size_t i = 0; i < s->ngroups; i++) {
        struct site_sum *sum = &s->sums[key_site(s->groups[i].key)];
        if (sum->ngroups++ == 0)
            sum->first_group = (uint32_t)i;
    }
    s->order = (uint32_t *)(s->groups + s->nitems + 1);
    for (size_t i = 0; i < s->ngroups; i++)
        s->order[i] = (uint32_t)i;
    sort_groups = s->groups;
    lw_sort(s->order, s->ngroups, sizeof *s->order, cmp_group_index);
    /* the site order reuses the items mapping, which grouping no longer needs */
    if (s->items_mapped < s->nsites * sizeof(uint32_t) && grow_items(s, s->nsites) < 0)
        return -1;
    s->site_order = (uint32_t *)s->items;
    for (uint32_t i = 1; i < s->nsites; i++)
        if (s->sums[i].live_blocks)
            s->site_order[s->nlive_sites++] = i;
    sort_sums = s->sums;
    lw_sort(s->site_order, s->nlive_sites, sizeof *s->site_order, cmp_site_index);
    return 0;
}

/* Keeps this report's group sizes for the next report's "since report #N". */
static void remember(const struct snapshot *s, unsigned seq)
{
    arena_unmap(previous.groups, previous.mapped);
    previous.count = 0;
    previous.mapped = (s->ngroups + 1) * sizeof *previous.groups;
    previous.groups = arena_map(previous.mapped);
    if (!previous.groups) {
        previous.mapped = 0;
        return;
    }
    for (size_t i = 0; i < s->ngroups; i++)
        previous.groups[previous.count++] = (struct previous_group){ s->groups[i].key, s->groups[i].bytes };
    /* sorted by key for previous_bytes(): groups are sorted by site then size */
    for (size_t i = 1; i < previous.count; i++) {
        struct previous_group g = previous.groups[i];
        size_t j = i;
        while (j > 0 && previous.groups[j - 1].key > g.key) {
            previous.groups[j] = previous.groups[j - 1];
            j--;
        }
        previous.groups[j] = g;
    }
    previous.seq = seq;
}

static void release(struct snapshot *s)
{
    symbols_release(&s->modules);
    arena_unmap(s->items, s->items_mapped);
    arena_unmap(s->sums, s->sums_mapped);
    arena_unmap(s->groups, s->groups_mapped);
    arena_unmap(s->totals, s->totals_mapped);
}

/* ---- naming ---------------------------------------------------------------------------------- */

/* C++ names are shown demangled when the process has libstdc++ loaded (the JVM has): its demangler
 * allocates with malloc, which passes through untracked since the guard is set. */
typedef char *(*demangle_fn)(const char *, char *, size_t *, int *);

static struct {
    demangle_fn fn;
    char *buf;
    size_t len;
    int looked_up;
} demangler;

static const char *readable_name(const char *name)
{
    if (name[0] != '_' || name[1] != 'Z')
        return name;
    if (!demangler.looked_up) {
        demangler.looked_up = 1;
        demangler.fn = (demangle_fn)dlsym(RTLD_DEFAULT, "__cxa_demangle");
    }
    if (!demangler.fn)
        return name;
    int status = -1;
    char *out = demangler.fn(name, demangler.buf, &demangler.len, &status);
    if (status != 0 || !out)
        return name;
    demangler.buf = out;
    return out;
}

static const char *module_label(const struct snapshot *s, int module)
{
    return module >= 0 ? s->modules.items[module].path : "";
}

static void text_frame(struct out *o, const struct snapshot *s, uintptr_t ip)
{
    struct resolved r;
    symbols_resolve(&s->modules, ip, &r);
    out_str(o, "\t");
    out_hex_padded(o, ip, 16);
    out_char(o, ' ');
    if (r.function) {
        out_text(o, readable_name(r.function));
        out_str(o, "+");
        out_hex(o, r.function_offset);
    } else {
        out_str(o, "??");
    }
    if (r.module >= 0) {
        out_str(o, " (");
        out_text(o, module_label(s, r.module));
        out_char(o, '+');
        out_hex(o, r.offset);
        out_str(o, ")\n");
    } else {
        out_str(o, r.function ? " (JIT)\n" : " (unknown)\n");
    }
}

static void json_frame(struct out *o, const struct snapshot *s, uintptr_t ip)
{
    struct resolved r;
    symbols_resolve(&s->modules, ip, &r);
    out_str(o, "{\"ip\":\"");
    out_hex(o, ip);
    out_str(o, "\",\"module\":");
    out_i64(o, r.module);
    if (r.module >= 0) {
        out_str(o, ",\"offset\":\"");
        out_hex(o, r.offset);
        out_char(o, '"');
    }
    if (r.function) {
        out_str(o, ",\"function\":");
        out_json_str(o, readable_name(r.function));
        out_str(o, ",\"function_offset\":\"");
        out_hex(o, r.function_offset);
        out_char(o, '"');
    }
    out_char(o, '}');
}

static void text_native_frame(struct out *o, const void *s, uintptr_t ip) { text_frame(o, s, ip); }
static void json_native_frame(struct out *o, const void *s, uintptr_t ip) { json_frame(o, s, ip); }

static void json_frames(struct out *o, const struct snapshot *s, const uintptr_t *frames, unsigned n)
{
    out_char(o, '[');
    for (unsigned i = 0; i < n; i++) {
        if (i)
            out_char(o, ',');
        json_frame(o, s, frames[i]);
    }
    out_char(o, ']');
}

/* FNV-1a over (module build-id or path, offset) of each frame: the same for every run of the same
 * binaries, whatever their load addresses. */
static uint64_t stable_site_id(const struct snapshot *s, const struct site *site)
{
    uint64_t h = 0xcbf29ce484222325ull;
#define MIX(byte) (h = (h ^ (unsigned char)(byte)) * 0x100000001b3ull)
    MIX(site->kind);
    for (unsigned i = 0; i < site->nframes; i++) {
        int m = symbols_module_of(&s->modules, site->frames[i] - 1);
        uint64_t value = site->frames[i];
        if (m >= 0) {
            const struct module *mod = &s->modules.items[m];
            const char *name = mod->build_id[0] ? mod->build_id : mod->path;
            for (const char *p = name; *p; p++)
                MIX(*p);
            value -= mod->base;
        }
        for (int k = 0; k < 8; k++)
            MIX(value >> (8 * k));
    }
#undef MIX
    return h;
}

/* The creation stack shown for a group (decoded into buf), or the site's key frames when no full stack
 * was kept. */
static void group_stack(const struct group *g, uintptr_t buf[CONFIG_MAX_DEPTH], const uintptr_t **frames,
                        unsigned *n)
{
    const struct site *site = site_get(key_site(g->key));
    *n = stacks_copy(key_stack(g->key), buf, CONFIG_MAX_DEPTH);
    if (*n) {
        *frames = buf;
    } else {
        *frames = site->frames;
        *n = site->nframes;
    }
}

static void out_age(struct out *o, uint64_t ms)
{
    out_tenths(o, ms / 100);
    out_str(o, " s");
}

/* ---- text ------------------------------------------------------------------------------------ */

static void text_access_records(struct out *o, const struct snapshot *s, const struct group *g)
{
    struct access_record recs[CONFIG_MAX_RECORDS];
    unsigned n = blocks_copy_records(g->oldest_ptr, recs, lw.config.records);
    out_str(o, "Recent access records: \n");
    for (unsigned i = 0; i < n; i++) {
        out_char(o, '#');
        out_u64(o, i + 1);
        out_str(o, ":\n\tHint: realloc ");
        out_u64_grouped(o, recs[i].old_size);
        out_str(o, " -> ");
        out_u64_grouped(o, recs[i].new_size);
        out_str(o, " bytes, ");
        out_age(o, age(s, recs[i].when_ms));
        out_str(o, " ago, thread ");
        out_u64(o, recs[i].thread);
        out_char(o, '\n');
        const struct site *at = site_get(recs[i].site);
        if (jvm_write_site_frames(o, recs[i].site, 0, text_native_frame, s))
            continue;
        for (unsigned f = 0; f < at->nframes; f++)
            text_frame(o, s, at->frames[f]);
    }
}

static void text_record(struct out *o, const struct snapshot *s, const struct group *g)
{
    out_str(o, "LEAK: ");
    out_u64_grouped(o, g->blocks);
    out_str(o, g->blocks == 1 ? " block (" : " blocks (");
    out_bytes_human(o, g->bytes);
    out_str(o, g->blocks == 1 ? ") allocated here is still live; " : ") allocated here are still live; ");
    out_str(o, g->blocks == 1 ? "it is " : "the oldest is ");
    out_age(o, age(s, g->oldest_birth));
    out_str(o, " old");
    if (previous.seq) {
        out_str(o, "; ");
        if (!g->had_previous) {
            out_str(o, "new");
        } else if (g->delta == 0) {
            out_str(o, "unchanged");
        } else {
            out_char(o, g->delta > 0 ? '+' : '-');
            out_bytes_human(o, (uint64_t)(g->delta > 0 ? g->delta : -g->delta));
        }
        out_str(o, " since report #");
        out_u64(o, previous.seq);
    }
    out_str(o, ".\n");
    if (site_get(key_site(g->key))->kind == KIND_MMAP)
        out_str(o, "Kind: anonymous mapping (mmap)\n");
    text_access_records(o, s, g);
    uintptr_t stack_buf[CONFIG_MAX_DEPTH];
    const uintptr_t *frames;
    unsigned n;
    group_stack(g, stack_buf, &frames, &n);
    if (key_stack(g->key) == 0) {
        out_str(o, "Created at (no full stack was kept for this site; these are its first frames):\n");
    } else if (g->unstacked) {
        out_str(o, "Created at (the site's representative stack: ");
        out_u64_grouped(o, g->unstacked);
        out_str(o, " of these ");
        out_u64_grouped(o, g->blocks);
        out_str(o, g->blocks == 1 ? " block was" : " blocks were");
        out_str(o, " not unwound one by one and are shown here");
        uint32_t others = s->sums[key_site(g->key)].ngroups - 1;
        if (others) {
            /* their blocks may well have been made by those other paths */
            out_str(o, "; the site is also reached by ");
            out_u64_grouped(o, others);
            out_str(o, others == 1 ? " other stack, in its own record" : " other stacks, in their own records");
        }
        out_str(o, "):\n");
    } else {
        out_str(o, "Created at:\n");
    }
    if (jvm_write_stack_frames(o, key_stack(g->key), 0, text_native_frame, s) ||
        (!key_stack(g->key) && jvm_write_site_frames(o, key_site(g->key), 0, text_native_frame, s)))
        return;
    for (unsigned i = 0; i < n; i++)
        text_frame(o, s, frames[i]);
}

/* How much of the mappings is address space without memory, which no record counts. */
static void text_untouched_note(struct out *o, const struct snapshot *s)
{
    if (s->map_untouched_bytes == 0)
        return;
    out_str(o, " (");
    out_bytes_human(o, s->map_untouched_bytes);
    out_str(o, " of it reserved or never touched, not counted in leak records");
    if (s->untouched_swap_unseen)
        out_str(o, "; swap is in use and /proc/self/pagemap unreadable, so swapped-out pages are counted here");
    out_char(o, ')');
}

static void text_order_note(struct out *o)
{
    out_str(o, ", grouped by creation stack; ");
    if (previous.seq) {
        out_str(o, "records that grew since report #");
        out_u64(o, previous.seq);
        out_str(o, " first, largest growth first, then the largest.\n");
    } else {
        out_str(o, "largest first.\n");
    }
}

static void text_report(struct out *o, const struct snapshot *s, enum report_reason reason, unsigned seq,
                        const char *program, const char *when)
{
    char num[24];
    out_str(o, "leakwatch report #");
    out_u64(o, seq);
    out_str(o, " (");
    out_str(o, report_reason_name(reason));
    out_str(o, ") for ");
    out_text(o, program);
    out_str(o, " [pid ");
    out_str(o, log_num(num, (uint64_t)lw.pid));
    out_str(o, "], ");
    out_str(o, when);
    out_str(o, ", uptime ");
    out_age(o, s->now);
    out_str(o, "\nLive heap: ");
    out_bytes_human(o, s->heap_bytes);
    out_str(o, " (");
    out_u64_grouped(o, s->heap_bytes);
    out_str(o, " bytes) in ");
    out_u64_grouped(o, s->heap_blocks);
    out_str(o, " blocks; live mappings: ");
    out_bytes_human(o, s->map_bytes);
    out_str(o, " in ");
    out_u64_grouped(o, s->map_regions);
    out_str(o, " regions");
    text_untouched_note(o, s);
    out_str(o, "; ");
    out_u64_grouped(o, s->nlive_sites);
    out_str(o, " sites with live memory; untracked frees: ");
    out_u64_grouped(o, track_untracked_frees());
    late_report_text(o);
    out_str(o, "\nLeak records: live blocks older than ");
    out_age(o, s->min_age_ms);
    text_order_note(o);
    unsigned shown = s->ngroups < lw.config.top ? (unsigned)s->ngroups : lw.config.top;
    if (s->ngroups == 0)
        out_str(o, "\nNo live blocks are that old.\n");
    for (unsigned i = 0; i < shown; i++) {
        out_char(o, '\n');
        text_record(o, s, &s->groups[s->order[i]]);
    }
    if (s->ngroups > shown) {
        out_str(o, "\n: ");
        out_u64_grouped(o, s->ngroups - shown);
        out_str(o, " leak records were discarded because the leak record count is targeted to ");
        out_u64(o, lw.config.top);
        out_str(o, ". Use LEAKWATCH_TOP to increase the limit.\n");
    }
}

/* ---- JSON ------------------------------------------------------------------------------------ */

static void json_kv_u64(struct out *o, const char *key, uint64_t v, int comma)
{
    if (comma)
        out_char(o, ',');
    out_json_key(o, key);
    out_u64(o, v);
}

static void json_config(struct out *o)
{
    const struct lw_config *c = &lw.config;
    out_str(o, "{\"out\":");
    out_json_str(o, c->out);
    out_str(o, ",\"signal\":");
    out_json_str(o, c->signal_name);
    json_kv_u64(o, "interval_ms", c->interval_ms, 1);
    json_kv_u64(o, "min_age_ms", c->min_age_ms, 1);
    json_kv_u64(o, "top", c->top, 1);
    json_kv_u64(o, "depth", c->depth, 1);
    json_kv_u64(o, "records", c->records, 1);
    out_str(o, ",\"mmap\":");
    out_json_str(o, c->mmap_all ? "all" : "anon");
    out_str(o, c->quiet ? ",\"quiet\":true" : ",\"quiet\":false");
    json_kv_u64(o, "site_depth", c->site_depth, 1);
    json_kv_u64(o, "sample", c->sample, 1);
    out_char(o, '}');
}

static void json_group(struct out *o, const struct snapshot *s, const struct group *g)
{
    json_kv_u64(o, "blocks", g->blocks, 0);
    json_kv_u64(o, "bytes", g->bytes, 1);
    json_kv_u64(o, "oldest_age_ms", age(s, g->oldest_birth), 1);
    uintptr_t stack_buf[CONFIG_MAX_DEPTH];
    const uintptr_t *frames;
    unsigned n;
    group_stack(g, stack_buf, &frames, &n);
    out_str(o, g->unstacked ? ",\"stack\":\"representative\"" : ",\"stack\":\"own\"");
    json_kv_u64(o, "unstacked_blocks", g->unstacked, 1);
    if (previous.seq) {
        out_str(o, ",\"since_previous_bytes\":");
        out_i64(o, g->delta);
    }
    out_str(o, ",\"created_at\":");
    if (!jvm_write_stack_frames(o, key_stack(g->key), 1, json_native_frame, s) &&
        !(!key_stack(g->key) && jvm_write_site_frames(o, key_site(g->key), 1, json_native_frame, s)))
        json_frames(o, s, frames, n);
    out_str(o, ",\"recent_access\":[");
    struct access_record recs[CONFIG_MAX_RECORDS];
    unsigned nrec = blocks_copy_records(g->oldest_ptr, recs, lw.config.records);
    for (unsigned i = 0; i < nrec; i++) {
        out_str(o, i ? ",{\"kind\":\"realloc\"" : "{\"kind\":\"realloc\"");
        json_kv_u64(o, "age_ms", age(s, recs[i].when_ms), 1);
        json_kv_u64(o, "thread", recs[i].thread, 1);
        out_str(o, ",\"detail\":\"");
        out_u64(o, recs[i].old_size);
        out_str(o, " -> ");
        out_u64(o, recs[i].new_size);
        out_str(o, "\",\"frames\":");
        const struct site *at = site_get(recs[i].site);
        if (!jvm_write_site_frames(o, recs[i].site, 1, json_native_frame, s))
            json_frames(o, s, at->frames, at->nframes);
        out_char(o, '}');
    }
    out_str(o, "]}");
}

static void json_site(struct out *o, const struct snapshot *s, uint32_t idx)
{
    const struct site *site = site_get(idx);
    const struct site_sum *sum = &s->sums[idx];
    const struct site_totals *t = &s->totals[idx];
    out_str(o, "{\"id\":\"");
    uint64_t java_id = jvm_site_id(idx);
    out_hex_digits(o, java_id ? java_id : stable_site_id(s, site), 16);
    out_str(o, site->kind == KIND_HEAP ? "\",\"kind\":\"heap\"" : "\",\"kind\":\"mmap\"");
    json_kv_u64(o, "live_bytes", sum->live_bytes, 1);
    json_kv_u64(o, "live_blocks", sum->live_blocks, 1);
    json_kv_u64(o, "reserved_untouched_bytes", sum->untouched_bytes, 1);
    json_kv_u64(o, "allocs", t->allocs, 1);
    json_kv_u64(o, "frees", t->frees, 1);
    json_kv_u64(o, "bytes_allocated", t->bytes_allocated, 1);
    json_kv_u64(o, "oldest_age_ms", age(s, sum->oldest_birth), 1);
    if (idx <= SITE_OVERFLOW_MMAP)
        out_str(o, ",\"overflow\":true");
    if (java_id)
        json_kv_u64(o, "raw_sites", jvm_merged_sites(idx), 1);
    out_str(o, ",\"frames\":");
    if (!jvm_write_site_frames(o, idx, 1, json_native_frame, s))
        json_frames(o, s, site->frames, site->nframes);
    out_str(o, ",\"leaks\":[");
    for (uint32_t i = 0; i < sum->ngroups; i++) {
        out_str(o, i ? ",{" : "{");
        json_group(o, s, &s->groups[sum->first_group + i]);
    }
    out_str(o, "]}");
}

static void json_cmdline(struct out *o)
{
    char buf[4096], proc[40];
    int fd = open(lw_proc_path("cmdline", proc, sizeof proc), O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    out_char(o, '[');
    if (n > 0) {
        buf[n] = '\0';
        int first = 1;
        for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1) {
            if (!first)
                out_char(o, ',');
            out_json_str(o, buf + i);
            first = 0;
        }
    }
    out_char(o, ']');
}

static void json_report(struct out *o, const struct snapshot *s, enum report_reason reason, unsigned seq,
                        const char *program, const char *when)
{
    uint64_t allocs = 0, frees = 0, bytes_allocated = 0;
    for (uint32_t i = 1; i < s->nsites; i++) {
        if (site_get(i)->kind != KIND_HEAP)
            continue;
        allocs += s->totals[i].allocs;
        frees += s->totals[i].frees;
        bytes_allocated += s->totals[i].bytes_allocated;
    }
    out_str(o, "{\"format\":\"leakwatch-report\",\"version\":2");
    json_kv_u64(o, "pid", (uint64_t)lw.pid, 1);
    json_kv_u64(o, "ppid", (uint64_t)getppid(), 1);
    out_str(o, ",\"program\":");
    out_json_str(o, program);
    out_str(o, ",\"cmdline\":");
    json_cmdline(o);
    out_str(o, ",\"reason\":");
    out_json_str(o, report_reason_name(reason));
    json_kv_u64(o, "seq", seq, 1);
    json_kv_u64(o, "previous_seq", previous.seq, 1);
    out_str(o, ",\"time\":");
    out_json_str(o, when);
    json_kv_u64(o, "uptime_ms", s->now, 1);
    late_report_json(o);
    out_str(o, ",\"config\":");
    json_config(o);
    out_str(o, ",\"totals\":{");
    json_kv_u64(o, "live_bytes", s->heap_bytes, 0);
    json_kv_u64(o, "live_blocks", s->heap_blocks, 1);
    json_kv_u64(o, "allocs", allocs, 1);
    json_kv_u64(o, "frees", frees, 1);
    json_kv_u64(o, "bytes_allocated", bytes_allocated, 1);
    json_kv_u64(o, "mmap_live_bytes", s->map_bytes, 1);
    json_kv_u64(o, "mmap_live_regions", s->map_regions, 1);
    json_kv_u64(o, "reserved_untouched_bytes", s->map_untouched_bytes, 1);
    json_kv_u64(o, "untracked_frees", track_untracked_frees(), 1);
    json_kv_u64(o, "sites", s->nsites - 1, 1);
    json_kv_u64(o, "stacks", stacks_count(), 1);
    json_kv_u64(o, "stack_bytes", stacks_bytes(), 1);
    json_kv_u64(o, "stacks_dropped", stacks_dropped(), 1);
    json_kv_u64(o, "metadata_bytes", s->metadata_bytes, 1);
    out_str(o, "},\"modules\":[");
    for (unsigned i = 0; i < s->modules.count; i++) {
        const struct module *m = &s->modules.items[i];
        out_str(o, i ? ",{\"id\":" : "{\"id\":");
        out_u64(o, i);
        out_str(o, ",\"path\":");
        out_json_str(o, m->path);
        out_str(o, ",\"base\":\"");
        out_hex(o, m->base);
        out_str(o, "\",\"build_id\":");
        out_json_str(o, m->build_id);
        out_char(o, '}');
    }
    out_str(o, "],\"sites\":[");
    for (uint32_t i = 0; i < s->nlive_sites; i++) {
        if (i)
            out_char(o, ',');
        json_site(o, s, s->site_order[i]);
    }
    out_str(o, "]}\n");
}

static void format_time(char *dst, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    struct out o;
    out_init(&o, -1, dst, cap - 1);
    const int parts[] = { tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec };
    const char seps[] = "--T::";
    for (int i = 0; i < 6; i++) {
        if (i == 0)
            out_u64(&o, (uint64_t)parts[i]);
        else
            out_char(&o, seps[i - 1]), out_char(&o, (char)('0' + parts[i] / 10)), out_char(&o, (char)('0' + parts[i] % 10));
    }
    long ms = ts.tv_nsec / 1000000;
    out_char(&o, '.');
    out_char(&o, (char)('0' + ms / 100));
    out_char(&o, (char)('0' + ms / 10 % 10));
    out_char(&o, (char)('0' + ms % 10));
    out_char(&o, 'Z');
    dst[o.len] = '\0';
}

/* A site merged into its canonical one (jvm.h) adds its counts there, so every sum stays exact. */
static void fold_totals(struct snapshot *s)
{
    for (uint32_t i = SITE_OVERFLOW_MMAP + 1; i < s->nsites; i++) {
        uint32_t c = jvm_canonical_site(i);
        if (c == i || c >= s->nsites)
            continue;
        s->totals[c].allocs += s->totals[i].allocs;
        s->totals[c].frees += s->totals[i].frees;
        s->totals[c].bytes_allocated += s->totals[i].bytes_allocated;
        s->totals[c].bytes_freed += s->totals[i].bytes_freed;
        s->totals[i] = (struct site_totals){ 0 };
    }
}

int report_write(enum report_reason reason, unsigned seq, uint64_t min_age_ms, int txt_fd, int json_fd,
                 struct report_summary *summary)
{
    /* Java paths named before anything is copied: names need the JVM, which may be slow or gone at exit */
    jvm_prepare_report(reason == REASON_EXIT ? 200 : 5000);
    struct snapshot s;
    memset(&s, 0, sizeof s);
    s.min_age_ms = min_age_ms;
    s.metadata_bytes = arena_bytes_in_use();   /* before this report's scratch memory */
    /* modules first: dl_iterate_phdr takes the loader's lock, which must never be taken inside ours */
    if (symbols_snapshot(&s.modules) < 0)
        return ENOMEM;
    int rc = ENOMEM;
    track_settle_frees();
    s.now = lw_now_ms() - lw.start_ms;         /* what the copies read block births against */
    if (collect_blocks(&s) < 0 || collect_regions(&s) < 0)
        goto done;
    /* after the copies: every block in them was born before "now" */
    s.now = lw_now_ms() - lw.start_ms;
    if (build(&s) < 0)
        goto done;
    s.totals_mapped = (size_t)s.nsites * sizeof *s.totals;
    if (!(s.totals = arena_map(s.totals_mapped)))
        goto done;
    counts_read_all(s.totals, s.nsites);
    fold_totals(&s);
    char program[512], when[40], proc[40];
    ssize_t n = readlink(lw_proc_path("exe", proc, sizeof proc), program, sizeof program - 1);
    program[n > 0 ? n : 0] = '\0';
    format_time(when, sizeof when);
    size_t bufsize = 1 << 16;
    char *buf = arena_map(bufsize);
    if (!buf)
        goto done;
    struct out o;
    out_init(&o, txt_fd, buf, bufsize);
    text_report(&o, &s, reason, seq, program, when);
    rc = out_flush(&o);
    if (rc == 0) {
        out_init(&o, json_fd, buf, bufsize);
        json_report(&o, &s, reason, seq, program, when);
        rc = out_flush(&o);
    }
    arena_unmap(buf, bufsize);
    if (summary) {
        summary->live_bytes = s.heap_bytes;
        summary->live_blocks = s.heap_blocks;
        summary->leak_records = s.ngroups;
    }
    if (rc == 0 && reason != REASON_HTTP)
        remember(&s, seq);
done:
    release(&s);
    return rc;
}
