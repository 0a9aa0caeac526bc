/* gate.h — the gate's analysis: snapshots grouped into rounds (several files per round when a process
 * tree was snapshot), live bytes per site summed across a round's files and matched across rounds by site
 * id, suppressions applied, each site judged by trend.h, and the verdict printed as a table or as JSON.
 * Used by `leakwatch gate` both over files given on the command line and over a live server. */
#ifndef LW_GATE_H
#define LW_GATE_H
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include "model.h"
#include "suppress.h"
#include "trend.h"

/* What a stored verdict of the main branch (--baseline) says about a site that keeps growing. */
typedef enum {
    GATE_BASE_NONE,           /* no baseline given, or the site does not keep growing */
    GATE_BASE_NEW,            /* no baseline site has its id or creation stack: fails */
    GATE_BASE_FASTER,         /* grows clearly faster than its baseline site: fails */
    GATE_BASE_AS_BEFORE,      /* grows as its baseline site did: passes */
} gate_base;

struct baseline;

typedef struct {
    const char *id;
    const lw_report *report;  /* the report that describes the site: the latest round that has it */
    const lw_site *site;
    bool described_by_last_round; /* report is one of the last round's (else the site had gone by then) */
    double *bytes, *blocks;   /* per round, 0 where the site had nothing live (for the trend) */
    long long *live_bytes, *live_blocks; /* the same, exact */
    double held_ms;           /* oldest live block at the last round (max over processes); -1 unknown */
    trend_limits limits;      /* what it was judged by: mmap sites have their own --min-growth-mmap */
    int suppressed_by;        /* index of the rule that hid it, or -1 */
    trend_verdict v;
    gate_base base;
    bool base_by_stack;       /* matched by creation stack, not by id */
    bool base_per_load;       /* the rates below are per load unit, else per round */
    double rate, base_rate;   /* growth rate here and in the baseline (baseline.h) */
} gate_site;

typedef struct {
    size_t nrounds, warmup;
    char **round_names;       /* what each round was read from, for messages */
    lw_report **reports;      /* every file of every round, owned */
    size_t *report_round;
    size_t nreports;
    double *load;             /* cumulative load at each round (round numbers when none given) */
    bool load_given;
    double *time_ms;          /* latest report time of each round, NAN when unknown */
    gate_site *sites;         /* after gate_evaluate: failing first, then by growth */
    size_t nsites, nfailed, nsuppressed;
    trend_limits limits;
    double min_growth_mmap;   /* --min-growth for sites of kind mmap */
    suppress_list sup;
    const struct baseline *baseline; /* --baseline: judge growing sites against it (NULL: none) */
} gate_run;

void gate_init(gate_run *g);

/* Adds a round read from spec: "a.json", or "a.json+b.json+..." for one round of a process tree. */
bool gate_add_round(gate_run *g, const char *spec, char *err, size_t errlen);

/* gate_add_round for each of specs in order, the files read on a few threads at once; the first problem in
 * round order is the one said. */
bool gate_add_rounds(gate_run *g, char *const *specs, size_t nspecs, char *err, size_t errlen);

/* Adds a round from files already loaded (ownership moves to g); name labels it in messages. */
void gate_add_loaded(gate_run *g, const char *name, lw_report **reports, size_t n);

/* "N1,N2,..." cumulative load at each round, one number per round, increasing. */
bool gate_set_load(gate_run *g, const char *list, char *err, size_t errlen);

/* Checks the round count against the warm-up, builds per-site series and judges every site. */
bool gate_evaluate(gate_run *g, char *err, size_t errlen);

/* The verdict for people: a table per failing site, a line per notable passing site, suppressions. */
void gate_print(FILE *out, const gate_run *g);

/* The verdict as a JSON object ("format":"leakwatch-gate"). */
json_t *gate_to_json(const gate_run *g);

/* "handle_request < serve < main": the first n function names of the site's creation stack. */
void gate_site_label(const gate_site *s, size_t n, char *buf, size_t len);

/* The unit of the x axis: "round" or "load unit". */
const char *gate_unit(const gate_run *g);

void gate_free(gate_run *g);

#endif
