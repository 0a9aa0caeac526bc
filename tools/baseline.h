/* baseline.h — the gate against a stored verdict of the main branch (`gate --json` output): a site that
 * keeps growing fails only when it is new (no baseline site has its id or its creation stack) or grows
 * clearly faster than its baseline site. Reads the verdict once; no locks, not thread-safe. */
#ifndef LW_BASELINE_H
#define LW_BASELINE_H
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include "gate.h"

/* "Clearly faster": more than this many times the baseline's rate, and the extra growth over this run's
 * judged rounds is above the site's --min-growth (so noise on a small baseline rate does not fail a run). */
#define BASELINE_FASTER_RATIO 2.0
/* Creation-stack frames compared when a site's id is not in the baseline. */
#define BASELINE_STACK_FRAMES 8

typedef struct {
    const char *id;
    char *stack;              /* function names of the first BASELINE_STACK_FRAMES frames, offsets cut, '\n'-joined */
    double slope, growth;     /* as the baseline verdict gives them */
} baseline_site;

struct baseline {
    char *file;
    json_t *root;
    bool per_load;            /* the baseline's unit is "load unit" */
    size_t judged;            /* the baseline's rounds after warm-up */
    baseline_site *v;
    size_t n;
};

/* Reads a `gate --json` verdict. False with one error line in err naming the file and what to do. */
bool baseline_load(const char *path, struct baseline *b, char *err, size_t errlen);

/* Judges a site that keeps growing: sets s->base (new, faster, or as in the baseline) and the two rates, and
 * clears s->v.fails for a site that grows as it did in the baseline. */
void baseline_judge(const struct baseline *b, const gate_run *g, gate_site *s);

/* "new: no site of the baseline has its id or creation stack" and the like, for the verdict. */
const char *baseline_explain(const gate_run *g, const gate_site *s, char *buf, size_t len);

/* The sites excused by the baseline, one line each, for the verdict. */
void baseline_print_known(FILE *out, const gate_run *g);

void baseline_free(struct baseline *b);

#endif
