/* model_read.c — a report's JSON tokens into the model's structs, checked against the contract (see
 * model_read.h). Each reader takes the token that opened its value and reads to the token that closes it;
 * a false return means the JSON itself is broken (jsonread says how), while a break of the contract is kept
 * (the first one, named by its path) and reading goes on to the end, so that a JSON error later in the
 * file still wins, as a whole-document parser would find it first. Members are matched by name in any
 * order; unknown members are skipped; a known member given twice is refused. */
#include "model_read.h"
#include "model_decode.h"
#include "util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void late_site_done(md_reader *d, size_t site);

static bool read_sites(md_reader *d, jr_token t)
{
    lw_report *r = d->r;
    if (t != JR_ARRAY) {
        md_bad(d, NULL, "sites", "is not an array");
        return jr_skip(d->jr, t);
    }
    while ((t = jr_next(d->jr)) != JR_ARRAY_END) {
        if (t == JR_ERROR)
            return false;
        md_seg w = {NULL, "sites", (long)d->nread++};
        if (d->why[0]) {
            /* the report is refused already: only the JSON's own soundness matters now */
            if (!jr_skip(d->jr, t))
                return false;
            continue;
        }
        if (t != JR_OBJECT) {
            md_bad(d, &w, NULL, "is not an object");
            if (!jr_skip(d->jr, t))
                return false;
            continue;
        }
        size_t *cap = r->sites_not_kept ? &d->ids_cap : &r->sites_cap;
        size_t n = r->sites_not_kept ? d->nread - 1 : r->nsites;
        if (n == *cap) {
            size_t more = *cap ? *cap * 2 : 64;
            void *v = r->sites_not_kept ? realloc(d->ids, more * sizeof *d->ids)
                                        : realloc(r->sites, more * sizeof *r->sites);
            if (!v) {
                md_bad(d, NULL, NULL, "out of memory for %zu sites", more);
                if (!jr_skip(d->jr, t))
                    return false;
                continue;
            }
            if (r->sites_not_kept)
                d->ids = v;
            else
                r->sites = v;
            *cap = more;
        }
        lw_site s;
        d->in_site = r->sites_not_kept;
        bool ok = md_read_site(d, &w, &s);
        d->in_site = false;
        if (r->sites_not_kept && !d->modules_read)
            late_site_done(d, n);
        if (r->sites_not_kept) {
            d->ids[n] = (struct seen_id){s.id_key, s.id, n};
        } else {
            r->sites[r->nsites++] = s;
        }
        if (!ok)
            return false;
    }
    return true;
}

/* ---- the report's own members ----------------------------------------------------------------------- */

static bool read_module(md_reader *d, const md_seg *at, void *slot)
{
    static const char *const names[] = {"id", "path", "base", "build_id", NULL};
    lw_module *m = slot;
    *m = (lw_module){0};
    uint64_t seen = 0;
    while (jr_next(d->jr) == JR_KEY) {
        int k = md_member(d, at, names, &seen);
        jr_token v = jr_next(d->jr);
        if (v == JR_ERROR)
            return false;
        switch (k) {
        case 0: md_integer(d, v, at, "id", &m->id); break;
        case 1: m->path = md_string(d, v, at, "path"); break;
        case 2: m->base = md_hex(d, v, at, "base"); break;
        case 3: m->build_id = md_string(d, v, at, "build_id"); break;
        default: jr_skip(d->jr, v);
        }
    }
    if (d->jr->last == JR_ERROR)
        return false;
    if (!md_has(seen, 1))
        md_bad(d, at, "path", "is missing");
    return true;
}

static bool read_modules(md_reader *d, jr_token t)
{
    size_t cap = 0;
    return md_read_objects(d, t, NULL, "modules", &d->r->modules, &d->r->nmodules, &cap, sizeof *d->r->modules, 16,
                           read_module);
}

/* An object of counts (config, totals, java_heap): names[i] goes to *out[i]; signed_ok[i] allows negatives. */
static bool read_counts(md_reader *d, jr_token t, const char *name, const char *const *names, long long *const *out)
{
    if (t != JR_OBJECT)
        return jr_skip(d->jr, t);     /* not the shape this md_reader knows: ignored, as an unknown member */
    md_seg w = {NULL, name, -1};
    uint64_t seen = 0;
    while (jr_next(d->jr) == JR_KEY) {
        int k = md_member(d, &w, names, &seen);
        jr_token v = jr_next(d->jr);
        if (v == JR_ERROR)
            return false;
        if (k >= 0)
            *out[k] = md_count(d, v, &w, names[k]);
        else if (!jr_skip(d->jr, v))
            return false;
    }
    return d->jr->last != JR_ERROR;
}

