/* cmd_diff.c — `leakwatch diff A.json B.json`: per-site change of live bytes and blocks between two
 * reports, sites matched by their stable id, largest growth first. Informational: exits 0. */
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "commands.h"
#include "model.h"
#include "util.h"

static const char usage_text[] =
    "usage: leakwatch diff A.json B.json [--top N]\n"
    "  --top N   show the N sites that changed most (default 20)\n";

typedef struct {
    const char *id;
    const lw_site *a, *b;
    long long dbytes, dblocks;
} change;

static int change_cmp(const void *x, const void *y)
{
    const change *p = x, *q = y;
    if (p->dbytes != q->dbytes)
        return p->dbytes > q->dbytes ? -1 : 1;
    if (p->dblocks != q->dblocks)
        return p->dblocks > q->dblocks ? -1 : 1;
    return strcmp(p->id, q->id);
}

/* "leaf < caller < caller" from the site's creation stack, for one table cell; escaped (lw_esc). */
static void stack_summary(const lw_report *r, const lw_site *s, char *buf, size_t len)
{
    const lw_stack *st = model_site_stack(s);
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < st->n && i < 3 && o < len; i++) {
        char name[256], e[1024];
        model_frame_name(r, &st->v[i], false, name, sizeof name);
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? " < " : "", lw_esc(name, e, sizeof e));
    }
}

typedef struct {
    const char *path;
    lw_report *r;
    char err[1024];
} load_job;

static void *load_job_run(void *arg)
{
    load_job *j = arg;
    j->r = model_load(j->path, j->err, sizeof j->err);
    return NULL;
}

/* Reads the two reports at once, one on a thread of its own: reading is nearly all of a diff's time. The
 * first report's error is said first, as when they were read one after the other. */
static bool load_both(const char *path_a, const char *path_b, lw_report **a, lw_report **b)
{
    load_job ja = {.path = path_a}, jb = {.path = path_b};
    pthread_t t;
    bool threaded = pthread_create(&t, NULL, load_job_run, &jb) == 0;
    load_job_run(&ja);
    if (threaded)
        pthread_join(t, NULL);
    else if (ja.r)
        load_job_run(&jb);
    if (!ja.r || !jb.r) {
        lw_err("%s", !ja.r ? ja.err : jb.err);
        model_free(ja.r);
        model_free(jb.r);
        return false;
    }
    *a = ja.r;
    *b = jb.r;
    return true;
}

int cmd_diff(int argc, char **argv)
{
    static const struct option opts[] = {
        {"top", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    long top = 20;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 't') {
            if (!lw_parse_count(optarg, &top)) {
                lw_err("diff: --top \"%s\" is not a count: give a whole number such as 20", optarg);
                return LW_EXIT_ERROR;
            }
        } else if (c == 'h') {
            fputs(usage_text, stdout);
            return lw_finish_stdout(LW_EXIT_OK);
        } else {
            return lw_option_error("diff", c, argv);
        }
    }
    if (argc - optind != 2) {
        lw_err("diff: give two report files (%d given): leakwatch diff BEFORE.json AFTER.json", argc - optind);
        return LW_EXIT_ERROR;
    }
    lw_report *a, *b;
    if (!load_both(argv[optind], argv[optind + 1], &a, &b))
        return LW_EXIT_ERROR;
    change *v = calloc(a->nsites + b->nsites + 1, sizeof *v);
    size_t n = 0;
    for (size_t i = 0; i < b->nsites; i++) {
        const lw_site *sb = &b->sites[i], *sa = model_find_site_key(a, sb->id_key);
        v[n++] = (change){sb->id, sa, sb, sb->live_bytes - (sa ? sa->live_bytes : 0),
                          sb->live_blocks - (sa ? sa->live_blocks : 0)};
    }
    for (size_t i = 0; i < a->nsites; i++)
        if (!model_find_site_key(b, a->sites[i].id_key))
            v[n++] = (change){a->sites[i].id, &a->sites[i], NULL, -a->sites[i].live_bytes,
                              -a->sites[i].live_blocks};
    qsort(v, n, sizeof *v, change_cmp);

    char s1[32], s2[32], s3[32], s4[32], pa[1024], pb[1024];
    printf("leakwatch diff: %s[%lld] report #%lld -> %s[%lld] report #%lld: live %s -> %s (%s), blocks %s\n",
           lw_esc(lw_basename(a->program), pa, sizeof pa), a->pid, a->seq,
           lw_esc(lw_basename(b->program), pb, sizeof pb), b->pid, b->seq,
           lw_bytes((double)a->live_bytes, false, s1, sizeof s1), lw_bytes((double)b->live_bytes, false, s2, sizeof s2),
           lw_bytes((double)(b->live_bytes - a->live_bytes), true, s3, sizeof s3),
           lw_commas(b->live_blocks - a->live_blocks, s4, sizeof s4));
    printf("%12s %10s %12s %12s  %-16s  %s\n", "CHANGE", "BLOCKS", "BEFORE", "AFTER", "SITE", "CREATED AT");
    size_t shown = 0, changed = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i].dbytes == 0 && v[i].dblocks == 0)
            continue;
        changed++;
        if (shown >= (size_t)top)
            continue;
        shown++;
        char where[800], blk[32];
        const lw_site *s = v[i].b ? v[i].b : v[i].a;
        stack_summary(v[i].b ? b : a, s, where, sizeof where);
        snprintf(blk, sizeof blk, "%s%s", v[i].dblocks > 0 ? "+" : "", lw_commas(v[i].dblocks, s4, sizeof s4));
        printf("%12s %10s %12s %12s  %-16s  %s\n", lw_bytes((double)v[i].dbytes, true, s1, sizeof s1), blk,
               v[i].a ? lw_bytes((double)v[i].a->live_bytes, false, s2, sizeof s2) : "-",
               v[i].b ? lw_bytes((double)v[i].b->live_bytes, false, s3, sizeof s3) : "-", v[i].id, where);
    }
    if (changed == 0)
        printf("no site changed\n");
    else if (changed > shown)
        printf(": %zu more changed sites not shown; use --top N to see more.\n", changed - shown);
    free(v);
    model_free(a);
    model_free(b);
    return lw_finish_stdout(LW_EXIT_OK);
}
