/* metrics.c — the OpenMetrics exposition of /metrics (see metrics.h). */
#include <string.h>
#include "metrics.h"
#include "arena.h"
#include "counts.h"
#include "out.h"
#include "sites.h"
#include "state.h"
#include "symbols.h"
#include "track.h"

#define LABEL_MAX 400

static void label_frame(struct out *o, const struct module_set *mods, uintptr_t ip)
{
    struct resolved r;
    symbols_resolve(mods, ip, &r);
    if (r.function) {
        out_str(o, r.function);
        out_str(o, "+");
        out_hex(o, r.function_offset);
    } else if (r.module >= 0) {
        const char *path = mods->items[r.module].path;
        const char *base = strrchr(path, '/');
        out_str(o, base ? base + 1 : path);
        out_str(o, "+");
        out_hex(o, r.offset);
    } else {
        out_hex(o, ip);
    }
}

void metrics_site_label(struct out *o, const struct module_set *mods, const struct site *site)
{
    char raw[LABEL_MAX];
    struct out r;
    out_init(&r, -1, raw, sizeof raw);
    if (site->nframes == 0)
        out_str(&r, "(sites over the limit)");
    for (unsigned i = 0; i < site->nframes; i++) {
        if (i)
            out_str(&r, " < ");
        label_frame(&r, mods, site->frames[i]);
    }
    /* the exposition format's three escapes; anything else that is not printable ASCII cannot be
     * trusted to be UTF-8 (symbol names are bytes) */
    for (size_t i = 0; i < r.len; i++) {
        unsigned char c = (unsigned char)raw[i];
        if (c == '\\' || c == '"')
            out_char(o, '\\'), out_char(o, (char)c);
        else if (c == '\n')
            out_str(o, "\\n");
        else
            out_char(o, c < 0x20 || c >= 0x7f ? '?' : (char)c);
    }
}

struct top_site {
    uint32_t idx;
    uint64_t bytes, blocks;
};

static void family(struct out *o, const char *name, const char *type, const char *help)
{
    out_str(o, "# TYPE ");
    out_str(o, name);
    out_char(o, ' ');
    out_str(o, type);
    out_str(o, "\n# HELP ");
    out_str(o, name);
    out_char(o, ' ');
    out_str(o, help);
    out_char(o, '\n');
}

static void sample(struct out *o, const char *name, const char *kind, uint64_t value)
{
    out_str(o, name);
    out_str(o, "{kind=\"");
    out_str(o, kind);
    out_str(o, "\"} ");
    out_u64(o, value);
    out_char(o, '\n');
}

static const char *const kind_names[] = { "heap", "mmap" };

static void site_series(struct out *o, const char *name, const struct module_set *mods,
                        const struct top_site *top, unsigned ntop, int blocks, uint64_t rest, int have_rest)
{
    for (unsigned i = 0; i < ntop; i++) {
        const struct site *s = site_get(top[i].idx);
        out_str(o, name);
        out_str(o, "{site=\"");
        metrics_site_label(o, mods, s);
        out_str(o, "\",kind=\"");
        out_str(o, kind_names[s->kind & 1]);
        out_str(o, "\",site_index=\"");
        out_u64(o, top[i].idx);
        out_str(o, "\"} ");
        out_u64(o, blocks ? top[i].blocks : top[i].bytes);
        out_char(o, '\n');
    }
    if (have_rest) {
        out_str(o, name);
        out_str(o, "{site=\"(all other sites)\",kind=\"all\",site_index=\"0\"} ");
        out_u64(o, rest);
        out_char(o, '\n');
    }
}

