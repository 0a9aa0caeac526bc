/* scrape.c — the live endpoint's picture and its frames (see scrape.h). Java frames are taken from the
 * text the Java modules write for reports ("\tpkg.Class.method(File.java:12)\n"), so a frame reads
 * the same in a scrape as in a report file. */
#include <string.h>
#include "scrape.h"
#include "emitter.h"
#include "jheap.h"
#include "jheap_names.h"
#include "jheap_sites.h"
#include "jvm.h"
#include "sites.h"
#include "track.h"

/* The JVM's answers: naming Java paths is quick; a full GC of a large heap takes seconds. */
#define JAVA_NAMES_WAIT_MS 2000
#define JAVA_HEAP_WAIT_MS 3000
#define JAVA_GC_WAIT_MS 8000

const char *scrape_gc_word(enum scrape_gc gc)
{
    static const char *const words[] = { "not-asked", "forced", "no-jvm", "failed" };
    return words[gc];
}

int scrape_take(struct scrape *sc, int want_gc)
{
    memset(sc, 0, sizeof *sc);
    jvm_prepare_report(JAVA_NAMES_WAIT_MS);
    int java = atomic_load_explicit(&jh.enabled, memory_order_acquire);
    /* a GC only when this request asked for one; no "Held by" walk: a scrape must not make the JVM
     * allocate, nor hold it still */
    jheap_prepare_report(want_gc ? JAVA_GC_WAIT_MS : JAVA_HEAP_WAIT_MS, 0, want_gc && java);
    sc->java_heap = atomic_load_explicit(&jh.ready, memory_order_acquire);
    sc->java_interval = jh.interval;
    if (want_gc)
        sc->gc = !java ? SCRAPE_GC_NO_JVM : sc->java_heap && jh.forced_gc ? SCRAPE_GC_FORCED : SCRAPE_GC_FAILED;
    track_settle_frees();
    if (snapshot_take(&sc->s) < 0)
        return -1;
    groups_fold_totals(&sc->s);
    /* per-site sums only: an age no block reaches leaves out the leak records, whose sorting would
     * cost a scrape more than the copy */
    return groups_build(&sc->g, &sc->s, UINT64_MAX);
}

void scrape_release(struct scrape *sc)
{
    groups_release(&sc->g);
    snapshot_release(&sc->s);
}

/* ---- frames from text -------------------------------------------------------------------------- */

/* "\t@0x1c3e0\n" (a native frame, written by native_line) or "\tpkg.Class.method(File.java:12)\n",
 * "(Native Method)", "(File.java, line unknown)"; a line cut short by a full buffer is dropped. */
static unsigned parse_frames(const char *text, size_t len, struct scrape_frame *frames, unsigned max)
{
    unsigned n = 0;
    const char *p = text, *end = text + len;
    while (p < end && n < max) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        const char *line = p + (*p == '\t');
        p = nl + 1;
        struct scrape_frame f = { 0 };
        if (line[0] == '@') {
            for (const char *h = line + 3; h < nl; h++)
                f.ip = f.ip << 4 | (uintptr_t)(*h <= '9' ? *h - '0' : *h - 'a' + 10);
            if (f.ip)
                frames[n++] = f;
            continue;
        }
        const char *open = memchr(line, '(', (size_t)(nl - line));
        const char *name_end = open ? open : nl;
        if (name_end == line)
            continue;
        f.java = line;
        f.java_len = (uint16_t)(name_end - line);
        if (open && strncmp(open + 1, "Native Method", 13) != 0) {
            const char *file = open + 1, *stop = file;
            while (stop < nl && *stop != ':' && *stop != ',' && *stop != ')')
                stop++;
            if (stop > file) {
                f.file = file;
                f.file_len = (uint16_t)(stop - file);
            }
            if (*stop == ':')
                for (const char *d = stop + 1; d < nl && *d >= '0' && *d <= '9'; d++)
                    f.line = f.line * 10 + (uint32_t)(*d - '0');
        }
        frames[n++] = f;
    }
    return n;
}

static void native_line(struct emitter *e, const void *ctx, uintptr_t ip)
{
    (void)ctx;
    emit_text(e, "\t@");
    emit_text_hex(e, ip);
    emit_text(e, "\n");
}

unsigned scrape_site_frames(uint32_t site, struct scrape_frame *frames, unsigned max, char *text, size_t cap)
{
    struct out o;
    struct emitter e;
    out_init(&o, -1, text, cap);
    emit_init(&e, &o, EMIT_TEXT);
    if (jvm_write_site_frames(&e, "frames", site, native_line, NULL))
        return parse_frames(text, o.len, frames, max);
    const struct site *s = site_get(site);
    unsigned n = 0;
    for (unsigned i = 0; i < s->nframes && n < max; i++)
        frames[n++] = (struct scrape_frame){ .ip = s->frames[i] };
    return n;
}

/* ---- Java-heap sites ---------------------------------------------------------------------------- */

unsigned scrape_java_count(const struct scrape *sc)
{
    return sc->java_heap ? jh.nview : 0;
}

void scrape_java_site(unsigned k, struct scrape_java_site *site, struct scrape_frame *frames, unsigned max,
                      char *text, size_t cap)
{
    const struct jheap_site *s = &jh.sites[jh.order[k]];
    *site = (struct scrape_java_site){ .id = s->id, .bytes = s->view.bytes, .objects = s->view.objects,
                                       .klass = jh.classes[s->klass].name, .named = s->named == 1 };
    if (s->named != 1)
        return;                     /* not named (its class is gone): the report leaves it out too */
    struct out o;
    out_init(&o, -1, text, cap);
    for (unsigned i = 0; i < s->nframes; i++)
        jheap_names_write_text(&o, s->names[i], s->bci[i]);
    site->nframes = parse_frames(text, o.len, frames, max);
}