/* Modules read after the sites: their indexes are checked now, with the same message and path. */
static void check_stack_modules(md_reader *d, const md_seg *up, const char *name, const lw_stack *st)
{
    for (size_t i = 0; i < st->n && !d->why[0]; i++)
        if (st->v[i].module >= (long long)d->r->nmodules) {
            md_seg w = {up, name, (long)i};
            md_bad_module(d, &w, st->v[i].module);
        }
}

static void check_late_modules(md_reader *d)
{
    for (size_t i = 0; i < d->r->nsites && !d->why[0]; i++) {
        const lw_site *s = &d->r->sites[i];
        md_seg w = {NULL, "sites", (long)i};
        check_stack_modules(d, &w, "frames", &s->frames);
        for (size_t j = 0; j < s->nleaks; j++) {
            md_seg lw = {&w, "leaks", (long)j};
            check_stack_modules(d, &lw, "created_at", &s->leaks[j].created_at);
            for (size_t k = 0; k < s->leaks[j].nrecent; k++) {
                md_seg aw = {&lw, "recent_access", (long)k};
                check_stack_modules(d, &aw, "frames", &s->leaks[j].recent[k].frames);
            }
        }
    }
}

/* model_check_fd lets each site go, so with modules after the sites it cannot look back as check_late_modules
 * does. It must still refuse what that refuses, naming the same frame: the first, in check_late_modules'
 * order (per site: frames, then each leak's created_at and recent_access frames), whose index is at least
 * the number of modules. Whatever that number, the first such frame is one whose index is larger than every
 * frame's before it in that order: only those are kept. Their indexes rise, so the first bad one is at most
 * number nmodules + 1 of them (a few in practice: one per module newly met). Within a site, document order
 * may differ, so a site's candidates (each above the frames before it in its own stack) are sorted when the
 * site ends. Memory is bounded by LATE_CAP: past it only the first in check order are kept, and when the
 * first bad frame is not among them the report is still refused (exactly when check_late_modules would
 * refuse it), with a message that says why no frame is named. */
#define LATE_CAP 4096

static int late_order(const void *a, const void *b)
{
    const struct late_frame *x = a, *y = b;
    if (x->leak != y->leak)
        return x->leak < y->leak ? -1 : 1;
    if (x->access != y->access)
        return x->access < y->access ? -1 : 1;
    return x->frame < y->frame ? -1 : x->frame > y->frame;
}

/* Sorts this site's candidates into check order and keeps those above every one before them. */
static void late_site_sort(md_reader *d)
{
    if (!d->nlate_site)
        return;
    qsort(d->late_site, d->nlate_site, sizeof *d->late_site, late_order);
    size_t kept = 0;
    long long max = d->late_max;
    for (size_t i = 0; i < d->nlate_site; i++)
        if (d->late_site[i].module > max) {
            max = d->late_site[i].module;
            d->late_site[kept++] = d->late_site[i];
        }
    d->nlate_site = kept;
}

void md_note_late_frame(md_reader *d, const md_seg *at, int m)
{
    if (m > d->late_site_max)
        d->late_site_max = m;
    if (m <= d->stack_max)
        return;
    d->stack_max = m;
    if (m <= d->late_max || d->late_lost)
        return;
    if (!d->late_site && !(d->late_site = malloc(LATE_CAP * sizeof *d->late_site))) {
        d->late_lost = true;
        return;
    }
    struct late_frame f = {.leak = -1, .access = -1, .frame = at->index, .module = m};
    for (const md_seg *s = at->up; s; s = s->up)
        if (strcmp(s->name, "leaks") == 0)
            f.leak = s->index;
        else if (strcmp(s->name, "recent_access") == 0)
            f.access = s->index;
    if (d->late_site_lost && late_order(&f, &d->late_site_cut) >= 0)
        return;
    if (d->nlate_site == LATE_CAP) {
        /* full: only the first half in check order stays; what comes after it in that order is not kept */
        late_site_sort(d);
        if (d->nlate_site > LATE_CAP / 2) {
            d->late_site_cut = d->late_site[LATE_CAP / 2];
            d->nlate_site = LATE_CAP / 2;
            d->late_site_lost = true;
            if (late_order(&f, &d->late_site_cut) >= 0)
                return;
        }
    }
    d->late_site[d->nlate_site++] = f;
}

