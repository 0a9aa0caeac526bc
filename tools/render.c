/* render.c — text, folded and JSON renderings of a report (see render.h). The text is the shim's own text
 * report (Netty ResourceLeakDetector style), byte for byte, rendered from the JSON: `leakwatch report
 * X.json` prints X.txt (tests/check_tools.c holds the two equal on real reports). */
#include "render.h"
#include "javaheap.h"
#include "util.h"
#include <stdlib.h>
#include <string.h>

typedef struct {
    const lw_site *site;
    const lw_leak *leak;
} record;

/* What a record gained since the previous report (a new record: all it holds); in a first report, what its
 * site gained in its current run of growth (0 when it does not keep growing). */
static long long growth(const lw_leak *l)
{
    return l->has_since ? l->since_previous_bytes : l->recent_growth_bytes;
}

/* The shim's order: records that grew since the previous report first, largest growth first, then the
 * largest; equal ones in the JSON's order (sites, then their leaks). */
static int record_cmp(const void *a, const void *b)
{
    const record *x = a, *y = b;
    long long gx = growth(x->leak), gy = growth(y->leak);
    if ((gx > 0) != (gy > 0))
        return gx > 0 ? -1 : 1;
    if (gx > 0 && gx != gy)
        return gx > gy ? -1 : 1;
    if (x->leak->bytes != y->leak->bytes)
        return x->leak->bytes > y->leak->bytes ? -1 : 1;
    if (x->site != y->site)
        return x->site < y->site ? -1 : 1;
    return x->leak < y->leak ? -1 : x->leak > y->leak;
}

/* Every leak group that passes the age filter, in the shim's order (record_cmp). */
static record *collect(const lw_report *r, const render_opts *o, size_t *n)
{
    size_t cap = 0;
    for (size_t i = 0; i < r->nsites; i++)
        cap += r->sites[i].nleaks;
    record *v = calloc(cap ? cap : 1, sizeof *v);
    *n = 0;
    for (size_t i = 0; i < r->nsites; i++)
        for (size_t j = 0; j < r->sites[i].nleaks; j++) {
            const lw_leak *l = &r->sites[i].leaks[j];
            if (o->min_age_ms >= 0 && l->oldest_age_ms < o->min_age_ms)
                continue;
            v[(*n)++] = (record){&r->sites[i], l};
        }
    qsort(v, *n, sizeof *v, record_cmp);
    return v;
}

/* One stack frame as the shim's text report prints it, without the leading tab or the newline; names and
 * paths escaped (lw_esc). */
static void render_frame(const lw_report *r, const lw_frame *f, lines *L, char *buf, size_t len)
{
    char name[1024], src[600] = "", where[1100], e[1024];
    if (f->java) {
        char java[1024];
        model_frame_name(r, f, false, java, sizeof java);
        lw_esc(java, buf, len);
        if (f->java->inlined) {
            size_t used = strlen(buf);
            snprintf(buf + used, len - used, " (inlined)");
        }
        return;
    }
    if (f->function)
        snprintf(name, sizeof name, "%s+0x%llx", lw_esc(f->function, e, sizeof e),
                 (unsigned long long)f->function_offset);
    else
        snprintf(name, sizeof name, "??");
    const char *mod = model_frame_module(r, f);
    if (mod) {
        char pos[256];
        if (L && lines_lookup(L, mod, r->modules[f->module].base, f->offset, pos, sizeof pos))
            snprintf(src, sizeof src, " (%s)", lw_esc(pos, e, sizeof e));
        snprintf(where, sizeof where, " (%s+0x%llx)", lw_esc(mod, e, sizeof e), (unsigned long long)f->offset);
    } else {
        snprintf(where, sizeof where, f->function ? " (JIT)" : " (unknown)");
    }
    snprintf(buf, len, "0x%016llx %s%s%s", (unsigned long long)f->ip, name, src, where);
}

static void print_stack(FILE *out, const lw_report *r, const lw_stack *s, lines *L)
{
    char line[3000];
    for (size_t i = 0; i < s->n; i++) {
        render_frame(r, &s->v[i], L, line, sizeof line);
        fprintf(out, "\t%s\n", line);
    }
}

static const char *secs(long long ms, char *buf, size_t len)
{
    return lw_age(ms, buf, len);
}

