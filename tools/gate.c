/* gate.c — rounds of reports to per-site series to a verdict (see gate.h). */
#include "gate.h"
#include "javaheap.h"
#include "baseline.h"
#include "pool.h"
#include "util.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gate_init(gate_run *g)
{
    *g = (gate_run){.warmup = 1, .limits = {.min_slope = 0, .min_growth = TREND_DEFAULT_MIN_GROWTH},
                    .min_growth_mmap = TREND_DEFAULT_MIN_GROWTH_MMAP};
}

static void add_round_slot(gate_run *g, const char *name)
{
    g->round_names = realloc(g->round_names, (g->nrounds + 1) * sizeof *g->round_names);
    g->round_names[g->nrounds++] = strdup(name);
}

static void add_report(gate_run *g, lw_report *r)
{
    g->reports = realloc(g->reports, (g->nreports + 1) * sizeof *g->reports);
    g->report_round = realloc(g->report_round, (g->nreports + 1) * sizeof *g->report_round);
    g->reports[g->nreports] = r;
    g->report_round[g->nreports++] = g->nrounds - 1;
}

bool gate_add_round(gate_run *g, const char *spec, char *err, size_t errlen)
{
    char *copy = strdup(spec), *save = NULL;
    lw_report *loaded[256];
    size_t n = 0;
    bool ok = true;
    for (char *p = strtok_r(copy, "+", &save); p && ok; p = strtok_r(NULL, "+", &save)) {
        if (n == sizeof loaded / sizeof loaded[0]) {
            snprintf(err, errlen, "round %zu (%.200s): more than %zu files in one round", g->nrounds + 1, spec, n);
            ok = false;
            break;
        }
        loaded[n] = model_load(p, err, errlen);
        if (!loaded[n])
            ok = false;
        else
            n++;
    }
    if (ok && n == 0) {
        snprintf(err, errlen, "round %zu: \"%.200s\" names no file: give FILE.json or A.json+B.json",
                 g->nrounds + 1, spec);
        ok = false;
    }
    if (ok)
        gate_add_loaded(g, spec, loaded, n);
    else
        for (size_t i = 0; i < n; i++)
            model_free(loaded[i]);
    free(copy);
    return ok;
}

/* One file of a round, loaded by whichever reader thread takes it. */
typedef struct {
    const char *path;
    lw_report *r;
    char err[1024];
} round_file;

typedef struct {
    round_file *files;
    size_t n, next;
    pthread_mutex_t lock;
} load_queue;

static void *load_files(void *arg)
{
    load_queue *q = arg;
    for (;;) {
        pthread_mutex_lock(&q->lock);
        size_t i = q->next++;
        pthread_mutex_unlock(&q->lock);
        if (i >= q->n)
            return NULL;
        q->files[i].r = model_load(q->files[i].path, q->files[i].err, sizeof q->files[i].err);
    }
}

