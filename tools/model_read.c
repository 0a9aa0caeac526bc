/* model_read.c — a report's JSON tokens into the model's structs, checked against the contract (see
 * model_read.h). Each reader takes the token that opened its value and reads to the token that closes it;
 * a false return means the JSON itself is broken (jsonread says how), while a break of the contract is kept
 * in `why` (the first one, named by its path) and reading goes on to the end, so that a JSON error later in
 * the file still wins, as a whole-document parser would find it first. Members are matched by name in any
 * order; unknown members are skipped; a known member given twice is refused. */
#include "model_read.h"
#include "util.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One step of the path to a value, for messages: "sites" 3 -> "sites[3]"; index -1 for a plain member. */
typedef struct seg {
    const struct seg *up;
    const char *name;
    long index;
} seg;

/* Strings copied out of the JSON, in chunks freed with the report. */
struct lw_strings {
    struct lw_strings *next;
    size_t used, cap;
    _Alignas(8) char data[];
};

typedef struct {
    jreader *jr;
    lw_report *r;
    char why[400];            /* first break of the contract, empty while all is well (fits path and words) */
    bool modules_read;        /* modules came before the sites: module indexes are checked as they come */
    lw_frame *frames;         /* scratch for one stack at a time (stacks never nest) */
    size_t nframes, frames_cap;
    lw_leak *leaks;           /* scratch for one site's leak groups */
    size_t nleaks, leaks_cap;
    lw_access *access;        /* scratch for one group's access records */
    size_t naccess, access_cap;
    struct interned { uint64_t hash; const char *s; } *interned; /* open addressing over the kept strings */
    size_t interned_n, interned_cap;
    int format_state;         /* 0 absent, 1 "leakwatch-report", 2 another string, 3 not a string */
    char format_seen[48];
    int version_state;        /* 0 absent, 1 an integer, 2 not an integer */
    bool in_site;             /* reading a site that is checked and let go (r->sites_not_kept) */
    struct seen_id { uint64_t key; const char *id; size_t index; } *ids; /* r->sites_not_kept: every site's id */
    size_t nread, ids_cap;    /* sites read so far; room in ids */
} reader;

static size_t path_text(const seg *s, char *buf, size_t len)
{
    size_t o = s->up ? path_text(s->up, buf, len) : 0;
    if (o < len)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", s->up ? "." : "", s->name);
    if (s->index >= 0 && o < len)
        o += (size_t)snprintf(buf + o, len - o, "[%ld]", s->index);
    return o;
}

