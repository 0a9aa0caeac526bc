/* report.c — one report (see report.h): settle the queued frees, take one snapshot, group it, and
 * render it twice through the emitter, as text and as JSON, from the same call sequence. Only the
 * snapshot takes shim locks (a shard at a time); grouping, naming and writing read the copy alone. */
#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include "report.h"
#include "arena.h"
#include "emitter.h"
#include "groups.h"
#include "jheap.h"
#include "jvm.h"
#include "log.h"
#include "out.h"
#include "sites.h"
#include "snapshot.h"
#include "stacks.h"
#include "state.h"
#include "symbols.h"
#include "track.h"

const char *report_reason_name(enum report_reason reason)
{
    static const char *const names[] = { "signal", "exit", "interval", "api", "http" };
    return names[reason];
}

void report_reset_history(void)
{
    groups_forget();
}

/* What a rendering needs besides the emitter. */
struct render {
    struct emitter *e;
    const struct snapshot *s;
    const struct grouping *g;
    enum report_reason reason;
    unsigned seq;
};

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

/* ---- frames ------------------------------------------------------------------------------------ */

/* text: "\t0x000055d0c1a1c3e0 function+0x1f (/path/module+0x1c3e0)\n"
 * JSON: {"ip":"0x55d0c1a1c3e0","module":3,"offset":"0x1c3e0","function":"..","function_offset":"0x1f"} */
static void emit_frame(const struct render *r, uintptr_t ip)
{
    struct emitter *e = r->e;
    struct resolved res;
    symbols_resolve(&r->s->modules, ip, &res);
    emit_object_begin(e, NULL);
    emit_text(e, "\t");
    emit_text_hex_padded(e, ip);
    emit_json_hex(e, "ip", ip);
    emit_json_i64(e, "module", res.module);
    if (res.module >= 0)
        emit_json_hex(e, "offset", res.offset);
    emit_text(e, " ");
    if (res.function) {
        emit_str(e, "function", readable_name(res.function));
        emit_text(e, "+");
        emit_hex(e, "function_offset", res.function_offset);
    } else {
        emit_text(e, "??");
    }
    if (res.module >= 0) {
        emit_text(e, " (");
        emit_text_name(e, r->s->modules.items[res.module].path);
        emit_text(e, "+");
        emit_text_hex(e, res.offset);
        emit_text(e, ")\n");
    } else {
        emit_text(e, res.function ? " (JIT)\n" : " (unknown)\n");
    }
    emit_object_end(e);
}

static void emit_frames(const struct render *r, const char *member, const uintptr_t *frames, unsigned n)
{
    emit_array_begin(r->e, member);
    for (unsigned i = 0; i < n; i++)
        emit_frame(r, frames[i]);
    emit_array_end(r->e);
}

/* The native frames of a Java path (jvm.h) are written as any other. */
static void emit_native_frame(struct emitter *e, const void *render, uintptr_t ip)
{
    (void)e;                        /* the render's own emitter */
    emit_frame(render, ip);
}

/* ---- one leak record --------------------------------------------------------------------------- */

static void emit_access_records(const struct render *r, const struct group *gr)
{
    struct emitter *e = r->e;
    const struct access_record *recs;
    unsigned n = snapshot_records(r->s, gr->oldest_ptr, &recs);
    emit_text(e, "Recent access records: \n");
    emit_array_begin(e, "recent_access");
    for (unsigned i = 0; i < n; i++) {
        emit_object_begin(e, NULL);
        emit_text(e, "#");
        emit_text_u64(e, i + 1);
        emit_text(e, ":\n\tHint: ");
        emit_str(e, "kind", "realloc");
        emit_text(e, " ");
        emit_text_count(e, recs[i].old_size);
        emit_text(e, " -> ");
        emit_text_count(e, recs[i].new_size);
        emit_text(e, " bytes, ");
        if (emit_is_json(e)) {
            char detail[48];
            struct out d;
            out_init(&d, -1, detail, sizeof detail - 1);
            out_u64(&d, recs[i].old_size);
            out_str(&d, " -> ");
            out_u64(&d, recs[i].new_size);
            detail[d.len] = '\0';
            emit_json_str(e, "detail", detail);
        }
        emit_age(e, "age_ms", snapshot_age(r->s, recs[i].when_ms));
        emit_text(e, " ago, thread ");
        emit_u64(e, "thread", recs[i].thread);
        emit_text(e, "\n");
        const struct site *at = site_get(recs[i].site);
        if (!jvm_write_site_frames(e, "frames", recs[i].site, emit_native_frame, r))
            emit_frames(r, "frames", at->frames, at->nframes);
        emit_object_end(e);
    }
    emit_array_end(e);
}