bool gate_add_rounds(gate_run *g, char *const *specs, size_t nspecs, char *err, size_t errlen)
{
    enum { MAX_FILES = 256, THREADS = 4 };
    char **copies = calloc(nspecs, sizeof *copies);
    size_t *first = calloc(nspecs + 1, sizeof *first);
    char (*problem)[300] = calloc(nspecs, sizeof *problem);   /* a round's own problem, said in its turn */
    round_file *files = NULL;
    size_t nfiles = 0, cap = 0;
    bool ok = copies && first && problem;
    for (size_t k = 0; ok && k < nspecs; k++) {
        first[k] = nfiles;
        size_t in_round = 0;
        char *save = NULL;
        ok = (copies[k] = strdup(specs[k])) != NULL;
        for (char *p = ok ? strtok_r(copies[k], "+", &save) : NULL; p; p = strtok_r(NULL, "+", &save)) {
            if (in_round == MAX_FILES) {
                snprintf(problem[k], sizeof problem[k], "round %zu (%.200s): more than %d files in one round",
                         g->nrounds + k + 1, specs[k], MAX_FILES);
                break;
            }
            if (nfiles == cap) {
                cap = cap ? cap * 2 : 16;
                round_file *v = realloc(files, cap * sizeof *v);
                if (!(ok = v != NULL))
                    break;
                files = v;
            }
            files[nfiles++] = (round_file){.path = p};
            in_round++;
        }
        if (ok && in_round == 0)
            snprintf(problem[k], sizeof problem[k], "round %zu: \"%.200s\" names no file: give FILE.json or "
                     "A.json+B.json", g->nrounds + k + 1, specs[k]);
    }
    if (ok) {
        first[nspecs] = nfiles;
        /* Reading is nearly all of a gate over files: the files are read on a few threads at once (they are
         * all kept anyway, so this takes no more memory than one after the other). */
        load_queue q = {.files = files, .n = nfiles};
        pthread_mutex_init(&q.lock, NULL);
        pthread_t t[THREADS - 1];
        size_t started = 0;
        while (started < THREADS - 1 && started + 1 < nfiles && pthread_create(&t[started], NULL, load_files, &q) == 0)
            started++;
        load_files(&q);
        for (size_t i = 0; i < started; i++)
            pthread_join(t[i], NULL);
        pthread_mutex_destroy(&q.lock);
    } else {
        snprintf(err, errlen, "out of memory for %zu rounds", nspecs);
    }
    /* Rounds in order, each said as reading them one after the other would say it. */
    size_t added = 0;
    for (size_t k = 0; ok && k < nspecs; k++) {
        if (problem[k][0]) {
            snprintf(err, errlen, "%s", problem[k]);
            ok = false;
            break;
        }
        for (size_t i = first[k]; ok && i < first[k + 1]; i++)
            if (!files[i].r) {
                snprintf(err, errlen, "%s", files[i].err);
                ok = false;
            }
        if (!ok)
            break;
        lw_report *loaded[MAX_FILES];
        for (size_t i = first[k]; i < first[k + 1]; i++)
            loaded[i - first[k]] = files[i].r;
        gate_add_loaded(g, specs[k], loaded, first[k + 1] - first[k]);
        added = first[k + 1];
    }
    for (size_t i = added; i < nfiles; i++)
        model_free(files[i].r);
    for (size_t k = 0; copies && k < nspecs; k++)
        free(copies[k]);
    free(copies);
    free(first);
    free(problem);
    free(files);
    return ok;
}

void gate_add_loaded(gate_run *g, const char *name, lw_report **reports, size_t n)
{
    add_round_slot(g, name);
    for (size_t i = 0; i < n; i++)
        add_report(g, reports[i]);
}

bool gate_set_load(gate_run *g, const char *list, char *err, size_t errlen)
{
    free(g->load);
    g->load = calloc(g->nrounds + 1, sizeof *g->load);
    size_t n = 0;
    const char *p = list;
    while (*p) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || !isfinite(v) || (*end && *end != ',')) {
            snprintf(err, errlen, "--load \"%.200s\": not a list of numbers: give the cumulative load at each "
                     "snapshot, e.g. --load 1000,2000,3000", list);
            return false;
        }
        if (n < g->nrounds)
            g->load[n] = v;
        n++;
        p = *end ? end + 1 : end;
    }
    if (n != g->nrounds) {
        snprintf(err, errlen, "--load has %zu numbers for %zu rounds: give one number per snapshot round", n,
                 g->nrounds);
        return false;
    }
    for (size_t i = 1; i < n; i++)
        if (!(g->load[i] > g->load[i - 1])) {
            snprintf(err, errlen, "--load must increase from round to round (round %zu: %g after %g): give the "
                     "cumulative load at each snapshot", i + 1, g->load[i], g->load[i - 1]);
            return false;
        }
    g->load_given = true;
    return true;
}