/* Keeps the first break of the contract: "<path>.<member> <what>" (member may be NULL). */
static void bad(reader *d, const seg *at, const char *member, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void bad(reader *d, const seg *at, const char *member, const char *fmt, ...)
{
    if (d->why[0])
        return;
    char where[160] = "";
    size_t o = at ? path_text(at, where, sizeof where) : 0;
    if (member && o < sizeof where)
        snprintf(where + o, sizeof where - o, "%s%s", o ? "." : "", member);
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(d->why, sizeof d->why, "%s%s%s", where, where[0] ? " " : "", what);
}

/* n bytes from the report's chunks (freed with it), 8-aligned when align: a few large mallocs rather than
 * three per site. NULL when memory runs out (said in why) or when the site is let go (d->in_site). */
static void *arena(reader *d, size_t n, bool align)
{
    if (d->in_site)
        return NULL;
    struct lw_strings *k = d->r->strings;
    size_t at = k ? (align ? (k->used + 7) & ~(size_t)7 : k->used) : 0;
    if (!k || at > k->cap || k->cap - at < n) {
        size_t cap = n > (1u << 20) ? n : (1u << 20);
        k = malloc(sizeof *k + cap);
        if (!k) {
            bad(d, NULL, NULL, "out of memory");
            return NULL;
        }
        *k = (struct lw_strings){d->r->strings, 0, cap};
        d->r->strings = k;
        at = 0;
    }
    k->used = at + n;
    return k->data + at;
}

static const char *copy_out(reader *d, const char *s, size_t n)
{
    bool let_go = d->in_site;
    d->in_site = false;       /* ids are kept even of sites let go */
    char *out = arena(d, n + 1, false);
    d->in_site = let_go;
    if (!out)
        return "";
    memcpy(out, s, n + 1);
    return out;
}

/* The report's one copy of s: names repeat across sites and frames, so each is kept once. The table keeps
 * each string's hash beside it, so a probe rarely touches the string itself. */
static const char *keep(reader *d, const char *s, size_t n)
{
    if (d->in_site)
        return "";            /* a site that is let go: its strings are checked as JSON and not kept */
    if (d->interned_n * 2 >= d->interned_cap) {
        size_t cap = d->interned_cap ? d->interned_cap * 2 : 4096;
        struct interned *t = calloc(cap, sizeof *t);
        if (!t)
            return copy_out(d, s, n);
        for (size_t i = 0; i < d->interned_cap; i++) {
            if (!d->interned[i].s)
                continue;
            size_t j = d->interned[i].hash & (cap - 1);
            while (t[j].s)
                j = (j + 1) & (cap - 1);
            t[j] = d->interned[i];
        }
        free(d->interned);
        d->interned = t;
        d->interned_cap = cap;
    }
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    size_t j = h & (d->interned_cap - 1);
    for (; d->interned[j].s; j = (j + 1) & (d->interned_cap - 1))
        if (d->interned[j].hash == h && memcmp(d->interned[j].s, s, n + 1) == 0)
            return d->interned[j].s;
    const char *out = copy_out(d, s, n);
    if (!d->why[0]) {
        d->interned[j] = (struct interned){h, out};
        d->interned_n++;
    }
    return out;
}

/* The index of name in names (NULL-terminated), -1 when it is not there; a second sighting is refused. */
static int member(reader *d, const seg *at, const char *const *names, uint64_t *seen)
{
    const char *key = d->jr->str;
    for (int i = 0; names[i]; i++)
        if (key[0] == names[i][0] && strcmp(key, names[i]) == 0) {
            if (*seen & (1ull << i))
                bad(d, at, names[i], "appears twice in one object: a member may be given once");
            *seen |= 1ull << i;
            return i;
        }
    return -1;
}

static bool has(uint64_t seen, int i)
{
    return seen & (1ull << i);
}

/* ---- values: each takes the token that starts it; a value of the wrong type is skipped whole ----------- */

static bool integer(reader *d, jr_token t, const seg *at, const char *name, long long *out)
{
    if (t != JR_INT) {
        bad(d, at, name, "is not an integer");
        jr_skip(d->jr, t);
        return false;
    }
    *out = d->jr->integer;
    return true;
}

/* A count, size or age: the contract allows only integers from 0 to 2^63-1. */
static long long count(reader *d, jr_token t, const seg *at, const char *name)
{
    long long v = 0;
    if (!integer(d, t, at, name, &v))
        return 0;
    if (v < 0) {
        bad(d, at, name, "is %lld: it is a count, size or age and the format allows only 0 to 2^63-1", v);
        return 0;
    }
    return v;
}

static const char *string(reader *d, jr_token t, const seg *at, const char *name)
{
    if (t != JR_STRING) {
        bad(d, at, name, "is not a string");
        jr_skip(d->jr, t);
        return NULL;
    }
    return keep(d, d->jr->str, d->jr->len);
}

static uint64_t hex(reader *d, jr_token t, const seg *at, const char *name)
{
    if (t != JR_STRING) {
        bad(d, at, name, "is not a string");
        jr_skip(d->jr, t);
        return 0;
    }
    const char *s = d->jr->str;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 16);
    if (strncmp(s, "0x", 2) != 0 || errno || *end) {
        bad(d, at, name, "is not a 0x hex address (\"%.40s\")", s);
        return 0;
    }
    return v;
}

static bool is_module_index(const reader *d, long long m)
{
    return m >= -1 && (!d->modules_read || m < (long long)d->r->nmodules);
}

static void bad_module(reader *d, const seg *at, long long m)
{
    bad(d, at, "module", "%lld is not -1 or an index into modules (%zu entries)", m, d->r->nmodules);
}

/* ---- frames and stacks ------------------------------------------------------------------------------ */

