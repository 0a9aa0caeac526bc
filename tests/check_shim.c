/* Unit tests of the shim's core, linked directly (no LD_PRELOAD): the settings parser, the formatter,
 * the block map, the site table, regions, interned stacks, the sort, and the report writer fed with
 * known blocks and read back as JSON. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "check_suites.h"
#include "testutil.h"
#include "arena.h"
#include "blocks.h"
#include "config.h"
#include "counts.h"
#include "out.h"
#include "regions.h"
#include "report.h"
#include "growth.h"
#include "residency.h"
#include "sites.h"
#include "sort.h"
#include "stacks.h"
#include "state.h"
#include "track.h"

/* ---- settings ---- */

START_TEST(durations)
{
    uint64_t ms;
    ck_assert_int_eq(config_parse_duration("10s", &ms), 0);
    ck_assert_uint_eq(ms, 10000);
    ck_assert_int_eq(config_parse_duration("500ms", &ms), 0);
    ck_assert_uint_eq(ms, 500);
    ck_assert_int_eq(config_parse_duration("2m", &ms), 0);
    ck_assert_uint_eq(ms, 120000);
    ck_assert_int_eq(config_parse_duration("1.5s", &ms), 0);
    ck_assert_uint_eq(ms, 1500);
    ck_assert_int_eq(config_parse_duration("7", &ms), 0);
    ck_assert_uint_eq(ms, 7000);
    ck_assert_int_eq(config_parse_duration("1h", &ms), 0);
    ck_assert_uint_eq(ms, 3600000);
    ms = 42;
    ck_assert_int_eq(config_parse_duration("", &ms), -1);
    ck_assert_int_eq(config_parse_duration("abc", &ms), -1);
    ck_assert_int_eq(config_parse_duration("10x", &ms), -1);
    ck_assert_int_eq(config_parse_duration("-1s", &ms), -1);
    ck_assert_int_eq(config_parse_duration("s", &ms), -1);
    ck_assert_uint_eq(ms, 42);
}
END_TEST

START_TEST(numbers_and_signals)
{
    unsigned v = 9;
    ck_assert_int_eq(config_parse_uint("20", 1, 100, &v), 0);
    ck_assert_uint_eq(v, 20);
    ck_assert_int_eq(config_parse_uint("0", 1, 100, &v), -1);
    ck_assert_int_eq(config_parse_uint("101", 1, 100, &v), -1);
    ck_assert_int_eq(config_parse_uint("1e3", 1, 10000, &v), -1);
    ck_assert_int_eq(config_parse_uint("99999999999999999999", 1, 100, &v), -1);
    ck_assert_uint_eq(v, 20);

    int sig;
    char name[24];
    ck_assert_int_eq(config_parse_signal("SIGUSR1", &sig, name, sizeof name), 0);
    ck_assert_int_eq(sig, SIGUSR1);
    ck_assert_str_eq(name, "SIGUSR1");
    ck_assert_int_eq(config_parse_signal("usr2", &sig, name, sizeof name), 0);
    ck_assert_int_eq(sig, SIGUSR2);
    ck_assert_int_eq(config_parse_signal("SIGRTMIN+3", &sig, name, sizeof name), 0);
    ck_assert_int_eq(sig, SIGRTMIN + 3);
    ck_assert_str_eq(name, "SIGRTMIN+3");
    ck_assert_int_eq(config_parse_signal("12", &sig, name, sizeof name), 0);
    ck_assert_int_eq(sig, 12);
    ck_assert_int_eq(config_parse_signal("none", &sig, name, sizeof name), 0);
    ck_assert_int_eq(sig, 0);
    ck_assert_int_eq(config_parse_signal("SIGKILL", &sig, name, sizeof name), -1);
    ck_assert_int_eq(config_parse_signal("SIGSEGV", &sig, name, sizeof name), -1);
    ck_assert_int_eq(config_parse_signal("SIGFOO", &sig, name, sizeof name), -1);
    ck_assert_int_eq(config_parse_signal("SIGRTMIN+99", &sig, name, sizeof name), -1);
    ck_assert_int_eq(config_parse_signal("200", &sig, name, sizeof name), -1);

    int b = 7;
    ck_assert_int_eq(config_parse_bool("yes", &b), 0);
    ck_assert_int_eq(b, 1);
    ck_assert_int_eq(config_parse_bool("0", &b), 0);
    ck_assert_int_eq(b, 0);
    ck_assert_int_eq(config_parse_bool("maybe", &b), -1);
}
END_TEST

static const char *const *fake_env;

