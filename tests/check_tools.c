/* check_tools — the leakwatch command without a live shim: the gate's trend logic on synthetic series,
 * suppressions, reading valid and broken reports, the renderings (folded stacks read back), and the command
 * itself (fork/exec of build/leakwatch) on report files the tests write: gate verdicts and exit codes, diff
 * order, JUnit/SVG/JSON outputs checked with xmllint and jansson. */
#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_suites.h"
#include "gate.h"
#include "inject.h"
#include "jsonread.h"
#include "model.h"
#include "pool.h"
#include "render.h"
#include "suppress.h"
#include "testutil.h"
#include "trend.h"

/* ---- synthetic reports ---------------------------------------------------------------------------- */

/* One site of a synthetic report: a 16-hex id, the function that allocates, and its live memory. */
struct fake_site {
    const char *id, *fn;
    long long bytes, blocks, oldest_ms;
    const char *kind;    /* NULL: heap */
};

static json_t *fake_frame(unsigned long long off, const char *fn)
{
    char ip[32], o[32];
    snprintf(ip, sizeof ip, "0x%llx", 0x400000ULL + off);
    snprintf(o, sizeof o, "0x%llx", off);
    return json_pack("{s:s,s:i,s:s,s:s,s:s}", "ip", ip, "module", 0, "offset", o, "function", fn,
                     "function_offset", "0x10");
}

/* Writes dir/name: a version-1 report of pid (report number seq, written at second t of a fixed day). */
static char *write_fake(const char *dir, const char *name, int pid, int seq, int t, const struct fake_site *s,
                        size_t n)
{
    json_t *sites = json_array();
    long long total = 0, blocks = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i].bytes == 0)
            continue;
        total += s[i].bytes;
        blocks += s[i].blocks;
        unsigned long long off = 0x1000 + 0x40 * i;
        json_t *created = json_pack("[o,o,o]", fake_frame(off, s[i].fn), fake_frame(0x2000, "serve"),
                                    fake_frame(0x3000, "main"));
        json_t *leak = json_pack("{s:I,s:I,s:I,s:s,s:i,s:O,s:[]}", "blocks", s[i].blocks, "bytes", s[i].bytes,
                                 "oldest_age_ms", s[i].oldest_ms, "stack", "own", "since_previous_bytes", 102400,
                                 "created_at", created, "recent_access");
        json_array_append_new(sites, json_pack("{s:s,s:s,s:I,s:I,s:I,s:i,s:I,s:I,s:[o,o],s:[o]}", "id", s[i].id,
                                               "kind", s[i].kind ? s[i].kind : "heap", "live_bytes", s[i].bytes, "live_blocks", s[i].blocks,
                                               "allocs", s[i].blocks, "frees", 0, "bytes_allocated", s[i].bytes,
                                               "oldest_age_ms", s[i].oldest_ms, "frames", fake_frame(off, s[i].fn),
                                               fake_frame(0x2000, "serve"), "leaks", leak));
        json_decref(created);
    }
    char when[64];
    snprintf(when, sizeof when, "2026-11-22T05:%02d:%02d.000Z", t / 60, t % 60);
    json_t *root = json_pack("{s:s,s:i,s:i,s:i,s:s,s:[s],s:s,s:i,s:i,s:s,s:i,s:{s:i,s:i},"
                             "s:{s:I,s:I,s:i,s:i},s:[{s:i,s:s,s:s}],s:o}",
                             "format", "leakwatch-report", "version", 1, "pid", pid, "ppid", 1, "program",
                             "/usr/bin/svc", "cmdline", "svc", "reason", "signal", "seq", seq, "previous_seq",
                             seq - 1, "time", when, "uptime_ms", t * 1000, "config", "min_age_ms", 0, "top", 20,
                             "totals", "live_bytes", total, "live_blocks", blocks, "mmap_live_bytes", 0,
                             "mmap_live_regions", 0, "modules", "id", 0, "path", "/usr/bin/svc", "base", "0x400000",
                             "sites", sites);
    ck_assert_msg(root != NULL, "json_pack of the fake report failed");
    char *path = tu_strf("%s/%s", dir, name);
    ck_assert_msg(json_dump_file(root, path, JSON_COMPACT) == 0, "cannot write %s", path);
    json_decref(root);
    return path;
}

static void write_text(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    ck_assert(fwrite(text, 1, len, f) == len);
    fclose(f);
}

#define LEAK_ID "00000000000000aa"
#define CACHE_ID "00000000000000bb"
#define SAW_ID "00000000000000cc"
#define FLAT_ID "00000000000000dd"

/* Round r (1-based) of a service with a steady leak (100 KiB per round), a cache that fills during the
 * first three rounds, a sawtooth buffer and a flat site; one report per round, a second apart. */
static char *write_round(const char *dir, int r, bool with_leak)
{
    long long cache = r <= 3 ? r * 96 * 1024LL : 300 * 1024LL;
    static const double saw[] = {0.2, 0.7, 0.1, 0.6, 0.95, 0.4, 0.9};
    struct fake_site s[] = {
        {LEAK_ID, "build_response", with_leak ? r * 102400LL : 512, with_leak ? r * 100LL : 1, r * 1000 + 500, NULL},
        {CACHE_ID, "cache_insert", cache, cache / 1024, r * 1000 + 500, NULL},
        {SAW_ID, "grow_buffer", (long long)(saw[(r - 1) % 7] * 1048576), 1, 300, NULL},
        {FLAT_ID, "config_load", 4096, 2, r * 1000 + 500, NULL},
    };
    char name[64];
    snprintf(name, sizeof name, "svc.100.%d.json", r);
    return write_fake(dir, name, 100, r, 10 + r, s, 4);
}

/* ---- trend ---------------------------------------------------------------------------------------- */

static const trend_limits defaults = {0, TREND_DEFAULT_MIN_GROWTH};

static trend_kind judge(const double *y, size_t n, double held_ms, double window_ms, const trend_limits *l)
{
    double x[64];
    for (size_t i = 0; i < n; i++)
        x[i] = (double)(i + 1);
    trend_series s = {x, y, n, held_ms, window_ms};
    trend_verdict v;
    trend_judge(&s, l, &v);
    ck_assert_int_eq(v.fails, v.kind == TREND_LEAK);
    return v.kind;
}

/* Deterministic noise in [-amp, amp]. */
static double noise(unsigned *state, double amp)
{
    *state = *state * 1103515245u + 12345u;
    return ((double)((*state >> 16) & 0x7fff) / 32767.0 * 2 - 1) * amp;
}

START_TEST(theil_sen_is_robust)
{
    double x[] = {1, 2, 3, 4, 5}, line[] = {4, 7, 10, 13, 16}, outlier[] = {1, 2, 3, 100, 5};
    ck_assert_double_eq_tol(trend_theil_sen(x, line, 5), 3.0, 1e-9);
    ck_assert_double_eq_tol(trend_theil_sen(x, outlier, 5), 1.0, 1e-9);
    double xs[] = {1, 1, 1};
    ck_assert_double_eq(trend_theil_sen(xs, line, 3), 0.0);
    ck_assert_double_eq(trend_theil_sen(x, line, 1), 0.0);
}
END_TEST

START_TEST(steady_leak_fails)
{
    for (size_t n = 2; n <= 12; n++) {
        double y[16];
        for (size_t i = 0; i < n; i++)
            y[i] = 102400.0 * (double)(i + 2);
        ck_assert_msg(judge(y, n, 9000, 2000, &defaults) == TREND_LEAK, "a steady leak over %zu rounds passed", n);
    }
}
END_TEST

START_TEST(leak_with_noise_fails)
{
    unsigned state = 7;
    for (int trial = 0; trial < 200; trial++)
        for (size_t n = 3; n <= 8; n++) {
            double y[16];
            for (size_t i = 0; i < n; i++)
                y[i] = 1e6 + 102400.0 * (double)i + noise(&state, 20480);
            ck_assert_msg(judge(y, n, 20000, 3000, &defaults) == TREND_LEAK,
                          "trial %d: a 100 KiB/round leak with 20 KiB noise over %zu rounds passed", trial, n);
        }
}
END_TEST

START_TEST(leak_starting_late_fails)
{
    double y[] = {50000, 50000, 50000, 250000, 450000, 650000};
    ck_assert_int_eq(judge(y, 6, 5000, 3000, &defaults), TREND_LEAK);
}
END_TEST

START_TEST(cache_filling_then_plateau_passes)
{
    /* Post-warm-up rounds of a cache that grows ~96 KiB per round, then is full. */
    double a[] = {196608, 294912, 307200, 307200}, b[] = {196608, 294912, 393216, 400000, 400100, 400000},
           c[] = {98304, 196608, 294912, 300000, 300000, 300000, 300000, 300000};
    ck_assert_int_eq(judge(a, 4, 5000, 2000, &defaults), TREND_LEVELLING);
    ck_assert_int_eq(judge(b, 6, 5000, 3000, &defaults), TREND_LEVELLING);
    ck_assert_int_eq(judge(c, 8, 5000, 4000, &defaults), TREND_LEVELLING);
    /* The same with allocator noise on top. */
    unsigned state = 3;
    for (int trial = 0; trial < 200; trial++) {
        double y[4];
        for (int i = 0; i < 4; i++)
            y[i] = a[i] + noise(&state, 2048);
        ck_assert_msg(!(judge(y, 4, 5000, 2000, &defaults) == TREND_LEAK), "trial %d: a full cache failed", trial);
    }
}
END_TEST

