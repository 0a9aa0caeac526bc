/* model_decode.c — the report decoder's shared state and scalar readers (see model_decode.h). */
#include "model_decode.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t md_path_text(const md_seg *s, char *buf, size_t len)
{
    size_t o = s->up ? md_path_text(s->up, buf, len) : 0;
    if (o < len)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", s->up ? "." : "", s->name);
    if (s->index >= 0 && o < len)
        o += (size_t)snprintf(buf + o, len - o, "[%ld]", s->index);
    return o;
}

/* Keeps the first break of the contract: "<path>.<member> <what>" (member may be NULL). */
void md_bad(md_reader *d, const md_seg *at, const char *member, const char *fmt, ...)
{
    if (d->why[0])
        return;
    char where[160] = "";
    size_t o = at ? md_path_text(at, where, sizeof where) : 0;
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
void *md_arena(md_reader *d, size_t n, bool align)
{
    if (d->in_site)
        return NULL;
    struct lw_chunk *k = d->r->chunks;
    size_t at = k ? (align ? (k->used + 7) & ~(size_t)7 : k->used) : 0;
    if (!k || at > k->cap || k->cap - at < n) {
        size_t cap = n > (1u << 20) ? n : (1u << 20);
        k = malloc(sizeof *k + cap);
        if (!k) {
            md_bad(d, NULL, NULL, "out of memory");
            return NULL;
        }
        *k = (struct lw_chunk){d->r->chunks, 0, cap};
        d->r->chunks = k;
        at = 0;
    }
    k->used = at + n;
    return k->data + at;
}

const char *md_copy_out(md_reader *d, const char *s, size_t n)
{
    bool let_go = d->in_site;
    d->in_site = false;       /* ids are kept even of sites let go */
    char *out = md_arena(d, n + 1, false);
    d->in_site = let_go;
    if (!out)
        return "";
    memcpy(out, s, n + 1);
    return out;
}

/* A copy of s, shared with the last string of the same hash slot when it is the same: names repeat across
 * sites and frames (an allocation wrapper, a pool's functions), and a small direct-mapped table catches most
 * repeats in memory that stays in the cache, where a table of every string costs a cache miss a lookup and
 * more memory than it saves on reports whose names are mostly distinct. */
const char *md_keep(md_reader *d, const char *s, size_t n)
{
    if (d->in_site)
        return "";            /* a site that is let go: its strings are checked as JSON and not kept */
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    struct interned *slot = &d->interned[h % MD_INTERN_SLOTS];
    if (slot->s && slot->hash == h && memcmp(slot->s, s, n + 1) == 0)
        return slot->s;
    const char *out = md_copy_out(d, s, n);
    if (!d->why[0])
        *slot = (struct interned){h, out};
    return out;
}

/* The index of name in names (NULL-terminated), -1 when it is not there; a second sighting is refused. */
int md_member(md_reader *d, const md_seg *at, const char *const *names, uint64_t *seen)
{
    const char *key = d->jr->str;
    for (int i = 0; names[i]; i++)
        if (key[0] == names[i][0] && strcmp(key, names[i]) == 0) {
            if (*seen & (1ull << i))
                md_bad(d, at, names[i], "appears twice in one object: a member may be given once");
            *seen |= 1ull << i;
            return i;
        }
    return -1;
}

bool md_has(uint64_t seen, int i)
{
    return seen & (1ull << i);
}

/* ---- values: each takes the token that starts it; a value of the wrong type is skipped whole ----------- */

bool md_integer(md_reader *d, jr_token t, const md_seg *at, const char *name, long long *out)
{
    if (t != JR_INT) {
        md_bad(d, at, name, "is not an integer");
        jr_skip(d->jr, t);
        return false;
    }
    *out = d->jr->integer;
    return true;
}

/* A count, size or age: the contract allows only integers from 0 to 2^63-1. */
long long md_count(md_reader *d, jr_token t, const md_seg *at, const char *name)
{
    long long v = 0;
    if (!md_integer(d, t, at, name, &v))
        return 0;
    if (v < 0) {
        md_bad(d, at, name, "is %lld: it is a count, size or age and the format allows only 0 to 2^63-1", v);
        return 0;
    }
    return v;
}

const char *md_string(md_reader *d, jr_token t, const md_seg *at, const char *name)
{
    if (t != JR_STRING) {
        md_bad(d, at, name, "is not a string");
        jr_skip(d->jr, t);
        return NULL;
    }
    return md_keep(d, d->jr->str, d->jr->len);
}

uint64_t md_hex(md_reader *d, jr_token t, const md_seg *at, const char *name)
{
    if (t != JR_STRING) {
        md_bad(d, at, name, "is not a string");
        jr_skip(d->jr, t);
        return 0;
    }
    const char *s = d->jr->str;
    /* "0x" and 1 to 16 hex digits (either case, as strtoull took them) */
    uint64_t v = 0;
    size_t i = 2, len = d->jr->len;
    bool ok = len > 2 && len <= 18 && s[0] == '0' && s[1] == 'x';
    for (; ok && i < len; i++) {
        char c = s[i];
        unsigned digit = c >= '0' && c <= '9' ? (unsigned)(c - '0') : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                       : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16u;
        ok = digit < 16;
        v = v << 4 | digit;
    }
    if (!ok) {
        md_bad(d, at, name, "is not a 0x hex address (\"%.40s\")", s);
        return 0;
    }
    return v;
}

bool md_is_module_index(const md_reader *d, long long m)
{
    return m >= -1 && (!d->modules_read || m < (long long)d->r->nmodules);
}

void md_bad_module(md_reader *d, const md_seg *at, long long m)
{
    md_bad(d, at, "module", "%lld is not -1 or an index into modules (%zu entries)", m, d->r->nmodules);
}

bool md_read_objects(md_reader *d, jr_token t, const md_seg *up, const char *name, void *vec_ptr, size_t *n,
                     size_t *cap, size_t elem_size, size_t first, md_read_one read_one)
{
    *n = 0;
    if (t != JR_ARRAY) {
        md_bad(d, up, name, "is not an array");
        return jr_skip(d->jr, t);
    }
    while ((t = jr_next(d->jr)) != JR_ARRAY_END) {
        if (t == JR_ERROR)
            return false;
        md_seg w = {up, name, (long)*n};
        if (t != JR_OBJECT) {
            md_bad(d, &w, NULL, "is not an object");
            if (!jr_skip(d->jr, t))
                return false;
            continue;
        }
        char *vec;
        memcpy(&vec, vec_ptr, sizeof vec);    /* the caller's vector, whatever its element type */
        if (*n == *cap) {
            size_t more = *cap ? *cap * 2 : first;
            char *grown = realloc(vec, more * elem_size);
            if (!grown) {
                md_bad(d, &w, NULL, "out of memory");
                return jr_skip(d->jr, t) && jr_skip(d->jr, JR_ARRAY);
            }
            vec = grown;
            memcpy(vec_ptr, &vec, sizeof vec);
            *cap = more;
        }
        if (!read_one(d, &w, vec + *n * elem_size))
            return false;
        ++*n;
    }
    return true;
}