static const char *fake_get(const char *name)
{
    size_t n = strlen(name);
    for (const char *const *e = fake_env; *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

/* Runs config_load with stderr captured; returns what was written. */
static char *load_capturing(struct lw_config *c, const char *const *env)
{
    static char captured[8192];
    int pipefd[2];
    ck_assert_int_eq(pipe(pipefd), 0);
    int saved = dup(2);
    dup2(pipefd[1], 2);
    fake_env = env;
    config_load(c, fake_get, (char *const *)env);
    dup2(saved, 2);
    close(saved);
    close(pipefd[1]);
    ssize_t n = read(pipefd[0], captured, sizeof captured - 1);
    close(pipefd[0]);
    captured[n > 0 ? n : 0] = '\0';
    return captured;
}

START_TEST(config_defaults_and_bad_values)
{
    struct lw_config c;
    const char *none[] = { NULL };
    char *err = load_capturing(&c, none);
    ck_assert_str_eq(err, "");
    ck_assert_str_eq(c.out, "/tmp/leakwatch-%u");
    ck_assert_int_eq(c.signal, SIGUSR2);
    ck_assert_uint_eq(c.min_age_ms, 10000);
    ck_assert_uint_eq(c.top, 20);
    ck_assert_uint_eq(c.depth, 64);
    ck_assert_uint_eq(c.records, 4);
    ck_assert_uint_eq(c.interval_ms, 0);

    const char *good[] = { "LEAKWATCH_OUT=/var/tmp/lw", "LEAKWATCH_SIGNAL=SIGRTMIN+3", "LEAKWATCH_TOP=5",
                           "LEAKWATCH_MIN_AGE=250ms", "LEAKWATCH_INTERVAL=2s", "LEAKWATCH_MMAP=all",
                           "LEAKWATCH_QUIET=1", NULL };
    err = load_capturing(&c, good);
    ck_assert_str_eq(err, "");
    ck_assert_str_eq(c.out, "/var/tmp/lw");
    ck_assert_int_eq(c.signal, SIGRTMIN + 3);
    ck_assert_uint_eq(c.top, 5);
    ck_assert_uint_eq(c.min_age_ms, 250);
    ck_assert_uint_eq(c.interval_ms, 2000);
    ck_assert_int_eq(c.mmap_all, 1);
    ck_assert_int_eq(c.quiet, 1);

    const char *bad[] = { "LEAKWATCH_TOP=lots", "LEAKWATCH_MIN_AGE=soon", "LEAKWATCH_SIGNAL=SIGKILL",
                          "LEAKWATCH_OUT=relative/dir", "LEAKWATCH_MINAGE=5s", NULL };
    err = load_capturing(&c, bad);
    ck_assert_uint_eq(c.top, 20);
    ck_assert_uint_eq(c.min_age_ms, 10000);
    ck_assert_int_eq(c.signal, SIGUSR2);
    ck_assert_str_eq(c.out, "/tmp/leakwatch-%u");
    ck_assert_ptr_nonnull(strstr(err, "leakwatch: LEAKWATCH_TOP=lots is not a whole number from 1 to 1000000; "
                                      "using the default 20\n"));
    ck_assert_ptr_nonnull(strstr(err, "leakwatch: LEAKWATCH_MIN_AGE=soon is not a duration"));
    ck_assert_ptr_nonnull(strstr(err, "using the default 10s\n"));
    ck_assert_ptr_nonnull(strstr(err, "leakwatch: LEAKWATCH_SIGNAL=SIGKILL is not a signal leakwatch can use"));
    ck_assert_ptr_nonnull(strstr(err, "leakwatch: LEAKWATCH_OUT=relative/dir is not an absolute"));
    ck_assert_ptr_nonnull(strstr(err, "leakwatch: LEAKWATCH_MINAGE is not a leakwatch setting"));
    int lines = 0;
    for (char *p = err; *p; p++)
        lines += *p == '\n';
    ck_assert_int_eq(lines, 5);    /* one line per problem */
}
END_TEST

/* The JVM's settings go through the same parser as the others: the shim used to read them with getenv
 * and strtoul, so a typo silently meant 0 (no "Held by" walk) and `leakwatch attach` could not set them. */
START_TEST(config_java_settings)
{
    struct lw_config c;
    const char *none[] = { NULL };
    ck_assert_str_eq(load_capturing(&c, none), "");
    ck_assert_int_eq(c.java_frames, 1);
    ck_assert_int_eq(c.java_heap, 1);
    ck_assert_uint_eq(c.java_heap_sample, 512 * 1024);
    ck_assert_uint_eq(c.java_held_by_ms, 2000);
    ck_assert_uint_eq(c.java_count_ms, 500);

    const char *good[] = { "LEAKWATCH_JAVA_FRAMES=no", "LEAKWATCH_JAVA_HEAP=0", "LEAKWATCH_JAVA_HEAP_SAMPLE=64k",
                           "LEAKWATCH_JAVA_HELD_BY_MS=0", "LEAKWATCH_JAVA_COUNT_MS=0", NULL };
    ck_assert_str_eq(load_capturing(&c, good), "");
    ck_assert_int_eq(c.java_frames, 0);
    ck_assert_int_eq(c.java_heap, 0);
    ck_assert_uint_eq(c.java_heap_sample, 64 * 1024);
    ck_assert_uint_eq(c.java_held_by_ms, 0);
    ck_assert_uint_eq(c.java_count_ms, 0);

    const char *bad[] = { "LEAKWATCH_JAVA_FRAMES=maybe", "LEAKWATCH_JAVA_HEAP_SAMPLE=2G",
                          "LEAKWATCH_JAVA_HELD_BY_MS=5s", "LEAKWATCH_JAVA_COUNT_MS=-1", NULL };
    char *err = load_capturing(&c, bad);
    ck_assert_int_eq(c.java_frames, 1);
    ck_assert_uint_eq(c.java_heap_sample, 512 * 1024);
    ck_assert_uint_eq(c.java_held_by_ms, 2000);
    ck_assert_ptr_nonnull(strstr(err, "leakwatch: LEAKWATCH_JAVA_FRAMES=maybe is not 0 or 1; using the default 1\n"));
    ck_assert_ptr_nonnull(strstr(err, "leakwatch: LEAKWATCH_JAVA_HEAP_SAMPLE=2G is not a size from 1 to 1G"));
    ck_assert_ptr_nonnull(strstr(err, "leakwatch: LEAKWATCH_JAVA_HELD_BY_MS=5s is not a whole number from 0 to 60000"));
    ck_assert_uint_eq(c.java_count_ms, 500);
    ck_assert_ptr_nonnull(strstr(err, "leakwatch: LEAKWATCH_JAVA_COUNT_MS=-1 is not a whole number from 0 to 60000"));

    uint64_t bytes = 0;
    ck_assert_int_eq(config_parse_size("1G", 1ull << 30, &bytes), 0);
    ck_assert_uint_eq(bytes, 1ull << 30);
    const char *refused[] = { "", "0", "k", "12q", "1025M", "99999999999999999999" };
    for (unsigned i = 0; i < sizeof refused / sizeof *refused; i++)
        ck_assert_msg(config_parse_size(refused[i], 1ull << 30, &bytes) < 0, "accepted size \"%s\"", refused[i]);
}
END_TEST

/* ---- the formatter ---- */

static char *fmt(void (*f)(struct out *, uint64_t), uint64_t v)
{
    static char buf[64];
    struct out o;
    out_init(&o, -1, buf, sizeof buf - 1);
    f(&o, v);
    buf[o.len] = '\0';
    return buf;
}

START_TEST(formatting)
{
    ck_assert_str_eq(fmt(out_u64_grouped, 0), "0");
    ck_assert_str_eq(fmt(out_u64_grouped, 999), "999");
    ck_assert_str_eq(fmt(out_u64_grouped, 1523), "1,523");
    ck_assert_str_eq(fmt(out_u64_grouped, 18446744073709551615ull), "18,446,744,073,709,551,615");
    ck_assert_str_eq(fmt(out_bytes_human, 0), "0 B");
    ck_assert_str_eq(fmt(out_bytes_human, 1023), "1,023 B");
    ck_assert_str_eq(fmt(out_bytes_human, 1024), "1.0 KiB");
    ck_assert_str_eq(fmt(out_bytes_human, 3040870), "2.9 MiB");
    ck_assert_str_eq(fmt(out_bytes_human, 1153434), "1.1 MiB");
    ck_assert_str_eq(fmt(out_bytes_human, 1048575), "1,024.0 KiB");
    ck_assert_str_eq(fmt(out_hex, 0x1c3e0), "0x1c3e0");
    ck_assert_str_eq(fmt(out_hex, 0), "0x0");
    ck_assert_str_eq(fmt(out_tenths, 412), "41.2");

    char buf[64];
    struct out o;
    out_init(&o, -1, buf, sizeof buf - 1);
    out_hex_padded(&o, 0x55d0c1a1c3e0, 16);
    buf[o.len] = '\0';
    ck_assert_str_eq(buf, "0x000055d0c1a1c3e0");
    out_init(&o, -1, buf, sizeof buf - 1);
    out_json_str(&o, "a\"b\\c\n\x01");
    buf[o.len] = '\0';
    ck_assert_str_eq(buf, "\"a\\\"b\\\\c\\u000a\\u0001\"");
    /* valid UTF-8 passes; a stray byte becomes its Latin-1 code point, so jansson accepts the result */
    out_init(&o, -1, buf, sizeof buf - 1);
    out_json_str(&o, "caf\xc3\xa9 \xff\xc3");
    buf[o.len] = '\0';
    ck_assert_str_eq(buf, "\"caf\xc3\xa9 \\u00ff\\u00c3\"");
    json_error_t error;
    json_t *parsed = json_loads(buf, JSON_DECODE_ANY, &error);
    ck_assert_ptr_nonnull(parsed);
    json_decref(parsed);
}
END_TEST

/* A buffer of a few bytes: every string crosses its end, so the inline append and the draining path
 * both run, and runs of plain bytes are cut anywhere; the file holds exactly what was written. */
START_TEST(writer_crosses_its_buffer)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    char buf[7];
    struct out o;
    out_init(&o, fileno(f), buf, sizeof buf);
    out_json_str(&o, "plain text longer than the buffer");
    out_char(&o, ',');
    out_json_str(&o, "tab\there \"quoted\" caf\xc3\xa9 \xff end");
    out_mem(&o, "0123456789abcdef", 16);
    out_json_member(&o, "frames");
    ck_assert_int_eq(out_flush(&o), 0);
    const char *want = "\"plain text longer than the buffer\",\"tab\\u0009here \\\"quoted\\\" caf\xc3\xa9 "
                       "\\u00ff end\"0123456789abcdef\"frames\":";
    char got[256] = { 0 };
    ck_assert_int_eq(pread(fileno(f), got, sizeof got - 1, 0), (ssize_t)strlen(want));
    ck_assert_str_eq(got, want);
    fclose(f);
    /* without a file the buffer keeps what fits and drops the rest */
    out_init(&o, -1, buf, sizeof buf);
    out_json_str(&o, "abcdefghij");
    out_char(&o, 'z');
    ck_assert_uint_eq(o.len, sizeof buf);
    ck_assert_int_eq(memcmp(buf, "\"abcdef", sizeof buf), 0);
}
END_TEST

START_TEST(writer_reports_write_errors)
{
    char buf[16];
    struct out o;
    int fd = open("/dev/full", O_WRONLY);
    ck_assert_int_ge(fd, 0);
    out_init(&o, fd, buf, sizeof buf);
    for (int i = 0; i < 100; i++)
        out_str(&o, "0123456789");
    ck_assert_int_eq(out_flush(&o), ENOSPC);
    close(fd);
}
END_TEST

/* ---- tables ---- */

START_TEST(block_map_matches_reference)
{
    tu_shim_core_setup();
    enum { N = 200000 };
    uintptr_t *ptrs = malloc(N * sizeof *ptrs);
    char *live = calloc(N, 1);
    unsigned seed = 12345;
    for (int i = 0; i < N; i++)
        ptrs[i] = 0x7f0000000000ull + (uintptr_t)i * 48;
    size_t count = 0;
    for (int round = 0; round < 3 * N; round++) {
        seed = seed * 1103515245u + 12345u;
        int i = (int)((seed >> 8) % N);
        struct block b, stale;
        if (live[i]) {
            struct block_extra extra;
            ck_assert_int_eq(blocks_remove(ptrs[i], &b, &extra), 1);
            ck_assert_uint_eq(extra.stack, i % 7 ? 0 : (uint32_t)i & 0xffff);
            ck_assert_ptr_null(extra.ring);
            ck_assert_uint_eq(block_ptr(&b), ptrs[i]);
            ck_assert_uint_eq(block_size(&b), (uint64_t)i + 1);
            ck_assert_uint_eq(block_site(&b), (uint32_t)(i % 1000) + 3);
            live[i] = 0;
            count--;
        } else {
            block_set(&b, ptrs[i], (uint64_t)i + 1, (uint32_t)(i % 1000) + 3, (uint64_t)round);
            struct block_extra extra = { NULL, (uint32_t)i & 0xffff };
            ck_assert_int_eq(blocks_insert(&b, i % 7 ? NULL : &extra, &stale), 0);
            live[i] = 1;
            count++;
        }
    }
    ck_assert_uint_eq(blocks_count(), count);
    for (int i = 0; i < N; i++) {
        struct block b;
        ck_assert_int_eq(blocks_remove(ptrs[i], &b, NULL), live[i]);
    }
    ck_assert_uint_eq(blocks_count(), 0);
    free(ptrs);
    free(live);
}
END_TEST

START_TEST(block_replaced_and_rings)
{
    tu_shim_core_setup();
    struct block b, stale, out;
    block_set(&b, 0x1000, 10, 5, 1);
    ck_assert_int_eq(blocks_insert(&b, NULL, &stale), 0);
    block_set(&b, 0x1000, 20, 6, 2);
    ck_assert_int_eq(blocks_insert(&b, NULL, &stale), 1);   /* its free was never seen */
    ck_assert_uint_eq(block_size(&stale), 10);
    ck_assert_uint_eq(block_site(&stale), 5);
    ck_assert_uint_eq(blocks_count(), 1);

    struct access_ring *ring = NULL;
    for (unsigned i = 1; i <= 5; i++) {
        struct access_record r = { .when_ms = i, .old_size = i, .new_size = i + 1, .thread = 7, .site = 3,
                                   .kind = ACCESS_REALLOC };
        ring = access_ring_add(ring, &r);
        ck_assert_ptr_nonnull(ring);
        if (i == 2) {                            /* the ring grew from one record to two: both kept */
            block_set(&b, 0x3000, 8, 6, 2);
            ck_assert_int_eq(blocks_insert(&b, &(struct block_extra){ ring, 0 }, &stale), 0);
            struct access_record two[4];
            ck_assert_uint_eq(blocks_copy_records(0x3000, two, 4), 2);
            ck_assert_uint_eq(two[0].old_size, 2);
            ck_assert_uint_eq(two[1].old_size, 1);
            struct block_extra back;
            ck_assert_int_eq(blocks_remove(0x3000, &out, &back), 1);
            ck_assert_ptr_eq(back.ring, ring);
        }
    }
    ck_assert_int_eq(blocks_remove(0x1000, &out, NULL), 1);
    block_set(&b, 0x2000, 30, 6, 2);
    ck_assert_int_eq(blocks_insert(&b, &(struct block_extra){ ring, 0 }, &stale), 0);
    struct access_record recs[8];
    unsigned n = blocks_copy_records(0x2000, recs, 8);
    ck_assert_uint_eq(n, 3);                    /* shim_state.config.records */
    ck_assert_uint_eq(recs[0].old_size, 5);     /* newest first */
    ck_assert_uint_eq(recs[0].new_size, 6);
    ck_assert_uint_eq(recs[0].when_ms, 5);
    ck_assert_uint_eq(recs[0].thread, 7);
    ck_assert_uint_eq(recs[0].site, 3);
    ck_assert_uint_eq(recs[0].kind, ACCESS_REALLOC);
    ck_assert_uint_eq(recs[1].old_size, 4);
    ck_assert_uint_eq(recs[2].old_size, 3);
    struct block_extra taken;
    ck_assert_int_eq(blocks_remove(0x2000, &out, &taken), 1);
    ck_assert_ptr_eq(taken.ring, ring);
    ck_assert_int_eq(block_has_extra(&out), 0);
    access_ring_free(taken.ring);
    ck_assert_uint_eq(blocks_copy_records(0x2000, recs, 8), 0);

    /* a stale record with extras, replaced by one with its own: only the new extras remain */
    struct access_record r1 = { .when_ms = 1, .old_size = 11, .new_size = 12, .kind = ACCESS_REALLOC };
    struct access_record r2 = { .when_ms = 2, .old_size = 21, .new_size = 22, .kind = ACCESS_REALLOC };
    block_set(&b, 0x4000, 40, 7, 3);
    ck_assert_int_eq(blocks_insert(&b, &(struct block_extra){ access_ring_add(NULL, &r1), 77 }, &stale), 0);
    block_set(&b, 0x4000, 50, 8, 4);
    ck_assert_int_eq(blocks_insert(&b, &(struct block_extra){ access_ring_add(NULL, &r2), 88 }, &stale), 1);
    ck_assert_uint_eq(block_size(&stale), 40);
    ck_assert_int_eq(block_has_extra(&stale), 0);
    ck_assert_uint_eq(blocks_copy_records(0x4000, recs, 8), 1);
    ck_assert_uint_eq(recs[0].old_size, 21);
    struct block_extra now;
    ck_assert_int_eq(blocks_remove(0x4000, &out, &now), 1);
    ck_assert_uint_eq(block_size(&out), 50);
    ck_assert_uint_eq(now.stack, 88);
    access_ring_free(now.ring);
    ck_assert_int_eq(blocks_remove(0x4000, &out, &now), 0);
    ck_assert_uint_eq(blocks_copy_records(0x4000, recs, 8), 0);
}
END_TEST

/* Frees are queued and their records removed a few frees later; an address handed out again while
 * queued (by this thread or another) takes its old record out of the queue, and nothing is counted
 * twice or lost. */
static unsigned done_freed, done_unknown;
static uint64_t done_freed_bytes;
static uintptr_t done_unknown_ptr;
static void count_freed(const struct block *b) { done_freed++; done_freed_bytes += block_size(b); }
static void count_unknown(uintptr_t p) { done_unknown++; done_unknown_ptr = p; }
static const struct pending_done test_done = { count_freed, count_unknown };

static void insert_at(uintptr_t ptr, uint64_t size)
{
    struct block b, stale;
    block_set(&b, ptr, size, 3, 0);
    ck_assert_int_eq(blocks_insert(&b, NULL, &stale), 0);
}

static pthread_barrier_t queued, reused;

/* Queues a free and stays alive until the address has been handed out again (a thread that ends
 * settles its queue). */
static void *queue_a_free(void *arg)
{
    ck_assert_int_eq(blocks_free_later((uintptr_t)arg, &test_done), 1);
    pthread_barrier_wait(&queued);
    pthread_barrier_wait(&reused);
    return NULL;
}

START_TEST(queued_frees_settle_once)
{
    tu_shim_core_setup();
    done_freed = done_unknown = 0;
    done_freed_bytes = 0;
    insert_at(0x10000, 100);
    ck_assert_int_eq(blocks_free_later(0x10000, &test_done), 1);
    ck_assert_uint_eq(blocks_count(), 1);          /* queued, not yet removed */
    for (uintptr_t i = 1; i < 8; i++) {
        insert_at(0x10000 + i * 64, 1);
        blocks_free_later(0x10000 + i * 64, &test_done);
    }
    ck_assert_uint_eq(done_freed, 0);
    insert_at(0x20000, 1);
    blocks_free_later(0x20000, &test_done);        /* the ninth: the first is settled */
    ck_assert_uint_eq(done_freed, 1);
    ck_assert_uint_eq(done_freed_bytes, 100);
    blocks_settle_all(&test_done);
    ck_assert_uint_eq(done_freed, 9);
    ck_assert_uint_eq(blocks_count(), 0);

    /* handed out again by this thread while queued: the insert reports the old record as stale */
    struct block b, stale, out;
    insert_at(0x30000, 10);
    blocks_free_later(0x30000, &test_done);
    block_set(&b, 0x30000, 20, 4, 0);
    ck_assert_int_eq(blocks_insert(&b, NULL, &stale), 1);
    ck_assert_uint_eq(block_size(&stale), 10);
    blocks_settle_all(&test_done);
    ck_assert_uint_eq(done_freed, 9);               /* not again */
    ck_assert_int_eq(blocks_remove(0x30000, &out, NULL), 1);
    ck_assert_uint_eq(block_size(&out), 20);

    /* queued by another thread */
    insert_at(0x40000, 10);
    pthread_t t;
    pthread_barrier_init(&queued, NULL, 2);
    pthread_barrier_init(&reused, NULL, 2);
    ck_assert_int_eq(pthread_create(&t, NULL, queue_a_free, (void *)0x40000), 0);
    pthread_barrier_wait(&queued);
    block_set(&b, 0x40000, 30, 4, 0);
    ck_assert_int_eq(blocks_insert(&b, NULL, &stale), 1);
    ck_assert_uint_eq(block_size(&stale), 10);
    pthread_barrier_wait(&reused);
    pthread_join(t, NULL);                           /* its queue settles: the new record stays */
    blocks_settle_all(&test_done);
    ck_assert_uint_eq(done_freed, 9);
    ck_assert_int_eq(blocks_remove(0x40000, &out, NULL), 1);
    ck_assert_uint_eq(block_size(&out), 30);

    /* an address the map never had */
    ck_assert_int_eq(blocks_free_later(0x50000, &test_done), 1);
    blocks_settle_all(&test_done);
    ck_assert_uint_eq(done_unknown, 1);
    ck_assert_uint_eq(done_unknown_ptr, 0x50000);
    ck_assert_int_eq(blocks_free_later(0x50003, &test_done), 0);   /* no record can have it */
}
END_TEST

START_TEST(block_records_keep_their_fields)
{
    struct block b;
    uintptr_t top = ((uintptr_t)1 << BLOCK_ADDR_BITS) - 8;
    block_set(&b, top, BLOCK_SIZE_LIMIT - 1, SITES_MAX - 1, 123456789);
    ck_assert_uint_eq(block_ptr(&b), top);
    ck_assert_uint_eq(block_size(&b), BLOCK_SIZE_LIMIT - 1);
    ck_assert_uint_eq(block_site(&b), SITES_MAX - 1);
    ck_assert_uint_eq(block_birth_at(block_birth_bits(&b), 123456789 + 5000), 123456789);
    ck_assert_int_eq(block_has_extra(&b), 0);
    ck_assert(block_fits(top, BLOCK_SIZE_LIMIT - 1));
    ck_assert(!block_fits(top, BLOCK_SIZE_LIMIT));
    ck_assert(!block_fits(top + 8, 1));
    ck_assert(!block_fits(0x1004, 1));
    ck_assert(!block_fits(0, 1));

    /* births are kept modulo 2^36 ms: exact for blocks younger than half of that, across the wrap */
    uint64_t now = 3 * (1ull << BLOCK_BIRTH_BITS) + 1234;
    block_set(&b, 0x1000, 1, 3, now - 5000);
    ck_assert_uint_eq(block_birth_at(block_birth_bits(&b), now), now - 5000);
    uint64_t old = now - (1ull << (BLOCK_BIRTH_BITS - 1)) + 1;      /* 397 days */
    block_set(&b, 0x1000, 1, 3, old);
    ck_assert_uint_eq(block_birth_at(block_birth_bits(&b), now), old);
    block_set(&b, 0x1000, 1, 3, now + 20);         /* inserted while a report was being taken */
    ck_assert_uint_eq(block_birth_at(block_birth_bits(&b), now), now);
}
END_TEST

static struct site_totals totals_of(uint32_t site)
{
    struct site_totals t;
    site_read_totals(site, &t);
    return t;
}

/* Blocks too large for a record, or at addresses it cannot hold, are heap regions: counted, freed
 * whole, never left behind. */
START_TEST(outsized_blocks_are_kept_as_regions)
{
    tu_shim_core_setup();
    struct { uintptr_t ptr; uint64_t size; } cases[] = {
        { 0x7f1000000000, BLOCK_SIZE_LIMIT + 5 },
        { 0x5003, 10 },                                   /* not a multiple of 8 */
        { (uintptr_t)1 << BLOCK_ADDR_BITS, 64 },          /* above 47 bits (5-level paging) */
    };
    for (unsigned i = 0; i < sizeof cases / sizeof *cases; i++) {
        track_alloc((void *)cases[i].ptr, cases[i].size);
        struct region r[4];
        ck_assert_uint_eq(regions_copy(r, 4), 1);
        ck_assert_uint_eq(r[0].start, cases[i].ptr);
        ck_assert_uint_eq(r[0].len, cases[i].size);
        ck_assert_int_eq(r[0].heap, 1);
        ck_assert_uint_eq(blocks_count(), 0);
        struct site_totals before = totals_of(r[0].site);
        track_free((void *)cases[i].ptr);
        track_settle_frees();
        ck_assert_uint_eq(regions_copy(r, 4), 0);
        struct site_totals after = totals_of(r[0].site);
        ck_assert_uint_eq(after.frees, before.frees + 1);
        ck_assert_uint_eq(after.bytes_freed, before.bytes_freed + cases[i].size);
    }
    ck_assert_uint_eq(track_untracked_frees(), 0);

    /* a block that grows past the limit keeps its site and birth, and its bytes move with it */
    track_alloc((void *)0x6000, 100);
    ck_assert_uint_eq(blocks_count(), 1);
    struct realloc_ticket t;
    track_realloc_begin((void *)0x6000, &t);
    uint32_t site = block_site(&t.old);
    track_realloc_end((void *)0x6000, (void *)0x7f2000000000, BLOCK_SIZE_LIMIT, &t);
    ck_assert_uint_eq(blocks_count(), 0);
    struct region r[2];
    ck_assert_uint_eq(regions_copy(r, 2), 1);
    ck_assert_uint_eq(r[0].site, site);
    ck_assert_uint_eq(r[0].len, BLOCK_SIZE_LIMIT);
    struct site_totals now = totals_of(site);
    ck_assert_uint_eq(now.bytes_allocated - now.bytes_freed, BLOCK_SIZE_LIMIT);
    ck_assert_uint_eq(now.allocs - now.frees, 1);
}
END_TEST

START_TEST(site_table_grows_and_finds)
{
    tu_shim_core_setup();
    enum { N = 5000 };
    static uint32_t ids[N];
    for (uint32_t i = 0; i < N; i++) {
        uintptr_t frames[3] = { 0x400000 + i, 0x500000 + i / 7, 0x600000 };
        uint64_t h = sites_hash(KIND_HEAP, frames, 3);
        ck_assert_uint_eq(sites_find(h, KIND_HEAP, frames, 3), 0);
        ids[i] = sites_insert(h, KIND_HEAP, frames, 3, 0);
        ck_assert_uint_gt(ids[i], SITE_OVERFLOW_MMAP);
    }
    for (uint32_t i = 0; i < N; i++) {
        uintptr_t frames[3] = { 0x400000 + i, 0x500000 + i / 7, 0x600000 };
        uint64_t h = sites_hash(KIND_HEAP, frames, 3);
        ck_assert_uint_eq(sites_find(h, KIND_HEAP, frames, 3), ids[i]);
        ck_assert_uint_eq(sites_find(sites_hash(KIND_MMAP, frames, 3), KIND_MMAP, frames, 3), 0);
        ck_assert_uint_eq(sites_insert(h, KIND_HEAP, frames, 3, 0), ids[i]);   /* no duplicate */
    }
    ck_assert_uint_eq(sites_count(), N + 3);
    uint32_t s = ids[10];
    site_count_alloc(s, 100);
    site_count_alloc(s, 50);
    site_count_free(s, 100);
    site_count_bytes(s, 30, 10);
    struct site_totals t;
    site_read_totals(s, &t);
    ck_assert_uint_eq(t.allocs, 2);
    ck_assert_uint_eq(t.frees, 1);
    ck_assert_uint_eq(t.bytes_allocated - t.bytes_freed, 70);
}
END_TEST

/* Threads count into tables of their own; the sums are exact whichever thread freed what, and the
 * table of a thread that ended is taken by the next one instead of a new one being made. */
struct counting { uint32_t site; int frees; };

static void *count_some(void *arg)
{
    const struct counting *c = arg;
    for (int i = 0; i < 1000; i++) {
        if (c->frees)
            site_count_free(c->site, 3);
        else
            site_count_alloc(c->site, 3);
    }
    return NULL;
}

START_TEST(counts_are_per_thread_and_exact)
{
    tu_shim_core_setup();
    uintptr_t f[1] = { 0x77 };
    uint32_t site = sites_insert(sites_hash(0, f, 1), 0, f, 1, 0);
    unsigned before = counts_tables();
    for (int round = 0; round < 20; round++) {
        pthread_t a, b;
        struct counting alloc = { site, 0 }, free_ = { site, 1 };
        ck_assert_int_eq(pthread_create(&a, NULL, count_some, &alloc), 0);
        ck_assert_int_eq(pthread_create(&b, NULL, count_some, &free_), 0);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
    }
    site_count_alloc(site, 5);                       /* and this thread's own */
    struct site_totals t;
    site_read_totals(site, &t);
    ck_assert_uint_eq(t.allocs, 20 * 1000 + 1);
    ck_assert_uint_eq(t.frees, 20 * 1000);
    ck_assert_uint_eq(t.bytes_allocated - t.bytes_freed, 5);
    ck_assert_uint_le(counts_tables(), before + 3);  /* two at a time, plus this thread's */
    struct site_totals all[4096];
    uint32_t n = sites_count();
    ck_assert_uint_le(n, 4096);
    counts_read_all(all, n);
    ck_assert_uint_eq(all[site].allocs, t.allocs);
    ck_assert_uint_eq(all[site].bytes_freed, t.bytes_freed);
}
END_TEST

START_TEST(growth_sampler_marks_growing_sites_only)
{
    tu_shim_core_setup();
    uintptr_t a[1] = { 0x1 }, b[1] = { 0x2 };
    uint32_t grow_id = sites_insert(sites_hash(0, a, 1), 0, a, 1, 0);
    uint32_t flat_id = sites_insert(sites_hash(0, b, 1), 0, b, 1, 0);
    struct site *grow = site_get(grow_id), *flat = site_get(flat_id);
    site_count_alloc(flat_id, 4096);
    growth_sample();
    site_count_alloc(grow_id, 1000);                 /* a slow leak: a new high now and then */
    for (int sample = 0; sample < 100; sample++)
        growth_sample();
    site_count_alloc(grow_id, 1000);
    for (int sample = 0; sample < 100; sample++)
        growth_sample();
    ck_assert_int_eq(atomic_load(&grow->capture_all), 0);   /* two highs: not yet */
    site_count_alloc(grow_id, 1000);
    growth_sample();
    ck_assert_int_eq(atomic_load(&grow->capture_all), 1);   /* three highs within ten minutes */
    ck_assert_int_eq(atomic_load(&flat->capture_all), 0);   /* one high, long ago */
    for (int sample = 0; sample < 1300; sample++)
        growth_sample();
    ck_assert_int_eq(atomic_load(&grow->capture_all), 0);   /* stopped growing: no longer watched */
    site_count_alloc(flat_id, 1);                              /* highs far apart do not count */
    growth_sample();
    ck_assert_int_eq(atomic_load(&flat->capture_all), 0);
}
END_TEST

struct removed_sum { uint64_t bytes; unsigned whole; };

static void sum_removed(const struct region *r, uint64_t bytes, int whole, void *ctx)
{
    (void)r;
    struct removed_sum *s = ctx;
    s->bytes += bytes;
    s->whole += (unsigned)whole;
}

START_TEST(regions_partial_removal_is_exact)
{
    tu_shim_core_setup();
    struct region r = { .start = 0x100000, .len = 0x10000, .site = 9 };
    ck_assert_int_eq(regions_add(&r), 0);
    struct region r2 = { .start = 0x200000, .len = 0x1000, .site = 10 };
    ck_assert_int_eq(regions_add(&r2), 0);
    struct removed_sum sum = { 0, 0 };
    ck_assert_uint_eq(regions_remove(0x104000, 0x2000, sum_removed, &sum), 1);   /* a hole in the middle */
    ck_assert_uint_eq(sum.bytes, 0x2000);
    ck_assert_uint_eq(sum.whole, 0);
    struct region got[8];
    ck_assert_uint_eq(regions_copy(got, 8), 3);
    ck_assert_uint_eq(got[0].start, 0x100000);
    ck_assert_uint_eq(got[0].len, 0x4000);
    ck_assert_uint_eq(got[1].start, 0x106000);
    ck_assert_uint_eq(got[1].len, 0xa000);
    ck_assert_uint_eq(got[1].site, 9);
    sum = (struct removed_sum){ 0, 0 };
    /* one range over the tail of the first piece, all of the second and the third region */
    ck_assert_uint_eq(regions_remove(0x102000, 0x200000, sum_removed, &sum), 3);
    ck_assert_uint_eq(sum.bytes, 0x2000 + 0xa000 + 0x1000);
    ck_assert_uint_eq(sum.whole, 2);
    ck_assert_uint_eq(regions_copy(got, 8), 1);
    ck_assert_uint_eq(got[0].len, 0x2000);
    ck_assert_uint_eq(regions_remove(0x900000, 0x1000, sum_removed, &sum), 0);
}
END_TEST

START_TEST(stacks_are_interned_once)
{
    tu_shim_core_setup();
    uintptr_t s1[3] = { 1, 2, 3 }, s2[3] = { 1, 2, 4 };
    uint32_t a = stacks_intern(s1, 3), b = stacks_intern(s2, 3), c = stacks_intern(s1, 3);
    ck_assert_uint_ne(a, 0);
    ck_assert_uint_ne(a, b);
    ck_assert_uint_eq(a, c);
    ck_assert_uint_eq(stacks_count(), 2);
    uintptr_t back[8];
    ck_assert_uint_eq(stacks_copy(b, back, 8), 3);
    ck_assert_uint_eq(back[0], 1);
    ck_assert_uint_eq(back[2], 4);
    ck_assert_uint_eq(stacks_copy(b, back, 2), 2);
    ck_assert_uint_eq(stacks_copy(0, back, 8), 0);
    ck_assert_uint_eq(stacks_copy(99, back, 8), 0);
    ck_assert_uint_eq(stacks_intern(s1, 0), 0);

    /* frames far apart and going both ways come back exact; many stacks grow the table */
    uintptr_t wide[5] = { 0x7fffffffe000, 0x401000, 0x7f0000001234, 8, UINTPTR_MAX - 7 };
    uint32_t w = stacks_intern(wide, 5);
    ck_assert_uint_eq(stacks_copy(w, back, 8), 5);
    for (int i = 0; i < 5; i++)
        ck_assert_uint_eq(back[i], wide[i]);
    static uint32_t ids[5000];
    for (uintptr_t i = 0; i < 5000; i++) {
        uintptr_t f[3] = { 0x400000 + i * 40, 0x400100, 0x7f0000000000 - i };
        ids[i] = stacks_intern(f, 3);
        ck_assert_uint_ne(ids[i], 0);
    }
    for (uintptr_t i = 0; i < 5000; i++) {
        uintptr_t f[3] = { 0x400000 + i * 40, 0x400100, 0x7f0000000000 - i };
        ck_assert_uint_eq(stacks_intern(f, 3), ids[i]);
        ck_assert_uint_eq(stacks_copy(ids[i], back, 8), 3);
        ck_assert_uint_eq(back[2], f[2]);
    }
    ck_assert_uint_eq(stacks_count(), 5003);
}
END_TEST

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return x < y ? -1 : x > y;
}

