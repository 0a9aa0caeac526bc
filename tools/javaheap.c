/* javaheap.c — Java-heap sites in the tools (see javaheap.h). */
#include <math.h>
#include <string.h>
#include "javaheap.h"

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

double javaheap_min_growth(const lw_report *r, const lw_site *s, double min_growth)
{
    double interval = r && r->java_sampling_interval_bytes > 0 ? (double)r->java_sampling_interval_bytes : 512.0 * 1024;
    /* N samples of ~interval bytes each: the estimate's sampling error is about sqrt(N) intervals */
    double noise = 3.0 * sqrt(s && s->samples > 0 ? (double)s->samples : 0) * interval;
    double floor = 8.0 * interval > noise ? 8.0 * interval : noise;
    return floor > min_growth ? floor : min_growth;
}
