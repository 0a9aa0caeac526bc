/* model_site.c — one site of a report: its frames (native and Java), leak groups and access records, read
 * from the JSON tokens and checked against the contract (see model_decode.h). A stack, the groups of a
 * site and the records of a group are gathered in scratch arrays of the reader, then copied to the
 * report's chunks in one piece. */
#include "model_decode.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- frames and stacks ------------------------------------------------------------------------------ */

static bool read_java(md_reader *d, const md_seg *at, lw_frame *f)
{
    static const char *const names[] = {"class", "method", "file", "line", "native", "inlined", NULL};
    enum { CLASS, METHOD, FILE_, LINE, NATIVE, INLINED };
    uint64_t seen = 0;
    md_seg w = {at, "java", -1};
    lw_java_frame j = {0};
    while (jr_next(d->jr) == JR_KEY) {
        int m = md_member(d, &w, names, &seen);
        jr_token t = jr_next(d->jr);
        if (t == JR_ERROR)
            return false;
        switch (m) {
        case CLASS: j.class_name = md_string(d, t, &w, "class"); break;
        case METHOD: j.method = md_string(d, t, &w, "method"); break;
        case FILE_: j.file = md_string(d, t, &w, "file"); break;
        case LINE: md_integer(d, t, &w, "line", &j.line); break;
        case NATIVE: j.native = t == JR_TRUE; jr_skip(d->jr, t); break;
        case INLINED: j.inlined = t == JR_TRUE; jr_skip(d->jr, t); break;
        default: jr_skip(d->jr, t);
        }
    }
    if (d->jr->last == JR_ERROR)
        return false;
    if (!md_has(seen, CLASS))
        md_bad(d, &w, "class", "is missing");
    if (!md_has(seen, METHOD))
        md_bad(d, &w, "method", "is missing");
    lw_java_frame *kept = md_arena(d, sizeof *kept, true);
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
            f->function = md_keep(d, name, n - 1);
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

static bool read_frame(md_reader *d, const md_seg *at, void *slot)
{
    lw_frame *f = slot;
    static const char *const names[] = {"ip", "module", "offset", "function", "function_offset", "java", NULL};
    enum { IP, MODULE, OFFSET, FUNCTION, FUNCTION_OFFSET, JAVA };
    uint64_t seen = 0;
    long long m = -1;
    *f = (lw_frame){.module = -1};
    while (jr_next(d->jr) == JR_KEY) {
        int k = md_member(d, at, names, &seen);
        jr_token t = jr_next(d->jr);
        if (t == JR_ERROR)
            return false;
        switch (k) {
        case IP: f->ip = md_hex(d, t, at, "ip"); break;
        case MODULE:
            if (md_integer(d, t, at, "module", &m) && (!md_is_module_index(d, m) || m > 0x7fffffff))
                md_bad_module(d, at, m);
            break;
        case OFFSET: f->offset = md_hex(d, t, at, "offset"); break;
        case FUNCTION: f->function = md_string(d, t, at, "function"); break;
        case FUNCTION_OFFSET: f->function_offset = md_hex(d, t, at, "function_offset"); break;
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
    if (!md_has(seen, IP))
        md_bad(d, at, "ip", "is missing");
    f->module = m >= -1 && m <= 0x7fffffff ? (int)m : -1;
    if (f->module < 0)
        f->offset = 0;
    else if (d->in_site && !d->modules_read)
        md_note_late_frame(d, at, f->module);
    return true;
}

/* A stack (array of frames) whose opening token t was read; its frames are copied out to st. */
bool md_read_stack(md_reader *d, jr_token t, const md_seg *up, const char *name, lw_stack *st)
{
    *st = (lw_stack){0};
    d->stack_max = -1;
    if (!md_read_objects(d, t, up, name, &d->frames, &d->nframes, &d->frames_cap, sizeof *d->frames, 64, read_frame))
        return false;
    if (d->nframes && !d->why[0] && (st->v = md_arena(d, d->nframes * sizeof *st->v, true))) {
        memcpy(st->v, d->frames, d->nframes * sizeof *st->v);
        st->n = d->nframes;
    }
    return true;
}

/* ---- leak groups and their access records ------------------------------------------------------------ */

static bool read_access(md_reader *d, const md_seg *at, void *slot)
{
    lw_access *a = slot;
    static const char *const names[] = {"kind", "age_ms", "thread", "detail", "frames", NULL};
    enum { KIND, AGE, THREAD, DETAIL, FRAMES };
    uint64_t seen = 0;
    *a = (lw_access){0};
    while (jr_next(d->jr) == JR_KEY) {
        int k = md_member(d, at, names, &seen);
        jr_token t = jr_next(d->jr);
        if (t == JR_ERROR)
            return false;
        switch (k) {
        case KIND: a->kind = md_string(d, t, at, "kind"); break;
        case AGE: a->age_ms = md_count(d, t, at, "age_ms"); break;
        case THREAD: a->thread = md_count(d, t, at, "thread"); break;
        case DETAIL: a->detail = md_string(d, t, at, "detail"); break;
        case FRAMES:
            if (!md_read_stack(d, t, at, "frames", &a->frames))
                return false;
            break;
        default: jr_skip(d->jr, t);
        }
    }
    return d->jr->last != JR_ERROR;
}

/* "class_exact":{"objects":N,"bytes":N}: the report's count of every object of the site's class. */
static bool read_class_exact(md_reader *d, jr_token t, const md_seg *up, lw_leak *l)
{
    if (t != JR_OBJECT)
        return jr_skip(d->jr, t);     /* not the shape this reader knows: ignored, as an unknown member */
    static const char *const names[] = {"objects", "bytes", NULL};
    md_seg w = {up, "class_exact", -1};
    uint64_t seen = 0;
    while (jr_next(d->jr) == JR_KEY) {
        int k = md_member(d, &w, names, &seen);
        jr_token v = jr_next(d->jr);
        if (v == JR_ERROR)
            return false;
        if (k == 0)
            l->class_exact_objects = md_count(d, v, &w, "objects");
        else if (k == 1)
            l->class_exact_bytes = md_count(d, v, &w, "bytes");
        else if (!jr_skip(d->jr, v))
            return false;
    }
    if (d->jr->last == JR_ERROR)
        return false;
    if (!md_has(seen, 0))
        md_bad(d, &w, "objects", "is missing");
    if (!md_has(seen, 1))
        md_bad(d, &w, "bytes", "is missing");
    l->has_class_exact = true;
    return true;
}

static bool read_leak(md_reader *d, const md_seg *at, void *slot)
{
    lw_leak *l = slot;
    static const char *const names[] = {"blocks", "bytes", "oldest_age_ms", "stack", "unstacked_blocks", "held_by",
                                        "full_stack", "since_previous_bytes", "created_at", "recent_access",
                                        "recent_growth_bytes", "recent_growth_ms", "class_exact", NULL};
    enum { BLOCKS, BYTES, AGE, STACK, UNSTACKED, HELD_BY, FULL_STACK, SINCE, CREATED_AT, RECENT, RECENT_GROWTH,
           RECENT_GROWTH_MS, CLASS_EXACT };
    uint64_t seen = 0;
    *l = (lw_leak){.full_stack = true};
    while (jr_next(d->jr) == JR_KEY) {
        int k = md_member(d, at, names, &seen);
        jr_token t = jr_next(d->jr);
        if (t == JR_ERROR)
            return false;
        switch (k) {
        case BLOCKS: l->blocks = md_count(d, t, at, "blocks"); break;
        case BYTES: l->bytes = md_count(d, t, at, "bytes"); break;
        case AGE: l->oldest_age_ms = md_count(d, t, at, "oldest_age_ms"); break;
        case STACK: {
            const char *s = md_string(d, t, at, "stack");
            l->representative = s && strcmp(s, "representative") == 0;
            break;
        }
        case UNSTACKED: l->unstacked_blocks = md_count(d, t, at, "unstacked_blocks"); break;
        case HELD_BY: l->held_by = md_string(d, t, at, "held_by"); break;
        case CLASS_EXACT:
            if (!read_class_exact(d, t, at, l))
                return false;
            break;
        /* absent in reports written before it was added: those always had a full stack or said nothing */
        case FULL_STACK: l->full_stack = t != JR_FALSE; jr_skip(d->jr, t); break;
        case SINCE:
            l->has_since = true;
            md_integer(d, t, at, "since_previous_bytes", &l->since_previous_bytes);
            break;
        case RECENT_GROWTH: md_integer(d, t, at, "recent_growth_bytes", &l->recent_growth_bytes); break;
        case RECENT_GROWTH_MS: l->recent_growth_ms = md_count(d, t, at, "recent_growth_ms"); break;
        case CREATED_AT:
            if (!md_read_stack(d, t, at, "created_at", &l->created_at))
                return false;
            break;
        case RECENT:
            if (!md_read_objects(d, t, at, "recent_access", &d->access, &d->naccess, &d->access_cap,
                                 sizeof *d->access, 16, read_access))
                return false;
            if (d->naccess && (l->recent = md_arena(d, d->naccess * sizeof *l->recent, true))) {
                memcpy(l->recent, d->access, d->naccess * sizeof *l->recent);
                l->nrecent = d->naccess;
            }
            break;
        default: jr_skip(d->jr, t);
        }
    }
    if (d->jr->last == JR_ERROR)
        return false;
    if (!md_has(seen, BLOCKS))
        md_bad(d, at, "blocks", "is missing");
    if (!md_has(seen, BYTES))
        md_bad(d, at, "bytes", "is missing");
    return true;
}

/* ---- sites ------------------------------------------------------------------------------------------ */

bool md_read_site(md_reader *d, const md_seg *at, lw_site *s)
{
    static const char *const names[] = {"id", "kind", "live_bytes", "live_blocks", "samples",
                                        "reserved_untouched_bytes", "allocs", "frees", "bytes_allocated",
                                        "oldest_age_ms", "frames", "leaks", "class", NULL};
    enum { ID, KIND, LIVE_BYTES, LIVE_BLOCKS, SAMPLES, RESERVED, ALLOCS, FREES, BYTES_ALLOCATED, AGE, FRAMES,
           LEAKS, CLASS };
    uint64_t seen = 0;
    *s = (lw_site){.oldest_age_ms = -1};
    while (jr_next(d->jr) == JR_KEY) {
        int k = md_member(d, at, names, &seen);
        jr_token t = jr_next(d->jr);
        if (t == JR_ERROR)
            return false;
        switch (k) {
        case ID:
            /* ids are unique: not worth a place in the interning table */
            if (t == JR_STRING) {
                s->id = md_copy_out(d, d->jr->str, d->jr->len);
                if (d->jr->len != 16 || strspn(s->id, "0123456789abcdef") != 16)
                    md_bad(d, at, "id", "\"%.40s\" is not 16 hex digits", s->id);
                else
                    s->id_key = strtoull(s->id, NULL, 16);
            } else {
                md_string(d, t, at, "id");
            }
            break;
        case KIND: s->kind = md_string(d, t, at, "kind"); break;
        case CLASS: s->class_name = md_string(d, t, at, "class"); break;
        case LIVE_BYTES: s->live_bytes = md_count(d, t, at, "live_bytes"); break;
        case LIVE_BLOCKS: s->live_blocks = md_count(d, t, at, "live_blocks"); break;
        case SAMPLES: s->samples = md_count(d, t, at, "samples"); break;
        case RESERVED: s->reserved_untouched_bytes = md_count(d, t, at, "reserved_untouched_bytes"); break;
        case ALLOCS: s->allocs = md_count(d, t, at, "allocs"); break;
        case FREES: s->frees = md_count(d, t, at, "frees"); break;
        case BYTES_ALLOCATED: s->bytes_allocated = md_count(d, t, at, "bytes_allocated"); break;
        case AGE: s->oldest_age_ms = md_count(d, t, at, "oldest_age_ms"); break;
        case FRAMES:
            if (!md_read_stack(d, t, at, "frames", &s->frames))
                return false;
            break;
        case LEAKS:
            if (!md_read_objects(d, t, at, "leaks", &d->leaks, &d->nleaks, &d->leaks_cap, sizeof *d->leaks, 16,
                                 read_leak))
                return false;
            if (d->nleaks && (s->leaks = md_arena(d, d->nleaks * sizeof *s->leaks, true))) {
                memcpy(s->leaks, d->leaks, d->nleaks * sizeof *s->leaks);
                s->nleaks = d->nleaks;
            }
            break;
        default: jr_skip(d->jr, t);
        }
    }
    if (d->jr->last == JR_ERROR)
        return false;
    if (!md_has(seen, ID))
        md_bad(d, at, "id", "is missing");
    if (!md_has(seen, LIVE_BYTES))
        md_bad(d, at, "live_bytes", "is missing");
    if (!md_has(seen, LIVE_BLOCKS))
        md_bad(d, at, "live_blocks", "is missing");
    if (!md_has(seen, FRAMES))
        md_bad(d, at, "frames", "is missing");
    if (!s->kind)
        s->kind = "heap";
    return true;
}