/* Untouched bytes are counted per page, the same by mincore and by pagemap: pages never accessed, PROT_NONE
 * pages and pages given back with MADV_DONTNEED are untouched; written and read pages are touched. */
START_TEST(residency_counts_untouched_pages)
{
    long page = sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, 16 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert(p != MAP_FAILED);
    p[0] = 1;                                   /* written */
    p[3 * page + 100] = 1;
    ck_assert_int_eq(((volatile char *)p)[5 * page], 0);   /* read: the zero page is mapped */
    p[7 * page] = 1;
    ck_assert_int_eq(madvise(p + 7 * page, page, MADV_DONTNEED), 0);   /* given back */
    ck_assert_int_eq(mprotect(p + 8 * page, 8 * page, PROT_NONE), 0);  /* reserved */
    for (int use_pagemap = 0; use_pagemap <= 1; use_pagemap++) {
        struct residency r;
        ck_assert_int_eq(residency_begin_with(&r, use_pagemap), 0);
        ck_assert_int_eq(r.pagemap_fd >= 0, use_pagemap);
        ck_assert_int_eq(residency_untouched(&r, (uintptr_t)p, 16 * page), 13 * page);
        ck_assert_int_eq(residency_untouched(&r, (uintptr_t)p, page), 0);
        /* a range that ends inside a page counts only its own bytes of it */
        ck_assert_int_eq(residency_untouched(&r, (uintptr_t)p + page, page + 10), page + 10);
        ck_assert_int_eq(residency_untouched(&r, (uintptr_t)p + 3 * page, 3 * page), page);
        residency_end(&r);
    }
    munmap(p, 16 * page);
}
END_TEST