/* One site of one report, for grouping every report's sites by id. */
typedef struct {
    const char *id;
    size_t k;                 /* index into g->reports: reports are in round order */
    const lw_site *site;
} site_ref;

static int ref_cmp(const void *a, const void *b)
{
    const site_ref *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->k < y->k ? -1 : x->k > y->k);
}

static gate_site *site_new(gate_run *g, const char *id)
{
    gate_site *s = &g->sites[g->nsites++];
    *s = (gate_site){.id = id, .held_ms = -1, .suppressed_by = -1};
    s->bytes = calloc(g->nrounds, sizeof *s->bytes);
    s->blocks = calloc(g->nrounds, sizeof *s->blocks);
    s->live_bytes = calloc(g->nrounds, sizeof *s->live_bytes);
    s->live_blocks = calloc(g->nrounds, sizeof *s->live_blocks);
    return s;
}

/* Builds one series per site id: every report's sites sorted by (id, report), so matching is O(n log n).
 * A round's sum over its files is exact; one that passes 2^63-1 is an error naming the site and round. */
static bool build_series(gate_run *g, char *err, size_t errlen)
{
    size_t total = 0;
    for (size_t k = 0; k < g->nreports; k++)
        total += g->reports[k]->nsites;
    site_ref *refs = malloc((total ? total : 1) * sizeof *refs);
    size_t n = 0;
    for (size_t k = 0; k < g->nreports; k++)
        for (size_t i = 0; i < g->reports[k]->nsites; i++)
            refs[n++] = (site_ref){g->reports[k]->sites[i].id, k, &g->reports[k]->sites[i]};
    qsort(refs, n, sizeof *refs, ref_cmp);
    g->sites = calloc(n ? n : 1, sizeof *g->sites);
    g->nsites = 0;
    size_t last = g->nrounds - 1;
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        gate_site *s = i > 0 && strcmp(refs[i - 1].id, refs[i].id) == 0 ? &g->sites[g->nsites - 1]
                                                                         : site_new(g, refs[i].id);
        const lw_site *site = refs[i].site;
        const lw_report *r = g->reports[refs[i].k];
        size_t round = g->report_round[refs[i].k];
        if (__builtin_add_overflow(s->live_bytes[round], site->live_bytes, &s->live_bytes[round]) ||
            __builtin_add_overflow(s->live_blocks[round], site->live_blocks, &s->live_blocks[round])) {
            snprintf(err, errlen, "%s: site %s: its live bytes or blocks summed over round %zu's files pass "
                     "2^63-1: these reports cannot be right; take new ones", r->file, s->id, round + 1);
            ok = false;
        }
        s->bytes[round] = (double)s->live_bytes[round];
        s->blocks[round] = (double)s->live_blocks[round];
        /* Reports come in round order, so the description ends up from the latest round. */
        s->report = r;
        s->site = site;
        s->described_by_last_round = round == last;
        if (round == last)
            s->held_ms = fmax(s->held_ms, (double)site->oldest_age_ms);
    }
    free(refs);
    return ok;
}

static int site_cmp(const void *a, const void *b)
{
    const gate_site *x = a, *y = b;
    int rx = x->suppressed_by >= 0 ? 2 : !x->v.fails, ry = y->suppressed_by >= 0 ? 2 : !y->v.fails;
    if (rx != ry)
        return rx - ry;
    if (x->v.growth != y->v.growth)
        return x->v.growth > y->v.growth ? -1 : 1;
    return strcmp(x->id, y->id);
}