static void emit_created_at(const struct render *r, const struct group *gr)
{
    struct emitter *e = r->e;
    const struct site *site = site_get(gr->site);
    uintptr_t buf[CONFIG_MAX_DEPTH];
    const uintptr_t *frames = buf;
    unsigned n = stacks_copy(gr->stack, buf, CONFIG_MAX_DEPTH);
    if (n == 0) {
        frames = site->frames;
        n = site->nframes;
    }
    emit_json_str(e, "stack", gr->unstacked ? "representative" : "own");
    emit_json_bool(e, "full_stack", gr->stack != 0);
    emit_json_u64(e, "unstacked_blocks", gr->unstacked);
    if (gr->stack == 0) {
        emit_text(e, "Created at (no full stack was kept for this site; these are its first frames):\n");
    } else if (gr->unstacked) {
        emit_text(e, "Created at (the site's representative stack: ");
        emit_text_count(e, gr->unstacked);
        emit_text(e, " of these ");
        emit_text_count(e, gr->blocks);
        emit_text(e, gr->blocks == 1 ? " block was" : " blocks were");
        emit_text(e, " not unwound one by one and are shown here");
        uint32_t others = r->g->sums[gr->site].ngroups - 1;
        if (others) {
            /* their blocks may well have been made by those other paths */
            emit_text(e, "; the site is also reached by ");
            emit_text_count(e, others);
            emit_text(e, others == 1 ? " other stack, in its own record" : " other stacks, in their own records");
        }
        emit_text(e, "):\n");
    } else {
        emit_text(e, "Created at:\n");
    }
    if (!jvm_write_stack_frames(e, "created_at", gr->stack, emit_native_frame, r) &&
        !(gr->stack == 0 && jvm_write_site_frames(e, "created_at", gr->site, emit_native_frame, r)))
        emit_frames(r, "created_at", frames, n);
}

static void emit_leak(const struct render *r, const struct group *gr)
{
    struct emitter *e = r->e;
    int one = gr->blocks == 1;
    emit_object_begin(e, NULL);
    emit_text(e, "LEAK: ");
    emit_count(e, "blocks", gr->blocks);
    emit_text(e, one ? " block (" : " blocks (");
    emit_bytes(e, "bytes", gr->bytes);
    emit_text(e, one ? ") allocated here is still live; it is " : ") allocated here are still live; the oldest is ");
    emit_age(e, "oldest_age_ms", snapshot_age(r->s, gr->oldest_birth));
    emit_text(e, " old");
    if (r->g->previous_seq) {
        emit_text(e, "; ");
        if (!gr->had_previous) {
            emit_text(e, "new");
        } else if (gr->delta == 0) {
            emit_text(e, "unchanged");
        } else {
            emit_text(e, gr->delta > 0 ? "+" : "-");
            emit_text_bytes(e, (uint64_t)(gr->delta > 0 ? gr->delta : -gr->delta));
        }
        emit_json_i64(e, "since_previous_bytes", gr->delta);
        emit_text(e, " since report #");
        emit_text_u64(e, r->g->previous_seq);
    } else if (r->g->sums[gr->site].recent_growth > 0) {
        const struct site_sum *sum = &r->g->sums[gr->site];
        emit_text(e, "; its site grew +");
        emit_text_bytes(e, (uint64_t)sum->recent_growth);
        emit_json_i64(e, "recent_growth_bytes", sum->recent_growth);
        emit_text(e, " in the last ");
        emit_age(e, "recent_growth_ms", sum->recent_growth_ms);
    }
    emit_text(e, ".\n");
    if (site_get(gr->site)->kind == KIND_MMAP)
        emit_text(e, "Kind: anonymous mapping (mmap)\n");
    emit_access_records(r, gr);
    emit_created_at(r, gr);
    emit_object_end(e);
}