START_TEST(heapsort_sorts)
{
    enum { N = 10007 };
    static int v[N];
    unsigned seed = 1;
    for (int i = 0; i < N; i++)
        v[i] = (int)((seed = seed * 1103515245u + 12345u) >> 8) % 1000;
    lw_sort(v, N, sizeof *v, cmp_int);
    for (int i = 1; i < N; i++)
        ck_assert_int_le(v[i - 1], v[i]);
    lw_sort(v, 0, sizeof *v, cmp_int);
    lw_sort(v, 1, sizeof *v, cmp_int);
}
END_TEST

/* The plain heapsort, swapping elements byte by byte: lw_sort must leave equal elements in the same
 * order as it does, since a report shows the access records of the first of its group's oldest blocks. */
static void reference_heapsort(char *b, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    char t;
#define SWAP(x, y) for (size_t k = 0; k < size; k++) t = (x)[k], (x)[k] = (y)[k], (y)[k] = t
    for (size_t i = n / 2; n > 1 && i-- > 0;) {
        size_t root = i;
        for (size_t child; (child = 2 * root + 1) < n; root = child) {
            if (child + 1 < n && cmp(b + child * size, b + (child + 1) * size) < 0)
                child++;
            if (cmp(b + root * size, b + child * size) >= 0)
                break;
            SWAP(b + root * size, b + child * size);
        }
    }
    for (size_t end = n - 1; n > 1 && end > 0; end--) {
        SWAP(b, b + end * size);
        size_t root = 0;
        for (size_t child; (child = 2 * root + 1) < end; root = child) {
            if (child + 1 < end && cmp(b + child * size, b + (child + 1) * size) < 0)
                child++;
            if (cmp(b + root * size, b + child * size) >= 0)
                break;
            SWAP(b + root * size, b + child * size);
        }
    }
#undef SWAP
}

