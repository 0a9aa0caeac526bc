/* report.h — one leak report, in four steps: settle the queued frees, take one snapshot of everything
 * it shows (snapshot.h: each shard copied in one hold of its lock), group it by creation stack
 * (groups.h), and render it through one emitter (emitter.h) as text (Netty's ResourceLeakDetector
 * shape) and as JSON (the contract in docs/report-format.md), both from the same copy.
 * Layers: report -> groups -> snapshot -> blocks, regions, counts, sites, stacks, symbols; the emitter
 * sits on out.h. Reports must be serialised by the caller (the report lock); the guard must be set.
 * Not async-signal-safe. */
#ifndef LW_REPORT_H
#define LW_REPORT_H

#include <stdint.h>

/* REASON_HTTP: served by the live endpoint; it leaves the "since report #N" history alone. */
enum report_reason { REASON_SIGNAL, REASON_EXIT, REASON_INTERVAL, REASON_API, REASON_HTTP };

const char *report_reason_name(enum report_reason reason);

/* What one report asks of a JVM whose heap leakwatch follows, handed with that report (never left as a
 * shared wish another report or a scrape could take): a full GC before the Java-heap figures (`leakwatch
 * dump --gc`, gate), and the "Held by" walk after the native copy (every report but gate's early rounds
 * and the live endpoint's). */
#define REPORT_JAVA_GC 1u
#define REPORT_JAVA_HELD_BY 2u
#define LW_GC_VALUE 0x4c574743          /* "LWGC": the sival_int of a report signal asking for a full GC */
#define LW_GC_NO_WALK_VALUE 0x4c57474e  /* "LWGN": a full GC, and no "Held by" walk (gate's early rounds) */

struct report_summary {
    uint64_t live_bytes, live_blocks, leak_records;
};

/* Writes report number `seq` to the two descriptors, asking the JVM what `java` says (REPORT_JAVA_*);
 * returns 0 or the errno of the first failed write. */
int report_write(enum report_reason reason, unsigned java, unsigned seq, uint64_t min_age_ms, int txt_fd,
                 int json_fd, struct report_summary *summary);

struct snapshot;
struct grouping;

/* Renders a grouped snapshot to the two descriptors; reads nothing live. 0 or an errno. */
int report_render(const struct snapshot *s, const struct grouping *g, enum report_reason reason, unsigned seq,
                  int txt_fd, int json_fd);

/* Forget the previous report's groups (a forked child starts its own series). */
void report_reset_history(void);

#endif
