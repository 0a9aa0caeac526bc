/* pprof.c — report to profile.proto (see pprof.h). Field numbers are those of google/pprof's
 * proto/profile.proto. Strings, functions and locations are interned through small open-addressing tables
 * so a report of a million sites stays linear. */
#include "pprof.h"
#include "protobuf.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* profile.proto field numbers. */
enum { PROFILE_SAMPLE_TYPE = 1, PROFILE_SAMPLE = 2, PROFILE_MAPPING = 3, PROFILE_LOCATION = 4,
       PROFILE_FUNCTION = 5, PROFILE_STRING_TABLE = 6, PROFILE_TIME_NANOS = 9, PROFILE_PERIOD_TYPE = 11,
       PROFILE_PERIOD = 12, PROFILE_COMMENT = 13, PROFILE_DEFAULT_SAMPLE_TYPE = 14 };
enum { VALUE_TYPE_TYPE = 1, VALUE_TYPE_UNIT = 2 };
enum { SAMPLE_LOCATION_ID = 1, SAMPLE_VALUE = 2, SAMPLE_LABEL = 3 };
enum { LABEL_KEY = 1, LABEL_STR = 2, LABEL_NUM = 3, LABEL_NUM_UNIT = 4 };
enum { MAPPING_ID = 1, MAPPING_MEMORY_START = 2, MAPPING_MEMORY_LIMIT = 3, MAPPING_FILE_OFFSET = 4,
       MAPPING_FILENAME = 5, MAPPING_BUILD_ID = 6, MAPPING_HAS_FUNCTIONS = 7, MAPPING_HAS_FILENAMES = 8,
       MAPPING_HAS_LINE_NUMBERS = 9 };
enum { LOCATION_ID = 1, LOCATION_MAPPING_ID = 2, LOCATION_ADDRESS = 3, LOCATION_LINE = 4 };
enum { LINE_FUNCTION_ID = 1, LINE_LINE = 2 };
enum { FUNCTION_ID = 1, FUNCTION_NAME = 2, FUNCTION_SYSTEM_NAME = 3, FUNCTION_FILENAME = 4 };

/* Go's heap profile order; inuse_space is the default view. */
enum { V_ALLOC_OBJECTS, V_ALLOC_SPACE, V_INUSE_OBJECTS, V_INUSE_SPACE, NVALUES };

/* An open-addressing table from a 64-bit key to a nonzero 64-bit value (0 marks an empty slot). */
typedef struct {
    uint64_t *keys, *vals;
    size_t cap, n;
} idmap;

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static bool idmap_grow(idmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    uint64_t *k = calloc(cap, sizeof *k), *v = calloc(cap, sizeof *v);
    if (!k || !v) {
        free(k);
        free(v);
        return false;
    }
    for (size_t i = 0; i < m->cap; i++)
        if (m->vals[i])
            for (size_t j = mix(m->keys[i]) & (cap - 1);; j = (j + 1) & (cap - 1))
                if (!v[j]) {
                    k[j] = m->keys[i];
                    v[j] = m->vals[i];
                    break;
                }
    free(m->keys);
    free(m->vals);
    m->keys = k;
    m->vals = v;
    m->cap = cap;
    return true;
}

static void idmap_free(idmap *m)
{
    free(m->keys);
    free(m->vals);
}