/* The site just read: its frames larger than all before them join the list. */
static void late_site_done(md_reader *d, size_t site)
{
    late_site_sort(d);
    for (size_t i = 0; i < d->nlate_site && !d->late_lost; i++) {
        if (!d->late && !(d->late = malloc(LATE_CAP * sizeof *d->late)))
            d->late_lost = true;
        if (d->nlate == LATE_CAP)
            d->late_lost = true;
        if (d->late_lost)
            break;
        d->late[d->nlate] = d->late_site[i];
        d->late[d->nlate++].site = site;
        d->late_max = d->late_site[i].module;
    }
    if (d->late_site_lost)
        d->late_lost = true;  /* the kept ones come first in check order; later ones may be missing */
    if (d->late_site_max > d->late_max)
        d->late_max = d->late_site_max;
    d->nlate_site = 0;
    d->late_site_max = -1;
    d->late_site_lost = false;
}

static void check_late_frames(md_reader *d)
{
    size_t n = d->r->nmodules;
    if (d->why[0] || d->late_max < (long long)n)
        return;
    for (size_t i = 0; i < d->nlate; i++) {
        const struct late_frame *f = &d->late[i];
        if (f->module < (long long)n)
            continue;
        md_seg sw = {NULL, "sites", (long)f->site}, lw = {&sw, "leaks", f->leak};
        md_seg aw = {&lw, "recent_access", f->access};
        md_seg w = f->leak < 0 ? (md_seg){&sw, "frames", f->frame}
                 : f->access < 0 ? (md_seg){&lw, "created_at", f->frame} : (md_seg){&aw, "frames", f->frame};
        md_bad_module(d, &w, f->module);
        return;
    }
    md_bad(d, NULL, "sites", "hold a frame with module %lld, not -1 or an index into modules (%zu entries); too "
           "many rising module indexes came before modules to name the first: put modules before sites",
           d->late_max, n);
}

static bool read_root(md_reader *d)
{
    static const char *const names[] = {"format", "version", "pid", "ppid", "program", "reason", "seq",
                                        "previous_seq", "time", "uptime_ms", "config", "totals", "modules",
                                        "sites", "java_heap", NULL};
    enum { FORMAT, VERSION, PID, PPID, PROGRAM, REASON, SEQ, PREVIOUS_SEQ, TIME, UPTIME, CONFIG, TOTALS, MODULES,
           SITES, JAVA_HEAP };
    lw_report *r = d->r;
    uint64_t seen = 0;
    bool sites_read = false;
    while (jr_next(d->jr) == JR_KEY) {
        int k = md_member(d, NULL, names, &seen);
        jr_token t = jr_next(d->jr);
        if (t == JR_ERROR)
            return false;
        switch (k) {
        case FORMAT:
            if (t == JR_STRING) {
                d->format_state = strcmp(d->jr->str, "leakwatch-report") == 0 ? 1 : 2;
                snprintf(d->format_seen, sizeof d->format_seen, "%s", d->jr->str);
            } else {
                d->format_state = 3;
                jr_skip(d->jr, t);
            }
            break;
        case VERSION:
            d->version_state = t == JR_INT ? 1 : 2;
            if (t == JR_INT)
                r->version = d->jr->integer;
            jr_skip(d->jr, t);
            break;
        case PID: r->pid = md_count(d, t, NULL, "pid"); break;
        case PPID: r->ppid = md_count(d, t, NULL, "ppid"); break;
        case PROGRAM: r->program = md_string(d, t, NULL, "program"); break;
        case REASON: r->reason = md_string(d, t, NULL, "reason"); break;
        case SEQ: r->seq = md_count(d, t, NULL, "seq"); break;
        case PREVIOUS_SEQ: r->previous_seq = md_count(d, t, NULL, "previous_seq"); break;
        case TIME: r->time = md_string(d, t, NULL, "time"); break;
        case UPTIME: r->uptime_ms = md_count(d, t, NULL, "uptime_ms"); break;
        case CONFIG: {
            static const char *const cn[] = {"min_age_ms", "top", NULL};
            if (!read_counts(d, t, "config", cn, (long long *const[]){&r->min_age_ms, &r->top}))
                return false;
            break;
        }
        case TOTALS: {
            static const char *const tn[] = {"live_bytes", "live_blocks", "allocs", "frees", "mmap_live_bytes",
                                             "mmap_live_regions", "sites", "untracked_frees",
                                             "reserved_untouched_bytes", NULL};
            if (!read_counts(d, t, "totals", tn,
                             (long long *const[]){&r->live_bytes, &r->live_blocks, &r->allocs, &r->frees,
                                                  &r->mmap_live_bytes, &r->mmap_live_regions, &r->nsites_total,
                                                  &r->untracked_frees, &r->reserved_untouched_bytes}))
                return false;
            break;
        }
        case MODULES:
            if (!read_modules(d, t))
                return false;
            d->modules_read = !sites_read;
            break;
        case SITES:
            if (!read_sites(d, t))
                return false;
            sites_read = true;
            break;
        case JAVA_HEAP: {
            static const char *const jn[] = {"sampling_interval_bytes", NULL};
            if (!read_counts(d, t, "java_heap", jn, (long long *const[]){&r->java_sampling_interval_bytes}))
                return false;
            break;
        }
        default:
            if (!jr_skip(d->jr, t))
                return false;
        }
    }
    if (d->jr->last == JR_ERROR)
        return false;
    if (sites_read && !d->modules_read) {
        if (r->sites_not_kept)
            check_late_frames(d);
        else
            check_late_modules(d);
    }
    r->time_ms = lw_parse_time_ms(r->time);
    /* config holds the setting; the exit report applies 0 (every live block is a leak then). */
    if (r->reason && strcmp(r->reason, "exit") == 0)
        r->min_age_ms = 0;
    /* What is missing is said before what is wrong inside, as the contract lists the members. */
    char missing[160] = "";
    if (!md_has(seen, PID))
        snprintf(missing, sizeof missing, "pid is missing");
    else if (!md_has(seen, PROGRAM))
        snprintf(missing, sizeof missing, "program is missing");
    else if (!md_has(seen, SEQ))
        snprintf(missing, sizeof missing, "seq is missing");
    else if (!md_has(seen, SITES))
        snprintf(missing, sizeof missing, "sites is missing");
    if (missing[0])
        snprintf(d->why, sizeof d->why, "%s", missing);
    return true;
}

