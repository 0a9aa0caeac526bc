/* metrics.h — the live endpoint's /metrics: OpenMetrics text with the totals and the live bytes and
 * blocks of the top sites (at most METRICS_MAX_SITES series a metric, the rest summed into one), each
 * named by a readable, escaped `site` label (a site reached from Java: its Java logical site, named by
 * its Java frames). Exact: queued frees are settled first. In a JVM, the Java heap's estimates in
 * families of their own (leakwatch_java_heap_*). Built from one scrape (scrape.h). Report lock held
 * (report_thread_with_lock), guard set; not async-signal-safe. */
#ifndef LW_METRICS_H
#define LW_METRICS_H

#define METRICS_MAX_SITES 50

/* Writes the exposition to fd; 0 or -1 (no memory, or a failed write). */
int metrics_write(int fd);

/* Writes a site label value: frames as function+0xoffset (module+0xoffset when unnamed), innermost
 * first, joined by " < ", with \, " and newline escaped and other control or non-ASCII bytes as '?'. */
struct out;
struct module_set;
struct site;
void metrics_site_label(struct out *o, const struct module_set *mods, const struct site *site);

#endif