bool gate_evaluate(gate_run *g, char *err, size_t errlen)
{
    if (g->nrounds < g->warmup + 2) {
        snprintf(err, errlen, "%zu round%s with --warmup %zu leave%s fewer than 2 rounds to judge: give at least "
                 "%zu snapshots or lower --warmup", g->nrounds, g->nrounds == 1 ? "" : "s", g->warmup,
                 g->nrounds == 1 ? "s" : "", g->warmup + 2);
        return false;
    }
    if (!g->load) {
        g->load = calloc(g->nrounds, sizeof *g->load);
        for (size_t i = 0; i < g->nrounds; i++)
            g->load[i] = (double)(i + 1);
    }
    g->time_ms = calloc(g->nrounds, sizeof *g->time_ms);
    for (size_t i = 0; i < g->nrounds; i++)
        g->time_ms[i] = -INFINITY;
    size_t last = g->nrounds - 1;
    for (size_t k = 0; k < g->nreports; k++) {
        const lw_report *r = g->reports[k];
        size_t round = g->report_round[k];
        g->time_ms[round] = isnan(r->time_ms) || isnan(g->time_ms[round]) ? NAN : fmax(g->time_ms[round], r->time_ms);
    }
    if (!build_series(g, err, errlen))
        return false;
    size_t n = g->nrounds - g->warmup, mid = g->warmup + n / 2;
    double window = isfinite(g->time_ms[last]) && isfinite(g->time_ms[mid]) ? g->time_ms[last] - g->time_ms[mid] : -1;
    g->nfailed = g->nsuppressed = 0;
    for (size_t i = 0; i < g->nsites; i++) {
        gate_site *s = &g->sites[i];
        s->suppressed_by = suppress_match(&g->sup, s->report, s->site);
        trend_series ser = {g->load + g->warmup, s->bytes + g->warmup, n, s->held_ms, window};
        s->limits = g->limits;
        if (strcmp(s->site->kind, "mmap") == 0)
            s->limits.min_growth = g->min_growth_mmap;
        if (javaheap_is(s->site))   /* an estimate: growth must stand above the sampling's noise */
            s->limits.min_growth = javaheap_min_growth(s->report, s->site, g->limits.min_growth);
        trend_judge(&ser, &s->limits, &s->v);
        if (g->baseline && s->v.fails)
            baseline_judge(g->baseline, g, s);
        if (s->suppressed_by >= 0) {
            suppress_rule *rule = &g->sup.v[s->suppressed_by];
            rule->sites++;
            /* A total over many sites may pass 2^63-1: it saturates there (each site's own value is exact). */
            if (__builtin_add_overflow(rule->bytes, s->live_bytes[last], &rule->bytes))
                rule->bytes = LLONG_MAX;
            g->nsuppressed++;
        } else if (s->v.fails) {
            g->nfailed++;
        }
    }
    qsort(g->sites, g->nsites, sizeof *g->sites, site_cmp);
    return true;
}

const char *gate_unit(const gate_run *g)
{
    return g->load_given ? "load unit" : "round";
}

void gate_site_label(const gate_site *s, size_t n, char *buf, size_t len)
{
    const lw_stack *st = model_site_stack(s->site);
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < st->n && i < n && o < len; i++) {
        char name[256];
        model_frame_name(s->report, &st->v[i], false, name, sizeof name);
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? " < " : "", name);
    }
    if (!buf[0])
        snprintf(buf, len, "site %s", s->id);
}

/* A growing pool chunk site: the stack shown is not the leak's, and the note says how to get the leak's. */
static void print_pool_note(FILE *out, const gate_site *s)
{
    const char *frame = NULL;
    const pool_kind *k = pool_site(s->site, &frame);
    if (k) {
        char note[1024];
        pool_note(k, frame, note, sizeof note);
        fprintf(out, "  %s\n", note);
    }
}