struct keyed { uint32_t key; uint32_t id; char pad[32]; };                 /* 40 bytes, as a report item */
struct keyed_big { uint32_t key; uint32_t id; char pad[192]; };           /* larger than lw_sort's hole */

static int cmp_key(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

START_TEST(heapsort_keeps_the_order_of_equal_elements)
{
    enum { N = 3001 };
    static struct keyed v[N], w[N];
    static struct keyed_big bv[N], bw[N];
    unsigned seed = 7;
    for (uint32_t i = 0; i < N; i++) {
        uint32_t key = ((seed = seed * 1103515245u + 12345u) >> 8) % 50;     /* about 60 of each key */
        v[i] = w[i] = (struct keyed){ .key = key, .id = i };
        bv[i] = bw[i] = (struct keyed_big){ .key = key, .id = i };
    }
    lw_sort(v, N, sizeof *v, cmp_key);
    reference_heapsort((char *)w, N, sizeof *w, cmp_key);
    lw_sort(bv, N, sizeof *bv, cmp_key);
    reference_heapsort((char *)bw, N, sizeof *bw, cmp_key);
    for (uint32_t i = 0; i < N; i++) {
        ck_assert_uint_eq(v[i].key, w[i].key);
        ck_assert_uint_eq(v[i].id, w[i].id);
        ck_assert_uint_eq(bv[i].id, bw[i].id);
        ck_assert(i == 0 || v[i - 1].key <= v[i].key);
    }
}
END_TEST

/* ---- the report writer ---- */

static char *slurp(int fd)
{
    off_t size = lseek(fd, 0, SEEK_END);
    char *buf = malloc((size_t)size + 1);
    ck_assert_int_eq(pread(fd, buf, (size_t)size, 0), size);
    buf[size] = '\0';
    return buf;
}

START_TEST(report_groups_and_totals)
{
    tu_shim_core_setup();
    shim_state.config.top = 1;
    strcpy(shim_state.config.signal_name, "SIGUSR2");
    /* return addresses point after a call: +1 keeps them inside the functions */
    uintptr_t fa[2] = { (uintptr_t)slurp + 1, (uintptr_t)tu_shim_core_setup + 1 };
    uintptr_t fb[1] = { (uintptr_t)fmt + 1 };
    uint32_t rep = stacks_intern(fa, 2);
    uint32_t other = stacks_intern(fb, 1);
    uint32_t sa = sites_insert(sites_hash(KIND_HEAP, fa, 2), KIND_HEAP, fa, 2, rep);
    uint32_t sb = sites_insert(sites_hash(KIND_HEAP, fb, 1), KIND_HEAP, fb, 1, other);
    uint32_t sm = sites_insert(sites_hash(KIND_MMAP, fb, 1), KIND_MMAP, fb, 1, other);
    struct block b, stale;
    /* site a: 3 blocks with its representative stack (one own, two unstacked), 1 with another stack */
    uint32_t stacks_of[4] = { rep, 0, 0, other };
    for (int i = 0; i < 4; i++) {
        block_set(&b, 0x10000 + (uintptr_t)i * 64, 100 + (uint64_t)i, sa, 0);
        blocks_insert(&b, &(struct block_extra){ NULL, stacks_of[i] }, &stale);
        site_count_alloc(sa, 100 + (uint64_t)i);
    }
    block_set(&b, 0x90000, 5000, sb, 0);
    blocks_insert(&b, NULL, &stale);
    site_count_alloc(sb, 5000);
    struct region r = { .start = 0x7000000, .len = 8192, .site = sm, .stack = other };
    regions_add(&r);

    FILE *txt = tmpfile(), *json = tmpfile();
    struct report_summary sum;
    ck_assert_int_eq(report_write(REASON_API, REPORT_JAVA_HELD_BY, 1, 0, fileno(txt), fileno(json), &sum), 0);
    ck_assert_uint_eq(sum.live_bytes, 100 + 101 + 102 + 103 + 5000);
    ck_assert_uint_eq(sum.live_blocks, 5);
    ck_assert_uint_eq(sum.leak_records, 4);

    char *text = slurp(fileno(txt));
    ck_assert_ptr_nonnull(strstr(text, "leakwatch report #1 (api)"));
    ck_assert_ptr_nonnull(strstr(text, "Live heap: 5.3 KiB (5,406 bytes) in 5 blocks; live mappings: 8.0 KiB in 1 regions"));
    ck_assert_ptr_nonnull(strstr(text, "LEAK: 1 block (8.0 KiB) allocated here is still live"));   /* largest first */
    ck_assert_ptr_null(strstr(text, "LEAK: 1 block (4.9 KiB)"));                                    /* top 1 */
    ck_assert_ptr_nonnull(strstr(text, ": 3 leak records were discarded because the leak record count is "
                                       "targeted to 1. Use LEAKWATCH_TOP (or leakwatch report --top N) to increase the limit."));

    json_error_t error;
    char *js = slurp(fileno(json));
    json_t *root = json_loads(js, 0, &error);
    ck_assert_msg(root != NULL, "JSON does not parse: %s at %d", error.text, error.position);
    ck_assert_str_eq(tu_str(root, "format"), "leakwatch-report");
    ck_assert_int_eq(json_integer_value(json_object_get(root, "version")), 2);
    ck_assert_str_eq(tu_str(root, "reason"), "api");
    json_t *totals = json_object_get(root, "totals");
    ck_assert_int_eq(json_integer_value(json_object_get(totals, "live_bytes")), 5406);
    ck_assert_int_eq(json_integer_value(json_object_get(totals, "live_blocks")), 5);
    ck_assert_int_eq(json_integer_value(json_object_get(totals, "mmap_live_bytes")), 8192);
    ck_assert_int_eq(json_integer_value(json_object_get(totals, "mmap_live_regions")), 1);
    json_t *sites = json_object_get(root, "sites");
    ck_assert_uint_eq(json_array_size(sites), 3);
    /* largest first: the mapping, then site b, then site a with its two groups */
    json_t *site_a = json_array_get(sites, 2);
    ck_assert_str_eq(tu_str(json_array_get(sites, 0), "kind"), "mmap");
    ck_assert_int_eq(json_integer_value(json_object_get(site_a, "live_bytes")), 406);
    ck_assert_int_eq(json_integer_value(json_object_get(site_a, "live_blocks")), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(site_a, "allocs")), 4);
    ck_assert_int_eq(strlen(tu_str(site_a, "id")), 16);
    json_t *leaks = json_object_get(site_a, "leaks");
    ck_assert_uint_eq(json_array_size(leaks), 2);
    json_t *g0 = json_array_get(leaks, 0), *g1 = json_array_get(leaks, 1);
    ck_assert_int_eq(json_integer_value(json_object_get(g0, "blocks")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(g0, "bytes")), 303);
    ck_assert_str_eq(tu_str(g0, "stack"), "representative");
    ck_assert_int_eq(json_integer_value(json_object_get(g0, "unstacked_blocks")), 2);
    ck_assert_uint_eq(json_array_size(json_object_get(g0, "created_at")), 2);
    ck_assert_str_eq(tu_str(g1, "stack"), "own");
    ck_assert_int_eq(json_integer_value(json_object_get(g1, "bytes")), 103);
    json_t *frame = json_array_get(json_object_get(g0, "created_at"), 0);
    ck_assert_str_eq(tu_str(frame, "function"), "slurp");
    json_decref(root);

    /* a second report shows the change per group */
    block_set(&b, 0x20000, 1000, sb, 0);
    blocks_insert(&b, NULL, &stale);
    FILE *txt2 = tmpfile(), *json2 = tmpfile();
    shim_state.config.top = 20;
    ck_assert_int_eq(report_write(REASON_SIGNAL, REPORT_JAVA_HELD_BY, 2, 0, fileno(txt2), fileno(json2), &sum), 0);
    char *text2 = slurp(fileno(txt2));
    ck_assert_ptr_nonnull(strstr(text2, "LEAK: 2 blocks (5.9 KiB) allocated here are still live; the oldest is"));
    ck_assert_ptr_nonnull(strstr(text2, "; +1,000 B since report #1.\n"));
    ck_assert_ptr_nonnull(strstr(text2, "; unchanged since report #1.\n"));
    free(text);
    free(js);
    free(text2);
}
END_TEST

