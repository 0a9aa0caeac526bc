/* jheap_sites.h — the tables behind Java-heap sites: sampled objects (a slot each, its tag names it),
 * sites (class + Java frames as jmethodIDs and bytecode indexes), the names of their frames, and the
 * per-report view of each site. The *_locked functions need jheap.c's table spinlock (they take no other
 * lock, call neither the JVM nor the allocator); jheap_sites_name and the writers run on our JVM thread
 * and the reporter thread, one after the other (jheap_prepare_report orders them). */
#ifndef LW_JHEAP_SITES_H
#define LW_JHEAP_SITES_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define JHEAP_MAX_FRAMES 32             /* Java frames kept per sample: deep enough to leave the JDK */
#define JHEAP_SITES_MAX 4096
#define JHEAP_SAMPLES_MAX (1u << 17)
#define JHEAP_CLASSES_MAX 65536
#define JHEAP_DEFAULT_INTERVAL (512u * 1024)   /* HotSpot's own default: ~2 samples a MiB allocated */

struct jheap_method;                    /* names of a method: class, name, source file, line table */

struct jheap_view {                     /* a site as of the current report (our JVM thread writes it) */
    uint64_t samples, bytes, objects;   /* live samples; the bytes and objects they stand for */
    uint64_t old_samples, old_bytes, old_objects, oldest_ms;   /* those older than the age threshold */
    uint32_t sample_slot, young_slot;   /* the oldest and youngest live old samples: "Held by" starts there */
    int had_previous;
    int64_t delta;                      /* estimated bytes since the previous report */
    const char *held_by;                /* arena string, or NULL */
};

struct jheap_site {
    uint64_t key;                       /* hash of class and frames, 0: empty */
    uint32_t klass;
    uint16_t nframes;
    int8_t named;                       /* 1 named, -1 cannot be (its class is gone) */
    uint64_t id;                        /* stable: class name and (class, method, signature, bci) per frame */
    void *methods[JHEAP_MAX_FRAMES];    /* jmethodIDs */
    int32_t bci[JHEAP_MAX_FRAMES];
    const struct jheap_method *names[JHEAP_MAX_FRAMES];
    uint64_t previous_bytes;            /* as of the previous report */
    int in_previous;
    struct jheap_view view;
};

struct jheap_sample {
    uint32_t site;                      /* 0: a free slot */
    uint32_t next_free;
    uint64_t size, birth_ms;
};

struct jheap_class {
    const char *name;                   /* Java's spelling: java.lang.String, byte[] */
    uint64_t hash;
};

struct jheap_state {
    atomic_int enabled, ready;          /* set up; the view is current for this report */
    uint64_t interval;                  /* the sampling interval in bytes */
    _Atomic uint64_t last_gc_ms, gcs;   /* GarbageCollectionFinish: when, how many */
    int forced_gc;                      /* this report forced a full GC at forced_gc_ms */
    uint64_t forced_gc_ms;
    uint64_t walk_ms;                   /* the "Held by" walk's time */
    unsigned walk_budget_ms;            /* its bound (LEAKWATCH_JAVA_HELD_BY_MS; 0: no walk) */
    const char *walk_why;               /* why it found no chain, or NULL */
    unsigned count_budget_ms;           /* the bound on the exact count (LEAKWATCH_JAVA_COUNT_MS; 0: none) */
    int counted;                        /* this report has exact counts per class (class_objects, class_bytes) */
    uint64_t count_ms;                  /* the count's time */
    const char *count_why;              /* why this report has none, or NULL */
    uint64_t *class_objects, *class_bytes;   /* by class index: objects in the heap, and their bytes */
    atomic_uint nclasses;
    struct jheap_class *classes;
    struct jheap_site *sites;           /* open addressing on key, JHEAP_SITES_MAX */
    struct jheap_sample *samples;       /* slot 0 unused */
    uint32_t free_head, next_unused;
    uint64_t dropped;                   /* samples not kept: tables full */
    uint64_t live_samples;
    uint32_t order[JHEAP_SITES_MAX];    /* sites with live samples, largest first (for the report) */
    uint32_t nview;
};

extern struct jheap_state jh;

int jheap_sites_init(void);

#ifdef _JAVA_JVMTI_H_
/* A sample of `size` bytes: its slot (0 when it cannot be kept). */
uint32_t jheap_sites_sample_locked(uint32_t klass, const jvmtiFrameInfo *frames, unsigned n, uint64_t size,
                                   uint64_t when_ms);
/* Names the frames of sites in the view that have no names yet; ids follow. Our JVM thread. */
void jheap_sites_name(jvmtiEnv *env, JNIEnv *jni);
#endif
void jheap_sites_free_locked(uint32_t slot);
/* Sums live samples into each site's view, orders the sites. */
void jheap_sites_collect_locked(uint64_t min_age_ms);
/* Up to max sites that grew most since the previous report (all of it on the first), with a sample. */
unsigned jheap_sites_pick_growing(struct jheap_site **out, unsigned max);

/* What a sample of `size` bytes stands for, in objects and bytes (scaled by 1024 to keep integers). */
uint64_t jheap_weight_x1024(uint64_t size, uint64_t interval);

#endif