/* The slot of key: its value, or 0 with *slot where it would go. */
static uint64_t idmap_get(const idmap *m, uint64_t key, size_t *slot)
{
    for (size_t j = mix(key) & (m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
        if (!m->vals[j] || m->keys[j] == key) {
            *slot = j;
            return m->vals[j];
        }
    }
}

typedef struct {
    pb_buf out;               /* the Profile message, in field order as fields are complete */
    pb_buf locations, functions;
    idmap strings;            /* FNV-1a hash of the text -> index + 1 (collisions checked against text) */
    const char **text;        /* string table */
    char **owned;             /* strings made here, freed at the end */
    size_t ntext, nowned;
    idmap locs;               /* ip -> location id */
    idmap funcs;              /* (name index, mapping id) -> function id */
    uint64_t nlocs, nfuncs;
    uint64_t *limits;         /* per module: one past the highest frame address seen */
    bool *named;              /* per module: some frame in it has a function name */
    bool *lined;              /* per module: some frame in it has a source line */
    const lw_report *r;
    lines *lines;             /* NULL: no source lines */
    bool failed;
} pprof_ctx;

static uint64_t fnv(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

static bool room(pprof_ctx *c, idmap *m)
{
    if (m->n * 2 >= m->cap && !idmap_grow(m))
        c->failed = true;
    return !c->failed;
}

/* Index of s in the string table; s must outlive the context (report text or owned). */
static int64_t str_index(pprof_ctx *c, const char *s)
{
    if (!room(c, &c->strings))
        return 0;
    uint64_t h = fnv(s);
    for (;; h++) {
        size_t slot;
        uint64_t v = idmap_get(&c->strings, h, &slot);
        if (v && strcmp(c->text[v - 1], s) == 0)
            return (int64_t)(v - 1);
        if (v)
            continue; /* another string with this hash: probe the next key */
        const char **t = realloc(c->text, (c->ntext + 1) * sizeof *t);
        if (!t) {
            c->failed = true;
            return 0;
        }
        c->text = t;
        c->text[c->ntext++] = s;
        c->strings.keys[slot] = h;
        c->strings.vals[slot] = c->ntext;
        c->strings.n++;
        return (int64_t)(c->ntext - 1);
    }
}

static int64_t str_owned(pprof_ctx *c, const char *s)
{
    char *d = strdup(s);
    char **o = d ? realloc(c->owned, (c->nowned + 1) * sizeof *o) : NULL;
    if (!o) {
        free(d);
        c->failed = true;
        return 0;
    }
    c->owned = o;
    c->owned[c->nowned++] = d;
    return str_index(c, d);
}

static uint64_t function_id(pprof_ctx *c, const char *name, uint64_t mapping, int64_t file)
{
    int64_t n = str_index(c, name);
    if (!room(c, &c->funcs))
        return 0;
    size_t slot;
    uint64_t key = ((uint64_t)n << 20) ^ mapping, id = idmap_get(&c->funcs, key, &slot);
    if (id)
        return id;
    id = ++c->nfuncs;
    c->funcs.keys[slot] = key;
    c->funcs.vals[slot] = id;
    c->funcs.n++;
    pb_buf f;
    pb_init(&f);
    pb_uint(&f, FUNCTION_ID, id);
    pb_int(&f, FUNCTION_NAME, n);
    pb_int(&f, FUNCTION_SYSTEM_NAME, n);
    if (file)
        pb_int(&f, FUNCTION_FILENAME, file);
    pb_message(&c->functions, PROFILE_FUNCTION, &f);
    pb_free(&f);
    return id;
}

static uint64_t location_id(pprof_ctx *c, const lw_frame *fr)
{
    if (!room(c, &c->locs))
        return 0;
    size_t slot;
    uint64_t id = idmap_get(&c->locs, fr->ip, &slot);
    if (id)
        return id;
    id = ++c->nlocs;
    c->locs.keys[slot] = fr->ip;
    c->locs.vals[slot] = id;
    c->locs.n++;
    uint64_t mapping = fr->module >= 0 ? (uint64_t)fr->module + 1 : 0;
    pb_buf l;
    pb_init(&l);
    pb_uint(&l, LOCATION_ID, id);
    if (mapping)
        pb_uint(&l, LOCATION_MAPPING_ID, mapping);
    pb_uint(&l, LOCATION_ADDRESS, fr->ip);
    if (fr->function) {
        long long lineno = 0;
        int64_t file = 0;
        char src[4096];
        const lw_module *m = mapping && (size_t)fr->module < c->r->nmodules ? &c->r->modules[fr->module] : NULL;
        if (fr->java) {
            lineno = fr->java->line;
            file = fr->java->file ? str_index(c, fr->java->file) : 0;
        } else if (c->lines && m && m->path && lines_lookup(c->lines, m->path, m->base, fr->offset, src, sizeof src)) {
            char *colon = strrchr(src, ':');
            if (colon) {
                *colon = '\0';
                lineno = atoll(colon + 1);
                file = str_owned(c, src);
                c->lined[fr->module] = true;
            }
        }
        pb_buf line;
        pb_init(&line);
        pb_uint(&line, LINE_FUNCTION_ID, function_id(c, fr->function, mapping, file));
        if (lineno > 0)
            pb_int(&line, LINE_LINE, lineno);
        pb_message(&l, LOCATION_LINE, &line);
        pb_free(&line);
    }
    pb_message(&c->locations, PROFILE_LOCATION, &l);
    pb_free(&l);
    return id;
}

/* A stack with no frames at all (the site table's overflow site) still needs a place in the profile. */
static uint64_t placeholder_location(pprof_ctx *c, const char *what)
{
    lw_frame f = {.ip = 0, .module = -1, .function = what};
    return location_id(c, &f);
}

static void label_str(pb_buf *s, pprof_ctx *c, const char *key, int64_t val)
{
    pb_buf l;
    pb_init(&l);
    pb_int(&l, LABEL_KEY, str_index(c, key));
    pb_int(&l, LABEL_STR, val);
    pb_message(s, SAMPLE_LABEL, &l);
    pb_free(&l);
}

static void label_num(pb_buf *s, pprof_ctx *c, const char *key, long long v, const char *unit)
{
    pb_buf l;
    pb_init(&l);
    pb_int(&l, LABEL_KEY, str_index(c, key));
    pb_int(&l, LABEL_NUM, v);
    pb_int(&l, LABEL_NUM_UNIT, str_index(c, unit));
    pb_message(s, SAMPLE_LABEL, &l);
    pb_free(&l);
}

/* One sample: stack newest first (pprof's leaf-first order too), values, and the site's labels. */
static void add_sample(pprof_ctx *c, const lw_site *s, const lw_stack *st, const int64_t v[NVALUES],
                       long long oldest_ms, int64_t record, int64_t stack)
{
    uint64_t stack_ids[256];
    size_t n = 0;
    for (size_t i = 0; i < st->n && n < sizeof stack_ids / sizeof stack_ids[0]; i++)
        stack_ids[n++] = location_id(c, &st->v[i]);
    if (n == 0)
        stack_ids[n++] = placeholder_location(c, "[site table overflow: no stack]");
    uint64_t vals[NVALUES];
    for (int i = 0; i < NVALUES; i++)
        vals[i] = (uint64_t)v[i];
    pb_buf smp;
    pb_init(&smp);
    pb_packed(&smp, SAMPLE_LOCATION_ID, stack_ids, n);
    pb_packed(&smp, SAMPLE_VALUE, vals, NVALUES);
    label_str(&smp, c, "site", str_index(c, s->id));
    label_str(&smp, c, "kind", str_index(c, s->kind));
    label_str(&smp, c, "record", record);
    if (stack)
        label_str(&smp, c, "stack", stack);
    if (oldest_ms >= 0)
        label_num(&smp, c, "oldest_age", oldest_ms, "ms");
    pb_message(&c->out, PROFILE_SAMPLE, &smp);
    pb_free(&smp);
}

static void note_frames(pprof_ctx *c, const lw_report *r, const lw_stack *st)
{
    for (size_t i = 0; i < st->n; i++) {
        const lw_frame *f = &st->v[i];
        if (f->module < 0 || (size_t)f->module >= r->nmodules)
            continue;
        if (f->ip + 1 > c->limits[f->module])
            c->limits[f->module] = f->ip + 1;
        c->named[f->module] |= f->function != NULL;
    }
}

static void value_type(pprof_ctx *c, unsigned field, const char *type, const char *unit)
{
    pb_buf vt;
    pb_init(&vt);
    pb_int(&vt, VALUE_TYPE_TYPE, str_index(c, type));
    pb_int(&vt, VALUE_TYPE_UNIT, str_index(c, unit));
    pb_message(&c->out, field, &vt);
    pb_free(&vt);
}

static void encode(pprof_ctx *c, const lw_report *r)
{
    str_index(c, ""); /* string_table[0] must be "" */
    value_type(c, PROFILE_SAMPLE_TYPE, "alloc_objects", "count");
    value_type(c, PROFILE_SAMPLE_TYPE, "alloc_space", "bytes");
    value_type(c, PROFILE_SAMPLE_TYPE, "inuse_objects", "count");
    value_type(c, PROFILE_SAMPLE_TYPE, "inuse_space", "bytes");
    for (size_t i = 0; i < r->nsites; i++) {
        const lw_site *s = &r->sites[i];
        /* a mapping's reserved, untouched pages hold no memory: not in use */
        long long blocks = s->live_blocks, bytes = s->live_bytes - s->reserved_untouched_bytes;
        for (size_t k = 0; k < s->nleaks; k++) {
            const lw_leak *g = &s->leaks[k];
            int64_t v[NVALUES] = {0, 0, g->blocks, g->bytes};
            char rec[32];
            snprintf(rec, sizeof rec, "%zu", k + 1);
            add_sample(c, s, g->created_at.n ? &g->created_at : &s->frames, v, g->oldest_age_ms, str_owned(c, rec),
                       str_index(c, g->representative ? "representative" : "own"));
            note_frames(c, r, &g->created_at);
            blocks -= g->blocks;
            bytes -= g->bytes;
        }
        /* Blocks younger than the report's min_age are in no leak record; the site's own counters still count
         * them, and its allocation totals belong to the site as a whole: both go on the site's key frames. */
        int64_t v[NVALUES] = {s->allocs, s->bytes_allocated, blocks > 0 ? blocks : 0, bytes > 0 ? bytes : 0};
        if (v[0] || v[1] || v[2] || v[3])
            add_sample(c, s, &s->frames, v, -1, str_index(c, "none"), 0);
        note_frames(c, r, &s->frames);
    }
    for (size_t m = 0; m < r->nmodules; m++) {
        const lw_module *mod = &r->modules[m];
        pb_buf mp;
        pb_init(&mp);
        pb_uint(&mp, MAPPING_ID, m + 1);
        pb_uint(&mp, MAPPING_MEMORY_START, mod->base);
        pb_uint(&mp, MAPPING_MEMORY_LIMIT, c->limits[m] > mod->base ? c->limits[m] : mod->base + 1);
        pb_uint(&mp, MAPPING_FILE_OFFSET, 0);
        pb_int(&mp, MAPPING_FILENAME, str_index(c, mod->path ? mod->path : ""));
        if (mod->build_id)
            pb_int(&mp, MAPPING_BUILD_ID, str_index(c, mod->build_id));
        pb_uint(&mp, MAPPING_HAS_FUNCTIONS, c->named[m]);
        pb_uint(&mp, MAPPING_HAS_FILENAMES, c->lined[m]);
        pb_uint(&mp, MAPPING_HAS_LINE_NUMBERS, c->lined[m]);
        pb_message(&c->out, PROFILE_MAPPING, &mp);
        pb_free(&mp);
    }
    pb_raw(&c->out, &c->locations);
    pb_raw(&c->out, &c->functions);
    if (isfinite(r->time_ms))
        pb_int(&c->out, PROFILE_TIME_NANOS, (int64_t)(r->time_ms * 1e6));
    value_type(c, PROFILE_PERIOD_TYPE, "space", "bytes");
    pb_int(&c->out, PROFILE_PERIOD, 1); /* every block is counted: nothing to scale */
    char comment[512];
    snprintf(comment, sizeof comment, "leakwatch report #%lld (%s) of %s, PID %lld", r->seq, r->reason ? r->reason : "?",
             r->program ? r->program : "?", r->pid);
    pb_int(&c->out, PROFILE_COMMENT, str_owned(c, comment));
    pb_int(&c->out, PROFILE_DEFAULT_SAMPLE_TYPE, str_index(c, "inuse_space"));
    for (size_t i = 0; i < c->ntext; i++)
        pb_string(&c->out, PROFILE_STRING_TABLE, c->text[i]);
}

static bool gzip_out(FILE *out, const pb_buf *b, char *err, size_t errlen)
{
    z_stream z = {0};
    /* windowBits 15 + 16: a gzip header and trailer, as pprof expects on disk and over HTTP. */
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        snprintf(err, errlen, "zlib could not start compressing (out of memory?)");
        return false;
    }
    unsigned char chunk[65536];
    size_t done = 0;
    int rc;
    do {
        size_t take = b->len - done > (1u << 30) ? (1u << 30) : b->len - done;
        z.next_in = b->data + done;
        z.avail_in = (uInt)take;
        done += take;
        int flush = done == b->len ? Z_FINISH : Z_NO_FLUSH;
        do {
            z.next_out = chunk;
            z.avail_out = sizeof chunk;
            rc = deflate(&z, flush);
            fwrite(chunk, 1, sizeof chunk - z.avail_out, out);
        } while (z.avail_out == 0);
    } while (rc != Z_STREAM_END && done < b->len);
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        snprintf(err, errlen, "zlib failed to compress the profile (error %d)", rc);
        return false;
    }
    return true;
}