START_TEST(report_min_age_filters_young_blocks)
{
    tu_shim_core_setup();
    uintptr_t fa[1] = { 0x1234 };
    uint32_t sa = sites_insert(sites_hash(KIND_HEAP, fa, 1), KIND_HEAP, fa, 1, 0);
    shim_state.start_ms -= 60000;           /* pretend we started a minute ago */
    struct block b, stale;
    block_set(&b, 0x5000, 64, sa, 0);             /* born at start: 60 s old */
    blocks_insert(&b, NULL, &stale);
    block_set(&b, 0x6000, 32, sa, 59990);         /* 10 ms old */
    blocks_insert(&b, NULL, &stale);
    FILE *txt = tmpfile(), *json = tmpfile();
    struct report_summary sum;
    ck_assert_int_eq(report_write(REASON_SIGNAL, REPORT_JAVA_HELD_BY, 1, 10000, fileno(txt), fileno(json), &sum), 0);
    ck_assert_uint_eq(sum.live_blocks, 2);
    char *text = slurp(fileno(txt));
    ck_assert_ptr_nonnull(strstr(text, "LEAK: 1 block (64 B) allocated here is still live; it is 60."));
    ck_assert_ptr_nonnull(strstr(text, "Created at (no full stack was kept for this site; these are its first frames):"));
    free(text);
}
END_TEST