START_TEST(flat_passes)
{
    double y[] = {8192, 8192, 8192, 8192, 8192};
    ck_assert_int_eq(judge(y, 5, 5000, 2000, &defaults), TREND_FLAT);
    unsigned state = 11;
    for (int trial = 0; trial < 200; trial++) {
        double z[6];
        for (int i = 0; i < 6; i++)
            z[i] = 1e6 + noise(&state, 16384);
        ck_assert_msg(judge(z, 6, 5000, 3000, &defaults) != TREND_LEAK, "trial %d: a flat noisy site failed", trial);
    }
}
END_TEST

/* A buffer that grows to 1 MiB and is released, sampled once per round: period P rounds, phase p. Its oldest
 * block is as old as the current tooth. */
static void sawtooth(double period, double phase, size_t n, double *y, double *held_ms, double round_ms)
{
    double ph = 0;
    for (size_t i = 0; i < n; i++) {
        ph = fmod(phase + (double)i / period, 1.0);
        y[i] = ph * 1048576.0;
    }
    *held_ms = ph * period * round_ms;
}

START_TEST(sawtooth_passes)
{
    static const double periods[] = {1.3, 1.5, 2.0, 2.5, 3.0};
    for (size_t p = 0; p < sizeof periods / sizeof periods[0]; p++)
        for (size_t n = 5; n <= 8; n++)
            for (int k = 0; k < 20; k++) {
                double y[16], held;
                sawtooth(periods[p], k / 20.0, n, y, &held, 1000);
                double window = (double)(n - 1 - n / 2) * 1000;
                ck_assert_msg(judge(y, n, held, window, &defaults) != TREND_LEAK,
                              "a sawtooth of period %.1f rounds, phase %.2f, over %zu rounds failed", periods[p],
                              k / 20.0, n);
            }
}
END_TEST

START_TEST(unlucky_phase_sawtooth_passes)
{
    /* A period just under a round drifts slowly up through the tooth: 10%, 21%, 32% ... of 1 MiB, which looks
     * exactly like a 115 KiB/round leak. What gives it away is that nothing survives: its oldest block is
     * younger than the later half of the rounds. */
    for (size_t n = 4; n <= 8; n++)
        for (int k = 0; k < 10; k++) {
            double y[16], held;
            sawtooth(0.9, k / 50.0, n, y, &held, 1000);
            double window = (double)(n - 1 - n / 2) * 1000;
            ck_assert_msg(judge(y, n, held, window, &defaults) != TREND_LEAK,
                          "an unlucky-phase sawtooth over %zu rounds (phase %.2f) failed", n, k / 50.0);
        }
    /* The retention test is what decides here: with the ages unknown the same curve is a leak. */
    double y[8], held;
    sawtooth(0.9, 0.0, 5, y, &held, 1000);
    ck_assert_int_eq(judge(y, 5, -1, -1, &defaults), TREND_LEAK);
}
END_TEST

START_TEST(one_late_jump_is_flat)
{
    /* Flat but for one chunk taken just before the last snapshot: as many flat pairs as rising ones. */
    double y[] = {102400, 102400, 102400, 364544};
    ck_assert_int_eq(judge(y, 4, 9000, 2000, &defaults), TREND_FLAT);
    /* The same jump after a longer flat run. */
    double z[] = {102400, 102400, 102400, 102400, 102400, 364544};
    ck_assert_int_eq(judge(z, 6, 9000, 2000, &defaults), TREND_FLAT);
    /* A leak that starts in the second round is rising in most pairs. */
    double w[] = {102400, 204800, 307200, 409600};
    ck_assert_int_eq(judge(w, 4, 9000, 2000, &defaults), TREND_LEAK);
}
END_TEST

START_TEST(limits_apply)
{
    double y[] = {10240, 20480, 30720, 40960};
    ck_assert_int_eq(judge(y, 4, 5000, 2000, &defaults), TREND_SMALL);
    trend_limits low = {0, 16384};
    ck_assert_int_eq(judge(y, 4, 5000, 2000, &low), TREND_LEAK);
    double z[] = {102400, 204800, 307200, 409600};
    trend_limits steep = {204800, 0};
    ck_assert_int_eq(judge(z, 4, 5000, 2000, &steep), TREND_FLAT);
}
END_TEST

/* ---- suppressions ---------------------------------------------------------------------------------- */

START_TEST(suppressions_parse)
{
    suppress_list l;
    char err[512];
    const char *text = "# known leaks\n\nleak:ngx_event_accept\n  leak: cache_*  # the cache\nleak:libfoo.so\n";
    ck_assert_msg(suppress_parse(text, "s.supp", &l, err, sizeof err), "%s", err);
    ck_assert_int_eq(l.n, 3);
    ck_assert_str_eq(l.v[0].pattern, "ngx_event_accept");
    ck_assert_int_eq(l.v[0].line, 3);
    ck_assert_str_eq(l.v[1].pattern, "cache_*");
    ck_assert_int_eq(l.v[1].line, 4);
    suppress_free(&l);

    ck_assert(!suppress_parse("leak:a\nfoo\n", "s.supp", &l, err, sizeof err));
    ck_assert_msg(strstr(err, "s.supp:2:") && strstr(err, "leak:FUNCTION"), "error: %s", err);
    ck_assert(!suppress_parse("leak:\n", "s.supp", &l, err, sizeof err));
    ck_assert_msg(strstr(err, "s.supp:1:") != NULL, "error: %s", err);
    ck_assert(!suppress_parse("called_from_lib:x\n", "s.supp", &l, err, sizeof err));
    ck_assert(!suppress_load("/nonexistent/s.supp", &l, err, sizeof err));
    ck_assert_msg(strstr(err, "/nonexistent/s.supp") && strstr(err, "--suppress"), "error: %s", err);
}
END_TEST

/* write_round's leaking round number round, read back with model_load. The model holds all it read, so the
 * file and its directory are gone by the time this returns: model_free is the only clean-up. */
static lw_report *load_leak_round(int round)
{
    char *dir = tu_tempdir();
    char *path = write_round(dir, round, true);
    char err[1024];
    lw_report *r = model_load(path, err, sizeof err);
    ck_assert_msg(r != NULL, "%s: %s", path, err);
    tu_rmtree(dir);
    free(path);
    free(dir);
    return r;
}

START_TEST(suppressions_match)
{
    suppress_rule glob = {.pattern = "ngx_*_accept"}, sub = {.pattern = "event"};
    ck_assert(suppress_rule_matches(&glob, "ngx_event_accept"));
    ck_assert(!suppress_rule_matches(&glob, "my_ngx_event_accept"));
    ck_assert(!suppress_rule_matches(&glob, "ngx_event_accept_ex"));
    ck_assert(suppress_rule_matches(&sub, "ngx_event_accept"));
    ck_assert(!suppress_rule_matches(&sub, "ngx_alloc"));
    ck_assert(!suppress_rule_matches(&sub, NULL));

    lw_report *r = load_leak_round(2);
    char err[1024];
    suppress_list l;
    ck_assert(suppress_parse("leak:cache_insert\nleak:serve\nleak:svc\n", "t", &l, err, sizeof err));
    const lw_site *cache = NULL, *leak = NULL;
    for (size_t i = 0; i < r->nsites; i++) {
        if (strcmp(r->sites[i].id, CACHE_ID) == 0)
            cache = &r->sites[i];
        if (strcmp(r->sites[i].id, LEAK_ID) == 0)
            leak = &r->sites[i];
    }
    ck_assert(cache && leak);
    ck_assert_int_eq(suppress_match(&l, r, cache), 0);
    ck_assert_int_eq(suppress_match(&l, r, leak), 1); /* "serve" is a caller in its creation stack */
    suppress_list mod;
    ck_assert(suppress_parse("leak:svc\n", "t", &mod, err, sizeof err));
    ck_assert_int_eq(suppress_match(&mod, r, leak), 0); /* the module's file name */
    suppress_list none;
    ck_assert(suppress_parse("leak:nothing_like_this\n", "t", &none, err, sizeof err));
    ck_assert_int_eq(suppress_match(&none, r, leak), -1);
    suppress_free(&l);
    suppress_free(&mod);
    suppress_free(&none);
    model_free(r);
}
END_TEST

/* ---- reading reports -------------------------------------------------------------------------------- */

