/* pprof_out.c — profile.proto and its gzip container, written without allocating (see pprof_out.h).
 * Field numbers are those of pprof's proto/profile.proto. Fields are written in the order they are
 * made (a string, then the function and location that use it): protobuf readers accept any order. */
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>
#include "pprof_out.h"
#include "arena.h"
#include "counts.h"
#include "sites.h"
#include "state.h"
#include "symbols.h"
#include "track.h"

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
       P_TIME = 9, P_PERIOD_TYPE = 11, P_PERIOD = 12, P_DEFAULT_TYPE = 14 };

static uint64_t nstrings;

static uint64_t string_index(const char *s)
{
    size_t len = strlen(s);
    top_bytes(P_STRING, s, len > NAME_MAX_BYTES ? NAME_MAX_BYTES : len);
    return nstrings++;
}

static void value_type(unsigned field, uint64_t type, uint64_t unit)
{
    struct pb m = { .len = 0 };
    pb_u64(&m, 1, type);
    pb_u64(&m, 2, unit);
    top_bytes(field, m.buf, m.len);
}

/* ---- locations: one per distinct address ------------------------------------------------------ */

struct loc_slot { uintptr_t addr; uint64_t id; };

static struct {
    struct loc_slot *slots;
    size_t mask, mapped;
    uint64_t next_id;
} locs;

static uint64_t location_of(const struct module_set *mods, uintptr_t addr)
{
    size_t i = (size_t)((addr * 0x9e3779b97f4a7c15ull) >> 20) & locs.mask;
    for (; locs.slots[i].id; i = (i + 1) & locs.mask)
        if (locs.slots[i].addr == addr)
            return locs.slots[i].id;
    uint64_t id = locs.next_id++;
    locs.slots[i] = (struct loc_slot){ addr, id };
    char name[NAME_MAX_BYTES + 64];
    struct resolved r = { .module = -1, .function = NULL };
    if (addr)
        symbols_resolve(mods, addr, &r);
    if (!addr) {
        strcpy(name, "(sites over the limit)");
    } else if (r.function) {
        size_t n = strlen(r.function);
        n = n > NAME_MAX_BYTES ? NAME_MAX_BYTES : n;
        memcpy(name, r.function, n);
        name[n] = '\0';
    } else {
        const char *path = r.module >= 0 ? mods->items[r.module].path : "";
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        size_t n = strlen(base) > 200 ? 200 : strlen(base);
        memcpy(name, base, n);
        name[n++] = '+';
        static const char hex[] = "0123456789abcdef";
        uint64_t v = r.module >= 0 ? r.offset : addr;
        name[n++] = '0', name[n++] = 'x';
        int started = 0;
        for (int shift = 60; shift >= 0; shift -= 4) {
            unsigned d = (unsigned)(v >> shift) & 15;
            if (d || started || shift == 0)
                name[n++] = hex[d], started = 1;
        }
        name[n] = '\0';
    }
    uint64_t name_idx = string_index(name);
    struct pb f = { .len = 0 };
    pb_u64(&f, 1, id);
    pb_u64(&f, 2, name_idx);
    pb_u64(&f, 3, name_idx);
    top_bytes(P_FUNCTION, f.buf, f.len);
    struct pb line = { .len = 0 };
    pb_u64(&line, 1, id);                 /* function id: one function per location */
    struct pb l = { .len = 0 };
    pb_u64(&l, 1, id);
    if (r.module >= 0)
        pb_u64(&l, 2, (uint64_t)r.module + 1);
    pb_u64(&l, 3, addr);
    pb_bytes(&l, 4, line.buf, line.len);
    top_bytes(P_LOCATION, l.buf, l.len);
    return id;
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

static void sample(const struct module_set *mods, const struct site *s, const struct site_totals *t)
{
    struct pb ids = { .len = 0 }, values = { .len = 0 };
    if (s->nframes == 0)
        pb_varint(&ids, location_of(mods, 0));
    for (unsigned i = 0; i < s->nframes; i++)
        pb_varint(&ids, location_of(mods, s->frames[i]));
    pb_varint(&values, t->allocs);
    pb_varint(&values, t->bytes_allocated);
    pb_varint(&values, t->allocs - t->frees);
    pb_varint(&values, t->bytes_allocated - t->bytes_freed);
    struct pb m = { .len = 0 };
    pb_bytes(&m, 1, ids.buf, ids.len);
    pb_bytes(&m, 2, values.buf, values.len);
    top_bytes(P_SAMPLE, m.buf, m.len);
}

int pprof_out_write(int fd)
{
    struct module_set mods;
    memset(&mods, 0, sizeof mods);
    if (symbols_snapshot(&mods) < 0)
        return -1;
    track_settle_frees();
    uint32_t nsites = sites_count();
    size_t totals_mapped = (size_t)nsites * sizeof(struct site_totals);
    struct site_totals *totals = arena_map(totals_mapped);
    size_t want = 64;
    while (want < 2 * ((size_t)nsites * sites_layout.max_frames + 1))
        want *= 2;
    locs.mapped = want * sizeof *locs.slots;
    locs.slots = arena_map(locs.mapped);
    locs.mask = want - 1;
    locs.next_id = 1;
    int rc = -1;
    if (!totals || !locs.slots)
        goto done;
    counts_read_all(totals, nsites);
    gz_begin(fd);
    nstrings = 0;
    static const char *const fixed[] = { "", "alloc_objects", "count", "alloc_space", "bytes",
                                         "inuse_objects", "inuse_space", "space" };
    for (unsigned i = 0; i < sizeof fixed / sizeof *fixed; i++)
        string_index(fixed[i]);
    value_type(P_SAMPLE_TYPE, 1, 2);
    value_type(P_SAMPLE_TYPE, 3, 4);
    value_type(P_SAMPLE_TYPE, 5, 2);
    value_type(P_SAMPLE_TYPE, 6, 4);
    mappings(&mods);
    for (uint32_t i = 1; i < nsites; i++)
        if (totals[i].allocs)
            sample(&mods, site_get(i), &totals[i]);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    top_u64(P_TIME, (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec);
    value_type(P_PERIOD_TYPE, 7, 4);
    top_u64(P_PERIOD, 1);
    top_u64(P_DEFAULT_TYPE, 6);
    rc = gz_end();
done:
    if (locs.slots)
        arena_unmap(locs.slots, locs.mapped);
    locs.slots = NULL;
    if (totals)
        arena_unmap(totals, totals_mapped);
    symbols_release(&mods);
    return rc;
}