static bool read_java(reader *d, const seg *at, lw_frame *f)
{
    static const char *const names[] = {"class", "method", "file", "line", "native", NULL};
    enum { CLASS, METHOD, FILE_, LINE, NATIVE };
    uint64_t seen = 0;
    seg w = {at, "java", -1};
    lw_java_frame j = {0};
    while (jr_next(d->jr) == JR_KEY) {
        int m = member(d, &w, names, &seen);
        jr_token t = jr_next(d->jr);
        if (t == JR_ERROR)
            return false;
        switch (m) {
        case CLASS: j.class_name = string(d, t, &w, "class"); break;
        case METHOD: j.method = string(d, t, &w, "method"); break;
        case FILE_: j.file = string(d, t, &w, "file"); break;
        case LINE: integer(d, t, &w, "line", &j.line); break;
        case NATIVE: j.native = t == JR_TRUE; jr_skip(d->jr, t); break;
        default: jr_skip(d->jr, t);
        }
    }
    if (d->jr->last == JR_ERROR)
        return false;
    if (!has(seen, CLASS))
        bad(d, &w, "class", "is missing");
    if (!has(seen, METHOD))
        bad(d, &w, "method", "is missing");
    lw_java_frame *kept = arena(d, sizeof *kept, true);
    if (!kept)
        return true;          /* out of memory (said), or a site let go */
    *kept = j;
    f->java = kept;
    /* Tools that know only functions and addresses (pprof, html, suppressions) see "Class.method" and a
     * made-up address per Java frame (class, method, line): the report gives Java frames no address. */
    if (j.class_name && j.method && !f->function) {
        size_t n = strlen(j.class_name) + strlen(j.method) + 2;
        char *name = malloc(n);
        if (name) {
            snprintf(name, n, "%s.%s", j.class_name, j.method);
            f->function = keep(d, name, n - 1);
            free(name);
        }
        uint64_t h = 0xcbf29ce484222325ull;
        for (const char *p = f->function ? f->function : ""; *p; p++)
            h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
        h = (h ^ (uint64_t)j.line) * 0x100000001b3ull;
        f->ip = h | (1ull << 63);
    }
    return true;
}

static bool read_frame(reader *d, const seg *at, lw_frame *f)
{
    static const char *const names[] = {"ip", "module", "offset", "function", "function_offset", "java", NULL};
    enum { IP, MODULE, OFFSET, FUNCTION, FUNCTION_OFFSET, JAVA };
    uint64_t seen = 0;
    long long m = -1;
    *f = (lw_frame){.module = -1};
    while (jr_next(d->jr) == JR_KEY) {
        int k = member(d, at, names, &seen);
        jr_token t = jr_next(d->jr);
        if (t == JR_ERROR)
            return false;
        switch (k) {
        case IP: f->ip = hex(d, t, at, "ip"); break;
        case MODULE:
            if (integer(d, t, at, "module", &m) && (!is_module_index(d, m) || m > 0x7fffffff))
                bad_module(d, at, m);
            break;
        case OFFSET: f->offset = hex(d, t, at, "offset"); break;
        case FUNCTION: f->function = string(d, t, at, "function"); break;
        case FUNCTION_OFFSET: f->function_offset = hex(d, t, at, "function_offset"); break;
        case JAVA:
            if (t == JR_OBJECT) {
                if (!read_java(d, at, f))
                    return false;
            } else {
                jr_skip(d->jr, t);
            }
            break;
        default: jr_skip(d->jr, t);
        }
    }
    if (d->jr->last == JR_ERROR)
        return false;
    if (!has(seen, IP))
        bad(d, at, "ip", "is missing");
    f->module = m >= -1 && m <= 0x7fffffff ? (int)m : -1;
    if (f->module < 0)
        f->offset = 0;
    return true;
}

