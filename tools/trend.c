/* trend.c — leak versus cache versus sawtooth (see trend.h). Each test alone is easy to fool with few
 * rounds; together they encode what a leak is: memory that is kept (old blocks survive), that only goes up
 * (no large falls), and whose rate does not die down as the rounds go on. */
#include "trend.h"
#include "util.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The slopes between every pair of points with different x, sorted; *k of them. NULL when there are none. */
static double *pair_slopes(const double *x, const double *y, size_t n, size_t *k)
{
    *k = 0;
    double *s = n >= 2 ? malloc(n * (n - 1) / 2 * sizeof *s) : NULL;
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (x[j] != x[i])
                s[(*k)++] = (y[j] - y[i]) / (x[j] - x[i]);
    qsort(s, *k, sizeof *s, dcmp);
    return s;
}

double trend_theil_sen(const double *x, const double *y, size_t n)
{
    size_t k;
    double *s = pair_slopes(x, y, n, &k);
    double m = 0;
    if (k)
        m = k % 2 ? s[k / 2] : (s[k / 2 - 1] + s[k / 2]) / 2;
    free(s);
    return m;
}

/* Do more than half of the pairwise slopes exceed min? The lower median decides, so a series that is flat
 * but for one jump (a JIT arena chunk taken just before the last snapshot) is not "growing". */
static bool mostly_rising(const double *x, const double *y, size_t n, double min)
{
    size_t k;
    double *s = pair_slopes(x, y, n, &k);
    bool r = k && s[(k - 1) / 2] > min;
    free(s);
    return r;
}

void trend_judge(const trend_series *s, const trend_limits *l, trend_verdict *v)
{
    size_t n = s->n;
    *v = (trend_verdict){0};
    v->slope = trend_theil_sen(s->x, s->y, n);
    v->growth = n ? s->y[n - 1] - s->y[0] : 0;
    if (n >= 3) {
        size_t mid = n / 2;
        v->early_rate = trend_theil_sen(s->x, s->y, mid + 1);
        v->late_rate = trend_theil_sen(s->x + mid, s->y + mid, n - mid);
    } else {
        /* Two rounds cannot show a levelling: judge them by the one rate there is. */
        v->early_rate = v->late_rate = v->slope;
    }
    double lo = n ? s->y[0] : 0, hi = lo, peak = lo;
    for (size_t i = 0; i < n; i++) {
        lo = fmin(lo, s->y[i]);
        hi = fmax(hi, s->y[i]);
        peak = fmax(peak, s->y[i]);
        v->drawdown = fmax(v->drawdown, peak - s->y[i]);
    }
    bool rising = v->slope > l->min_slope && mostly_rising(s->x, s->y, n, l->min_slope);
    bool grew = v->growth > l->min_growth;
    bool churn = v->drawdown > TREND_CHURN_RATIO * (hi - lo);
    bool turnover = s->held_ms >= 0 && s->window_ms > 0 && s->held_ms < s->window_ms;
    bool still = v->late_rate > 0 && v->late_rate >= TREND_LEVEL_RATIO * v->early_rate;
    if (!rising)
        v->kind = TREND_FLAT;
    else if (!grew)
        v->kind = TREND_SMALL;
    else if (churn)
        v->kind = TREND_CHURN;
    else if (turnover)
        v->kind = TREND_TURNOVER;
    else if (!still)
        v->kind = TREND_LEVELLING;
    else
        v->kind = TREND_LEAK;
    v->fails = v->kind == TREND_LEAK;
}

const char *trend_explain(const trend_verdict *v, const trend_limits *l, const char *unit, char *buf, size_t len)
{
    char a[32], b[32], c[32];
    switch (v->kind) {
    case TREND_LEAK:
        snprintf(buf, len, "keeps growing: %s in total, %s per %s, still %s per %s in the later rounds",
                 lw_bytes(v->growth, true, a, sizeof a), lw_bytes(v->slope, false, b, sizeof b), unit,
                 lw_bytes(v->late_rate, false, c, sizeof c), unit);
        break;
    case TREND_FLAT:
        snprintf(buf, len, "flat: %s per %s (not above --min-slope %s)", lw_bytes(v->slope, true, a, sizeof a), unit,
                 lw_bytes(l->min_slope, false, b, sizeof b));
        break;
    case TREND_SMALL:
        snprintf(buf, len, "small: grew %s (not above --min-growth %s)", lw_bytes(v->growth, true, a, sizeof a),
                 lw_bytes(l->min_growth, false, b, sizeof b));
        break;
    case TREND_CHURN:
        snprintf(buf, len, "sawtooth: fell by %s between rounds, so it is released and refilled, not kept",
                 lw_bytes(v->drawdown, false, a, sizeof a));
        break;
    case TREND_TURNOVER:
        snprintf(buf, len, "turns over: its oldest block is younger than the later half of the rounds");
        break;
    case TREND_LEVELLING:
        snprintf(buf, len, "levelling off: %s per %s early, %s per %s later", lw_bytes(v->early_rate, true, a, sizeof a),
                 unit, lw_bytes(v->late_rate, true, b, sizeof b), unit);
        break;
    }
    return buf;
}
