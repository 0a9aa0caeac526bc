/* Tests of the report path, linked directly (no LD_PRELOAD): a report shows the access records of the
 * snapshot, not of whatever holds the address later. */
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
#include "report.h"
#include "sites.h"
#include "snapshot.h"
#include "stacks.h"
#include "state.h"
#include "track.h"

static void setup_core(void)
{
    memset(&lw.config, 0, sizeof lw.config);
    lw.config.records = 3;
    lw.config.site_depth = 4;
    lw.config.depth = 64;
    lw.config.top = 20;
    strcpy(lw.config.signal_name, "SIGUSR2");
    strcpy(lw.config.out, "/tmp/leakwatch-%u");
    lw.start_ms = lw_now_ms() - 60000;      /* started a minute ago: ages are not all 0 */
    lw.pid = getpid();
    ck_assert_int_eq(track_init(), 0);
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
    ck_assert_msg(strstr(text, "777") == NULL, "a record of the address's next block is shown:\n%s", text);
    ck_assert_msg(strstr(js, "\"detail\":\"10 -> 20\"") != NULL, "JSON: %s", js);
    ck_assert_msg(strstr(js, "777") == NULL, "JSON shows the next block's record: %s", js);
    free(text);
    free(js);
    groups_release(&g);
    snapshot_release(&s);
    fclose(txt);
    fclose(json);
}
END_TEST

static Suite *report_suite(void)
{
    Suite *s = suite_create("report");
    TCase *tc = tcase_create("snapshot");
    tcase_add_test(tc, records_come_from_the_snapshot);
    suite_add_tcase(s, tc);
    return s;
}

LW_SUITE(report_suite)
