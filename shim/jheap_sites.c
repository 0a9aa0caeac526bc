/* jheap_sites.c — sample, site and name tables of Java-heap sites (see jheap_sites.h). */
#include <string.h>
#include "arena.h"
#include "sort.h"
#include "state.h"

#if __has_include(<jvmti.h>)
#include <jvmti.h>
#endif
#include "jheap_sites.h"
#include "jheap_names.h"

struct jheap_state jh;

#define SITE_MASK (JHEAP_SITES_MAX * 2u - 1)   /* the hash index is twice the sites: stays half empty */

static uint32_t *site_index;              /* key hash -> site number (from 1), 0 empty */
static uint32_t nsites;

int jheap_sites_init(void)
{
    jh.classes = arena_map(JHEAP_CLASSES_MAX * sizeof *jh.classes);
    jh.sites = arena_map((JHEAP_SITES_MAX + 1) * sizeof *jh.sites);
    jh.samples = arena_map(JHEAP_SAMPLES_MAX * sizeof *jh.samples);
    site_index = arena_map((SITE_MASK + 1) * sizeof *site_index);
    jh.next_unused = 1;
    return jh.classes && jh.sites && jh.samples && site_index ? 0 : -1;
}

/* e^-x for x >= 0 without libm: halve x until small, a Taylor series, square back. */
static double exp_neg(double x)
{
    if (x > 700)
        return 0;
    unsigned halvings = 0;
    while (x > 0.25)
        x /= 2, halvings++;
    double term = 1, sum = 1;
    for (int i = 1; i < 10; i++) {
        term *= -x / i;
        sum += term;
    }
    while (halvings--)
        sum *= sum;
    return sum;
}

/* A sample is taken when a thread's allocations pass a random point drawn with mean `interval`
 * (exponential gaps, JEP 331): an object of s bytes is sampled with probability 1 - e^(-s/interval),
 * so each sample stands for 1/(1 - e^(-s/interval)) objects like it. */
uint64_t jheap_weight_x1024(uint64_t size, uint64_t interval)
{
    double p = 1 - exp_neg((double)size / (double)(interval ? interval : 1));
    if (p < 1e-9)
        p = 1e-9;
    return (uint64_t)(1024.0 / p + 0.5);
}

#ifdef _JAVA_JVMTI_H_

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}

static uint32_t site_find_or_add_locked(uint32_t klass, const jvmtiFrameInfo *frames, unsigned n)
{
    uint64_t key = mix(0x6a68656170ull, jh.classes[klass].hash);
    for (unsigned i = 0; i < n; i++)
        key = mix(mix(key, (uint64_t)(uintptr_t)frames[i].method), (uint64_t)frames[i].location);
    key |= 1;
    for (uint32_t j = (uint32_t)key & SITE_MASK;; j = (j + 1) & SITE_MASK) {
        uint32_t s = site_index[j];
        if (!s) {
            if (nsites >= JHEAP_SITES_MAX)
                return 0;
            s = ++nsites;
            struct jheap_site *site = &jh.sites[s];
            site->key = key;
            site->klass = klass;
            site->nframes = (uint16_t)n;
            for (unsigned i = 0; i < n; i++) {
                site->methods[i] = frames[i].method;
                site->bci[i] = (int32_t)frames[i].location;
            }
            site_index[j] = s;
            return s;
        }
        struct jheap_site *site = &jh.sites[s];
        if (site->key != key || site->klass != klass || site->nframes != n)
            continue;
        unsigned i = 0;
        while (i < n && site->methods[i] == (void *)frames[i].method && site->bci[i] == (int32_t)frames[i].location)
            i++;
        if (i == n)
            return s;
    }
}

uint32_t jheap_sites_sample_locked(uint32_t klass, const jvmtiFrameInfo *frames, unsigned n, uint64_t size,
                                   uint64_t when_ms)
{
    uint32_t site = site_find_or_add_locked(klass, frames, n);
    uint32_t slot = jh.free_head;
    if (slot)
        jh.free_head = jh.samples[slot].next_free;
    else if (jh.next_unused < JHEAP_SAMPLES_MAX)
        slot = jh.next_unused++;
    if (!site || !slot) {
        if (slot)
            jh.samples[slot].next_free = jh.free_head, jh.free_head = slot;
        jh.dropped++;
        return 0;
    }
    jh.samples[slot] = (struct jheap_sample){ .site = site, .size = size, .birth_ms = when_ms };
    jh.live_samples++;
    return slot;
}

