/* javaheap.h — what the tools do differently for Java-heap sites (kind "java-heap": sampled estimates of
 * objects a JVM keeps reachable, see docs/java-heap.md): how many frames of their stacks to show (down to
 * the first frame outside the JDK), their "Held by" chain, and the gate's noise floor for an estimate. */
#ifndef LW_JAVAHEAP_H
#define LW_JAVAHEAP_H

#include <stdbool.h>
#include <stddef.h>
#include "model.h"

bool javaheap_is(const lw_site *s);

/* How many of st's frames to print: at least `least`, and down to the first Java frame outside the JDK. */
size_t javaheap_frames_to_show(const lw_stack *st, size_t least);

/* The "Held by" chain of the site's largest leak group, or NULL. */
const char *javaheap_held_by(const lw_site *s);

/* The leak group that carries the report's exact count of the site's class (the same in every group), or NULL. */
const lw_leak *javaheap_counted(const lw_site *s);

/* The exact count the report `r` made of every object of the site's class (all allocation sites together, not
 * the site's own objects), as one line for people: "Exact count: N objects of C (B) in the heap of pid P `when`:
 * ..."; NULL when the report has none. The class name is as the report wrote it: escape the line to print it. */
const char *javaheap_exact_line(const lw_report *r, const lw_site *s, const char *when, char *buf, size_t len);

/* A growth a site must exceed to be more than sampling noise: 8 samples' worth (the report's sampling
 * interval) or three times the sampling error of the site's estimate (sqrt(samples) intervals), or
 * min_growth when that is larger. */
double javaheap_min_growth(const lw_report *r, const lw_site *s, double min_growth);

#endif
