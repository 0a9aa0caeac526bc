/* trend.h — the gate's judgement on one site's live bytes over the rounds after warm-up: does it keep
 * growing with load (a leak), or is it flat, small, levelling off (a cache filling up), a sawtooth, or
 * memory that turns over? Pure functions on arrays; unit-tested on synthetic series. */
#ifndef LW_TREND_H
#define LW_TREND_H
#include <stdbool.h>
#include <stddef.h>

/* Growth in the later half of the rounds must be at least this fraction of the earlier half's rate. */
#define TREND_LEVEL_RATIO 0.25
/* A fall (from any round to any later one) larger than this fraction of the series' range is churn. */
#define TREND_CHURN_RATIO 0.5
/* Default --min-growth for heap sites: well above allocator noise at one site between rounds (a few KiB),
 * low enough to catch 24 bytes per request at 1,000 requests per round over four judged rounds. */
#define TREND_DEFAULT_MIN_GROWTH 65536.0
/* Default --min-growth-mmap for anonymous-mapping sites, which runtimes grow in chunks while they warm up:
 * a healthy JVM under load commits its JIT code cache 64 KiB at a time, two or three times over a few rounds
 * (measured up to 192 KiB at one site); malloc arenas and thread stacks come in MiBs but do not keep growing. */
#define TREND_DEFAULT_MIN_GROWTH_MMAP 1048576.0

typedef struct {
    const double *x;      /* cumulative load (or round number) at each post-warm-up round, increasing */
    const double *y;      /* live bytes at the site at each of those rounds */
    size_t n;
    double held_ms;       /* age of the site's oldest live block at the last round; < 0 when unknown */
    double window_ms;     /* time from the middle round to the last one; < 0 when unknown */
} trend_series;

typedef struct {
    double min_slope;     /* bytes per x unit the robust slope must exceed */
    double min_growth;    /* bytes the site must have grown by from the first to the last round */
} trend_limits;

typedef enum {
    TREND_LEAK,           /* grows with load and keeps growing: fails the gate */
    TREND_FLAT,           /* robust slope not above --min-slope, or no more than half of the pairwise slopes are */
    TREND_SMALL,          /* grew, but not more than --min-growth */
    TREND_CHURN,          /* fell by more than half its range at some point: a sawtooth, not an accumulation */
    TREND_TURNOVER,       /* its oldest block is younger than the last half of the rounds: nothing is kept */
    TREND_LEVELLING,      /* later rounds grew at under a quarter of the earlier rate: a cache or pool filling */
} trend_kind;

typedef struct {
    double slope;         /* Theil–Sen, bytes per x unit */
    double growth;        /* y[n-1] - y[0] */
    double early_rate;    /* Theil–Sen over the first half (rounds 0..n/2) */
    double late_rate;     /* Theil–Sen over the second half (rounds n/2..n-1) */
    double drawdown;      /* largest fall from a round to any later round */
    trend_kind kind;
    bool fails;
} trend_verdict;

/* Median of the slopes between every pair of points with different x; 0 with fewer than two such points. */
double trend_theil_sen(const double *x, const double *y, size_t n);

void trend_judge(const trend_series *s, const trend_limits *l, trend_verdict *v);

/* One phrase saying why: "keeps growing: +1.1 MiB, 96.0 KiB per round", "levelled off: ...". */
const char *trend_explain(const trend_verdict *v, const trend_limits *l, const char *unit, char *buf, size_t len);

#endif