void jheap_sites_name(jvmtiEnv *env, JNIEnv *jni)
{
    (void)jni;
    for (uint32_t k = 0; k < jh.nview; k++) {
        struct jheap_site *s = &jh.sites[jh.order[k]];
        if (s->named)
            continue;
        uint64_t id = mix(0x6a68656170ull, jh.classes[s->klass].hash);
        int ok = 1;
        for (unsigned i = 0; i < s->nframes && ok; i++) {
            s->names[i] = jheap_names_method(env, s->methods[i]);
            ok = s->names[i] != NULL;
            if (ok)
                id = mix(mix(id, jheap_names_hash(s->names[i])), (uint64_t)s->bci[i]);
        }
        s->id = id;
        s->named = ok ? 1 : -1;
    }
}

#endif

void jheap_sites_free_locked(uint32_t slot)
{
    if (!slot || slot >= JHEAP_SAMPLES_MAX || !jh.samples[slot].site)
        return;
    jh.samples[slot].site = 0;
    jh.samples[slot].next_free = jh.free_head;
    jh.free_head = slot;
    jh.live_samples--;
}

static int cmp_view(const void *a, const void *b)
{
    const struct jheap_view *x = &jh.sites[*(const uint32_t *)a].view, *y = &jh.sites[*(const uint32_t *)b].view;
    return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
}

void jheap_sites_collect_locked(uint64_t min_age_ms)
{
    for (uint32_t s = 1; s <= nsites; s++)
        jh.sites[s].view = (struct jheap_view){ 0 };
    uint64_t now = lw_now_ms();
    for (uint32_t slot = 1; slot < jh.next_unused; slot++) {
        const struct jheap_sample *sm = &jh.samples[slot];
        if (!sm->site)
            continue;
        struct jheap_view *v = &jh.sites[sm->site].view;
        uint64_t w = jheap_weight_x1024(sm->size, jh.interval);
        v->samples++;
        v->objects += w;
        v->bytes += w * sm->size;
        uint64_t age = now > sm->birth_ms ? now - sm->birth_ms : 0;
        if (age >= min_age_ms) {
            v->old_samples++;
            v->old_objects += w;
            v->old_bytes += w * sm->size;
            if (age >= v->oldest_ms)
                v->oldest_ms = age, v->sample_slot = slot;
            if (!v->young_slot || sm->birth_ms >= jh.samples[v->young_slot].birth_ms)
                v->young_slot = slot;
        }
    }
    jh.nview = 0;
    for (uint32_t s = 1; s <= nsites; s++) {
        struct jheap_site *site = &jh.sites[s];
        struct jheap_view *v = &site->view;
        v->objects = (v->objects + 512) / 1024;
        v->bytes = (v->bytes + 512) / 1024;
        v->old_objects = (v->old_objects + 512) / 1024;
        v->old_bytes = (v->old_bytes + 512) / 1024;
        v->had_previous = site->in_previous;
        v->delta = (int64_t)v->bytes - (int64_t)site->previous_bytes;
        if (v->samples || site->in_previous)
            jh.order[jh.nview++] = s;
    }
    lw_sort(jh.order, jh.nview, sizeof jh.order[0], cmp_view);
    while (jh.nview && !jh.sites[jh.order[jh.nview - 1]].view.samples)
        jh.nview--;                       /* sites that had samples in the previous report but none now */
}

unsigned jheap_sites_pick_growing(struct jheap_site **out, unsigned max)
{
    unsigned n = 0;
    for (uint32_t k = 0; k < jh.nview; k++) {
        struct jheap_site *s = &jh.sites[jh.order[k]];
        if (s->view.delta <= 0 || !s->view.sample_slot || s->named != 1)
            continue;
        unsigned at = n < max ? n++ : max;
        if (at == max) {
            if (s->view.delta <= out[max - 1]->view.delta)
                continue;
            at = max - 1;
        }
        while (at > 0 && out[at - 1]->view.delta < s->view.delta)
            out[at] = out[at - 1], at--;
        out[at] = s;
    }
    return n;
}