/* "512 -> 1024" becomes "512 -> 1,024 bytes"; other details are printed as they are. */
static void print_hint(FILE *out, const lw_access *a)
{
    char age[32], d[600], e[512], k[128];
    long long from, to;
    int used = 0;
    if (a->detail && sscanf(a->detail, "%lld -> %lld%n", &from, &to, &used) == 2 && a->detail[used] == '\0') {
        char f1[32], f2[32];
        snprintf(d, sizeof d, " %s -> %s bytes", lw_commas(from, f1, sizeof f1), lw_commas(to, f2, sizeof f2));
    } else if (a->detail) {
        snprintf(d, sizeof d, " %s", lw_esc(a->detail, e, sizeof e));
    } else {
        d[0] = '\0';
    }
    fprintf(out, "\tHint: %s%s, %s ago, thread %lld\n", lw_esc(a->kind ? a->kind : "access", k, sizeof k), d,
            secs(a->age_ms, age, sizeof age), a->thread);
}

static void print_record(FILE *out, const lw_report *r, const record *rec, lines *L)
{
    const lw_leak *l = rec->leak;
    char blocks[32], bytes[32], age[32], since[32];
    bool one = l->blocks == 1;
    if (javaheap_is(rec->site))   /* sampled: every figure is an estimate */
        fprintf(out, "LEAK: ~%s objects (~%s, estimated by sampling) allocated here are still reachable; the oldest "
                "sample is %s old", lw_commas(l->blocks, blocks, sizeof blocks),
                lw_bytes((double)l->bytes, false, bytes, sizeof bytes), secs(l->oldest_age_ms, age, sizeof age));
    else
        fprintf(out, "LEAK: %s block%s (%s) allocated here %s still live; %s %s old",
                lw_commas(l->blocks, blocks, sizeof blocks), one ? "" : "s", lw_bytes((double)l->bytes, false, bytes,
                sizeof bytes), one ? "is" : "are", one ? "it is" : "the oldest is", secs(l->oldest_age_ms, age, sizeof age));
    if (l->has_since && r->previous_seq > 0) {
        /* A group that had nothing at the previous report grew by exactly its size. */
        if (l->since_previous_bytes == l->bytes)
            fprintf(out, "; new");
        else if (l->since_previous_bytes == 0)
            fprintf(out, "; unchanged");
        else
            fprintf(out, "; %s", lw_bytes((double)l->since_previous_bytes, true, since, sizeof since));
        fprintf(out, " since report #%lld", r->previous_seq);
    } else if (r->previous_seq == 0 && l->recent_growth_bytes > 0) {
        fprintf(out, "; its site grew %s in the last %s", lw_bytes((double)l->recent_growth_bytes, true, since,
                sizeof since), secs(l->recent_growth_ms, age, sizeof age));
    }
    fprintf(out, ".\n");
    if (strcmp(rec->site->kind, "mmap") == 0)
        fprintf(out, "Kind: anonymous mapping (mmap)\n");
    if (javaheap_is(rec->site)) {
        const char *held_by = javaheap_held_by(rec->site);
        fprintf(out, "Kind: Java heap (estimated by sampling: objects and bytes are estimates)\n");
        char exact[1024], esc[4096];
        if (javaheap_exact_line(r, rec->site, "at report time", exact, sizeof exact))
            fprintf(out, "%s\n", lw_esc(exact, esc, sizeof esc));
        if (held_by)
            fprintf(out, "Held by: %s\n", lw_esc(held_by, esc, sizeof esc));
    }
    if (!javaheap_is(rec->site))
        fprintf(out, "Recent access records: \n");
    for (size_t i = 0; i < l->nrecent; i++) {
        fprintf(out, "#%zu:\n", i + 1);
        print_hint(out, &l->recent[i]);
        print_stack(out, r, &l->recent[i].frames, L);
    }
    size_t others = rec->site->nleaks - 1;
    if (!l->full_stack) {
        fprintf(out, "Created at (no full stack was kept for this site; these are its first frames):\n");
    } else if (l->representative) {
        fprintf(out, "Created at (the site's representative stack: %s of these %s %s not unwound one by one and "
                "are shown here", lw_commas(l->unstacked_blocks, since, sizeof since), blocks,
                one ? "block was" : "blocks were");
        if (others)
            fprintf(out, "; the site is also reached by %s %s", lw_commas((long long)others, age, sizeof age),
                    others == 1 ? "other stack, in its own record" : "other stacks, in their own records");
        fprintf(out, "):\n");
    } else {
        fprintf(out, "Created at:\n");
    }
    print_stack(out, r, &l->created_at, L);
}