/* ---- the report -------------------------------------------------------------------------------- */

static void emit_header(const struct render *r)
{
    struct emitter *e = r->e;
    const struct snapshot *s = r->s;
    emit_json_str(e, "format", "leakwatch-report");
    emit_json_u64(e, "version", 2);
    emit_text(e, "leakwatch report #");
    emit_u64(e, "seq", r->seq);
    emit_json_u64(e, "previous_seq", r->g->previous_seq);
    emit_text(e, " (");
    emit_str(e, "reason", report_reason_name(r->reason));
    emit_text(e, ") for ");
    emit_str(e, "program", s->program);
    emit_text(e, " [pid ");
    emit_u64(e, "pid", (uint64_t)s->pid);
    emit_json_u64(e, "ppid", (uint64_t)s->ppid);
    emit_text(e, "], ");
    emit_str(e, "time", s->when);
    emit_text(e, ", uptime ");
    emit_age(e, "uptime_ms", s->now);
    emit_json_bool(e, "attached", s->attached);
    if (s->tracking_since[0])
        emit_json_str(e, "tracking_since", s->tracking_since);
    emit_text(e, "\n");
    emit_array_begin(e, "cmdline");
    for (size_t i = 0; i < s->cmdline_len; i += strlen(s->cmdline + i) + 1)
        emit_json_str(e, NULL, s->cmdline + i);
    emit_array_end(e);
}

static void emit_config(const struct render *r)
{
    struct emitter *e = r->e;
    const struct lw_config *c = &shim_state.config;
    emit_object_begin(e, "config");
    emit_json_str(e, "out", c->out);
    emit_json_str(e, "signal", c->signal_name);
    emit_json_u64(e, "interval_ms", c->interval_ms);
    emit_json_u64(e, "min_age_ms", r->g->min_age_ms);       /* this report's: 0 at exit */
    emit_json_u64(e, "top", c->top);
    emit_json_u64(e, "depth", c->depth);
    emit_json_u64(e, "records", c->records);
    emit_json_str(e, "mmap", c->mmap_all ? "all" : "anon");
    emit_json_bool(e, "quiet", c->quiet);
    emit_json_u64(e, "site_depth", c->site_depth);
    emit_json_u64(e, "sample", c->sample);
    emit_object_end(e);
}

static void emit_totals(const struct render *r)
{
    struct emitter *e = r->e;
    const struct snapshot *s = r->s;
    const struct grouping *g = r->g;
    uint64_t allocs = 0, frees = 0, bytes_allocated = 0;
    for (uint32_t i = 1; i < s->nsites; i++) {
        if (site_get(i)->kind != KIND_HEAP)
            continue;
        allocs += s->totals[i].allocs;
        frees += s->totals[i].frees;
        bytes_allocated += s->totals[i].bytes_allocated;
    }
    emit_object_begin(e, "totals");
    emit_text(e, "Live heap: ");
    emit_text_bytes(e, g->heap_bytes);
    emit_text(e, " (");
    emit_count(e, "live_bytes", g->heap_bytes);
    emit_text(e, " bytes) in ");
    emit_count(e, "live_blocks", g->heap_blocks);
    emit_text(e, " blocks; live mappings: ");
    emit_bytes(e, "mmap_live_bytes", g->map_bytes);
    emit_text(e, " in ");
    emit_count(e, "mmap_live_regions", g->map_regions);
    emit_text(e, " regions");
    emit_json_u64(e, "reserved_untouched_bytes", g->map_untouched_bytes);
    if (g->map_untouched_bytes) {
        /* how much of the mappings is address space without memory, which no record counts */
        emit_text(e, " (");
        emit_text_bytes(e, g->map_untouched_bytes);
        emit_text(e, " of it reserved or never touched, not counted in leak records");
        if (s->untouched_swap_unseen)
            emit_text(e, "; swap is in use and /proc/self/pagemap unreadable, so swapped-out pages are counted here");
        emit_text(e, ")");
    }
    emit_text(e, "; ");
    emit_text_count(e, g->nlive_sites);
    emit_text(e, " sites with live memory; untracked frees: ");
    emit_count(e, "untracked_frees", s->untracked_frees);
    if (s->attached) {
        emit_text(e, "\nTracking started ");
        emit_text(e, s->tracking_since);
        emit_text(e, ", when leakwatch attached to the running process: memory allocated before then is not"
                     " attributed to any site, and its frees are counted as untracked frees.");
    }
    emit_text(e, "\n");
    emit_json_u64(e, "allocs", allocs);
    emit_json_u64(e, "frees", frees);
    emit_json_u64(e, "bytes_allocated", bytes_allocated);
    emit_json_u64(e, "sites", s->nsites - 1);
    emit_json_u64(e, "stacks", s->stacks);
    emit_json_u64(e, "stack_bytes", s->stack_bytes);
    emit_json_u64(e, "stacks_dropped", s->stacks_dropped);
    emit_json_u64(e, "metadata_bytes", s->metadata_bytes);
    emit_object_end(e);
}

