/* scrape.h — one picture for the live endpoint's /metrics and /debug/pprof/heap, made the way a report
 * is made: Java paths named, the Java heap's figures brought up to date (after a full GC when the
 * request asks for one), queued frees settled, one snapshot, raw sites folded into their Java logical
 * ones, grouped (groups.h). And the frames of a site as pprof and Prometheus name them: a native return
 * address, or a Java method handed as data by the modules that name it for reports (jvm_names.h,
 * jheap_names.h), so both outputs show what a report shows. Report lock held (report_thread_with_lock),
 * guard set; takes what snapshot_take takes, waits a bounded time for the JVM. Not async-signal-safe. */
#ifndef LW_SCRAPE_H
#define LW_SCRAPE_H

#include <stddef.h>
#include <stdint.h>
#include "groups.h"
#include "jvm_names.h"
#include "out.h"
#include "snapshot.h"

/* What happened to a request's gc=1. */
enum scrape_gc {
    SCRAPE_GC_NOT_ASKED,
    SCRAPE_GC_FORCED,           /* the JVM ran a full GC; the Java-heap figures are as of it */
    SCRAPE_GC_NO_JVM,           /* no JVM whose heap leakwatch follows: nothing to collect */
    SCRAPE_GC_FAILED,           /* the JVM refused, or did not answer in time */
};

struct scrape {
    struct snapshot s;
    struct grouping g;          /* g.sums per canonical site, no groups; s.totals folded the same way */
    int java_heap;              /* Java-heap sites are current (scrape_java_*) */
    uint64_t java_interval;     /* their sampling interval in bytes */
    enum scrape_gc gc;
};

/* Takes the picture; 0, or -1 without memory (release it anyway). */
int scrape_take(struct scrape *sc, int want_gc);
void scrape_release(struct scrape *sc);

/* "forced", "no-jvm", "failed" or "not-asked": the X-Leakwatch-GC header and the profile's comment. */
const char *scrape_gc_word(enum scrape_gc gc);

/* A frame: a native one (ip != 0); a Java method (java.klass != NULL); or, with label set, one that
 * stands for something that is no frame ("(allocated by the JVM itself)"). */
struct scrape_frame {
    uintptr_t ip;
    struct java_frame java;
    const char *label;
};

/* A Java frame's or a label frame's name as pprof's function and Prometheus' label show it:
 * "pkg.Class.method", or the label. */
void scrape_frame_name(struct out *o, const struct scrape_frame *f);

#define SCRAPE_MAX_FRAMES 96

/* The frames of a native site, innermost first: its Java path when it has a named one (the JVM's native
 * frames, then Java's), else its key frames. Returns how many (at most max). */
unsigned scrape_site_frames(uint32_t site, struct scrape_frame *frames, unsigned max);

/* Java-heap sites, largest first: how many, and the k-th one's estimates and frames. */
struct scrape_java_site {
    uint64_t id;                /* stable, as in the report */
    uint64_t bytes, objects;    /* estimates: reachable at the last GC */
    const char *klass;          /* Java's spelling: byte[], java.lang.String */
    unsigned nframes;
    int named;                  /* 0: its class is gone and it has no names; reports leave it out */
};
unsigned scrape_java_count(const struct scrape *sc);
void scrape_java_site(unsigned k, struct scrape_java_site *site, struct scrape_frame *frames, unsigned max);

#endif