/* A stack (array of frames) whose opening token t was read; its frames are copied out to st. */
static bool read_stack(reader *d, jr_token t, const seg *up, const char *name, lw_stack *st)
{
    *st = (lw_stack){0};
    if (t != JR_ARRAY) {
        bad(d, up, name, "is not an array");
        return jr_skip(d->jr, t);
    }
    d->nframes = 0;
    while ((t = jr_next(d->jr)) != JR_ARRAY_END) {
        if (t == JR_ERROR)
            return false;
        seg w = {up, name, (long)d->nframes};
        if (d->nframes == d->frames_cap) {
            size_t cap = d->frames_cap ? d->frames_cap * 2 : 64;
            lw_frame *v = realloc(d->frames, cap * sizeof *v);
            if (!v) {
                bad(d, &w, NULL, "out of memory");
                return jr_skip(d->jr, t) && jr_skip(d->jr, JR_ARRAY);
            }
            d->frames = v;
            d->frames_cap = cap;
        }
        if (t != JR_OBJECT) {
            bad(d, &w, NULL, "is not an object");
            if (!jr_skip(d->jr, t))
                return false;
            continue;
        }
        if (!read_frame(d, &w, &d->frames[d->nframes]))
            return false;
        d->nframes++;
    }
    if (d->nframes && !d->why[0] && (st->v = arena(d, d->nframes * sizeof *st->v, true))) {
        memcpy(st->v, d->frames, d->nframes * sizeof *st->v);
        st->n = d->nframes;
    }
    return true;
}

/* ---- leak groups and their access records ------------------------------------------------------------ */

static bool read_access(reader *d, const seg *at, lw_access *a)
{
    static const char *const names[] = {"kind", "age_ms", "thread", "detail", "frames", NULL};
    enum { KIND, AGE, THREAD, DETAIL, FRAMES };
    uint64_t seen = 0;
    *a = (lw_access){0};
    while (jr_next(d->jr) == JR_KEY) {
        int k = member(d, at, names, &seen);
        jr_token t = jr_next(d->jr);
        if (t == JR_ERROR)
            return false;
        switch (k) {
        case KIND: a->kind = string(d, t, at, "kind"); break;
        case AGE: a->age_ms = count(d, t, at, "age_ms"); break;
        case THREAD: a->thread = count(d, t, at, "thread"); break;
        case DETAIL: a->detail = string(d, t, at, "detail"); break;
        case FRAMES:
            if (!read_stack(d, t, at, "frames", &a->frames))
                return false;
            break;
        default: jr_skip(d->jr, t);
        }
    }
    return d->jr->last != JR_ERROR;
}

static bool read_leak(reader *d, const seg *at, lw_leak *l)
{
    static const char *const names[] = {"blocks", "bytes", "oldest_age_ms", "stack", "unstacked_blocks", "held_by",
                                        "full_stack", "since_previous_bytes", "created_at", "recent_access", NULL};
    enum { BLOCKS, BYTES, AGE, STACK, UNSTACKED, HELD_BY, FULL_STACK, SINCE, CREATED_AT, RECENT };
    uint64_t seen = 0;
    *l = (lw_leak){.full_stack = true};
    while (jr_next(d->jr) == JR_KEY) {
        int k = member(d, at, names, &seen);
        jr_token t = jr_next(d->jr);
        if (t == JR_ERROR)
            return false;
        switch (k) {
        case BLOCKS: l->blocks = count(d, t, at, "blocks"); break;
        case BYTES: l->bytes = count(d, t, at, "bytes"); break;
        case AGE: l->oldest_age_ms = count(d, t, at, "oldest_age_ms"); break;
        case STACK: {
            const char *s = string(d, t, at, "stack");
            l->representative = s && strcmp(s, "representative") == 0;
            break;
        }
        case UNSTACKED: l->unstacked_blocks = count(d, t, at, "unstacked_blocks"); break;
        case HELD_BY: l->held_by = string(d, t, at, "held_by"); break;
        /* absent in reports written before it was added: those always had a full stack or said nothing */
        case FULL_STACK: l->full_stack = t != JR_FALSE; jr_skip(d->jr, t); break;
        case SINCE:
            l->has_since = true;
            integer(d, t, at, "since_previous_bytes", &l->since_previous_bytes);
            break;
        case CREATED_AT:
            if (!read_stack(d, t, at, "created_at", &l->created_at))
                return false;
            break;
        case RECENT:
            if (t != JR_ARRAY) {
                bad(d, at, "recent_access", "is not an array");
                if (!jr_skip(d->jr, t))
                    return false;
                break;
            }
            d->naccess = 0;
            while ((t = jr_next(d->jr)) != JR_ARRAY_END) {
                if (t == JR_ERROR)
                    return false;
                seg w = {at, "recent_access", (long)d->naccess};
                if (d->naccess == d->access_cap) {
                    size_t cap = d->access_cap ? d->access_cap * 2 : 16;
                    lw_access *v = realloc(d->access, cap * sizeof *v);
                    if (!v) {
                        bad(d, &w, NULL, "out of memory");
                        return jr_skip(d->jr, t) && jr_skip(d->jr, JR_ARRAY);
                    }
                    d->access = v;
                    d->access_cap = cap;
                }
                if (t != JR_OBJECT) {
                    bad(d, &w, NULL, "is not an object");
                    if (!jr_skip(d->jr, t))
                        return false;
                    continue;
                }
                if (!read_access(d, &w, &d->access[d->naccess]))
                    return false;
                d->naccess++;
            }
            if (d->naccess && (l->recent = arena(d, d->naccess * sizeof *l->recent, true))) {
                memcpy(l->recent, d->access, d->naccess * sizeof *l->recent);
                l->nrecent = d->naccess;
            }
            break;
        default: jr_skip(d->jr, t);
        }
    }
    if (d->jr->last == JR_ERROR)
        return false;
    if (!has(seen, BLOCKS))
        bad(d, at, "blocks", "is missing");
    if (!has(seen, BYTES))
        bad(d, at, "bytes", "is missing");
    return true;
}

