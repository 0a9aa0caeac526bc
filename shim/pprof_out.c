/* pprof_out.c — profile.proto and its gzip container, written without allocating (see pprof_out.h).
 * Field numbers are those of pprof's proto/profile.proto. Fields are written in the order they are
 * made (a string, then the function and location that use it): protobuf readers accept any order. */
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>
#include "pprof_out.h"
#include "arena.h"
#include "jheap_sites.h"
#include "out.h"
#include "scrape.h"
#include "sites.h"
#include "state.h"
#include "symbols.h"

/* ---- gzip: a member of stored deflate blocks ------------------------------------------------- */

#define STORED_MAX 65535

static uint32_t crc_table[256];

uint32_t pprof_crc32(uint32_t crc, const void *data, size_t len)
{
    if (crc_table[1] == 0) {
        for (uint32_t n = 0; n < 256; n++) {
            uint32_t c = n;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            crc_table[n] = c;
        }
    }
    const unsigned char *p = data;
    crc = ~crc;
    while (len--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static struct {
    int fd, err;
    uint32_t crc, size;
    size_t len;
    unsigned char buf[STORED_MAX];
} gz;

static void write_all(const void *data, size_t len)
{
    const char *p = data;
    while (len > 0 && !gz.err) {
        ssize_t n = write(gz.fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            gz.err = n < 0 ? errno : EIO;
            return;
        }
        p += n;
        len -= (size_t)n;
    }
}

static void gz_block(int final)
{
    unsigned char head[5] = { (unsigned char)final, (unsigned char)(gz.len & 0xff), (unsigned char)(gz.len >> 8),
                              (unsigned char)(~gz.len & 0xff), (unsigned char)((~gz.len >> 8) & 0xff) };
    write_all(head, sizeof head);
    write_all(gz.buf, gz.len);
    gz.crc = pprof_crc32(gz.crc, gz.buf, gz.len);
    gz.size += (uint32_t)gz.len;
    gz.len = 0;
}

static void gz_put(const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0) {
        size_t take = STORED_MAX - gz.len < len ? STORED_MAX - gz.len : len;
        memcpy(gz.buf + gz.len, p, take);
        gz.len += take;
        p += take;
        len -= take;
        if (gz.len == STORED_MAX)
            gz_block(0);
    }
}

static void gz_begin(int fd)
{
    static const unsigned char head[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 /* Unix */ };
    gz.fd = fd;
    gz.err = 0;
    gz.crc = gz.size = 0;
    gz.len = 0;
    write_all(head, sizeof head);
}

static int gz_end(void)
{
    gz_block(1);
    unsigned char tail[8];
    for (int i = 0; i < 4; i++) {
        tail[i] = (unsigned char)(gz.crc >> (8 * i));
        tail[4 + i] = (unsigned char)(gz.size >> (8 * i));
    }
    write_all(tail, sizeof tail);
    return gz.err ? -1 : 0;
}

/* ---- protobuf -------------------------------------------------------------------------------- */

/* A message being built on the stack; too long a message is cut where it overflowed, which only a
 * name over NAME_MAX could cause, and names are cut to that first. */
struct pb {
    unsigned char buf[2048];
    size_t len;
};

#define NAME_MAX_BYTES 1024

static void pb_varint(struct pb *m, uint64_t v)
{
    do {
        if (m->len == sizeof m->buf)
            return;
        m->buf[m->len++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
}

static void pb_u64(struct pb *m, unsigned field, uint64_t v)
{
    pb_varint(m, (uint64_t)field << 3);
    pb_varint(m, v);
}

static void pb_bytes(struct pb *m, unsigned field, const void *data, size_t len)
{
    pb_varint(m, (uint64_t)field << 3 | 2);
    pb_varint(m, len);
    if (len > sizeof m->buf - m->len)
        len = sizeof m->buf - m->len;
    memcpy(m->buf + m->len, data, len);
    m->len += len;
}

/* A field of the Profile message itself, straight into the gzip stream. */
static void top_bytes(unsigned field, const void *data, size_t len)
{
    struct pb head = { .len = 0 };
    pb_varint(&head, (uint64_t)field << 3 | 2);
    pb_varint(&head, len);
    gz_put(head.buf, head.len);
    gz_put(data, len);
}

static void top_u64(unsigned field, uint64_t v)
{
    struct pb m = { .len = 0 };
    pb_u64(&m, field, v);
    gz_put(m.buf, m.len);
}

enum { P_SAMPLE_TYPE = 1, P_SAMPLE = 2, P_MAPPING = 3, P_LOCATION = 4, P_FUNCTION = 5, P_STRING = 6,
       P_TIME = 9, P_PERIOD_TYPE = 11, P_PERIOD = 12, P_COMMENT = 13, P_DEFAULT_TYPE = 14 };

static uint64_t nstrings;

static uint64_t string_of(const char *s, size_t len)
{
    top_bytes(P_STRING, s, len > NAME_MAX_BYTES ? NAME_MAX_BYTES : len);
    return nstrings++;
}

static uint64_t string_index(const char *s) { return string_of(s, strlen(s)); }

static void value_type(unsigned field, uint64_t type, uint64_t unit)
{
    struct pb m = { .len = 0 };
    pb_u64(&m, 1, type);
    pb_u64(&m, 2, unit);
    top_bytes(field, m.buf, m.len);
}

/* ---- locations: one per distinct address, or per Java method and line ----------------------------- */

struct loc_slot { uint64_t key; uint64_t id; };

static struct {
    struct loc_slot *slots;
    size_t mask, mapped;
    uint64_t next_id, full_id;
} locs;

/* A Java (or label) frame's key: a hash of its name, file and line, with the top bit set (no user-space
 * address has it). */
static uint64_t mix(uint64_t h, const char *s)
{
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static uint64_t java_key(const struct scrape_frame *f)
{
    uint64_t h = 0xcbf29ce484222325ull;
    if (f->label) {
        h = mix(h, f->label);
    } else {
        h = mix(mix(mix(h, f->java.klass), "."), f->java.method);
        h = (h ^ '(') * 0x100000001b3ull;
        h = mix(h, f->java.file);
    }
    h = (h ^ f->java.line) * 0x100000001b3ull;
    return h | 1ull << 63;
}

/* The name of a native frame: its function, or module+0xoffset, or the bare address. */
static size_t native_name(const struct module_set *mods, const struct resolved *r, uintptr_t addr, char *name)
{
    if (!addr) {
        strcpy(name, "(sites over the limit)");
        return strlen(name);
    }
    if (r->function) {
        size_t n = strlen(r->function);
        n = n > NAME_MAX_BYTES ? NAME_MAX_BYTES : n;
        memcpy(name, r->function, n);
        return n;
    }
    const char *path = r->module >= 0 ? mods->items[r->module].path : "";
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base) > 200 ? 200 : strlen(base);
    memcpy(name, base, n);
    name[n++] = '+';
    static const char hex[] = "0123456789abcdef";
    uint64_t v = r->module >= 0 ? r->offset : addr;
    name[n++] = '0', name[n++] = 'x';
    int started = 0;
    for (int shift = 60; shift >= 0; shift -= 4) {
        unsigned d = (unsigned)(v >> shift) & 15;
        if (d || started || shift == 0)
            name[n++] = hex[d], started = 1;
    }
    return n;
}

/* A location and its function; a native frame (f->ip, or 0 for the overflow sites) with its mapping and
 * address, a Java frame with its source file and line. */
static uint64_t new_location(const struct module_set *mods, const struct scrape_frame *f, uint64_t id)
{
    char name[NAME_MAX_BYTES + 64];
    struct resolved r = { .module = -1, .function = NULL };
    size_t len;
    uint64_t file = 0;
    int java = !f->ip && (f->label || f->java.klass);
    if (java) {
        struct out o;
        out_init(&o, -1, name, NAME_MAX_BYTES);
        scrape_frame_name(&o, f);
        len = o.len;
        if (f->java.file)
            file = string_index(f->java.file);
    } else {
        if (f->ip)
            symbols_resolve(mods, f->ip, &r);
        len = native_name(mods, &r, f->ip, name);
    }
    uint64_t name_idx = string_of(name, len);
    struct pb fn = { .len = 0 };
    pb_u64(&fn, 1, id);
    pb_u64(&fn, 2, name_idx);
    pb_u64(&fn, 3, name_idx);
    if (file)
        pb_u64(&fn, 4, file);
    top_bytes(P_FUNCTION, fn.buf, fn.len);
    struct pb line = { .len = 0 };
    pb_u64(&line, 1, id);                 /* function id: one function per location */
    if (java && f->java.line)
        pb_u64(&line, 2, f->java.line);
    struct pb l = { .len = 0 };
    pb_u64(&l, 1, id);
    if (r.module >= 0)
        pb_u64(&l, 2, (uint64_t)r.module + 1);
    if (!java)
        pb_u64(&l, 3, f->ip);
    pb_bytes(&l, 4, line.buf, line.len);
    top_bytes(P_LOCATION, l.buf, l.len);
    return id;
}

static uint64_t location_of(const struct module_set *mods, const struct scrape_frame *f)
{
    uint64_t key = !f->ip && (f->label || f->java.klass) ? java_key(f) : f->ip;
    size_t i = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 20) & locs.mask;
    for (; locs.slots[i].id; i = (i + 1) & locs.mask)
        if (locs.slots[i].key == key)
            return locs.slots[i].id;
    if (locs.next_id > locs.mask / 2) {
        /* more distinct frames than the table was sized for (Java paths longer than the key frames) */
        if (!locs.full_id) {
            static const char more[] = "(more locations than this profile holds)";
            locs.full_id = new_location(mods, &(struct scrape_frame){ .label = more }, locs.next_id++);
        }
        return locs.full_id;
    }
    uint64_t id = locs.next_id++;
    locs.slots[i] = (struct loc_slot){ key, id };
    return new_location(mods, f, id);
}

static void mappings(const struct module_set *mods)
{
    for (unsigned i = 0; i < mods->count; i++) {
        const struct module *mod = &mods->items[i];
        uint64_t file = string_index(mod->path), build_id = string_index(mod->build_id);
        struct pb m = { .len = 0 };
        pb_u64(&m, 1, i + 1);
        pb_u64(&m, 2, mod->lo);
        pb_u64(&m, 3, mod->hi);
        pb_u64(&m, 4, mod->lo - mod->base);
        pb_u64(&m, 5, file);
        pb_u64(&m, 6, build_id);
        pb_u64(&m, 7, 1);                 /* has_functions: names come from inside the process */
        top_bytes(P_MAPPING, m.buf, m.len);
    }
}

/* Strings every profile uses, in this order (their indexes below). */
static const char *const fixed_strings[] = { "", "alloc_objects", "count", "alloc_space", "bytes", "inuse_objects",
                                             "inuse_space", "space", "kind", "heap", "mmap", "java-heap", "class",
                                             "java_inuse_objects_estimated", "java_inuse_space_estimated" };
enum { S_COUNT = 2, S_BYTES = 4, S_KIND = 8, S_HEAP = 9, S_JAVA_HEAP = 11, S_CLASS = 12, S_JAVA_OBJECTS = 13,
       S_JAVA_SPACE = 14 };

/* What one pprof_out_write needs besides the output. */
struct profile {
    const struct scrape *sc;
    int java;                             /* the two Java-heap sample types are present */
    struct scrape_frame frames[SCRAPE_MAX_FRAMES];
};

static void label(struct pb *m, uint64_t key, uint64_t str)
{
    struct pb l = { .len = 0 };
    pb_u64(&l, 1, key);
    pb_u64(&l, 2, str);
    pb_bytes(m, 3, l.buf, l.len);
}

static void sample(struct profile *p, unsigned nframes, const uint64_t *values, uint64_t kind, uint64_t klass)
{
    struct pb ids = { .len = 0 }, vals = { .len = 0 };
    if (nframes == 0)
        pb_varint(&ids, location_of(&p->sc->s.modules, &(struct scrape_frame){ .ip = 0 }));
    for (unsigned i = 0; i < nframes; i++)
        pb_varint(&ids, location_of(&p->sc->s.modules, &p->frames[i]));
    for (unsigned i = 0; i < (p->java ? 6u : 4u); i++)
        pb_varint(&vals, values[i]);
    struct pb m = { .len = 0 };
    pb_bytes(&m, 1, ids.buf, ids.len);
    pb_bytes(&m, 2, vals.buf, vals.len);
    label(&m, S_KIND, kind);
    if (klass)
        label(&m, S_CLASS, klass);
    top_bytes(P_SAMPLE, m.buf, m.len);
}

static void native_samples(struct profile *p)
{
    const struct snapshot *s = &p->sc->s;
    const struct grouping *g = &p->sc->g;
    for (uint32_t i = 1; i < s->nsites; i++) {
        const struct site_totals *t = &s->totals[i];
        if (!t->allocs && !g->sums[i].live_blocks)
            continue;                     /* never allocated, or merged into its Java logical site */
        unsigned n = scrape_site_frames(i, p->frames, SCRAPE_MAX_FRAMES);
        uint64_t values[6] = { t->allocs, t->bytes_allocated, g->sums[i].live_blocks, g->sums[i].live_bytes, 0, 0 };
        sample(p, n, values, S_HEAP + (site_get(i)->kind & 1), 0);
    }
}

static void java_samples(struct profile *p)
{
    unsigned count = scrape_java_count(p->sc);
    for (unsigned k = 0; k < count; k++) {
        struct scrape_java_site site;
        scrape_java_site(k, &site, p->frames, SCRAPE_MAX_FRAMES);
        if (!site.named)
            continue;
        uint64_t klass = string_index(site.klass ? site.klass : "?");
        uint64_t values[6] = { 0, 0, 0, 0, site.objects, site.bytes };
        if (site.nframes == 0) {
            static const char jvm[] = "(allocated by the JVM itself)";
            p->frames[0] = (struct scrape_frame){ .label = jvm };
            site.nframes = 1;
        }
        sample(p, site.nframes, values, S_JAVA_HEAP, klass);
    }
}

static void comment(const char *text)
{
    top_u64(P_COMMENT, string_index(text));
}

static void comments(const struct profile *p, const char *interval)
{
    if (p->java) {
        char line[256];
        struct out o;
        out_init(&o, -1, line, sizeof line - 1);
        out_str(&o, "java_inuse_objects_estimated, java_inuse_space_estimated: Java heap reachable at the last GC,"
                    " estimated from sampled allocations (one every ~");
        out_str(&o, interval);
        out_str(&o, "); the other sample types are exact counts of native memory");
        line[o.len] = '\0';
        comment(line);
    }
    static const char *const gc[] = {
        [SCRAPE_GC_FORCED] = "gc=1: the JVM ran a full GC before this profile; Java-heap figures are as of it",
        [SCRAPE_GC_NO_JVM] = "gc=1: no JVM whose heap leakwatch follows in this process; nothing was collected",
        [SCRAPE_GC_FAILED] = "gc=1: the JVM did not complete a full GC in time; Java-heap figures are as of its "
                             "last GC, if any",
    };
    if (p->sc->gc != SCRAPE_GC_NOT_ASKED)
        comment(gc[p->sc->gc]);
}

int pprof_out_write(int fd, int want_gc, const char **gc_word)
{
    struct scrape sc;
    struct profile *p = arena_map(sizeof *p);
    int rc = -1;
    locs.slots = NULL;
    *gc_word = NULL;
    if (scrape_take(&sc, want_gc) < 0 || !p)
        goto done;
    if (want_gc)
        *gc_word = scrape_gc_word(sc.gc);
    p->sc = &sc;
    p->java = sc.java_heap;
    size_t want = 64;
    size_t frames = (size_t)sc.s.nsites * sites_layout.max_frames + 1;
    if (p->java)
        frames += (size_t)scrape_java_count(&sc) * JHEAP_MAX_FRAMES;
    while (want < 2 * frames + 2)
        want *= 2;
    locs.mapped = want * sizeof *locs.slots;
    locs.slots = arena_map(locs.mapped);
    locs.mask = want - 1;
    locs.next_id = 1;
    locs.full_id = 0;
    if (!locs.slots)
        goto done;
    gz_begin(fd);
    nstrings = 0;
    for (unsigned i = 0; i < sizeof fixed_strings / sizeof *fixed_strings; i++)
        string_index(fixed_strings[i]);
    value_type(P_SAMPLE_TYPE, 1, S_COUNT);
    value_type(P_SAMPLE_TYPE, 3, S_BYTES);
    value_type(P_SAMPLE_TYPE, 5, S_COUNT);
    value_type(P_SAMPLE_TYPE, 6, S_BYTES);
    if (p->java) {
        value_type(P_SAMPLE_TYPE, S_JAVA_OBJECTS, S_COUNT);
        value_type(P_SAMPLE_TYPE, S_JAVA_SPACE, S_BYTES);
    }
    mappings(&sc.s.modules);
    native_samples(p);
    if (p->java)
        java_samples(p);
    char interval[32];
    struct out io;
    out_init(&io, -1, interval, sizeof interval - 1);
    out_bytes_human(&io, sc.java_interval);
    interval[io.len] = '\0';
    comments(p, interval);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    top_u64(P_TIME, (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec);
    value_type(P_PERIOD_TYPE, 7, S_BYTES);
    top_u64(P_PERIOD, 1);
    top_u64(P_DEFAULT_TYPE, 6);
    rc = gz_end();
done:
    if (locs.slots)
        arena_unmap(locs.slots, locs.mapped);
    locs.slots = NULL;
    if (p)
        arena_unmap(p, sizeof *p);
    scrape_release(&sc);
    return rc;
}
