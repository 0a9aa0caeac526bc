/* model_decode.h — what the report decoder (model_read.c, model_site.c) shares: its state, the path of the
 * value being read (for messages naming the field), the first break of the contract, the report's memory
 * chunks and interned strings, and readers of one scalar value that check its type and range. Internal to
 * the model; no locks; not async-signal-safe. */
#ifndef LW_MODEL_DECODE_H
#define LW_MODEL_DECODE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "jsonread.h"
#include "model.h"

#define MD_INTERN_SLOTS 8191      /* 128 KiB of table: stays in the cache */

typedef struct md_seg {
    const struct md_seg *up;
    const char *name;
    long index;
} md_seg;

/* Strings and arrays copied out of the JSON, in chunks freed with the report (lw_report.chunks). */
struct lw_chunk {
    struct lw_chunk *next;
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
    struct interned { uint64_t hash; const char *s; } *interned; /* MD_INTERN_SLOTS recent strings, by hash */
    int format_state;         /* 0 absent, 1 "leakwatch-report", 2 another string, 3 not a string */
    char format_seen[48];
    int version_state;        /* 0 absent, 1 an integer, 2 not an integer */
    bool in_site;             /* reading a site that is checked and let go (r->sites_not_kept) */
    struct seen_id { uint64_t key; const char *id; size_t index; } *ids; /* r->sites_not_kept: every site's id */
    size_t nread, ids_cap;    /* sites read so far; room in ids */
    /* r->sites_not_kept with modules after the sites: the frames that may be the first with a module index
     * out of range once modules' size is known (model_read.c, check_late_frames), in bounded memory */
    struct late_frame { size_t site; long leak, access, frame; int module; } *late, *late_site; /* -1: not in a leak */
    size_t nlate, nlate_site;  /* the sites read before this one; this one, in document order */
    long long late_max;       /* largest module index in the sites read before this one (-1: none) */
    long long late_site_max;  /* ... in this site */
    long long stack_max;      /* ... in the stack being read */
    bool late_lost;           /* some that may be the first bad one were not kept (too many) */
    bool late_site_lost;      /* this site's candidates from late_site_cut on (in check order) are not kept */
    struct late_frame late_site_cut;
} md_reader;


/* Keeps the first break of the contract: "<path>.<member> <what>" (member may be NULL). */
void md_bad(md_reader *d, const md_seg *at, const char *member, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* n bytes from the report's chunks (8-aligned when align); NULL when out of memory or the site is let go. */
void *md_arena(md_reader *d, size_t n, bool align);
/* A copy of s (n bytes) in the chunks; md_keep shares the copy of a recent equal string (MD_INTERN_SLOTS). */
const char *md_copy_out(md_reader *d, const char *s, size_t n);
const char *md_keep(md_reader *d, const char *s, size_t n);

/* The index of the current key in names (NULL-terminated), -1 when unknown; a second sighting is refused. */
int md_member(md_reader *d, const md_seg *at, const char *const *names, uint64_t *seen);
bool md_has(uint64_t seen, int i);

/* One value whose first token is t; a value of the wrong type is refused, naming at.name, and skipped. */
bool md_integer(md_reader *d, jr_token t, const md_seg *at, const char *name, long long *out);
long long md_count(md_reader *d, jr_token t, const md_seg *at, const char *name);   /* 0 .. 2^63-1 */
const char *md_string(md_reader *d, jr_token t, const md_seg *at, const char *name);
uint64_t md_hex(md_reader *d, jr_token t, const md_seg *at, const char *name);      /* "0x..." */

/* An array of objects (t its first token) read element by element into a vector grown by doubling (from
 * first elements): *vec_ptr (a pointer to the vector's pointer) of *cap elements of elem_size, *n of them
 * filled. read_one reads one object (its '{' read) into its slot and returns false only when the JSON itself
 * is broken. A member that is not an array, or an element that is not an object, is refused (named) and
 * skipped; so is the rest of the array when memory runs out. False when the JSON itself is broken. */
typedef bool (*md_read_one)(md_reader *d, const md_seg *at, void *slot);
bool md_read_objects(md_reader *d, jr_token t, const md_seg *up, const char *name, void *vec_ptr, size_t *n,
                     size_t *cap, size_t elem_size, size_t first, md_read_one read_one);

bool md_is_module_index(const md_reader *d, long long m);
/* A frame (at) with module index m >= 0 of a site let go before modules were read: kept when it may be the
 * first bad one. */
void md_note_late_frame(md_reader *d, const md_seg *at, int m);
void md_bad_module(md_reader *d, const md_seg *at, long long m);

/* One site object (its '{' read) into s; one stack (array of frames, t its first token) into st. False when
 * the JSON itself is broken. */
bool md_read_site(md_reader *d, const md_seg *at, lw_site *s);
bool md_read_stack(md_reader *d, jr_token t, const md_seg *up, const char *name, lw_stack *st);

#endif
