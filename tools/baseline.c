/* baseline.c — matching this run's growing sites with a stored verdict (see baseline.h). */
#include "baseline.h"
#include "util.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* "handle+0x20" -> "handle": offsets move between builds, function names do not. */
static void cut_offset(char *name)
{
    char *plus = strstr(name, "+0x");
    if (plus)
        *plus = '\0';
}

static char *join_names(const char **names, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(names[i]) + 1;
    char *s = malloc(len), *o = s;
    if (!s)
        return NULL;
    *o = '\0';
    for (size_t i = 0; i < n; i++) {
        char *start = o;
        stpcpy(start, names[i]);
        cut_offset(start);
        o = stpcpy(start + strlen(start), "\n");
    }
    return s;
}

bool baseline_load(const char *path, struct baseline *b, char *err, size_t errlen)
{
    *b = (struct baseline){0};
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        snprintf(err, errlen, "--baseline %s: cannot read it as JSON (%s, line %d): give the file that "
                 "`leakwatch gate ... --json FILE` wrote on the main branch", path, je.text, je.line);
        return false;
    }
    b->root = root;
    b->file = strdup(path);
    const char *format = json_string_value(json_object_get(root, "format"));
    json_t *sites = json_object_get(root, "sites");
    json_int_t rounds = json_integer_value(json_object_get(root, "rounds")),
               warmup = json_integer_value(json_object_get(root, "warmup"));
    if (!format || strcmp(format, "leakwatch-gate") != 0 || !json_is_array(sites) || rounds < warmup + 2) {
        snprintf(err, errlen, "--baseline %s: not a gate verdict (want \"format\":\"leakwatch-gate\" with rounds and "
                 "sites): give the file that `leakwatch gate ... --json FILE` wrote", path);
        baseline_free(b);
        return false;
    }
    const char *unit = json_string_value(json_object_get(root, "unit"));
    b->per_load = unit && strcmp(unit, "load unit") == 0;
    b->judged = (size_t)(rounds - warmup);
    b->v = calloc(json_array_size(sites) + 1, sizeof *b->v);
    size_t i;
    json_t *o;
    json_array_foreach(sites, i, o) {
        const char *id = json_string_value(json_object_get(o, "id"));
        json_t *st = json_object_get(o, "created_at");
        if (!id || !json_is_number(json_object_get(o, "slope")) || !json_is_number(json_object_get(o, "growth"))) {
            snprintf(err, errlen, "--baseline %s: sites[%zu] lacks id, slope or growth: give an unedited gate "
                     "verdict", path, i);
            baseline_free(b);
            return false;
        }
        const char *names[BASELINE_STACK_FRAMES];
        size_t n = 0;
        for (size_t k = 0; k < json_array_size(st) && n < BASELINE_STACK_FRAMES; k++)
            if (json_string_value(json_array_get(st, k)))
                names[n++] = json_string_value(json_array_get(st, k));
        baseline_site *bs = &b->v[b->n++];
        bs->id = id;
        bs->stack = n ? join_names(names, n) : NULL;
        bs->slope = json_number_value(json_object_get(o, "slope"));
        bs->growth = json_number_value(json_object_get(o, "growth"));
    }
    return true;
}

/* The site's creation stack as baseline_site.stack has it; NULL when its top frame has no function name
 * (addresses and module offsets say nothing across builds). */
static char *site_stack(const gate_site *s)
{
    const lw_stack *st = model_site_stack(s->site);
    if (st->n == 0 || !st->v[0].function)
        return NULL;
    char bufs[BASELINE_STACK_FRAMES][512];
    const char *names[BASELINE_STACK_FRAMES];
    size_t n = 0;
    for (; n < st->n && n < BASELINE_STACK_FRAMES; n++) {
        model_frame_name(s->report, &st->v[n], true, bufs[n], sizeof bufs[n]);
        names[n] = bufs[n];
    }
    return join_names(names, n);
}

