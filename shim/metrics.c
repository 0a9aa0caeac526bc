/* metrics.c — the OpenMetrics exposition of /metrics (see metrics.h). */
#include <string.h>
#include "metrics.h"
#include "arena.h"
#include "out.h"
#include "sites.h"
#include "state.h"
#include "symbols.h"
#include "config.h"
#include "scrape.h"

#define LABEL_MAX 1024

static void label_native(struct out *o, const struct module_set *mods, uintptr_t ip)
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

/* The exposition format's three escapes; anything else that is not printable ASCII cannot be trusted
 * to be UTF-8 (symbol names are bytes). */
static void label_value(struct out *o, const char *raw, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)raw[i];
        if (c == '\\' || c == '"')
            out_char(o, '\\'), out_char(o, (char)c);
        else if (c == '\n')
            out_str(o, "\\n");
        else
            out_char(o, c < 0x20 || c >= 0x7f ? '?' : (char)c);
    }
}

/* Frames innermost first, joined by " < ". A site reached from Java shows its Java frames only: the
 * JVM's native frames below them (os::malloc, Unsafe_AllocateMemory0) are the same for every such site. */
static void label_frames(struct out *o, const struct module_set *mods, const struct scrape_frame *frames,
                         unsigned n)
{
    char raw[LABEL_MAX];
    struct out r;
    out_init(&r, -1, raw, sizeof raw);
    int java = 0;
    for (unsigned i = 0; i < n; i++)
        java |= frames[i].ip == 0;
    if (n == 0)
        out_str(&r, "(sites over the limit)");
    for (unsigned i = 0, shown = 0; i < n; i++) {
        if (java && frames[i].ip)
            continue;
        if (shown++)
            out_str(&r, " < ");
        if (frames[i].ip)
            label_native(&r, mods, frames[i].ip);
        else
            scrape_frame_name(&r, &frames[i]);
    }
    label_value(o, raw, r.len);
}

void metrics_site_label(struct out *o, const struct module_set *mods, const struct site *site)
{
    struct scrape_frame frames[CONFIG_MAX_DEPTH];
    unsigned n = 0;
    for (; n < site->nframes && n < CONFIG_MAX_DEPTH; n++)
        frames[n] = (struct scrape_frame){ .ip = site->frames[n] };
    label_frames(o, mods, frames, n);
}

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

/* What one metrics_write needs besides the output: the picture and scratch space for a site's frames. */
struct metrics_ctx {
    struct out *o;
    const struct scrape *sc;
    struct scrape_frame frames[SCRAPE_MAX_FRAMES];
};

/* Closes the last label's value and the label set, then the value. */
static void value_end(struct out *o, uint64_t value)
{
    out_str(o, "\"} ");
    out_u64(o, value);
    out_char(o, '\n');
}

static void site_series(struct metrics_ctx *m, const char *name, unsigned ntop, int blocks, uint64_t rest)
{
    struct out *o = m->o;
    const struct grouping *g = &m->sc->g;
    for (unsigned i = 0; i < ntop; i++) {
        uint32_t idx = g->site_order[i];
        unsigned n = scrape_site_frames(idx, m->frames, SCRAPE_MAX_FRAMES);
        out_str(o, name);
        out_str(o, "{site=\"");
        label_frames(o, &m->sc->s.modules, m->frames, n);
        out_str(o, "\",kind=\"");
        out_str(o, kind_names[site_get(idx)->kind & 1]);
        out_str(o, "\",site_index=\"");
        out_u64(o, idx);
        value_end(o, blocks ? g->sums[idx].live_blocks : g->sums[idx].live_bytes);
    }
    if (g->nlive_sites > ntop) {
        out_str(o, name);
        out_str(o, "{site=\"(all other sites)\",kind=\"all\",site_index=\"0");
        value_end(o, rest);
    }
}