static int seen_id_cmp(const void *a, const void *b)
{
    const struct seen_id *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Sites let go are matched by nobody, but two with one id still make the report wrong: said as for kept ones. */
static void check_ids(md_reader *d)
{
    size_t n = d->nread;
    if (!d->r->sites_not_kept || !n || d->why[0])
        return;
    for (size_t i = 0; i < n; i++)
        if (!d->ids[i].id)
            return;
    qsort(d->ids, n, sizeof *d->ids, seen_id_cmp);
    for (size_t i = 1; i < n; i++)
        if (d->ids[i - 1].key == d->ids[i].key) {
            snprintf(d->why, sizeof d->why, "sites[%zu] and sites[%zu] have the same id %s: a site id must be "
                     "unique in a report", d->ids[i - 1].index, d->ids[i].index, d->ids[i].id);
            return;
        }
}

bool model_read(jreader *jr, lw_report *r, bool *json_error, char *why, size_t whylen)
{
    md_reader d = {.jr = jr, .r = r, .interned = calloc(MD_INTERN_SLOTS, sizeof *d.interned), .late_max = -1,
                   .late_site_max = -1};
    if (!d.interned) {
        *json_error = false;
        snprintf(why, whylen, "out of memory");
        return false;
    }
    *json_error = false;
    jr_token t = jr_next(jr);
    bool ok = false;
    if (t == JR_OBJECT) {
        ok = read_root(&d) && jr_next(jr) == JR_END;
        if (ok)
            check_ids(&d);
    } else if (t == JR_ARRAY) {
        if (jr_skip(jr, t) && jr_next(jr) == JR_END) {
            snprintf(why, whylen, "the JSON is not an object");
            free(d.interned);
            return false;
        }
    }
    free(d.frames);
    free(d.leaks);
    free(d.access);
    free(d.interned);
    free(d.ids);
    free(d.late);
    free(d.late_site);
    if (!ok) {
        *json_error = true;
        snprintf(why, whylen, "%s", jr->error);
        return false;
    }
    /* the identity of the file first, then its version: a newer version's members may mean something else */
    if (d.format_state == 0)
        snprintf(why, whylen, "no \"format\" field; this JSON was not written by leakwatch");
    else if (d.format_state == 3)
        snprintf(why, whylen, "format is not a string");
    else if (d.format_state == 2)
        snprintf(why, whylen, "\"format\" is \"%.40s\", expected \"leakwatch-report\"", d.format_seen);
    else if (d.version_state == 0)
        snprintf(why, whylen, "version is missing");
    else if (d.version_state == 2)
        snprintf(why, whylen, "version is not an integer");
    else if (r->version < 1)
        snprintf(why, whylen, "version is %lld: report versions start at 1", r->version);
    else if (r->version > MODEL_REPORT_VERSION)
        return true;
    else if (d.why[0])
        snprintf(why, whylen, "%s", d.why);
    else
        return true;
    return false;
}

void model_read_free_chunks(lw_report *r)
{
    for (struct lw_chunk *k = r->chunks, *next; k; k = next) {
        next = k->next;
        free(k);
    }
    r->chunks = NULL;
}

void model_read_free_sites(lw_report *r)
{
    free(r->sites);         /* their stacks, groups and records are in the chunks */
    r->sites = NULL;
    r->nsites = 0;
}