static const baseline_site *match(const struct baseline *b, const gate_site *s, bool *by_stack)
{
    *by_stack = false;
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->v[i].id, s->id) == 0)
            return &b->v[i];
    char *mine = site_stack(s);
    const baseline_site *found = NULL;
    for (size_t i = 0; mine && i < b->n && !found; i++)
        if (b->v[i].stack && strcmp(b->v[i].stack, mine) == 0)
            found = &b->v[i];
    free(mine);
    *by_stack = found != NULL;
    return found;
}

void baseline_judge(const struct baseline *b, const gate_run *g, gate_site *s)
{
    bool by_stack;
    const baseline_site *bs = match(b, s, &by_stack);
    if (!bs) {
        s->base = GATE_BASE_NEW;
        return;
    }
    /* Compare like with like: per load unit when both runs were given loads, else per judged round. */
    size_t judged = g->nrounds - g->warmup;
    s->base_per_load = b->per_load && g->load_given;
    if (s->base_per_load) {
        s->rate = s->v.slope;
        s->base_rate = bs->slope;
    } else {
        s->rate = judged > 1 ? s->v.growth / (double)(judged - 1) : 0;
        s->base_rate = b->judged > 1 ? bs->growth / (double)(b->judged - 1) : 0;
    }
    s->base_by_stack = by_stack;
    double extra = (s->rate - fmax(s->base_rate, 0)) * (double)(judged > 1 ? judged - 1 : 1);
    if (s->base_per_load)
        extra = (s->rate - fmax(s->base_rate, 0)) * (g->load[g->nrounds - 1] - g->load[g->warmup]);
    if (s->rate > BASELINE_FASTER_RATIO * fmax(s->base_rate, 0) && extra > s->limits.min_growth) {
        s->base = GATE_BASE_FASTER;
    } else {
        s->base = GATE_BASE_AS_BEFORE;
        s->v.fails = false;
    }
}

const char *baseline_explain(const gate_run *g, const gate_site *s, char *buf, size_t len)
{
    char a[32], b[32];
    const char *unit = s->base_per_load ? "load unit" : "round";
    switch (s->base) {
    case GATE_BASE_NEW:
        snprintf(buf, len, "new: no site of the baseline has its id or creation stack");
        break;
    case GATE_BASE_FASTER:
        snprintf(buf, len, "grows faster than in the baseline: %s per %s against %s (matched by %s)",
                 lw_bytes(s->rate, true, a, sizeof a), unit, lw_bytes(s->base_rate, true, b, sizeof b),
                 s->base_by_stack ? "creation stack" : "id");
        break;
    case GATE_BASE_AS_BEFORE:
        snprintf(buf, len, "grows as in the baseline: %s per %s against %s (matched by %s)",
                 lw_bytes(s->rate, true, a, sizeof a), unit, lw_bytes(s->base_rate, true, b, sizeof b),
                 s->base_by_stack ? "creation stack" : "id");
        break;
    default:
        buf[0] = '\0';
    }
    return buf;
}

void baseline_print_known(FILE *out, const gate_run *g)
{
    size_t n = 0;
    for (size_t i = 0; i < g->nsites; i++) {
        const gate_site *s = &g->sites[i];
        if (s->base != GATE_BASE_AS_BEFORE || s->suppressed_by >= 0)
            continue;
        if (n++ == 0)
            fprintf(out, "Growing as in the baseline (not failed; not more than %.0fx the baseline's rate plus "
                    "--min-growth):\n", BASELINE_FASTER_RATIO);
        char why[256], label[512], e1[1024], e2[2048];
        gate_site_label(s, 3, label, sizeof label);
        fprintf(out, "known site %s: %s; %s\n", s->id, lw_esc(baseline_explain(g, s, why, sizeof why), e1, sizeof e1),
                lw_esc(label, e2, sizeof e2));
    }
    if (n)
        fputc('\n', out);
}

void baseline_free(struct baseline *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->v[i].stack);
    free(b->v);
    free(b->file);
    json_decref(b->root);
    *b = (struct baseline){0};
}
