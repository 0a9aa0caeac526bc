/* rank.h — the order of leak records in a report: the records that grew since the previous report come
 * first, largest growth first; then the rest, largest live bytes first. A record that did not exist in the
 * previous report grew by all it holds. In the first report nothing has grown, so size alone decides.
 * Pure functions; no lock; async-signal-safe. */
#ifndef LW_RANK_H
#define LW_RANK_H

#include <stdint.h>

struct rank_entry {
    int64_t growth;             /* bytes gained since the previous report; <= 0: did not grow */
    uint64_t bytes;             /* live bytes now */
    uint64_t tie_break;         /* last tie-break, so that the order is total */
};

/* The growth a record shows: its change when it was in the previous report, else all it holds; 0 when
 * there was no previous report. */
int64_t rank_growth(int had_previous_report, int was_in_it, uint64_t bytes, int64_t delta);

/* qsort-style: negative when a ranks before b. */
int rank_compare(const struct rank_entry *a, const struct rank_entry *b);

#endif