static void print_failing(FILE *out, const gate_run *g, const gate_site *s)
{
    char why[256], a[32], b[32], c[32], kind[64];
    trend_explain(&s->v, &s->limits, gate_unit(g), why, sizeof why);
    fprintf(out, "FAIL  site %s (%s%s): %s\n", s->id, lw_esc(s->site->kind, kind, sizeof kind),
            javaheap_is(s->site) ? ", estimated by sampling" : "", why);
    if (s->base != GATE_BASE_NONE)
        fprintf(out, "  baseline: %s\n", baseline_explain(g, s, why, sizeof why));
    size_t n = g->nrounds - g->warmup;
    double per_round = n > 1 ? s->v.growth / (double)(n - 1) : 0;
    fprintf(out, "  growth: %s per round", lw_bytes(per_round, true, a, sizeof a));
    if (g->load_given)
        fprintf(out, ", %s per load unit (Theil-Sen)", lw_bytes(s->v.slope, true, b, sizeof b));
    fprintf(out, ", %s over rounds %zu-%zu\n", lw_bytes(s->v.growth, true, c, sizeof c), g->warmup + 1, g->nrounds);
    fprintf(out, "  %-8s", "round");
    for (size_t r = 0; r < g->nrounds; r++) {
        char label[32];
        snprintf(label, sizeof label, "%zu%s", r + 1, r < g->warmup ? "*" : "");
        fprintf(out, " %11s", label);
    }
    fprintf(out, "\n  %-8s", "live");
    for (size_t r = 0; r < g->nrounds; r++)
        fprintf(out, " %11s", lw_bytes(s->bytes[r], false, a, sizeof a));
    fprintf(out, "\n  %-8s", "blocks");
    for (size_t r = 0; r < g->nrounds; r++)
        fprintf(out, " %11s", lw_commas((long long)s->blocks[r], a, sizeof a));
    if (g->load_given) {
        fprintf(out, "\n  %-8s", "load");
        for (size_t r = 0; r < g->nrounds; r++)
            fprintf(out, " %11g", g->load[r]);
    }
    char exact[1024], e3[2048], e4[4096];
    if (s->described_by_last_round && javaheap_exact_line(s->report, s->site, "at the last round", exact, sizeof exact))
        fprintf(out, "\n  %s", lw_esc(exact, e3, sizeof e3));
    fprintf(out, "\n  Created at:\n");
    const lw_stack *st = model_site_stack(s->site);
    size_t shown = javaheap_is(s->site) ? javaheap_frames_to_show(st, 5) : 5;
    for (size_t i = 0; i < st->n && i < shown; i++) {
        char name[512], e1[2048], e2[1024];
        model_frame_name(s->report, &st->v[i], true, name, sizeof name);
        const char *mod = model_frame_module(s->report, &st->v[i]);
        fprintf(out, "\t%s%s%s%s\n", lw_esc(name, e1, sizeof e1), mod ? " (" : "",
                mod ? lw_esc(lw_basename(mod), e2, sizeof e2) : "", mod ? ")" : "");
    }
    if (st->n > shown)
        fprintf(out, "\t... %zu more frames\n", st->n - shown);
    const char *held_by = javaheap_is(s->site) ? javaheap_held_by(s->site) : NULL;
    if (held_by)              /* class and field names the JVM gave: escaped like every name printed */
        fprintf(out, "  Held by: %s\n", lw_esc(held_by, e4, sizeof e4));
    print_pool_note(out, s);
    fputc('\n', out);
}