static Suite *shim_suite(void)
{
    Suite *s = suite_create("shim");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, durations);
    tcase_add_test(tc, numbers_and_signals);
    tcase_add_test(tc, config_defaults_and_bad_values);
    tcase_add_test(tc, config_java_settings);
    suite_add_tcase(s, tc);
    tc = tcase_create("out");
    tcase_add_test(tc, formatting);
    tcase_add_test(tc, writer_reports_write_errors);
    tcase_add_test(tc, writer_crosses_its_buffer);
    suite_add_tcase(s, tc);
    tc = tcase_create("tables");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, block_map_matches_reference);
    tcase_add_test(tc, block_replaced_and_rings);
    tcase_add_test(tc, block_records_keep_their_fields);
    tcase_add_test(tc, queued_frees_settle_once);
    tcase_add_test(tc, outsized_blocks_are_kept_as_regions);
    tcase_add_test(tc, site_table_grows_and_finds);
    tcase_add_test(tc, growth_sampler_marks_growing_sites_only);
    tcase_add_test(tc, counts_are_per_thread_and_exact);
    tcase_add_test(tc, regions_partial_removal_is_exact);
    tcase_add_test(tc, residency_counts_untouched_pages);
    tcase_add_test(tc, stacks_are_interned_once);
    tcase_add_test(tc, heapsort_sorts);
    tcase_add_test(tc, heapsort_keeps_the_order_of_equal_elements);
    suite_add_tcase(s, tc);
    tc = tcase_create("report");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, report_groups_and_totals);
    tcase_add_test(tc, report_min_age_filters_young_blocks);
    suite_add_tcase(s, tc);
    return s;
}

