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

#endif
