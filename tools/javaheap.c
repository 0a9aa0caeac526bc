/* javaheap.c — Java-heap sites in the tools (see javaheap.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "javaheap.h"
#include "util.h"

bool javaheap_is(const lw_site *s) { return s && s->kind && strcmp(s->kind, "java-heap") == 0; }

static bool in_jdk(const char *klass)
{
    static const char *const prefixes[] = { "java.", "javax.", "jdk.", "sun.", "com.sun." };
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(klass, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

size_t javaheap_frames_to_show(const lw_stack *st, size_t least)
{
    size_t n = least < st->n ? least : st->n;
    for (size_t i = 0; i < st->n; i++)
        if (st->v[i].java && st->v[i].java->class_name && !in_jdk(st->v[i].java->class_name))
            return i + 1 > n ? i + 1 : n;
    return n;
}

const char *javaheap_held_by(const lw_site *s)
{
    const lw_leak *best = NULL;
    for (size_t i = 0; i < s->nleaks; i++)
        if (!best || s->leaks[i].bytes > best->bytes)
            best = &s->leaks[i];
    return best ? best->held_by : NULL;
}

const lw_leak *javaheap_counted(const lw_site *s)
{
    for (size_t i = 0; javaheap_is(s) && i < s->nleaks; i++)
        if (s->leaks[i].has_class_exact)
            return &s->leaks[i];
    return NULL;
}

const char *javaheap_exact_line(const lw_report *r, const lw_site *s, const char *when, char *buf, size_t len)
{
    const lw_leak *counted = javaheap_counted(s);
    if (!counted)
        return NULL;
    char objects[32], bytes[32];
    snprintf(buf, len, "Exact count: %s objects of %s (%s) in the heap of pid %lld %s: every object of the class, "
             "from every allocation site, not only those of this site (whose figures are estimates)",
             lw_commas(counted->class_exact_objects, objects, sizeof objects), s->class_name ? s->class_name : "its class",
             lw_bytes((double)counted->class_exact_bytes, false, bytes, sizeof bytes), r ? r->pid : 0LL, when);
    return buf;
}

double javaheap_min_growth(const lw_report *r, const lw_site *s, double min_growth)
{
    double interval = r && r->java_sampling_interval_bytes > 0 ? (double)r->java_sampling_interval_bytes : 512.0 * 1024;
    /* N samples of ~interval bytes each: the estimate's sampling error is about sqrt(N) intervals */
    double noise = 3.0 * sqrt(s && s->samples > 0 ? (double)s->samples : 0) * interval;
    double floor = 8.0 * interval > noise ? 8.0 * interval : noise;
    return floor > min_growth ? floor : min_growth;
}