static void emit_modules(const struct render *r)
{
    struct emitter *e = r->e;
    emit_array_begin(e, "modules");
    for (unsigned i = 0; i < r->s->modules.count; i++) {
        const struct module *m = &r->s->modules.items[i];
        emit_object_begin(e, NULL);
        emit_json_u64(e, "id", i);
        emit_json_str(e, "path", m->path);
        emit_json_hex(e, "base", m->base);
        emit_json_str(e, "build_id", m->build_id);
        emit_object_end(e);
    }
    emit_array_end(e);
}

static void emit_site(const struct render *r, uint32_t idx)
{
    struct emitter *e = r->e;
    const struct site *site = site_get(idx);
    const struct site_sum *sum = &r->g->sums[idx];
    const struct site_totals *t = &r->s->totals[idx];
    emit_object_begin(e, NULL);
    uint64_t java_id = jvm_site_id(idx);    /* the compiled versions of one Java path: one id (jvm.h) */
    emit_json_hex_digits(e, "id", java_id ? java_id : stable_site_id(r->s, site));
    emit_json_str(e, "kind", site->kind == KIND_HEAP ? "heap" : "mmap");
    emit_json_u64(e, "live_bytes", sum->live_bytes);
    emit_json_u64(e, "live_blocks", sum->live_blocks);
    emit_json_u64(e, "reserved_untouched_bytes", sum->untouched_bytes);
    emit_json_u64(e, "allocs", t->allocs);
    emit_json_u64(e, "frees", t->frees);
    emit_json_u64(e, "bytes_allocated", t->bytes_allocated);
    emit_json_u64(e, "oldest_age_ms", snapshot_age(r->s, sum->oldest_birth));
    if (idx <= SITE_OVERFLOW_MMAP)
        emit_json_bool(e, "overflow", 1);
    if (java_id)
        emit_json_u64(e, "raw_sites", jvm_merged_sites(idx));
    if (!jvm_write_site_frames(e, "frames", idx, emit_native_frame, r))
        emit_frames(r, "frames", site->frames, site->nframes);
    emit_array_begin(e, "leaks");
    for (uint32_t i = 0; i < sum->ngroups; i++)
        emit_leak(r, &r->g->groups[sum->first_group + i]);
    emit_array_end(e);
    emit_object_end(e);
}

