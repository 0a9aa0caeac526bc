/* growth.h — the growth sampler: every SAMPLE_PERIOD_MS the reporter thread reads each site's live
 * bytes (counts.h) and marks the sites whose live bytes keep reaching new highs, so that every
 * allocation there gets its own full stack (up to a budget a period, refilled here; the hot path spends
 * it in track.c), and unmarks sites that stopped. Reporter thread only; takes the count-table lock. */
#ifndef LW_GROWTH_H
#define LW_GROWTH_H

#define SAMPLE_PERIOD_MS 500

void growth_sample(void);

/* Asks the sampler to drop every mark at its next sample (the counts were cleared). Any thread. */
void growth_forget(void);

/* How much a site grew in its current run of new highs, when it "keeps growing" (three new highs within
 * the window, all in that run): its high-water mark less what it held when the run began, and in over_ms
 * how long ago that was. For the canonical site of a Java path (jvm.h) these are the figures of the
 * logical site, all its compiled versions together. 0 for a site that does not keep growing: one that
 * grew once (a reservation at start-up) or stopped. Any thread; reads the sampler's marks without a lock. */
#include <stdint.h>
int64_t growth_recent(uint32_t site, uint64_t *over_ms);

#endif