static void expect_load_error(const char *path, const char *what)
{
    char err[1024] = "";
    lw_report *r = model_load(path, err, sizeof err);
    ck_assert_msg(r == NULL, "%s loaded although it is %s", path, what);
    ck_assert_msg(strstr(err, path) != NULL, "the error does not name the file: %s", err);
    ck_assert_msg(strstr(err, what) != NULL, "the error for %s does not say \"%s\": %s", path, what, err);
    ck_assert_msg(strchr(err, '\n') == NULL, "the error is not one line: %s", err);
}

/* Writes len bytes of text as dir/name: loading that file must fail saying what. */
static void expect_written_rejected(const char *dir, const char *name, const char *text, size_t len, const char *what)
{
    char *path = tu_strf("%s/%s", dir, name);
    write_text(path, text, len);
    expect_load_error(path, what);
    free(path);
}

START_TEST(model_reads_valid_report)
{
    lw_report *r = load_leak_round(3);
    ck_assert_int_eq(r->pid, 100);
    ck_assert_int_eq(r->seq, 3);
    ck_assert_int_eq(r->nsites, 4);
    ck_assert_int_eq(r->nmodules, 1);
    ck_assert_str_eq(r->sites[0].id, LEAK_ID);
    ck_assert_int_eq(r->sites[0].live_bytes, 307200);
    ck_assert_int_eq(r->sites[0].leaks[0].created_at.n, 3);
    ck_assert_str_eq(r->sites[0].leaks[0].created_at.v[0].function, "build_response");
    ck_assert_int_eq(r->sites[0].leaks[0].created_at.v[0].offset, 0x1000);
    ck_assert_int_eq(r->sites[0].leaks[0].created_at.v[0].ip, 0x401000);
    ck_assert(!isnan(r->time_ms));
    model_free(r);
}
END_TEST

START_TEST(model_rejects_broken_reports)
{
    char *dir = tu_tempdir();
    char *good = write_round(dir, 2, true);
    char *text = tu_slurp(good);
    size_t len = strlen(text);

    expect_written_rejected(dir, "truncated.json", text, len - 40, "truncated");
    expect_written_rejected(dir, "empty.json", "", 0, "empty file");
    char *bad = strdup(text);
    char *sites = strstr(bad, "\"sites\":");
    sites[7] = '@';
    expect_written_rejected(dir, "corrupt.json", bad, len, "invalid JSON");
    free(bad);

    const char *other = "{\"format\":\"perf-script\",\"version\":1}";
    expect_written_rejected(dir, "other.json", other, strlen(other), "expected \"leakwatch-report\"");
    expect_written_rejected(dir, "array.json", "[1,2,3]", 7, "not an object");
    bad = strdup(text);
    char *id = strstr(bad, LEAK_ID);
    memcpy(id, "zz", 2);
    expect_written_rejected(dir, "badid.json", bad, len, "16 hex digits");
    free(bad);

    char *p = tu_strf("%s/badtype.json", dir);
    json_t *root = json_loads(text, 0, NULL);
    json_object_set_new(json_array_get(json_object_get(root, "sites"), 1), "live_bytes", json_string("many"));
    json_dump_file(root, p, 0);
    json_decref(root);
    expect_load_error(p, "sites[1].live_bytes is not an integer");
    free(p);

    p = tu_strf("%s/newer.json", dir);
    root = json_loads(text, 0, NULL);
    json_object_set_new(root, "version", json_integer(7));
    json_dump_file(root, p, 0);
    json_decref(root);
    expect_load_error(p, "upgrade leakwatch");
    free(p);

    expect_written_rejected(dir, "report.txt", "leakwatch report #1\n", 20, "use the .json file beside it");

    p = tu_strf("%s/missing.json", dir);
    expect_load_error(p, "cannot read");
    free(p);

    /* NUL bytes are binary data, not a cut; a /proc file (st_size 0) has content, it is not empty. */
    expect_written_rejected(dir, "nul.json", "\0\0\0\0", 4, "a NUL byte at byte 1");
    p = tu_strf("%s/nul_inside.json", dir);
    write_text(p, text, len);
    int nfd = open(p, O_WRONLY);
    ck_assert(pwrite(nfd, "\0", 1, 10) == 1);
    close(nfd);
    expect_load_error(p, "a NUL byte at byte 11");
    free(p);
    expect_load_error("/proc/self/status", "invalid JSON at line 1");

    /* Cut at every length: always a clean error, never a crash or a half-read report. */
    p = tu_strf("%s/cut.json", dir);
    for (size_t cut = 0; cut < len; cut += 7) {
        write_text(p, text, cut);
        char err[1024];
        lw_report *r = model_load(p, err, sizeof err);
        ck_assert_msg(r == NULL, "a report cut at byte %zu of %zu loaded", cut, len);
        ck_assert_msg(strstr(err, "not a leakwatch report"), "cut at %zu: %s", cut, err);
    }
    free(p);
    free(text);
    free(good);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- renderings ----------------------------------------------------------------------------------- */

static char *render_to_string(void (*fn)(FILE *, const lw_report *, const render_opts *), const lw_report *r,
                              const render_opts *o)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fn(f, r, o);
    fclose(f);
    return buf;
}

START_TEST(folded_reads_back)
{
    lw_report *r = load_leak_round(4);
    render_opts o = {.top = -1, .min_age_ms = -1};
    char *out = render_to_string(render_folded, r, &o);
    long long total = 0, prev = -1, want = 0;
    for (size_t i = 0; i < r->nsites; i++)
        for (size_t j = 0; j < r->sites[i].nleaks; j++)
            want += r->sites[i].leaks[j].bytes;
    int nlines = 0;
    bool saw_leak = false;
    for (char *save = NULL, *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        nlines++;
        char *sp = strrchr(line, ' ');
        ck_assert_msg(sp != NULL, "folded line without a weight: %s", line);
        long long w = atoll(sp + 1);
        ck_assert_msg(w > 0, "bad weight in: %s", line);
        ck_assert_msg(prev < 0 || w <= prev, "folded lines are not largest first");
        prev = w;
        total += w;
        *sp = '\0';
        ck_assert_msg(strncmp(line, "main;serve;", 11) == 0, "not root first: %s", line);
        if (strcmp(line, "main;serve;build_response") == 0) {
            saw_leak = true;
            ck_assert_int_eq(w, 4 * 102400);
        }
    }
    ck_assert_int_eq(nlines, 4);
    ck_assert(saw_leak);
    ck_assert_int_eq(total, want);
    free(out);

    /* --min-age leaves out groups whose oldest block is younger (the sawtooth's is 300 ms). */
    o.min_age_ms = 1000;
    out = render_to_string(render_folded, r, &o);
    ck_assert_msg(strstr(out, "grow_buffer") == NULL && strstr(out, "build_response") != NULL, "%s", out);
    free(out);
    model_free(r);
}
END_TEST

START_TEST(text_shape)
{
    lw_report *r = load_leak_round(2);
    render_opts o = {.top = 2, .min_age_ms = -1};
    char *out = render_to_string(render_text, r, &o);
    ck_assert_msg(strncmp(out, "leakwatch report #2 (signal) for /usr/bin/svc [pid 100]", 55) == 0, "%s", out);
    ck_assert_msg(strstr(out, "LEAK: 200 blocks (200.0 KiB) allocated here are still live; the oldest is 2.5 s old; "
                              "+100.0 KiB since report #1.\n") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "\t0x0000000000401000 build_response+0x10 (/usr/bin/svc+0x1000)\n"), "%s", out);
    ck_assert_msg(strstr(out, "\n: 2 leak records were discarded because the leak record count is targeted to 2."),
                  "%s", out);
    /* Largest first: the 700 KiB sawtooth tooth, then the leak. */
    ck_assert_msg(strstr(out, "grow_buffer") < strstr(out, "build_response"), "%s", out);
    free(out);
    model_free(r);
}
END_TEST

/* ---- the gate in-process -------------------------------------------------------------------------------- */