/* The leak records: in JSON under their sites, in text largest first across sites, up to the top. */
static void emit_leaks(const struct render *r)
{
    struct emitter *e = r->e;
    const struct grouping *g = r->g;
    emit_text(e, "Leak records: live blocks older than ");
    emit_text_age(e, g->min_age_ms);
    emit_text(e, ", grouped by creation stack; ");
    if (g->previous_seq) {
        emit_text(e, "records that grew since report #");
        emit_text_u64(e, g->previous_seq);
        emit_text(e, " first, largest growth first, then the largest.\n");
    } else {
        emit_text(e, "records whose site keeps growing first, largest growth first, then the largest.\n");
    }
    if (emit_is_json(e)) {
        emit_array_begin(e, "sites");
        for (uint32_t i = 0; i < g->nlive_sites; i++)
            emit_site(r, g->site_order[i]);
        jheap_write_json_sites(e->o, g->nlive_sites == 0, g->previous_seq);
        emit_array_end(e);
        return;
    }
    unsigned shown = g->ngroups < shim_state.config.top ? (unsigned)g->ngroups : shim_state.config.top;
    if (g->ngroups == 0)
        emit_text(e, "\nNo live blocks are that old.\n");
    for (unsigned i = 0; i < shown; i++) {
        emit_text(e, "\n");
        emit_leak(r, &g->groups[g->order[i]]);
    }
    if (g->ngroups > shown) {
        emit_text(e, "\n: ");
        emit_text_count(e, g->ngroups - shown);
        emit_text(e, " leak records were discarded because the leak record count is targeted to ");
        emit_text_u64(e, shim_state.config.top);
        emit_text(e, ". Use LEAKWATCH_TOP (or leakwatch report --top N) to increase the limit.\n");
    }
    jheap_write_text(e->o, shim_state.config.top, g->previous_seq);
}

static void emit_report(const struct render *r)
{
    emit_object_begin(r->e, NULL);
    emit_header(r);
    emit_config(r);
    emit_totals(r);
    emit_modules(r);
    emit_leaks(r);
    if (emit_is_json(r->e))
        jheap_write_json_meta(r->e->o);
    emit_object_end(r->e);
    emit_finish(r->e);
}

/* Renders the report into fd in one format; 0 or the errno of the first failed write. */
static int render_to(int fd, enum emit_format format, const struct render *proto, char *buf, size_t bufsize)
{
    struct out o;
    struct emitter e;
    out_init(&o, fd, buf, bufsize);
    emit_init(&e, &o, format);
    struct render r = *proto;
    r.e = &e;
    emit_report(&r);
    return out_flush(&o);
}

int report_render(const struct snapshot *s, const struct grouping *g, enum report_reason reason, unsigned seq,
                  int txt_fd, int json_fd)
{
    size_t bufsize = 1 << 16;
    char *buf = arena_map(bufsize);
    if (!buf)
        return ENOMEM;
    struct render r = { NULL, s, g, reason, seq };
    int rc = render_to(txt_fd, EMIT_TEXT, &r, buf, bufsize);
    if (rc == 0)
        rc = render_to(json_fd, EMIT_JSON, &r, buf, bufsize);
    arena_unmap(buf, bufsize);
    return rc;
}

int report_write(enum report_reason reason, unsigned java, unsigned seq, uint64_t min_age_ms, int txt_fd,
                 int json_fd, struct report_summary *summary)
{
    /* Java paths named before anything is copied: names need the JVM, which may be slow or gone at exit */
    jvm_prepare_report(reason == REASON_EXIT ? 200 : 5000);
    /* the Java heap's figures as of the last GC (forced first when this report's requester asked) */
    jheap_prepare_report(reason == REASON_EXIT ? 200 : 10000, min_age_ms, (java & REPORT_JAVA_GC) != 0);
    struct snapshot s;
    struct grouping g;
    memset(&g, 0, sizeof g);
    track_settle_frees();           /* the snapshot counts exactly what the program has freed */
    int rc = ENOMEM;
    int copied = snapshot_take(&s) == 0;
    if (copied)
        groups_fold_totals(&s);
    /* after the native copy: the walk makes the JVM allocate for its tags; none for an HTTP scrape */
    if (copied && reason != REASON_HTTP)
        jheap_prepare_holders(reason == REASON_EXIT ? 200 : 10000, (java & REPORT_JAVA_HELD_BY) != 0);
    if (copied && groups_build(&g, &s, min_age_ms) == 0)
        rc = report_render(&s, &g, reason, seq, txt_fd, json_fd);
    if (summary) {
        summary->live_bytes = g.heap_bytes;
        summary->live_blocks = g.heap_blocks;
        summary->leak_records = g.ngroups;
    }
    if (rc == 0 && reason != REASON_HTTP) {
        groups_remember(&g, seq);
        jheap_report_done();
    }
    groups_release(&g);
    snapshot_release(&s);
    return rc;
}