void render_text(FILE *out, const lw_report *r, const render_opts *o)
{
    char a[32], b[32], c[32], d[32], e[32], f[32], up[32], reason[64], prog[4096], time[128];
    fprintf(out, "leakwatch report #%lld (%s) for %s [pid %lld], %s, uptime %s\n", r->seq,
            lw_esc(r->reason ? r->reason : "?", reason, sizeof reason), lw_esc(r->program, prog, sizeof prog), r->pid,
            lw_esc(r->time ? r->time : "?", time, sizeof time), secs(r->uptime_ms, up, sizeof up));
    char reserved[96] = "";
    if (r->reserved_untouched_bytes > 0)
        snprintf(reserved, sizeof reserved, " (%s of it reserved or never touched, not counted in leak records)",
                 lw_bytes((double)r->reserved_untouched_bytes, false, a, sizeof a));
    fprintf(out, "Live heap: %s (%s bytes) in %s blocks; live mappings: %s in %s regions%s; %s sites with live "
            "memory; untracked frees: %s\n", lw_bytes((double)r->live_bytes, false, a, sizeof a),
            lw_commas(r->live_bytes, b, sizeof b), lw_commas(r->live_blocks, c, sizeof c),
            lw_bytes((double)r->mmap_live_bytes, false, d, sizeof d), lw_commas(r->mmap_live_regions, e, sizeof e),
            reserved, lw_commas((long long)r->nsites, f, sizeof f), lw_commas(r->untracked_frees, up, sizeof up));
    long long min_age = o->min_age_ms >= 0 ? o->min_age_ms : r->min_age_ms;
    fprintf(out, "Leak records: live blocks older than %s, grouped by creation stack; ", secs(min_age, a, sizeof a));
    if (r->previous_seq > 0)
        fprintf(out, "records that grew since report #%lld first, largest growth first, then the largest.\n",
                r->previous_seq);
    else
        fprintf(out, "records whose site keeps growing first, largest growth first, then the largest.\n");
    size_t n;
    record *recs = collect(r, o, &n);
    size_t top = o->top >= 0 ? (size_t)o->top : (r->top > 0 ? (size_t)r->top : 20);
    if (n == 0)
        fprintf(out, "\nNo live blocks are that old.\n");
    for (size_t i = 0; i < n && i < top; i++) {
        fputc('\n', out);
        print_record(out, r, &recs[i], o->lines);
    }
    if (n > top)
        fprintf(out, "\n: %s leak records were discarded because the leak record count is targeted to %zu. "
                "Use LEAKWATCH_TOP (or leakwatch report --top N) to increase the limit.\n", lw_commas((long long)(n - top), a, sizeof a), top);
    free(recs);
}

/* A folded frame is escaped (lw_esc) and must not contain ';', the separator of frames. */
static void folded_name(const lw_report *r, const lw_frame *f, lines *L, char *buf, size_t len)
{
    char name[512], pos[256], raw[800];
    model_frame_name(r, f, false, name, sizeof name);
    const char *mod = model_frame_module(r, f);
    if (L && mod && lines_lookup(L, mod, r->modules[f->module].base, f->offset, pos, sizeof pos))
        snprintf(raw, sizeof raw, "%s (%s)", name, pos);
    else
        snprintf(raw, sizeof raw, "%s", name);
    lw_esc(raw, buf, len);
    for (char *p = buf; *p; p++)
        if (*p == ';')
            *p = ',';
}

void render_folded(FILE *out, const lw_report *r, const render_opts *o)
{
    size_t n;
    record *recs = collect(r, o, &n);
    for (size_t i = 0; i < n && (o->top < 0 || i < (size_t)o->top); i++) {
        const lw_stack *s = recs[i].leak->created_at.n ? &recs[i].leak->created_at : &recs[i].site->frames;
        char name[2400];
        if (s->n == 0)
            fputs("[unknown]", out);
        for (size_t k = s->n; k-- > 0;) {
            folded_name(r, &s->v[k], o->lines, name, sizeof name);
            fprintf(out, "%s%s", name, k ? ";" : "");
        }
        fprintf(out, " %lld\n", recs[i].leak->bytes);
    }
    free(recs);
}