void gate_print(FILE *out, const gate_run *g)
{
    char a[32], b[32];
    char c[32];
    fprintf(out, "leakwatch gate: %zu rounds (%zu warm-up), %zu sites; a site fails when over rounds %zu-%zu it "
            "grows by more than %s (mmap: %s; robust slope above %s per %s) and does not level off\n\n",
            g->nrounds, g->warmup, g->nsites, g->warmup + 1, g->nrounds,
            lw_bytes(g->limits.min_growth, false, a, sizeof a), lw_bytes(g->min_growth_mmap, false, c, sizeof c),
            lw_bytes(g->limits.min_slope, false, b, sizeof b), gate_unit(g));
    for (size_t i = 0; i < g->nsites; i++)
        if (g->sites[i].suppressed_by < 0 && g->sites[i].v.fails)
            print_failing(out, g, &g->sites[i]);
    size_t shown = 0, grew = 0;
    for (size_t i = 0; i < g->nsites; i++) {
        const gate_site *s = &g->sites[i];
        if (s->suppressed_by >= 0 || s->v.fails || s->v.kind == TREND_FLAT || s->v.growth <= 0 ||
            s->base == GATE_BASE_AS_BEFORE)
            continue;
        grew++;
        if (shown == 5)
            continue;
        if (shown++ == 0)
            fprintf(out, "Passing sites that grew:\n");
        char why[256], label[512], e[2048];
        gate_site_label(s, 3, label, sizeof label);
        fprintf(out, "pass  site %s: %s; %s\n", s->id, trend_explain(&s->v, &s->limits, gate_unit(g), why, sizeof why),
                lw_esc(label, e, sizeof e));
    }
    if (grew > shown)
        fprintf(out, "      ... and %zu more passing sites that grew\n", grew - shown);
    if (shown)
        fputc('\n', out);
    baseline_print_known(out, g);
    for (size_t i = 0; i < g->sup.n; i++) {
        const suppress_rule *r = &g->sup.v[i];
        char pat[2048];
        fprintf(out, "suppressed: leak:%s (line %d) hid %zu site%s, %s live at the last round\n",
                lw_esc(r->pattern, pat, sizeof pat), r->line, r->sites, r->sites == 1 ? "" : "s", lw_bytes(r->bytes, false, a, sizeof a));
    }
    if (g->nfailed)
        fprintf(out, "leakwatch gate: FAIL: %zu site%s keep%s growing with load\n", g->nfailed,
                g->nfailed == 1 ? "" : "s", g->nfailed == 1 ? "s" : "");
    else if (g->baseline)
        fprintf(out, "leakwatch gate: PASS: no site is new and growing or grows clearly faster than in the baseline "
                "(%zu sites, %zu suppressed)\n", g->nsites, g->nsuppressed);
    else
        fprintf(out, "leakwatch gate: PASS: no site keeps growing with load (%zu sites, %zu suppressed)\n",
                g->nsites, g->nsuppressed);
}

static const char *kind_name(trend_kind k)
{
    static const char *names[] = {"leak", "flat", "small", "sawtooth", "turnover", "levelling"};
    return names[k];
}