int metrics_write(int fd)
{
    struct module_set mods;
    memset(&mods, 0, sizeof mods);
    if (symbols_snapshot(&mods) < 0)
        return -1;
    track_settle_frees();
    uint32_t nsites = sites_count();
    size_t mapped = (size_t)nsites * sizeof(struct site_totals);
    struct site_totals *totals = arena_map(mapped);
    char *buf = arena_map(1 << 16);
    int rc = -1;
    if (!totals || !buf)
        goto done;
    counts_read_all(totals, nsites);
    struct site_totals sum[2];
    memset(sum, 0, sizeof sum);
    struct top_site top[METRICS_MAX_SITES];
    unsigned ntop = 0, live_sites = 0;
    uint64_t rest_bytes = 0, rest_blocks = 0;
    unsigned limit = shim_state.config.top < METRICS_MAX_SITES ? shim_state.config.top : METRICS_MAX_SITES;
    for (uint32_t i = 1; i < nsites; i++) {
        const struct site_totals *t = &totals[i];
        struct site_totals *k = &sum[site_get(i)->kind & 1];
        k->allocs += t->allocs;
        k->frees += t->frees;
        k->bytes_allocated += t->bytes_allocated;
        k->bytes_freed += t->bytes_freed;
        uint64_t bytes = t->bytes_allocated - t->bytes_freed, blocks = t->allocs - t->frees;
        if (blocks == 0 && bytes == 0)
            continue;
        live_sites++;
        struct top_site cand = { i, bytes, blocks };
        if (ntop == limit) {
            if (limit == 0 || top[ntop - 1].bytes >= bytes) {
                rest_bytes += bytes, rest_blocks += blocks;
                continue;
            }
            rest_bytes += top[ntop - 1].bytes, rest_blocks += top[ntop - 1].blocks;
            ntop--;
        }
        unsigned at = ntop++;
        while (at > 0 && top[at - 1].bytes < bytes) {
            top[at] = top[at - 1];
            at--;
        }
        top[at] = cand;
    }
    struct out o;
    out_init(&o, fd, buf, 1 << 16);
    family(&o, "leakwatch_live_bytes", "gauge", "Bytes allocated and not yet freed (heap blocks, tracked mappings).");
    for (int k = 0; k < 2; k++)
        sample(&o, "leakwatch_live_bytes", kind_names[k], sum[k].bytes_allocated - sum[k].bytes_freed);
    family(&o, "leakwatch_live_blocks", "gauge", "Blocks allocated and not yet freed.");
    for (int k = 0; k < 2; k++)
        sample(&o, "leakwatch_live_blocks", kind_names[k], sum[k].allocs - sum[k].frees);
    family(&o, "leakwatch_allocations", "counter", "Allocations since the program started.");
    for (int k = 0; k < 2; k++)
        sample(&o, "leakwatch_allocations_total", kind_names[k], sum[k].allocs);
    family(&o, "leakwatch_frees", "counter", "Frees of tracked blocks since the program started.");
    for (int k = 0; k < 2; k++)
        sample(&o, "leakwatch_frees_total", kind_names[k], sum[k].frees);
    family(&o, "leakwatch_allocated_bytes", "counter", "Bytes allocated since the program started.");
    for (int k = 0; k < 2; k++)
        sample(&o, "leakwatch_allocated_bytes_total", kind_names[k], sum[k].bytes_allocated);
    family(&o, "leakwatch_live_sites", "gauge", "Allocation sites with live blocks.");
    out_str(&o, "leakwatch_live_sites ");
    out_u64(&o, live_sites);
    out_char(&o, '\n');
    family(&o, "leakwatch_metadata_bytes", "gauge", "Memory leakwatch itself has mapped (not from the heap).");
    out_str(&o, "leakwatch_metadata_bytes ");
    out_u64(&o, arena_bytes_in_use());
    out_char(&o, '\n');
    family(&o, "leakwatch_site_live_bytes", "gauge",
           "Live bytes of the sites holding the most, innermost caller first; the rest summed.");
    site_series(&o, "leakwatch_site_live_bytes", &mods, top, ntop, 0, rest_bytes, live_sites > ntop);
    family(&o, "leakwatch_site_live_blocks", "gauge", "Live blocks of the same sites.");
    site_series(&o, "leakwatch_site_live_blocks", &mods, top, ntop, 1, rest_blocks, live_sites > ntop);
    out_str(&o, "# EOF\n");
    rc = out_flush(&o) == 0 ? 0 : -1;
done:
    if (buf)
        arena_unmap(buf, 1 << 16);
    if (totals)
        arena_unmap(totals, mapped);
    symbols_release(&mods);
    return rc;
}
