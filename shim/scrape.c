/* scrape.c — the live endpoint's picture and its frames (see scrape.h). */
#include <string.h>
#include "scrape.h"
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

/* ---- frames ------------------------------------------------------------------------------------ */

void scrape_frame_name(struct out *o, const struct scrape_frame *f)
{
    if (f->label) {
        out_str(o, f->label);
        return;
    }
    out_str(o, f->java.klass);
    out_char(o, '.');
    out_str(o, f->java.method);
}

struct collect {
    struct scrape_frame *frames;
    unsigned n, max;
};

static void collect_frame(void *ctx, uintptr_t ip, const struct java_frame *java)
{
    struct collect *c = ctx;
    if (c->n < c->max)
        c->frames[c->n++] = java ? (struct scrape_frame){ .java = *java } : (struct scrape_frame){ .ip = ip };
}

unsigned scrape_site_frames(uint32_t site, struct scrape_frame *frames, unsigned max)
{
    struct collect c = { frames, 0, max };
    if (jvm_visit_site_frames(site, collect_frame, &c))
        return c.n;
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

void scrape_java_site(unsigned k, struct scrape_java_site *site, struct scrape_frame *frames, unsigned max)
{
    const struct jheap_site *s = &jh.sites[jh.order[k]];
    *site = (struct scrape_java_site){ .id = s->id, .bytes = s->view.bytes, .objects = s->view.objects,
                                       .klass = jh.classes[s->klass].name, .named = s->named == 1 };
    if (s->named != 1)
        return;                     /* not named (its class is gone): the report leaves it out too */
    unsigned n = 0;
    for (unsigned i = 0; i < s->nframes && n < max; i++, n++) {
        frames[n] = (struct scrape_frame){ .ip = 0 };
        jheap_names_frame(s->names[i], s->bci[i], &frames[n].java);
    }
    site->nframes = n;
}
