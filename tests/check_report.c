/* Tests of the report path, linked directly (no LD_PRELOAD) and on real reports: a report shows the
 * access records of the snapshot, not of whatever holds the address later, and its text is exactly
 * what `leakwatch report` renders from its JSON (one text format). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check_suites.h"
#include "testutil.h"
#include "blocks.h"
#include "groups.h"
#include "model.h"
#include "regions.h"
#include "render.h"
#include "report.h"
#include "sites.h"
#include "snapshot.h"
#include "stacks.h"
#include "state.h"
#include "track.h"

/* The shared in-process setup, plus the settings a report prints and a start a minute ago, so that ages
 * are not all 0; no report history. */
static void setup_core(void)
{
    tu_shim_core_setup();
    strcpy(shim_state.config.signal_name, "SIGUSR2");
    strcpy(shim_state.config.out, "/tmp/leakwatch-%u");
    shim_state.start_ms = lw_now_ms() - 60000;
    report_reset_history();
}

static char *read_all(FILE *f)
{
    fflush(f);
    long size = ftell(f);
    char *buf = calloc(1, (size_t)size + 1);
    ck_assert_int_eq(pread(fileno(f), buf, (size_t)size, 0), size);
    return buf;
}

static void insert_block(uintptr_t ptr, uint64_t size, uint32_t site, uint64_t birth, uint32_t stack,
                         uint64_t realloc_from)
{
    struct block b, stale;
    block_set(&b, ptr, size, site, birth);
    struct block_extra extra = { NULL, stack };
    if (realloc_from) {
        struct access_record r = { .when_ms = birth, .old_size = realloc_from, .new_size = size, .thread = 42,
                                   .site = site, .kind = ACCESS_REALLOC };
        extra.ring = access_ring_add(NULL, &r);
    }
    ck_assert_int_eq(blocks_insert(&b, &extra, &stale), 0);
    site_count_alloc(site, size);
}

/* ---- the snapshot's records, whatever happens to the address afterwards ---- */

START_TEST(records_come_from_the_snapshot)
{
    setup_core();
    uintptr_t fa[1] = { (uintptr_t)read_all + 1 }, fb[1] = { (uintptr_t)insert_block + 1 };
    uint32_t sa = sites_insert(sites_hash(KIND_HEAP, fa, 1), KIND_HEAP, fa, 1, 0);
    uint32_t sb = sites_insert(sites_hash(KIND_HEAP, fb, 1), KIND_HEAP, fb, 1, 0);
    insert_block(0x8000, 20, sa, 0, 0, 10);
    struct snapshot s;
    struct grouping g;
    ck_assert_int_eq(snapshot_take(&s), 0);
    ck_assert_int_eq(groups_build(&g, &s, 0), 0);
    /* the block is freed and its address handed out again, realloc'd at another site */
    struct block out;
    struct block_extra extra;
    ck_assert_int_eq(blocks_remove(0x8000, &out, &extra), 1);
    access_ring_free(extra.ring);
    insert_block(0x8000, 888, sb, 100, 0, 777);
    FILE *txt = tmpfile(), *json = tmpfile();
    ck_assert_int_eq(report_render(&s, &g, REASON_API, 1, fileno(txt), fileno(json)), 0);
    char *text = read_all(txt), *js = read_all(json);
    ck_assert_msg(strstr(text, "Hint: realloc 10 -> 20 bytes") != NULL, "the snapshot's record is missing:\n%s", text);
    /* "777 -> 888", not "777": a build id or an address in the report may hold those digits */
    ck_assert_msg(strstr(text, "777 -> 888") == NULL, "a record of the address's next block is shown:\n%s", text);
    ck_assert_msg(strstr(js, "\"detail\":\"10 -> 20\"") != NULL, "JSON: %s", js);
    ck_assert_msg(strstr(js, "777 -> 888") == NULL, "JSON shows the next block's record: %s", js);
    free(text);
    free(js);
    groups_release(&g);
    snapshot_release(&s);
    fclose(txt);
    fclose(json);
}
END_TEST

/* ---- one text format ---- */

/* The text `leakwatch report` renders from the JSON file at path. */
static char *render_from_json(const char *path)
{
    char err[512];
    lw_report *r = model_load(path, err, sizeof err);
    ck_assert_msg(r != NULL, "%s", err);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    render_opts o = { .top = -1, .min_age_ms = -1 };
    render_text(f, r, &o);
    fclose(f);
    model_free(r);
    return buf;
}

/* Writes a report of the current state to dir/unit.N.txt and .json, and holds the text equal to what
 * the command renders from the JSON. */
static void assert_report_agrees(const char *dir, unsigned seq, uint64_t min_age_ms)
{
    char *txt_path = tu_strf("%s/unit.%u.txt", dir, seq), *json_path = tu_strf("%s/unit.%u.json", dir, seq);
    FILE *txt = fopen(txt_path, "w+"), *json = fopen(json_path, "w+");
    ck_assert_int_eq(report_write(REASON_SIGNAL, REPORT_JAVA_HELD_BY, seq, min_age_ms, fileno(txt), fileno(json),
                                  NULL), 0);
    fclose(txt);
    fclose(json);
    char *want = tu_slurp(txt_path), *got = render_from_json(json_path);
    ck_assert_msg(strcmp(want, got) == 0, "report #%u: the shim wrote\n%s\n--- leakwatch report renders\n%s", seq,
                  want, got);
    free(want);
    free(got);
    free(txt_path);
    free(json_path);
}