/* Java-heap sites: estimates, in families of their own so that no sum mixes them with exact counts. */
static void java_heap_series(struct metrics_ctx *m, unsigned limit)
{
    struct out *o = m->o;
    unsigned count = scrape_java_count(m->sc), shown = 0, others = 0;
    uint64_t bytes = 0, objects = 0, rest = 0;
    struct scrape_java_site site;
    for (unsigned k = 0; k < count; k++) {
        scrape_java_site(k, &site, m->frames, SCRAPE_MAX_FRAMES);
        bytes += site.bytes, objects += site.objects;
    }
    family(o, "leakwatch_java_heap_estimated_live_bytes", "gauge",
           "Java heap reachable at the last GC, estimated from sampled allocations.");
    out_str(o, "leakwatch_java_heap_estimated_live_bytes ");
    out_u64(o, bytes);
    out_char(o, '\n');
    family(o, "leakwatch_java_heap_estimated_live_objects", "gauge", "Objects of the same estimate.");
    out_str(o, "leakwatch_java_heap_estimated_live_objects ");
    out_u64(o, objects);
    out_char(o, '\n');
    family(o, "leakwatch_java_heap_site_estimated_live_bytes", "gauge",
           "Estimated Java-heap bytes of the Java allocation paths holding the most, innermost frame first.");
    for (unsigned k = 0; k < count; k++) {
        scrape_java_site(k, &site, m->frames, SCRAPE_MAX_FRAMES);
        if (!site.named)
            continue;
        if (shown == limit) {
            rest += site.bytes, others++;
            continue;
        }
        shown++;
        out_str(o, "leakwatch_java_heap_site_estimated_live_bytes{site=\"");
        if (site.nframes)
            label_frames(o, &m->sc->s.modules, m->frames, site.nframes);
        else
            out_str(o, "(allocated by the JVM itself)");
        out_str(o, "\",class=\"");
        label_value(o, site.klass ? site.klass : "?", site.klass ? strlen(site.klass) : 1);
        out_str(o, "\",site_id=\"");
        out_hex_digits(o, site.id, 16);
        value_end(o, site.bytes);
    }
    if (others) {
        out_str(o, "leakwatch_java_heap_site_estimated_live_bytes{site=\"(all other Java-heap sites)\",class=\"\","
                   "site_id=\"0");
        value_end(o, rest);
    }
}

int metrics_write(int fd)
{
    struct scrape sc;
    size_t bufsize = 1 << 16;
    char *buf = arena_map(bufsize);
    struct metrics_ctx *m = arena_map(sizeof *m);
    int rc = -1;
    if (scrape_take(&sc, 0) < 0 || !buf || !m)
        goto done;
    const struct snapshot *s = &sc.s;
    const struct grouping *g = &sc.g;
    struct site_totals sum[2];
    memset(sum, 0, sizeof sum);
    for (uint32_t i = 1; i < s->nsites; i++) {
        const struct site_totals *t = &s->totals[i];
        struct site_totals *k = &sum[site_get(i)->kind & 1];
        k->allocs += t->allocs;
        k->frees += t->frees;
        k->bytes_allocated += t->bytes_allocated;
    }
    unsigned limit = shim_state.config.top < METRICS_MAX_SITES ? shim_state.config.top : METRICS_MAX_SITES;
    unsigned ntop = g->nlive_sites < limit ? g->nlive_sites : limit;
    uint64_t rest_bytes = 0, rest_blocks = 0;
    for (uint32_t i = ntop; i < g->nlive_sites; i++) {
        rest_bytes += g->sums[g->site_order[i]].live_bytes;
        rest_blocks += g->sums[g->site_order[i]].live_blocks;
    }
    struct out o;
    out_init(&o, fd, buf, bufsize);
    m->o = &o;
    m->sc = &sc;
    const uint64_t live_bytes[2] = { g->heap_bytes, g->map_bytes }, live_blocks[2] = { g->heap_blocks, g->map_regions };
    family(&o, "leakwatch_live_bytes", "gauge", "Bytes allocated and not yet freed (heap blocks, tracked mappings).");
    for (int k = 0; k < 2; k++)
        sample(&o, "leakwatch_live_bytes", kind_names[k], live_bytes[k]);
    family(&o, "leakwatch_live_blocks", "gauge", "Blocks allocated and not yet freed.");
    for (int k = 0; k < 2; k++)
        sample(&o, "leakwatch_live_blocks", kind_names[k], live_blocks[k]);
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
    out_u64(&o, g->nlive_sites);
    out_char(&o, '\n');
    family(&o, "leakwatch_metadata_bytes", "gauge", "Memory leakwatch itself has mapped (not from the heap).");
    out_str(&o, "leakwatch_metadata_bytes ");
    out_u64(&o, s->metadata_bytes);
    out_char(&o, '\n');
    family(&o, "leakwatch_site_live_bytes", "gauge",
           "Live bytes of the sites holding the most, innermost caller first; the rest summed.");
    site_series(m, "leakwatch_site_live_bytes", ntop, 0, rest_bytes);
    family(&o, "leakwatch_site_live_blocks", "gauge", "Live blocks of the same sites.");
    site_series(m, "leakwatch_site_live_blocks", ntop, 1, rest_blocks);
    if (sc.java_heap)
        java_heap_series(m, limit);
    out_str(&o, "# EOF\n");
    rc = out_flush(&o) == 0 ? 0 : -1;
done:
    if (m)
        arena_unmap(m, sizeof *m);
    if (buf)
        arena_unmap(buf, bufsize);
    scrape_release(&sc);
    return rc;
}