json_t *gate_to_json(const gate_run *g)
{
    json_t *root = json_object();
    json_object_set_new(root, "format", json_string("leakwatch-gate"));
    json_object_set_new(root, "version", json_integer(1));
    json_object_set_new(root, "verdict", json_string(g->nfailed ? "fail" : "pass"));
    json_object_set_new(root, "rounds", json_integer((json_int_t)g->nrounds));
    json_object_set_new(root, "warmup", json_integer((json_int_t)g->warmup));
    json_object_set_new(root, "unit", json_string(gate_unit(g)));
    json_object_set_new(root, "min_slope", json_real(g->limits.min_slope));
    json_object_set_new(root, "min_growth", json_real(g->limits.min_growth));
    json_object_set_new(root, "min_growth_mmap", json_real(g->min_growth_mmap));
    json_object_set_new(root, "failed", json_integer((json_int_t)g->nfailed));
    json_t *load = json_array(), *files = json_array();
    for (size_t r = 0; r < g->nrounds; r++) {
        json_array_append_new(load, json_real(g->load[r]));
        json_t *rf = json_array();
        for (size_t k = 0; k < g->nreports; k++)
            if (g->report_round[k] == r)
                json_array_append_new(rf, json_string(g->reports[k]->file));
        json_array_append_new(files, rf);
    }
    json_object_set_new(root, "load", load);
    json_object_set_new(root, "files", files);
    json_t *sites = json_array();
    for (size_t i = 0; i < g->nsites; i++) {
        const gate_site *s = &g->sites[i];
        json_t *o = json_object();
        char why[256], name[512];
        json_object_set_new(o, "id", json_string(s->id));
        json_object_set_new(o, "kind", json_string(s->site->kind));
        json_object_set_new(o, "verdict", json_string(s->suppressed_by >= 0 ? "suppressed" : s->v.fails ? "fail" : "pass"));
        json_object_set_new(o, "trend", json_string(kind_name(s->v.kind)));
        json_object_set_new(o, "why", json_string(trend_explain(&s->v, &s->limits, gate_unit(g), why, sizeof why)));
        if (s->suppressed_by >= 0)
            json_object_set_new(o, "suppressed_by", json_string(g->sup.v[s->suppressed_by].pattern));
        if (s->base != GATE_BASE_NONE) {
            static const char *base_names[] = {"", "new", "faster", "as_baseline"};
            json_object_set_new(o, "baseline", json_string(base_names[s->base]));
            json_object_set_new(o, "baseline_why", json_string(baseline_explain(g, s, why, sizeof why)));
        }
        json_object_set_new(o, "slope", json_real(s->v.slope));
        json_object_set_new(o, "growth", json_real(s->v.growth));
        json_object_set_new(o, "early_rate", json_real(s->v.early_rate));
        json_object_set_new(o, "late_rate", json_real(s->v.late_rate));
        json_t *lb = json_array(), *bl = json_array(), *st = json_array();
        for (size_t r = 0; r < g->nrounds; r++) {
            json_array_append_new(lb, json_integer(s->live_bytes[r]));
            json_array_append_new(bl, json_integer(s->live_blocks[r]));
        }
        json_object_set_new(o, "live_bytes", lb);
        json_object_set_new(o, "live_blocks", bl);
        const lw_stack *stack = model_site_stack(s->site);
        for (size_t k = 0; k < stack->n; k++) {
            model_frame_name(s->report, &stack->v[k], true, name, sizeof name);
            json_array_append_new(st, json_string(name));
        }
        json_object_set_new(o, "created_at", st);
        const lw_leak *counted = s->described_by_last_round ? javaheap_counted(s->site) : NULL;
        if (counted)          /* the whole class in one process's heap at the last round, not the site */
            json_object_set_new(o, "class_exact", json_pack("{s:s?,s:I,s:I,s:I}", "class", s->site->class_name,
                                "objects", (json_int_t)counted->class_exact_objects, "bytes",
                                (json_int_t)counted->class_exact_bytes, "pid", (json_int_t)s->report->pid));
        const char *pool_frame = NULL;
        const pool_kind *pool = pool_site(s->site, &pool_frame);
        if (pool) {
            json_t *po = json_object();
            json_object_set_new(po, "pool", json_string(pool->pool));
            json_object_set_new(po, "frame", json_string(pool_frame));
            json_object_set_new(po, "hint", json_string(pool->hint));
            json_object_set_new(o, "pool_chunk", po);
        }
        json_array_append_new(sites, o);
    }
    json_object_set_new(root, "sites", sites);
    json_t *sup = json_array();
    for (size_t i = 0; i < g->sup.n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "pattern", json_string(g->sup.v[i].pattern));
        json_object_set_new(o, "sites", json_integer((json_int_t)g->sup.v[i].sites));
        json_object_set_new(o, "bytes", json_integer(g->sup.v[i].bytes));
        json_array_append_new(sup, o);
    }
    json_object_set_new(root, "suppressions", sup);
    return root;
}

void gate_free(gate_run *g)
{
    for (size_t i = 0; i < g->nsites; i++) {
        free(g->sites[i].bytes);
        free(g->sites[i].blocks);
        free(g->sites[i].live_bytes);
        free(g->sites[i].live_blocks);
    }
    free(g->sites);
    for (size_t i = 0; i < g->nreports; i++)
        model_free(g->reports[i]);
    free(g->reports);
    free(g->report_round);
    for (size_t i = 0; i < g->nrounds; i++)
        free(g->round_names[i]);
    free(g->round_names);
    free(g->load);
    free(g->time_ms);
    suppress_free(&g->sup);
    *g = (gate_run){0};
}