/* ---- sites ------------------------------------------------------------------------------------------ */

static bool read_site(reader *d, const seg *at, lw_site *s)
{
    static const char *const names[] = {"id", "kind", "live_bytes", "live_blocks", "samples",
                                        "reserved_untouched_bytes", "allocs", "frees", "bytes_allocated",
                                        "oldest_age_ms", "frames", "leaks", NULL};
    enum { ID, KIND, LIVE_BYTES, LIVE_BLOCKS, SAMPLES, RESERVED, ALLOCS, FREES, BYTES_ALLOCATED, AGE, FRAMES,
           LEAKS };
    uint64_t seen = 0;
    *s = (lw_site){.oldest_age_ms = -1};
    while (jr_next(d->jr) == JR_KEY) {
        int k = member(d, at, names, &seen);
        jr_token t = jr_next(d->jr);
        if (t == JR_ERROR)
            return false;
        switch (k) {
        case ID:
            /* ids are unique: not worth a place in the interning table */
            if (t == JR_STRING) {
                s->id = copy_out(d, d->jr->str, d->jr->len);
                if (d->jr->len != 16 || strspn(s->id, "0123456789abcdef") != 16)
                    bad(d, at, "id", "\"%.40s\" is not 16 hex digits", s->id);
                else
                    s->id_key = strtoull(s->id, NULL, 16);
            } else {
                string(d, t, at, "id");
            }
            break;
        case KIND: s->kind = string(d, t, at, "kind"); break;
        case LIVE_BYTES: s->live_bytes = count(d, t, at, "live_bytes"); break;
        case LIVE_BLOCKS: s->live_blocks = count(d, t, at, "live_blocks"); break;
        case SAMPLES: s->samples = count(d, t, at, "samples"); break;
        case RESERVED: s->reserved_untouched_bytes = count(d, t, at, "reserved_untouched_bytes"); break;
        case ALLOCS: s->allocs = count(d, t, at, "allocs"); break;
        case FREES: s->frees = count(d, t, at, "frees"); break;
        case BYTES_ALLOCATED: s->bytes_allocated = count(d, t, at, "bytes_allocated"); break;
        case AGE: s->oldest_age_ms = count(d, t, at, "oldest_age_ms"); break;
        case FRAMES:
            if (!read_stack(d, t, at, "frames", &s->frames))
                return false;
            break;
        case LEAKS:
            if (t != JR_ARRAY) {
                bad(d, at, "leaks", "is not an array");
                if (!jr_skip(d->jr, t))
                    return false;
                break;
            }
            d->nleaks = 0;
            while ((t = jr_next(d->jr)) != JR_ARRAY_END) {
                if (t == JR_ERROR)
                    return false;
                seg w = {at, "leaks", (long)d->nleaks};
                if (d->nleaks == d->leaks_cap) {
                    size_t cap = d->leaks_cap ? d->leaks_cap * 2 : 16;
                    lw_leak *v = realloc(d->leaks, cap * sizeof *v);
                    if (!v) {
                        bad(d, &w, NULL, "out of memory");
                        return jr_skip(d->jr, t) && jr_skip(d->jr, JR_ARRAY);
                    }
                    d->leaks = v;
                    d->leaks_cap = cap;
                }
                if (t != JR_OBJECT) {
                    bad(d, &w, NULL, "is not an object");
                    if (!jr_skip(d->jr, t))
                        return false;
                    continue;
                }
                lw_leak *l = &d->leaks[d->nleaks++];
                if (!read_leak(d, &w, l))
                    return false;
            }
            if (d->nleaks && (s->leaks = arena(d, d->nleaks * sizeof *s->leaks, true))) {
                memcpy(s->leaks, d->leaks, d->nleaks * sizeof *s->leaks);
                s->nleaks = d->nleaks;
            }
            break;
        default: jr_skip(d->jr, t);
        }
    }
    if (d->jr->last == JR_ERROR)
        return false;
    if (!has(seen, ID))
        bad(d, at, "id", "is missing");
    if (!has(seen, LIVE_BYTES))
        bad(d, at, "live_bytes", "is missing");
    if (!has(seen, LIVE_BLOCKS))
        bad(d, at, "live_blocks", "is missing");
    if (!has(seen, FRAMES))
        bad(d, at, "frames", "is missing");
    if (!s->kind)
        s->kind = "heap";
    return true;
}