START_TEST(text_is_what_the_command_renders)
{
    setup_core();
    shim_state.config.top = 4;
    char *dir = tu_tempdir();
    uintptr_t fa[2] = { (uintptr_t)read_all + 1, (uintptr_t)setup_core + 1 };
    uintptr_t fb[1] = { (uintptr_t)insert_block + 1 }, fc[1] = { (uintptr_t)render_from_json + 1 };
    uint32_t rep = stacks_intern(fa, 2), other = stacks_intern(fb, 1);
    uint32_t sa = sites_insert(sites_hash(KIND_HEAP, fa, 2), KIND_HEAP, fa, 2, rep);
    uint32_t sb = sites_insert(sites_hash(KIND_HEAP, fb, 1), KIND_HEAP, fb, 1, other);
    uint32_t sc = sites_insert(sites_hash(KIND_HEAP, fc, 1), KIND_HEAP, fc, 1, 0);    /* no full stack */
    uint32_t sm = sites_insert(sites_hash(KIND_MMAP, fb, 1), KIND_MMAP, fb, 1, other);
    /* site a: its representative stack (one own, two unstacked, one realloc'd), another stack; sizes that
     * print differently when rounded or grouped differently: 1,000.0 KiB, 1.0 MiB, ages of .x5 s */
    insert_block(0x10000, 1023950, sa, 1, rep, 0);
    insert_block(0x10400, 1048575, sa, 50, 0, 0);
    insert_block(0x10800, 5000, sa, 51949, 0, 2500);
    insert_block(0x10c00, 5000, sa, 51949, other, 0);
    insert_block(0x90000, 5000, sb, 3, 0, 2500);       /* equal sizes: the order of the sites decides */
    insert_block(0x91000, 1024000, sc, 7, 0, 0);
    struct region r = { .start = 0x7000000, .len = 1024 * 1000, .site = sm, .stack = other, .birth = 12345 };
    regions_add(&r);
    assert_report_agrees(dir, 1, 0);
    /* a second report: changes since the first; a minimum age; more groups than the top shows */
    insert_block(0x92000, 1500, sb, 4, 0, 0);
    struct block out;
    ck_assert_int_eq(blocks_remove(0x91000, &out, NULL), 1);
    insert_block(0x93000, 1, sc, 8, 0, 0);
    assert_report_agrees(dir, 2, 10000);
    shim_state.config.top = 1;
    assert_report_agrees(dir, 3, 0);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* Real reports: fixtures run under the shim; each report's .txt is what `leakwatch report` prints from
 * its .json. */
static void assert_fixture_reports_agree(const char *fixture, const char *const *settings)
{
    char *tmp = tu_tempdir(), *out = tu_strf("%s/reports", tmp);
    struct tu_env env, bare;
    tu_env_with(&env, out, 1, settings);
    tu_env_base(&bare, out);
    char *path = tu_fixture(fixture);
    char *argv[] = { path, NULL };
    struct tu_proc p;
    tu_run(&p, argv, env.vars, 60);
    ck_assert_msg(!p.timed_out, "%s timed out", fixture);
    int checked = 0;
    for (int seq = 1; seq < 10; seq++) {
        char *txt = tu_report_path(out, fixture, p.pid, seq, "txt"), *json = tu_report_path(out, fixture, p.pid, seq, "json");
        if (access(json, R_OK) == 0) {
            char *leakwatch = tu_strf("%s/leakwatch", tu_build_dir());
            char *cmd[] = { leakwatch, "report", json, NULL };
            struct tu_proc q;
            tu_run(&q, cmd, bare.vars, 60);
            char *want = tu_slurp(txt);
            ck_assert_msg(want && strcmp(want, q.out) == 0, "%s report #%d: the shim wrote\n%s\n--- leakwatch report "
                          "printed\n%s", fixture, seq, want, q.out);
            free(want);
            free(leakwatch);
            tu_proc_free(&q);
            checked++;
        }
        free(txt);
        free(json);
    }
    ck_assert_msg(checked > 0, "%s wrote no report; stderr:\n%s", fixture, p.err);
    tu_proc_free(&p);
    free(path);
    tu_env_free(&env);
    tu_env_free(&bare);
    tu_rmtree(tmp);
    free(tmp);
    free(out);
}

START_TEST(real_reports_render_the_same)
{
    const char *none[] = { NULL };
    const char *top1[] = { "LEAKWATCH_TOP=1", NULL };
    assert_fixture_reports_agree("leak_direct", none);
    assert_fixture_reports_agree("leak_realloc", none);
    assert_fixture_reports_agree("leak_mmap", none);
    assert_fixture_reports_agree("leak_wrapper", top1);
    assert_fixture_reports_agree("api_dump", none);
}
END_TEST

static Suite *report_suite(void)
{
    Suite *s = suite_create("report");
    TCase *tc = tcase_create("snapshot");
    tcase_add_test(tc, records_come_from_the_snapshot);
    suite_add_tcase(s, tc);
    tc = tcase_create("text");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, text_is_what_the_command_renders);
    tcase_add_test(tc, real_reports_render_the_same);
    suite_add_tcase(s, tc);
    return s;
}

LW_SUITE(report_suite)