LW_SUITE(shim_suite)

/* ---- the .eh_frame walker against libunwind ---- */
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include "cfi.h"

extern void *__libc_stack_end;
static int cfi_got, unw_got;
static uintptr_t cfi_frames[16];
static void *unw_frames[16];

static void __attribute__((noinline)) walk_both(void)
{
    unw_got = unw_backtrace(unw_frames, 16);
    cfi_got = cfi_backtrace(cfi_frames, 16, (uintptr_t)__libc_stack_end, 0, 0);
    __asm__ volatile("" ::: "memory");
}

/* Frames of different shapes: a big stack array (large CFA offset), alloca (CFA on rbp), recursion. */
static int __attribute__((noinline)) shape_array(int depth);
static int __attribute__((noinline)) shape_alloca(int depth)
{
    volatile char *buf = __builtin_alloca((size_t)depth * 32 + 16);
    buf[0] = (char)depth;
    return depth > 0 ? shape_array(depth - 1) + buf[0] : (walk_both(), 0);
}

static int __attribute__((noinline)) shape_array(int depth)
{
    volatile char big[8192];
    big[depth] = 1;
    return depth > 0 ? shape_alloca(depth - 1) + big[depth] : (walk_both(), 0);
}

START_TEST(cfi_walk_matches_libunwind)
{
    for (int depth = 0; depth < 6; depth++) {
        shape_array(depth);
        ck_assert_msg(cfi_got > 0, "the .eh_frame walk gave up at depth %d", depth);
        /* Both start at the return address into walk_both (a different call for each); the callers above
         * must be the same, down to the outermost frame. */
        ck_assert_int_ge(cfi_got, 2 * depth + 3);
        ck_assert_int_eq(cfi_got, unw_got);
        for (int i = 1; i < cfi_got; i++)
            ck_assert_msg(cfi_frames[i] == (uintptr_t)unw_frames[i], "depth %d frame %d: %#lx vs libunwind %#lx",
                          depth, i, (unsigned long)cfi_frames[i], (unsigned long)(uintptr_t)unw_frames[i]);
    }
    ck_assert_int_eq(cfi_backtrace(cfi_frames, 4, 0, 0, 0), -1);   /* no stack bound: no walk */
}
END_TEST

static Suite *cfi_suite(void)
{
    Suite *s = suite_create("cfi");
    TCase *tc = tcase_create("walk");
    tcase_add_test(tc, cfi_walk_matches_libunwind);
    suite_add_tcase(s, tc);
    return s;
}

LW_SUITE(cfi_suite)