static bool read_sites(reader *d, jr_token t)
{
    lw_report *r = d->r;
    if (t != JR_ARRAY) {
        bad(d, NULL, "sites", "is not an array");
        return jr_skip(d->jr, t);
    }
    while ((t = jr_next(d->jr)) != JR_ARRAY_END) {
        if (t == JR_ERROR)
            return false;
        seg w = {NULL, "sites", (long)d->nread++};
        if (d->why[0]) {
            /* the report is refused already: only the JSON's own soundness matters now */
            if (!jr_skip(d->jr, t))
                return false;
            continue;
        }
        if (t != JR_OBJECT) {
            bad(d, &w, NULL, "is not an object");
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
                bad(d, NULL, NULL, "out of memory for %zu sites", more);
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
        bool ok = read_site(d, &w, &s);
        d->in_site = false;
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

static bool read_modules(reader *d, jr_token t)
{
    static const char *const names[] = {"id", "path", "base", "build_id", NULL};
    lw_report *r = d->r;
    if (t != JR_ARRAY) {
        bad(d, NULL, "modules", "is not an array");
        return jr_skip(d->jr, t);
    }
    size_t cap = 0;
    while ((t = jr_next(d->jr)) != JR_ARRAY_END) {
        if (t == JR_ERROR)
            return false;
        seg w = {NULL, "modules", (long)r->nmodules};
        if (t != JR_OBJECT) {
            bad(d, &w, NULL, "is not an object");
            if (!jr_skip(d->jr, t))
                return false;
            continue;
        }
        if (r->nmodules == cap) {
            cap = cap ? cap * 2 : 16;
            lw_module *v = realloc(r->modules, cap * sizeof *v);
            if (!v) {
                bad(d, NULL, NULL, "out of memory");
                return jr_skip(d->jr, t) && jr_skip(d->jr, JR_ARRAY);
            }
            r->modules = v;
        }
        lw_module *m = &r->modules[r->nmodules++];
        *m = (lw_module){0};
        uint64_t seen = 0;
        while (jr_next(d->jr) == JR_KEY) {
            int k = member(d, &w, names, &seen);
            jr_token v = jr_next(d->jr);
            if (v == JR_ERROR)
                return false;
            switch (k) {
            case 0: integer(d, v, &w, "id", &m->id); break;
            case 1: m->path = string(d, v, &w, "path"); break;
            case 2: m->base = hex(d, v, &w, "base"); break;
            case 3: m->build_id = string(d, v, &w, "build_id"); break;
            default: jr_skip(d->jr, v);
            }
        }
        if (d->jr->last == JR_ERROR)
            return false;
        if (!has(seen, 1))
            bad(d, &w, "path", "is missing");
    }
    return true;
}

/* An object of counts (config, totals, java_heap): names[i] goes to *out[i]; signed_ok[i] allows negatives. */
static bool read_counts(reader *d, jr_token t, const char *name, const char *const *names, long long *const *out)
{
    if (t != JR_OBJECT)
        return jr_skip(d->jr, t);     /* not the shape this reader knows: ignored, as an unknown member */
    seg w = {NULL, name, -1};
    uint64_t seen = 0;
    while (jr_next(d->jr) == JR_KEY) {
        int k = member(d, &w, names, &seen);
        jr_token v = jr_next(d->jr);
        if (v == JR_ERROR)
            return false;
        if (k >= 0)
            *out[k] = count(d, v, &w, names[k]);
        else if (!jr_skip(d->jr, v))
            return false;
    }
    return d->jr->last != JR_ERROR;
}

/* Modules read after the sites: their indexes are checked now, with the same message and path. */
static void check_stack_modules(reader *d, const seg *up, const char *name, const lw_stack *st)
{
    for (size_t i = 0; i < st->n && !d->why[0]; i++)
        if (st->v[i].module >= (long long)d->r->nmodules) {
            seg w = {up, name, (long)i};
            bad_module(d, &w, st->v[i].module);
        }
}

static void check_late_modules(reader *d)
{
    for (size_t i = 0; i < d->r->nsites && !d->why[0]; i++) {
        const lw_site *s = &d->r->sites[i];
        seg w = {NULL, "sites", (long)i};
        check_stack_modules(d, &w, "frames", &s->frames);
        for (size_t j = 0; j < s->nleaks; j++) {
            seg lw = {&w, "leaks", (long)j};
            check_stack_modules(d, &lw, "created_at", &s->leaks[j].created_at);
            for (size_t k = 0; k < s->leaks[j].nrecent; k++) {
                seg aw = {&lw, "recent_access", (long)k};
                check_stack_modules(d, &aw, "frames", &s->leaks[j].recent[k].frames);
            }
        }
    }
}

static bool read_root(reader *d)
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
        int k = member(d, NULL, names, &seen);
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
        case PID: r->pid = count(d, t, NULL, "pid"); break;
        case PPID: r->ppid = count(d, t, NULL, "ppid"); break;
        case PROGRAM: r->program = string(d, t, NULL, "program"); break;
        case REASON: r->reason = string(d, t, NULL, "reason"); break;
        case SEQ: r->seq = count(d, t, NULL, "seq"); break;
        case PREVIOUS_SEQ: r->previous_seq = count(d, t, NULL, "previous_seq"); break;
        case TIME: r->time = string(d, t, NULL, "time"); break;
        case UPTIME: r->uptime_ms = count(d, t, NULL, "uptime_ms"); break;
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
    if (sites_read && !d->modules_read)
        check_late_modules(d);
    r->time_ms = lw_parse_time_ms(r->time);
    /* config holds the setting; the exit report applies 0 (every live block is a leak then). */
    if (r->reason && strcmp(r->reason, "exit") == 0)
        r->min_age_ms = 0;
    /* What is missing is said before what is wrong inside, as the contract lists the members. */
    char missing[160] = "";
    if (!has(seen, PID))
        snprintf(missing, sizeof missing, "pid is missing");
    else if (!has(seen, PROGRAM))
        snprintf(missing, sizeof missing, "program is missing");
    else if (!has(seen, SEQ))
        snprintf(missing, sizeof missing, "seq is missing");
    else if (!has(seen, SITES))
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
static void check_ids(reader *d)
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
    reader d = {.jr = jr, .r = r};
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
            free(d.frames);
            return false;
        }
    }
    free(d.frames);
    free(d.leaks);
    free(d.access);
    free(d.interned);
    free(d.ids);
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

void model_read_free_strings(lw_report *r)
{
    for (struct lw_strings *k = r->strings, *next; k; k = next) {
        next = k->next;
        free(k);
    }
    r->strings = NULL;
}

void model_read_free_sites(lw_report *r)
{
    free(r->sites);         /* their stacks, groups and records are in the chunks */
    r->sites = NULL;
    r->nsites = 0;
}