bool pprof_write(FILE *out, const lw_report *r, lines *L, char *err, size_t errlen)
{
    pprof_ctx c = {.r = r, .lines = L};
    pb_init(&c.out);
    pb_init(&c.locations);
    pb_init(&c.functions);
    c.limits = calloc(r->nmodules + 1, sizeof *c.limits);
    c.named = calloc(r->nmodules + 1, sizeof *c.named);
    c.lined = calloc(r->nmodules + 1, sizeof *c.lined);
    c.failed = !c.limits || !c.named || !c.lined || !idmap_grow(&c.strings) || !idmap_grow(&c.locs) || !idmap_grow(&c.funcs);
    if (!c.failed)
        encode(&c, r);
    bool ok = !c.failed && !c.out.failed && !c.locations.failed && !c.functions.failed;
    if (!ok)
        snprintf(err, errlen, "%s: out of memory while encoding the profile", r->file);
    else
        ok = gzip_out(out, &c.out, err, errlen);
    pb_free(&c.out);
    pb_free(&c.locations);
    pb_free(&c.functions);
    idmap_free(&c.strings);
    idmap_free(&c.locs);
    idmap_free(&c.funcs);
    for (size_t i = 0; i < c.nowned; i++)
        free(c.owned[i]);
    free(c.owned);
    free(c.text);
    free(c.limits);
    free(c.named);
    free(c.lined);
    return ok;
}