START_TEST(gate_judges_rounds)
{
    char *dir = tu_tempdir();
    gate_run g;
    gate_init(&g);
    char err[1024];
    for (int r = 1; r <= 6; r++) {
        char *p = write_round(dir, r, true);
        ck_assert_msg(gate_add_round(&g, p, err, sizeof err), "%s", err);
        free(p);
    }
    ck_assert_msg(gate_evaluate(&g, err, sizeof err), "%s", err);
    ck_assert_int_eq(g.nfailed, 1);
    ck_assert_str_eq(g.sites[0].id, LEAK_ID);
    ck_assert(g.sites[0].v.fails);
    ck_assert_double_eq_tol(g.sites[0].v.slope, 102400, 1e-6);
    ck_assert_double_eq(g.sites[0].bytes[5], 6 * 102400);
    for (size_t i = 1; i < g.nsites; i++)
        ck_assert_msg(!g.sites[i].v.fails, "site %s failed", g.sites[i].id);
    gate_free(&g);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(gate_sums_a_process_tree)
{
    /* Two processes each leak 40 KiB per round at the same site: neither alone grows by the default 64 KiB
     * over rounds 2-3, together they do. */
    char *dir = tu_tempdir();
    gate_run g;
    gate_init(&g);
    char err[1024];
    for (int r = 1; r <= 3; r++) {
        struct fake_site s = {LEAK_ID, "build_response", r * 40960LL, r * 10LL, r * 1000 + 500, NULL};
        char n1[64], n2[64];
        snprintf(n1, sizeof n1, "svc.200.%d.json", r);
        snprintf(n2, sizeof n2, "svc.201.%d.json", r);
        char *a = write_fake(dir, n1, 200, r, 10 + r, &s, 1), *b = write_fake(dir, n2, 201, r, 10 + r, &s, 1);
        char *spec = tu_strf("%s+%s", a, b);
        ck_assert_msg(gate_add_round(&g, spec, err, sizeof err), "%s", err);
        free(spec);
        free(a);
        free(b);
    }
    ck_assert_msg(gate_evaluate(&g, err, sizeof err), "%s", err);
    ck_assert_int_eq(g.nrounds, 3);
    ck_assert_int_eq(g.nreports, 6);
    ck_assert_int_eq(g.nsites, 1);
    ck_assert_double_eq(g.sites[0].bytes[2], 2 * 3 * 40960);
    ck_assert_int_eq(g.nfailed, 1);
    gate_free(&g);

    gate_init(&g);
    char *p = tu_strf("%s/svc.200.1.json", dir);
    ck_assert(gate_add_round(&g, p, err, sizeof err));
    ck_assert(!gate_evaluate(&g, err, sizeof err));
    ck_assert_msg(strstr(err, "fewer than 2 rounds") != NULL, "%s", err);
    gate_free(&g);
    free(p);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(gate_mmap_sites_need_more_growth)
{
    /* A JIT code cache committing 64 KiB now and then: the same series fails as heap, passes as mmap. */
    static const long long jit[] = {65536, 131072, 131072, 196608, 262144};
    char *dir = tu_tempdir();
    gate_run g;
    gate_init(&g);
    char err[1024];
    for (int r = 1; r <= 5; r++) {
        struct fake_site s[] = {{"0000000000000011", "commit_memory", jit[r - 1], 1, r * 1000 + 500, "mmap"},
                                {"0000000000000012", "heap_twin", jit[r - 1], 1, r * 1000 + 500, NULL}};
        char name[64];
        snprintf(name, sizeof name, "jvm.300.%d.json", r);
        char *p = write_fake(dir, name, 300, r, 10 + r, s, 2);
        ck_assert_msg(gate_add_round(&g, p, err, sizeof err), "%s", err);
        free(p);
    }
    ck_assert_msg(gate_evaluate(&g, err, sizeof err), "%s", err);
    ck_assert_int_eq(g.nfailed, 1);
    ck_assert_str_eq(g.sites[0].id, "0000000000000012");
    ck_assert_int_eq(g.sites[1].v.kind, TREND_SMALL);
    ck_assert_double_eq(g.sites[1].limits.min_growth, TREND_DEFAULT_MIN_GROWTH_MMAP);
    gate_free(&g);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- Java-heap sites ----------------------------------------------------------------------------------- */

static json_t *java_frame(const char *klass, const char *method, int line)
{
    return json_pack("{s:s,s:i,s:{s:s,s:s,s:s,s:i,s:i}}", "ip", "0x0", "module", -1, "java", "class", klass,
                     "method", method, "file", "X.java", "line", line, "bci", 3);
}

/* A report with two java-heap sites (estimates from a 64 KiB sampling interval): a queue growing by `queue`
 * bytes and one that gained a single sample. */
static char *write_java_round(const char *dir, int r, long long queue, long long one_sample)
{
    json_t *stack = json_array();
    static const char *const jdk[] = { "java.util.concurrent.LinkedBlockingQueue", "java.util.HashMap",
                                       "java.lang.String", "jdk.internal.misc.Unsafe", "sun.nio.fs.UnixPath",
                                       "javax.net.ssl.SSLEngine", "java.lang.StringConcatHelper" };
    for (int i = 0; i < 7; i++)
        json_array_append_new(stack, java_frame(jdk[i], "offer", 10 + i));
    json_array_append_new(stack, java_frame("com.example.Metrics", "report", 42));
    json_array_append_new(stack, java_frame("com.example.Handler", "handle", 7));
    json_t *sites = json_array();
    const long long bytes[] = { queue, one_sample };
    const char *const ids[] = { "00000000000000a1", "00000000000000a2" };
    for (int i = 0; i < 2; i++) {
        json_t *leak = json_pack("{s:I,s:I,s:i,s:i,s:s,s:i,s:s,s:O,s:[]}", "blocks", bytes[i] / 40, "bytes", bytes[i],
                                 "samples", 3, "oldest_age_ms", 20000, "stack", "own", "unstacked_blocks", 0,
                                 "held_by", "static com.example.Metrics.OUTBOX -> java.util.concurrent.LinkedBlockingQueue",
                                 "created_at", stack, "recent_access");
        json_array_append_new(sites, json_pack("{s:s,s:s,s:b,s:s,s:I,s:I,s:i,s:i,s:O,s:[o]}", "id", ids[i], "kind",
                                               "java-heap", "estimated", 1, "class", "java.lang.String", "live_bytes",
                                               bytes[i], "live_blocks", bytes[i] / 40, "samples", 3, "oldest_age_ms",
                                               20000, "frames", stack, "leaks", leak));
    }
    char when[40];
    snprintf(when, sizeof when, "2026-11-22T03:40:%02d.000Z", 10 + r);
    json_t *root = json_pack("{s:s,s:i,s:i,s:i,s:s,s:s,s:i,s:i,s:s,s:i,s:{s:i,s:i},s:{s:i,s:i},s:[],s:o,"
                             "s:{s:b,s:i,s:b}}", "format", "leakwatch-report", "version", 1, "pid", 400, "ppid", 1,
                             "program", "/usr/bin/java", "reason", "signal", "seq", r, "previous_seq", r - 1,
                             "time", when, "uptime_ms", r * 1000, "config", "min_age_ms", 0, "top", 20, "totals",
                             "live_bytes", 0, "live_blocks", 0, "modules", "sites", sites, "java_heap",
                             "estimated", 1, "sampling_interval_bytes", 65536, "forced_gc", 1);
    json_decref(stack);
    char *path = tu_strf("%s/java.400.%d.json", dir, r);
    ck_assert_msg(json_dump_file(root, path, 0) == 0, "cannot write %s", path);
    json_decref(root);
    return path;
}

/* The gate judges java-heap sites with the native rules, above a noise floor of 8 samples' worth: a queue that
 * grows fails, with its stack down to the first frame outside the JDK and its Held by chain; a site that gained one
 * sample (64 KiB, which would fail a native site) passes. */
START_TEST(gate_java_heap_sites)
{
    char *dir = tu_tempdir();
    gate_run g;
    gate_init(&g);
    char err[1024];
    for (int r = 1; r <= 5; r++) {
        char *p = write_java_round(dir, r, 1048576LL * r, r >= 3 ? 131072 : 65536);
        ck_assert_msg(gate_add_round(&g, p, err, sizeof err), "%s", err);
        free(p);
    }
    ck_assert_msg(gate_evaluate(&g, err, sizeof err), "%s", err);
    ck_assert_int_eq(g.nfailed, 1);
    const gate_site *queue = strcmp(g.sites[0].id, "00000000000000a1") == 0 ? &g.sites[0] : &g.sites[1];
    const gate_site *one = queue == &g.sites[0] ? &g.sites[1] : &g.sites[0];
    ck_assert(queue->v.fails);
    ck_assert(!one->v.fails);
    ck_assert_double_eq(one->limits.min_growth, 8.0 * 65536);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    gate_print(f, &g);
    fclose(f);
    ck_assert_msg(strstr(out, "FAIL  site 00000000000000a1 (java-heap, estimated by sampling)"), "%s", out);
    ck_assert_msg(strstr(out, "com.example.Metrics.report"), "the verdict stops before the first non-JDK frame:\n%s",
                  out);
    ck_assert_msg(!strstr(out, "com.example.Handler.handle"), "the verdict shows frames past the first non-JDK one:\n%s",
                  out);
    ck_assert_msg(strstr(out, "  Held by: static com.example.Metrics.OUTBOX -> java.util.concurrent.LinkedBlockingQueue\n"),
                  "%s", out);
    free(out);
    gate_free(&g);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- the command ------------------------------------------------------------------------------------ */

static void run_lw(struct tu_proc *p, char **args)
{
    char *argv[40];
    int n = 0;
    argv[n++] = tu_strf("%s/leakwatch", tu_build_dir());
    ck_assert_msg(access(argv[0], X_OK) == 0, "%s is not built (make all)", argv[0]);
    for (; args[n - 1] && n < 39; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    struct tu_env env;
    tu_env_base(&env, "/nonexistent");
    tu_run(p, argv, env.vars, 60);
    tu_env_free(&env);
    free(argv[0]);
}

static int exit_code(const struct tu_proc *p)
{
    return WIFEXITED(p->status) ? WEXITSTATUS(p->status) : -1;
}

/* run_lw, then the command must have exited with code. */
static void run_lw_expect(struct tu_proc *p, char **args, int code)
{
    run_lw(p, args);
    ck_assert_msg(exit_code(p) == code, "leakwatch %s: %s, expected exit %d; out: %s err: %s", args[0],
                  tu_status_str(p), code, p->out, p->err);
}

/* stderr holds exactly one line, starting "leakwatch: " and naming what. */
static void expect_one_error(const struct tu_proc *p, const char *what)
{
    ck_assert_msg(exit_code(p) == 2, "exit %s, expected 2; stderr: %s", tu_status_str(p), p->err);
    ck_assert_msg(strncmp(p->err, "leakwatch: ", 11) == 0, "error without the prefix: %s", p->err);
    ck_assert_msg(strchr(p->err, '\n') == p->err + strlen(p->err) - 1, "not exactly one line: %s", p->err);
    ck_assert_msg(strstr(p->err, what) != NULL, "error does not say \"%s\": %s", what, p->err);
}

/* Runs leakwatch with args: it must fail (exit 2) with one stderr line naming what. */
static void expect_command_fails(char **args, const char *what)
{
    struct tu_proc p;
    run_lw(&p, args);
    expect_one_error(&p, what);
    tu_proc_free(&p);
}

/* What a command wrote with --json path; fails the test when it is missing or not JSON. */
static json_t *load_json_output(const char *path)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    ck_assert_msg(j != NULL, "--json output %s: %s", path, je.text);
    return j;
}

static char **round_files(const char *dir, int n, bool with_leak)
{
    char **v = calloc((size_t)n + 1, sizeof *v);
    char sub[32];
    snprintf(sub, sizeof sub, "%s", with_leak ? "leak" : "ok");
    char *d = tu_strf("%s/%s", dir, sub);
    mkdir(d, 0700);
    for (int r = 1; r <= n; r++)
        v[r - 1] = write_round(d, r, with_leak);
    free(d);
    return v;
}

static void free_files(char **v)
{
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

static bool xml_well_formed(const char *path)
{
    char *cmd = tu_strf("xmllint --noout '%s' 2>&1", path);
    FILE *f = popen(cmd, "r");
    ck_assert_msg(f != NULL, "cannot run xmllint");
    char buf[512] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    int rc = pclose(f);
    ck_assert_msg(!(WIFEXITED(rc) && WEXITSTATUS(rc) == 127), "xmllint is not installed (scripts/deps.sh installs "
                  "libxml2-utils)");
    free(cmd);
    if (rc != 0)
        fprintf(stderr, "xmllint %s: %s\n", path, buf);
    return rc == 0;
}

START_TEST(cli_gate_fails_a_leak)
{
    char *dir = tu_tempdir();
    char **f = round_files(dir, 5, true);
    char *junit = tu_strf("%s/gate.xml", dir), *svg = tu_strf("%s/gate.svg", dir), *js = tu_strf("%s/gate.json", dir);
    char *args[] = {"gate", f[0], f[1], f[2], f[3], f[4], "--junit", junit, "--svg", svg, "--json", js, NULL};
    struct tu_proc p;
    run_lw_expect(&p, args, 1);
    ck_assert_msg(strstr(p.out, "FAIL  site " LEAK_ID) && strstr(p.out, "build_response+0x10"), "%s", p.out);
    ck_assert_msg(strstr(p.out, "levelling off") && strstr(p.out, "cache_insert"), "%s", p.out);
    ck_assert_msg(strstr(p.out, "leakwatch gate: FAIL: 1 site keeps growing with load"), "%s", p.out);
    ck_assert_msg(strstr(p.out, "400.0 KiB") && strstr(p.out, "500.0 KiB"), "live bytes per round missing: %s", p.out);

    ck_assert(xml_well_formed(junit));
    ck_assert(xml_well_formed(svg));
    char *x = tu_slurp(junit);
    ck_assert_msg(strstr(x, "tests=\"4\" failures=\"1\"") && strstr(x, "<failure type=\"leak\"") &&
                  strstr(x, "; created at build_response &lt; serve &lt; main\">") &&
                  strstr(x, "build_response+0x10 (/usr/bin/svc)"), "%s", x);
    free(x);
    x = tu_slurp(svg);
    ck_assert_msg(strstr(x, "<polyline") && strstr(x, "FAIL 00000000") && strstr(x, "warm-up"), "svg: %.400s", x);
    free(x);
    json_t *j = load_json_output(js);
    ck_assert_str_eq(tu_str(j, "verdict"), "fail");
    json_t *s0 = json_array_get(json_object_get(j, "sites"), 0);
    ck_assert_str_eq(tu_str(s0, "id"), LEAK_ID);
    ck_assert_int_eq(json_array_size(json_object_get(s0, "live_bytes")), 5);
    json_decref(j);
    tu_proc_free(&p);

    /* Per load unit: 1,000 requests per round makes 102.4 bytes per request. */
    char *args2[] = {"gate", f[0], f[1], f[2], f[3], f[4], "--load", "1000,2000,3000,4000,5000", NULL};
    run_lw_expect(&p, args2, 1);
    ck_assert_msg(strstr(p.out, "+102 B per load unit"), "%s", p.out);
    tu_proc_free(&p);
    free(junit);
    free(svg);
    free(js);
    free_files(f);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* One round of a JVM whose queue of com.example.Msg objects grows by 1 MiB a round (estimated from 64 KiB samples).
 * The report counted every Msg in the heap when `counted` is not 0: `counted` objects of 24 bytes each; its record
 * has the "Held by" chain held_by_json (a JSON string) unless that is NULL. Written by
 * hand, in the contract's shape (docs/report-format.md), not taken from a report of the shim. */
static char *write_counted_round(const char *dir, int r, long long counted, const char *held_by_json)
{
    char exact[256] = "";
    if (counted)
        snprintf(exact, sizeof exact, "\"class_exact\":{\"objects\":%lld,\"bytes\":%lld},", counted, counted * 24);
    if (held_by_json)
        snprintf(exact + strlen(exact), sizeof exact - strlen(exact), "\"held_by\":%s,", held_by_json);
    long long bytes = 1048576LL * r;
    char *text = tu_strf(
        "{\"format\":\"leakwatch-report\",\"version\":2,\"seq\":%d,\"previous_seq\":%d,\"reason\":\"signal\","
        "\"program\":\"/usr/bin/java\",\"pid\":4242,\"ppid\":1,\"time\":\"2026-12-06T09:00:%02d.000Z\","
        "\"uptime_ms\":%d,\"config\":{\"min_age_ms\":0,\"top\":20},\"totals\":{\"live_bytes\":0,\"live_blocks\":0},"
        "\"modules\":[],\"sites\":[{\"id\":\"00000000000000c1\",\"kind\":\"java-heap\",\"estimated\":true,"
        "\"class\":\"com.example.Msg\",\"live_bytes\":%lld,\"live_blocks\":%lld,\"samples\":%d,"
        "\"oldest_age_ms\":9000,\"frames\":[{\"ip\":\"0x0\",\"module\":-1,\"java\":{\"class\":\"com.example.Outbox\","
        "\"method\":\"send\",\"file\":\"Outbox.java\",\"line\":12,\"bci\":4}}],\"leaks\":[{\"blocks\":%lld,"
        "\"bytes\":%lld,\"samples\":%d,\"oldest_age_ms\":9000,\"stack\":\"own\",\"unstacked_blocks\":0,%s"
        "\"created_at\":[{\"ip\":\"0x0\",\"module\":-1,\"java\":{\"class\":\"com.example.Outbox\",\"method\":\"send\","
        "\"file\":\"Outbox.java\",\"line\":12,\"bci\":4}}],\"recent_access\":[]}]}],"
        "\"java_heap\":{\"estimated\":true,\"sampling_interval_bytes\":65536,\"forced_gc\":true}}\n",
        r, r - 1, 10 + r, r * 1000, bytes, bytes / 24, 16 * r, bytes / 24, bytes, 16 * r, exact);
    char *path = tu_strf("%s/java.4242.%d.json", dir, r);
    FILE *f = fopen(path, "w");
    ck_assert_msg(f && fputs(text, f) >= 0 && fclose(f) == 0, "cannot write %s", path);
    free(text);
    return path;
}

/* The five rounds of write_counted_round into f, round r counting counted[r - 1] objects, each with the
 * "Held by" chain held_by_json (or none when NULL). */
static void write_counted_rounds(char *f[5], const char *dir, const long long counted[5], const char *held_by_json)
{
    for (int r = 1; r <= 5; r++)
        f[r - 1] = write_counted_round(dir, r, counted[r - 1], held_by_json);
}

/* Frees the five round paths and removes dir (a tu_tempdir) with all in it. */
static void discard_rounds(char *f[5], char *dir)
{
    for (int r = 0; r < 5; r++)
        free(f[r]);
    tu_rmtree(dir);
    free(dir);
}

/* A failing java-heap site's verdict and JUnit failure show the exact count of its class from the last round's
 * report (5,000, not round 4's 4,000), labelled as every object of the class rather than the site's, beside the
 * estimates; a site whose last report counted nothing shows no count. */
START_TEST(cli_gate_shows_exact_class_count)
{
    char *dir = tu_tempdir();
    char *f[5];
    const long long counted[5] = { 0, 0, 0, 4000, 5000 };
    write_counted_rounds(f, dir, counted, NULL);
    char *junit = tu_strf("%s/gate.xml", dir), *js = tu_strf("%s/gate.json", dir);
    char *args[] = {"gate", f[0], f[1], f[2], f[3], f[4], "--junit", junit, "--json", js, NULL};
    struct tu_proc p;
    run_lw_expect(&p, args, 1);
    const char *line = "Exact count: 5,000 objects of com.example.Msg (117.2 KiB) in the heap of pid 4242 at the last "
                       "round: every object of the class, from every allocation site, not only those of this site "
                       "(whose figures are estimates)";
    char *indented = tu_strf("\n  %s\n", line);
    ck_assert_msg(strstr(p.out, "FAIL  site 00000000000000c1 (java-heap, estimated by sampling)"), "%s", p.out);
    ck_assert_msg(strstr(p.out, indented), "the verdict does not show \"%s\":\n%s", line, p.out);
    ck_assert_msg(!strstr(p.out, "4,000"), "the verdict shows round 4's count:\n%s", p.out);
    ck_assert(xml_well_formed(junit));
    char *x = tu_slurp(junit);
    ck_assert_msg(x && strstr(x, line), "the JUnit failure does not show \"%s\":\n%s", line, x);
    free(x);
    json_t *j = load_json_output(js);
    json_t *exact = json_object_get(json_array_get(json_object_get(j, "sites"), 0), "class_exact");
    ck_assert_msg(exact && json_integer_value(json_object_get(exact, "objects")) == 5000 &&
                  json_integer_value(json_object_get(exact, "bytes")) == 120000 &&
                  strcmp(json_string_value(json_object_get(exact, "class")), "com.example.Msg") == 0,
                  "the JSON verdict lacks the last round's class_exact");
    json_decref(j);
    tu_proc_free(&p);
    /* `leakwatch report` of the last round shows the count beside the record's estimate */
    char *rargs[] = {"report", f[4], NULL};
    run_lw(&p, rargs);
    ck_assert_msg(exit_code(&p) == 0 && strstr(p.out, "Exact count: 5,000 objects of com.example.Msg (117.2 KiB) in the "
                                                        "heap of pid 4242 at report time"), "%s%s", p.out, p.err);
    tu_proc_free(&p);
    free(f[4]);
    f[4] = args[5] = write_counted_round(dir, 5, 0, NULL);  /* the last report counted nothing (its bound ran out) */
    run_lw_expect(&p, args, 1);
    ck_assert_msg(!strstr(p.out, "Exact count"), "a count is shown though the last round has none:\n%s", p.out);
    tu_proc_free(&p);
    free(indented);
    free(js);
    free(junit);
    discard_rounds(f, dir);
}
END_TEST

/* A "Held by" chain is names the JVM gave (classes, fields): the gate's verdict and `leakwatch report` print its
 * control characters escaped, as every other name they print. */
START_TEST(cli_held_by_escaped)
{
    char *dir = tu_tempdir();
    char *f[5];
    const long long none[5] = { 0 };
    write_counted_rounds(f, dir, none, "\"static com.example.Outbox.\\u001b[2Jq -> java.util.ArrayDeque\"");
    char *args[] = {"gate", f[0], f[1], f[2], f[3], f[4], NULL};
    struct tu_proc p;
    run_lw_expect(&p, args, 1);
    ck_assert_msg(!strchr(p.out, '\x1b') && strstr(p.out, "  Held by: static com.example.Outbox.\\x1b[2Jq -> "
                                                           "java.util.ArrayDeque\n"), "%s", p.out);
    tu_proc_free(&p);
    char *rargs[] = {"report", f[4], NULL};
    run_lw(&p, rargs);
    ck_assert_msg(exit_code(&p) == 0 && !strchr(p.out, '\x1b') &&
                  strstr(p.out, "Held by: static com.example.Outbox.\\x1b[2Jq -> java.util.ArrayDeque\n"), "%s", p.out);
    tu_proc_free(&p);
    discard_rounds(f, dir);
}
END_TEST

/* The pool chunk frames are recognised in the spellings JIT and JVMTI names take, and nothing else is. */
START_TEST(pool_frames_recognised)
{
    const char *yes[] = { "io.netty.buffer.PoolArena$DirectArena::newChunk", "io.netty.buffer.PoolArena::newChunk",
                          "Lio/netty/buffer/PoolArena$DirectArena;::newChunk", "io.netty.buffer.PoolArena.newChunk(int)",
                          "PoolArena$HeapArena.newChunk", "Lio/netty/buffer/PoolArena;.newChunk (12 bytes)",
                          "io.netty.buffer.PoolChunk io.netty.buffer.PoolArena$DirectArena.newChunk(int, int, int, int)" };
    const char *no[] = { "io.netty.buffer.PoolArena$DirectArena::newUnpooledChunk",
                         "io.netty.buffer.PoolArena::newChunkList", "com.acme.MyPoolArena.newChunk",
                         "io.netty.buffer.PoolArenaMetric::newChunk", "io.netty.buffer.PoolArena::allocate",
                         "newChunk", "PoolArena", "" };
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        ck_assert_msg(pool_match_function(yes[i]) != NULL, "not recognised: %s", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        ck_assert_msg(pool_match_function(no[i]) == NULL, "recognised by mistake: %s", no[i]);
    ck_assert_ptr_null(pool_match_function(NULL));
}
END_TEST

/* A gate whose growing site is Netty's pool chunk allocation says so and how to get per-buffer stacks; a
 * growing site elsewhere gets no such note. */
START_TEST(cli_gate_names_pool_chunk)
{
    char *dir = tu_tempdir();
    char *files[2][4];
    const char *fns[2] = { "io.netty.buffer.PoolArena$DirectArena::newChunk", "build_response" };
    for (int k = 0; k < 2; k++) {
        for (int r = 1; r <= 4; r++) {
            struct fake_site s[] = {
                {LEAK_ID, fns[k], r * 16777216LL, r, r * 1000 + 500, NULL},
                {FLAT_ID, "config_load", 4096, 2, r * 1000 + 500, NULL},
            };
            char name[64];
            snprintf(name, sizeof name, "svc%d.100.%d.json", k, r);
            files[k][r - 1] = write_fake(dir, name, 100, r, 10 + r, s, 2);
        }
    }
    char *js = tu_strf("%s/gate.json", dir);
    struct tu_proc p;
    char *args[] = {"gate", files[0][0], files[0][1], files[0][2], files[0][3], "--json", js, NULL};
    run_lw_expect(&p, args, 1);
    ck_assert_msg(strstr(p.out, "FAIL  site " LEAK_ID), "%s", p.out);
    ck_assert_msg(strstr(p.out, "This site is a chunk allocation of Netty's pooled allocator "
                                "(io.netty.buffer.PoolArena$DirectArena::newChunk)") &&
                      strstr(p.out, "-Dio.netty.allocator.type=unpooled"),
                  "the verdict does not name the pool chunk site:\n%s", p.out);
    json_t *j = load_json_output(js);
    json_t *s0 = json_array_get(json_object_get(j, "sites"), 0), *pool = json_object_get(s0, "pool_chunk");
    ck_assert_str_eq(tu_str(s0, "id"), LEAK_ID);
    ck_assert_msg(pool && strstr(json_string_value(json_object_get(pool, "hint")), "-Dio.netty.allocator.type=unpooled"),
                  "no pool_chunk in the JSON verdict's failing site");
    ck_assert_str_eq(tu_str(pool, "frame"), fns[0]);
    json_decref(j);
    tu_proc_free(&p);

    char *args2[] = {"gate", files[1][0], files[1][1], files[1][2], files[1][3], NULL};
    run_lw_expect(&p, args2, 1);
    ck_assert_msg(!strstr(p.out, "chunk allocation") && !strstr(p.out, "unpooled"), "%s", p.out);
    tu_proc_free(&p);
    for (int k = 0; k < 2; k++)
        for (int r = 0; r < 4; r++)
            free(files[k][r]);
    free(js);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(cli_gate_passes_and_suppresses)
{
    char *dir = tu_tempdir();
    char **ok = round_files(dir, 5, false), **leak = round_files(dir, 5, true);
    struct tu_proc p;
    char *args[] = {"gate", ok[0], ok[1], ok[2], ok[3], ok[4], NULL};
    run_lw_expect(&p, args, 0);
    ck_assert_msg(strstr(p.out, "leakwatch gate: PASS"), "%s", p.out);
    tu_proc_free(&p);

    char *supp = tu_strf("%s/leaks.supp", dir);
    write_text(supp, "# known\nleak:build_*\nleak:never_matches\n", 39);
    char *args2[] = {"gate", leak[0], leak[1], leak[2], leak[3], leak[4], "--suppress", supp, NULL};
    run_lw_expect(&p, args2, 0);
    ck_assert_msg(strstr(p.out, "suppressed: leak:build_* (line 2) hid 1 site, 500.0 KiB live at the last round"),
                  "%s", p.out);
    ck_assert_msg(strstr(p.out, "suppressed: leak:never_matches (line 3) hid 0 sites"), "%s", p.out);
    tu_proc_free(&p);
    free(supp);
    free_files(ok);
    free_files(leak);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(cli_errors_are_one_line)
{
    char *dir = tu_tempdir();
    char **f = round_files(dir, 3, true);
    char *trunc = tu_strf("%s/cut.json", dir);
    char *text = tu_slurp(f[1]);
    write_text(trunc, text, strlen(text) / 2);
    free(text);
    struct tu_proc p;

    char *a1[] = {"gate", f[0], trunc, f[2], NULL};
    run_lw(&p, a1);
    expect_one_error(&p, trunc);
    ck_assert_msg(strstr(p.err, "truncated"), "%s", p.err);
    tu_proc_free(&p);

    char *a2[] = {"gate", f[0], f[1], f[2], "--load", "1,2", NULL};
    expect_command_fails(a2, "--load has 2 numbers for 3 rounds");

    char *a3[] = {"gate", f[0], f[1], f[2], "--frobnicate", NULL};
    expect_command_fails(a3, "--frobnicate");

    char *a4[] = {"gate", f[0], f[1], "--warmup", "1", NULL};
    expect_command_fails(a4, "fewer than 2 rounds");

    char *a5[] = {"report", trunc, NULL};
    expect_command_fails(a5, "not a leakwatch report");

    char *a6[] = {"report", f[0], "--format", "yaml", NULL};
    expect_command_fails(a6, "--format");

    char *a7[] = {"frob", NULL};
    expect_command_fails(a7, "unknown command");

    char *a8[] = {"gate", f[0], f[1], f[2], "--min-growth", "lots", NULL};
    expect_command_fails(a8, "--min-growth");

    char *a9[] = {"gate", "--rounds", "3", "--load", "true", "--", NULL};
    expect_command_fails(a9, "server command");

    char *a10[] = {"dump", "12x", NULL};
    expect_command_fails(a10, "PID");

    free(trunc);
    free_files(f);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(cli_diff_orders_by_growth)
{
    char *dir = tu_tempdir();
    struct fake_site a[] = {
        {"0000000000000001", "shrinks", 500000, 50, 9000, NULL}, {"0000000000000002", "grows_little", 1000, 1, 9000, NULL},
        {"0000000000000003", "grows_most", 1000, 1, 9000, NULL}, {"0000000000000004", "goes_away", 3000, 3, 9000, NULL},
    };
    struct fake_site b[] = {
        {"0000000000000001", "shrinks", 100000, 10, 9000, NULL}, {"0000000000000002", "grows_little", 9000, 9, 9000, NULL},
        {"0000000000000003", "grows_most", 900000, 90, 9000, NULL}, {"0000000000000005", "is_new", 20000, 2, 100, NULL},
    };
    char *pa = write_fake(dir, "svc.1.1.json", 1, 1, 1, a, 4), *pb = write_fake(dir, "svc.1.2.json", 1, 2, 2, b, 4);
    char *args[] = {"diff", pa, pb, NULL};
    struct tu_proc p;
    run_lw_expect(&p, args, 0);
    const char *order[] = {"grows_most", "is_new", "grows_little", "goes_away", "shrinks"};
    const char *prev = p.out;
    for (size_t i = 0; i < 5; i++) {
        const char *at = strstr(p.out, order[i]);
        ck_assert_msg(at != NULL && at > prev, "diff order wrong at %s:\n%s", order[i], p.out);
        prev = at;
    }
    ck_assert_msg(strstr(p.out, "+877.9 KiB") && strstr(p.out, "-390.6 KiB"), "%s", p.out);
    tu_proc_free(&p);
    char *args2[] = {"diff", pa, pb, "--top", "2", NULL};
    run_lw(&p, args2);
    ck_assert_msg(strstr(p.out, "grows_little") == NULL && strstr(p.out, ": 3 more changed sites"), "%s", p.out);
    tu_proc_free(&p);
    free(pa);
    free(pb);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* `leakwatch report` orders records as the shim does: those that grew since the previous report first, by
 * growth, then by size; the header says so and sets reserved, untouched mappings apart. */
START_TEST(cli_report_grown_first)
{
    char *dir = tu_tempdir();
    struct fake_site s[] = {
        {CACHE_ID, "cache_insert", 8 << 20, 8, 9000, NULL},
        {LEAK_ID, "build_response", 300 * 1024, 300, 9000, NULL},
        {SAW_ID, "grow_buffer", 200 * 1024, 2, 9000, NULL},
    };
    char *path = write_fake(dir, "svc.100.2.json", 100, 2, 20, s, 3);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    ck_assert_ptr_nonnull(root);
    const long long since[] = { 0, 1024, 150 * 1024 };
    for (int i = 0; i < 3; i++) {
        json_t *leak = json_array_get(json_object_get(json_array_get(json_object_get(root, "sites"), i), "leaks"), 0);
        json_object_set_new(leak, "since_previous_bytes", json_integer(since[i]));
    }
    json_object_set_new(json_object_get(root, "totals"), "reserved_untouched_bytes", json_integer(1LL << 30));
    json_object_set_new(json_object_get(root, "totals"), "mmap_live_bytes", json_integer(1LL << 30));
    ck_assert_int_eq(json_dump_file(root, path, JSON_COMPACT), 0);
    json_decref(root);
    struct tu_proc p;
    char *args[] = {"report", path, NULL};
    run_lw_expect(&p, args, 0);
    const char *grow = strstr(p.out, "grow_buffer+0x10"), *build = strstr(p.out, "build_response+0x10"),
               *cache = strstr(p.out, "cache_insert+0x10");
    ck_assert_msg(grow && build && cache && grow < build && build < cache,
                  "expected grow_buffer (+150 KiB), build_response (+1 KiB), then cache_insert (unchanged):\n%s", p.out);
    ck_assert_msg(strstr(p.out, "records that grew since report #1 first, largest growth first, then the largest.") &&
                      strstr(p.out, "(1.0 GiB of it reserved or never touched, not counted in leak records)"),
                  "%s", p.out);
    tu_proc_free(&p);
    free(path);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(cli_report_formats)
{
    char *dir = tu_tempdir();
    char *path = write_round(dir, 3, true);
    struct tu_proc p;
    char *a1[] = {"report", path, "--format", "folded", NULL};
    run_lw_expect(&p, a1, 0);
    ck_assert_msg(strstr(p.out, "main;serve;build_response 307200\n"), "%s", p.out);
    tu_proc_free(&p);

    char *a2[] = {"report", path, "--format", "json", "--top", "1", NULL};
    run_lw_expect(&p, a2, 0);
    json_error_t je;
    json_t *j = json_loads(p.out, 0, &je);
    ck_assert_msg(j != NULL, "report --format json is not JSON: %s", je.text);
    ck_assert_int_eq(json_array_size(json_object_get(j, "sites")), 1);
    ck_assert_str_eq(tu_str(j, "format"), "leakwatch-report");
    json_decref(j);
    tu_proc_free(&p);

    char *a3[] = {"report", path, "--top", "1", NULL};
    run_lw_expect(&p, a3, 0);
    ck_assert_msg(strstr(p.out, ": 3 leak records were discarded"), "%s", p.out);
    tu_proc_free(&p);
    free(path);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* Yama's ptrace_scope as attach reads it (this kernel has no Yama: the path is a test file here), and the one
 * line for each value that refuses: what it means and what to do; scope 3 cannot be lifted, not even by root. */
START_TEST(attach_ptrace_scope_messages)
{
    char *dir = tu_tempdir(), *path = tu_strf("%s/ptrace_scope", dir);
    ck_assert_int_eq(inject_yama_scope(path), -1);                 /* no Yama */
    const char *texts[] = {"0\n", "1\n", "2\n", "3\n", "7\n", "x\n"};
    const int want[] = {0, 1, 2, 3, -1, -1};
    for (int i = 0; i < 6; i++) {
        FILE *f = fopen(path, "w");
        ck_assert(f != NULL);
        fputs(texts[i], f);
        fclose(f);
        ck_assert_msg(inject_yama_scope(path) == want[i], "%s read as %d", texts[i], inject_yama_scope(path));
    }
    char err[512];
    const char *means[] = {"", "is 1 (only a parent may trace its child)", "is 2 (only with CAP_SYS_PTRACE)",
                           "is 3 (no process may trace another until reboot, not even root)"};
    const char *todo[] = {"", "run leakwatch attach as root or with CAP_SYS_PTRACE, or set kernel.yama.ptrace_scope=0",
                          "run leakwatch attach as root or with CAP_SYS_PTRACE", "start the program under the shim "
                          "instead (leakwatch run)"};
    for (int scope = 1; scope <= 3; scope++) {
        inject_scope_message(4242, scope, err, sizeof err);
        ck_assert_msg(strstr(err, "trace PID 4242") && strstr(err, means[scope]) && strstr(err, todo[scope]) &&
                      !strchr(err, '\n'), "scope %d: %s", scope, err);
    }
    inject_scope_message(4242, 3, err, sizeof err);
    ck_assert_msg(!strstr(err, "as root or"), "scope 3 cannot be lifted by root, yet: %s", err);
    tu_rmtree(dir);
    free(dir);
    free(path);
}
END_TEST

/* Whether jsonread takes text as one JSON value (an object or an array, as jansson requires at the top). */
static bool jsonread_accepts(const char *text, size_t len, jreader *jr)
{
    jr_open_mem(jr, text, len);
    jr_token t = jr_next(jr);
    bool ok = (t == JR_OBJECT || t == JR_ARRAY) && jr_skip(jr, t) && jr_next(jr) == JR_END;
    return ok;
}

/* The streaming reader takes and refuses what jansson does, on the corners of the grammar; and names the
 * problems the report loader turns into its messages. */
START_TEST(jsonread_agrees_with_jansson)
{
    static const char *const texts[] = {
        "{}", "[]", " {\"a\" : [1, -0, 0.5, -1e-3, 2E+10, true, false, null]} ", "{\"a\":1,}", "[1,]", "[,1]",
        "{\"a\" 1}", "{1:2}", "[01]", "[1.]", "[.5]", "[-]", "[1e]", "[\"\\u00e9\\ud83d\\ude00\"]", "[\"\\ud800\"]",
        "[\"\\udc00\"]", "[\"\\u0000\"]", "[\"\\x\"]", "[\"a\tb\"]", "[\"\xc3\xa9\"]", "[\"\xc3\"]", "[\"\xed\xa0\x80\"]",
        "[\"\xf4\x90\x80\x80\"]", "[\"\xc0\xaf\"]", "[9223372036854775807]", "[-9223372036854775808]",
        "[9223372036854775808]", "[1e400]", "[tru]", "[nul]", "{\"a\":1}{}", "{\"a\":1} x", "\"s\"", "1", "",
        "[[[[[[[[[[]]]]]]]]]]", "[\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"]", "{\"a\":{\"b\":[{}]}}",
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        jreader jr;
        bool ours = jsonread_accepts(texts[i], strlen(texts[i]), &jr);
        jr_close(&jr);
        json_t *j = json_loadb(texts[i], strlen(texts[i]), 0, NULL);
        ck_assert_msg(ours == (j != NULL), "jsonread %s '%s', jansson %s it", ours ? "takes" : "refuses", texts[i],
                      j ? "takes" : "refuses");
        json_decref(j);
    }
    /* nesting past the limit is refused, never a deep recursion */
    size_t deep = 5000;
    char *nest = malloc(2 * deep);
    memset(nest, '[', deep);
    memset(nest + deep, ']', deep);
    jreader jr;
    ck_assert(!jsonread_accepts(nest, 2 * deep, &jr));
    ck_assert_int_eq(jr.error_kind, JR_ERR_SYNTAX);
    jr_close(&jr);
    free(nest);
    ck_assert(!jsonread_accepts("{\"a\":[1,2", 9, &jr));
    ck_assert_int_eq(jr.error_kind, JR_ERR_TRUNCATED);
    jr_close(&jr);
    ck_assert(!jsonread_accepts("{\"a\":\n 99999999999999999999}", 26, &jr));
    ck_assert_int_eq(jr.error_kind, JR_ERR_OVERFLOW);
    ck_assert_int_eq(jr.line, 2);
    jr_close(&jr);
    ck_assert(!jsonread_accepts("{\"a\": \0}", 8, &jr));
    ck_assert_int_eq(jr.error_kind, JR_ERR_NUL);
    ck_assert_int_eq(jr.nul_at, 7);
    jr_close(&jr);
    /* a string longer than the reader's window, read from a file through it */
    char *dir = tu_tempdir(), *path = tu_strf("%s/long.json", dir);
    size_t n = 200000;
    char *big = malloc(n + 8);
    memcpy(big, "[\"", 2);
    memset(big + 2, 'x', n);
    memcpy(big + 2 + n, "\"]", 3);
    FILE *f = fopen(path, "w");
    ck_assert(f && fputs(big, f) >= 0 && fclose(f) == 0);
    int fd = open(path, O_RDONLY);
    ck_assert(jr_open_fd(&jr, fd));
    ck_assert_int_eq(jr_next(&jr), JR_ARRAY);
    ck_assert_int_eq(jr_next(&jr), JR_STRING);
    ck_assert_uint_eq(jr.len, n);
    ck_assert_int_eq(jr_next(&jr), JR_ARRAY_END);
    ck_assert_int_eq(jr_next(&jr), JR_END);
    jr_close(&jr);
    close(fd);
    free(big);
    free(path);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* Members in another order than the shim writes them: modules after the sites still have their indexes
 * checked, with the field named; a known member given twice is refused. */
START_TEST(model_reads_members_in_any_order)
{
    char *dir = tu_tempdir(), *path = tu_strf("%s/late.json", dir);
    const char *texts[][2] = {
        {"{\"sites\":[{\"frames\":[{\"module\":1,\"ip\":\"0x1\"}],\"live_blocks\":1,\"live_bytes\":1,"
         "\"id\":\"00000000000000a1\"}],\"seq\":1,\"program\":\"p\",\"pid\":1,\"modules\":[{\"path\":\"/p\"}],"
         "\"version\":1,\"format\":\"leakwatch-report\"}", "sites[0].frames[0].module 1 is not -1 or an index"},
        {"{\"format\":\"leakwatch-report\",\"version\":1,\"pid\":1,\"program\":\"p\",\"seq\":1,\"modules\":[],"
         "\"sites\":[{\"id\":\"00000000000000a1\",\"live_bytes\":1,\"live_bytes\":2,\"live_blocks\":1,\"frames\":[]}]}",
         "sites[0].live_bytes appears twice"},
        {"{\"format\":\"leakwatch-report\",\"version\":3,\"sites\":{}}", "upgrade leakwatch"},
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        FILE *f = fopen(path, "w");
        ck_assert(f && fputs(texts[i][0], f) >= 0 && fclose(f) == 0);
        char err[1024];
        lw_report *r = model_load(path, err, sizeof err);
        ck_assert_msg(r == NULL && strstr(err, texts[i][1]), "case %zu: %s", i, r ? "loaded" : err);
    }
    free(path);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

static Suite *tools_suite(void)
{
    Suite *s = suite_create("tools");
    TCase *trend = tcase_create("trend");
    tcase_add_test(trend, theil_sen_is_robust);
    tcase_add_test(trend, steady_leak_fails);
    tcase_add_test(trend, leak_with_noise_fails);
    tcase_add_test(trend, leak_starting_late_fails);
    tcase_add_test(trend, cache_filling_then_plateau_passes);
    tcase_add_test(trend, flat_passes);
    tcase_add_test(trend, sawtooth_passes);
    tcase_add_test(trend, unlucky_phase_sawtooth_passes);
    tcase_add_test(trend, one_late_jump_is_flat);
    tcase_add_test(trend, limits_apply);
    suite_add_tcase(s, trend);
    TCase *data = tcase_create("data");
    tcase_add_test(data, suppressions_parse);
    tcase_add_test(data, suppressions_match);
    tcase_add_test(data, model_reads_valid_report);
    tcase_add_test(data, model_rejects_broken_reports);
    tcase_add_test(data, jsonread_agrees_with_jansson);
    tcase_add_test(data, model_reads_members_in_any_order);
    tcase_add_test(data, folded_reads_back);
    tcase_add_test(data, text_shape);
    tcase_add_test(data, gate_judges_rounds);
    tcase_add_test(data, gate_sums_a_process_tree);
    tcase_add_test(data, gate_mmap_sites_need_more_growth);
    tcase_add_test(data, gate_java_heap_sites);
    tcase_add_test(data, pool_frames_recognised);
    suite_add_tcase(s, data);
    TCase *cli = tcase_create("cli");
    tcase_set_timeout(cli, 60);
    tcase_add_test(cli, cli_gate_fails_a_leak);
    tcase_add_test(cli, cli_gate_shows_exact_class_count);
    tcase_add_test(cli, cli_held_by_escaped);
    tcase_add_test(cli, cli_gate_names_pool_chunk);
    tcase_add_test(cli, cli_gate_passes_and_suppresses);
    tcase_add_test(cli, cli_errors_are_one_line);
    tcase_add_test(cli, attach_ptrace_scope_messages);
    tcase_add_test(cli, cli_diff_orders_by_growth);
    tcase_add_test(cli, cli_report_formats);
    tcase_add_test(cli, cli_report_grown_first);
    suite_add_tcase(s, cli);
    return s;
}

LW_SUITE(tools_suite)
