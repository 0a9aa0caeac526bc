/* check_pprof — `leakwatch report --format pprof` read back by the real pprof (Debian's golang-go,
 * `go tool pprof`): the same sites, bytes and blocks as the report, Go's heap sample types, function names,
 * Java names and build ids as given, and -diff_base between two reports. */
#include <check.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_suites.h"
#include "fakereport.h"
#include "testutil.h"

static const char *go_path(void)
{
    static const char *paths[] = {"/usr/bin/go", "/usr/lib/go/bin/go"};
    for (size_t i = 0; i < 2; i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    ck_abort_msg("go is not installed (scripts/deps.sh installs golang-go)");
    return NULL;
}

/* Runs argv with HOME in dir (pprof keeps state there); fails the test unless it exits 0. */
static void run_ok(struct tu_proc *p, char **argv, const char *dir)
{
    struct tu_env env;
    tu_env_base(&env, dir);
    tu_env_set(&env, "HOME", dir);
    tu_run(p, argv, env.vars, 120);
    tu_env_free(&env);
    ck_assert_msg(WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0, "%s: %s\nstdout: %.2000s\nstderr: %.2000s",
                  argv[0], tu_status_str(p), p->out, p->err);
}

/* leakwatch report FILE --format pprof [--lines] > out; returns out. */
static char *to_pprof_opt(const char *dir, const char *report, const char *name, const char *opt)
{
    char *lw = tu_strf("%s/leakwatch", tu_build_dir());
    char *argv[] = {lw, "report", (char *)report, "--format", "pprof", (char *)opt, NULL};
    struct tu_proc p;
    run_ok(&p, argv, dir);
    ck_assert_msg(p.out_len > 20 && (unsigned char)p.out[0] == 0x1f && (unsigned char)p.out[1] == 0x8b,
                  "not gzip: %zu bytes", p.out_len);
    char *out = tu_strf("%s/%s", dir, name);
    FILE *f = fopen(out, "w");
    ck_assert(f && fwrite(p.out, 1, p.out_len, f) == p.out_len);
    fclose(f);
    tu_proc_free(&p);
    free(lw);
    return out;
}

static char *to_pprof(const char *dir, const char *report, const char *name)
{
    return to_pprof_opt(dir, report, name, NULL);
}

/* The line of the fixture's source (beside this file) that holds needle; fails the test when none does. */
static int source_line(const char *fixture, const char *needle)
{
    char *path = tu_strf("%.*s/fixtures/%s", (int)(strrchr(__FILE__, '/') - __FILE__), __FILE__, fixture);
    char *text = tu_slurp(path);
    ck_assert_msg(text != NULL, "cannot read %s (run the tests from the source tree)", path);
    const char *at = strstr(text, needle);
    ck_assert_msg(at != NULL, "%s has no \"%s\"", path, needle);
    int line = 1;
    for (const char *p = text; p < at; p++)
        line += *p == '\n';
    free(text);
    free(path);
    return line;
}

/* go tool pprof ARGS...; returns its stdout (owned). */
static char *pprof(const char *dir, const char *a1, const char *a2, const char *a3, const char *a4, const char *a5)
{
    char *argv[] = {(char *)go_path(), "tool", "pprof", (char *)a1, (char *)a2, (char *)a3, (char *)a4, (char *)a5,
                    NULL};
    struct tu_proc p;
    run_ok(&p, argv, dir);
    char *out = strdup(p.out);
    tu_proc_free(&p);
    return out;
}

/* In `pprof -top -unit=B` output: the flat bytes of the function named fn (a whole word at line end). */
static long long top_flat(const char *top, const char *fn)
{
    for (const char *l = top; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
        const char *e = strchr(l, '\n');
        size_t len = e ? (size_t)(e - l) : strlen(l), fl = strlen(fn);
        if (len > fl && memcmp(l + len - fl, fn, fl) == 0 && l[len - fl - 1] == ' ') {
            long long v;
            if (sscanf(l, " %lldB", &v) == 1)
                return v;
        }
    }
    ck_abort_msg("no line for %s in:\n%s", fn, top);
    return -1;
}

/* Sums `pprof -raw` samples by their site label: values[site][4] in Go's order
 * (alloc_objects, alloc_space, inuse_objects, inuse_space). */
struct raw_site {
    char id[17];
    long long v[4];
    int samples;
};

static int raw_sites(const char *raw, struct raw_site *out, int max)
{
    int n = 0;
    long long v[4] = {0};
    bool have = false;
    for (const char *l = raw; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
        long long a, b, c, d;
        int used = 0;
        if (sscanf(l, " %lld %lld %lld %lld:%n", &a, &b, &c, &d, &used) == 4 && used) {
            v[0] = a, v[1] = b, v[2] = c, v[3] = d;
            have = true;
            continue;
        }
        const char *s = strstr(l, "site:[");
        const char *e = strchr(l, '\n');
        if (!have || !s || (e && s > e))
            continue;
        have = false;
        char id[17] = "";
        memcpy(id, s + 6, 16);
        int k = 0;
        while (k < n && strcmp(out[k].id, id) != 0)
            k++;
        if (k == n) {
            ck_assert(n < max);
            memset(&out[n], 0, sizeof out[n]);
            memcpy(out[n++].id, id, sizeof id);
        }
        for (int i = 0; i < 4; i++)
            out[k].v[i] += v[i];
        out[k].samples++;
    }
    return n;
}

/* JIT frames as HotSpot's perf map names them ("ret Class.method(args)"). */
#define JAVA_LEAF "void io.netty.buffer.UnpooledDirectByteBuf.<init>(io.netty.buffer.ByteBufAllocator, int, int)"
#define JAVA_CALLER "io.netty.buffer.ByteBuf io.netty.buffer.UnpooledByteBufAllocator.newDirectBuffer(int, int)"

static const struct fr_site svc_sites[] = {
    {"00000000000000a1", {"build_response", "serve", "main", "__libc_start_main"}, 307200, 300, 1024, 1, 41200,
     3000, 3072000},
    {"00000000000000b2", {"cache_insert", "serve", "main", NULL}, 98304, 96, 0, 0, 12000, 96, 98304},
    {"00000000000000c3", {"J:" JAVA_LEAF,
                          "J:" JAVA_CALLER, NULL}, 65536, 4, 0, 0, 30500,
     40, 655360},
    {"00000000000000d4", {"build_response", "retry", "main", NULL}, 4096, 2, 4096, 2, 800, 2, 4096},
};

START_TEST(pprof_shows_the_reports_sites_and_bytes)
{
    char *dir = tu_tempdir();
    char *rep = fr_write(dir, "svc.100.1.json", 1, 30, svc_sites, 4);
    char *pb = to_pprof(dir, rep, "heap.pb.gz");

    char *top = pprof(dir, "-top", "-unit=B", pb, NULL, NULL);
    ck_assert_msg(strstr(top, "Type: inuse_space"), "default sample type: %s", top);
    ck_assert_int_eq(top_flat(top, "build_response"), 307200 + 4096);
    ck_assert_int_eq(top_flat(top, "cache_insert"), 98304);
    ck_assert_int_eq(top_flat(top, JAVA_LEAF), 65536);
    ck_assert_msg(strstr(top, "of 475136B total"), "total live bytes: %s", top);
    free(top);
    top = pprof(dir, "-top", "-unit=B", "-sample_index=alloc_space", pb, NULL);
    ck_assert_int_eq(top_flat(top, "build_response"), 3072000 + 4096);
    ck_assert_int_eq(top_flat(top, "cache_insert"), 98304);
    free(top);
    top = pprof(dir, "-top", "-sample_index=inuse_objects", pb, NULL, NULL);
    ck_assert_msg(strstr(top, "of 402 total"), "live blocks: %s", top);
    free(top);

    char *raw = pprof(dir, "-raw", pb, NULL, NULL, NULL);
    ck_assert_msg(strstr(raw, "alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes[dflt]"),
                  "sample types: %.600s", raw);
    ck_assert_msg(strstr(raw, "/usr/bin/svc 5eed0000000000000000000000000000000000aa [FN]") &&
                  strstr(raw, "/lib/x86_64-linux-gnu/libc.so.6 11bc0000000000000000000000000000000000bb"),
                  "mappings with build ids: %s", raw);
    ck_assert_msg(strstr(raw, "oldest_age:[41200 ms]"), "oldest age label: %s", raw);
    struct raw_site rs[8];
    int n = raw_sites(raw, rs, 8);
    ck_assert_int_eq(n, 4);
    for (int i = 0; i < 4; i++) {
        const struct fr_site *want = NULL;
        for (int k = 0; k < 4; k++)
            if (strcmp(svc_sites[k].id, rs[i].id) == 0)
                want = &svc_sites[k];
        ck_assert_msg(want != NULL, "unknown site %s", rs[i].id);
        ck_assert_int_eq(rs[i].v[0], want->allocs);
        ck_assert_int_eq(rs[i].v[1], want->bytes_allocated);
        ck_assert_int_eq(rs[i].v[2], want->blocks);
        ck_assert_int_eq(rs[i].v[3], want->bytes);
    }
    free(raw);

    char *traces = pprof(dir, "-traces", pb, NULL, NULL, NULL);
    ck_assert_msg(strstr(traces, "   " JAVA_LEAF "\n") && strstr(traces, "   " JAVA_CALLER "\n"), "Java frames: %s",
                  traces);
    ck_assert_msg(strstr(traces, "site:  00000000000000a1"), "site label: %s", traces);
    free(traces);
    free(pb);
    free(rep);
    free(dir);
}
END_TEST

START_TEST(pprof_diff_base_between_two_reports)
{
    char *dir = tu_tempdir();
    struct fr_site before[4], after[4];
    memcpy(before, svc_sites, sizeof before);
    memcpy(after, svc_sites, sizeof after);
    after[0].bytes += 204800;
    after[0].blocks += 200;
    after[2].bytes -= 32768;
    after[2].blocks -= 2;
    char *r1 = fr_write(dir, "svc.100.1.json", 1, 30, before, 4), *r2 = fr_write(dir, "svc.100.2.json", 2, 90, after, 4);
    char *p1 = to_pprof(dir, r1, "a.pb.gz"), *p2 = to_pprof(dir, r2, "b.pb.gz");
    char *top = pprof(dir, "-top", "-unit=B", "-diff_base", p1, p2);
    ck_assert_int_eq(top_flat(top, "build_response"), 204800);
    ck_assert_int_eq(top_flat(top, JAVA_LEAF), -32768);
    ck_assert_msg(!strstr(top, "cache_insert"), "an unchanged site shows in the diff: %s", top);
    free(top);
    free(p1);
    free(p2);
    free(r1);
    free(r2);
    free(dir);
}
END_TEST

/* A real report: a fixture run under the shim; -top shows each site's allocating function with the bytes the
 * report's JSON gives it. */
START_TEST(pprof_of_a_real_report)
{
    char *dir = tu_tempdir();
    char *fx = tu_fixture("leak_direct");
    char *argv[] = {fx, NULL};
    struct tu_env env;
    tu_env_shim(&env, dir);
    struct tu_proc p;
    tu_run(&p, argv, env.vars, 60);
    tu_env_free(&env);
    json_t *rep = tu_find_report(dir, p.pid, "exit");
    ck_assert_msg(rep != NULL, "no exit report in %s", dir);
    char *path = tu_report_path(dir, "leak_direct", p.pid, (int)tu_int(rep, "seq"), "json");
    tu_proc_free(&p);
    char *pb = to_pprof(dir, path, "real.pb.gz");
    char *top = pprof(dir, "-top", "-unit=B", pb, NULL, NULL);
    json_t *sites = json_object_get(rep, "sites");
    ck_assert(json_array_size(sites) >= 3);
    size_t i;
    json_t *s;
    json_array_foreach(sites, i, s) {
        const char *fn = json_string_value(json_object_get(json_array_get(json_object_get(s, "frames"), 0),
                                                           "function"));
        ck_assert_msg(fn != NULL, "a fixture site without a function name");
        long long want = 0;
        size_t k;
        json_t *o;
        json_array_foreach(sites, k, o) {
            const char *f2 = json_string_value(json_object_get(json_array_get(json_object_get(o, "frames"), 0),
                                                               "function"));
            if (f2 && strcmp(f2, fn) == 0)
                want += tu_int(o, "live_bytes");
        }
        ck_assert_int_eq(top_flat(top, fn), want);
    }
    char *total = tu_strf("of %lldB total", tu_int(json_object_get(rep, "totals"), "live_bytes"));
    ck_assert_msg(strstr(top, total), "want \"%s\": %s", total, top);
    free(total);
    free(top);

    /* With --lines the profile carries source files and lines: pprof -lines shows the allocating calls. */
    char *pbl = to_pprof_opt(dir, path, "lines.pb.gz", "--lines");
    top = pprof(dir, "-top", "-lines", "-unit=B", pbl, NULL);
    char *want = tu_strf(" fx_direct_malloc leak_direct.c:%d\n", source_line("leak_direct.c", "malloc(1000)"));
    char *want2 = tu_strf(" fx_direct_calloc leak_direct.c:%d\n", source_line("leak_direct.c", "calloc(10, 77)"));
    ck_assert_msg(strstr(top, want) && strstr(top, want2), "want \"%s\" and \"%s\" in:\n%s", want, want2, top);
    free(want);
    free(want2);
    free(top);
    free(pbl);
    json_decref(rep);
    free(pb);
    free(path);
    free(fx);
    free(dir);
}
END_TEST

/* A mapping's reserved, untouched pages hold no memory: they are not in inuse_space. */
START_TEST(pprof_leaves_reserved_space_out)
{
    char *dir = tu_tempdir();
    char *rep = fr_write(dir, "svc.100.1.json", 1, 30, svc_sites, 1);
    json_error_t je;
    json_t *root = json_load_file(rep, 0, &je);
    ck_assert_ptr_nonnull(root);
    json_t *frame = json_pack("{s:s,s:i,s:s,s:s}", "ip", "0x7f0000001000", "module", -1, "function", "reserve_fn",
                              "function_offset", "0x10");
    json_array_append_new(json_object_get(root, "sites"),
                          json_pack("{s:s,s:s,s:I,s:i,s:I,s:[o],s:[]}", "id", "00000000000000ee", "kind", "mmap",
                                    "live_bytes", (json_int_t)4 << 20, "live_blocks", 1, "reserved_untouched_bytes",
                                    (json_int_t)3 << 20, "frames", frame, "leaks"));
    ck_assert_int_eq(json_dump_file(root, rep, JSON_COMPACT), 0);
    json_decref(root);
    char *pb = to_pprof(dir, rep, "heap.pb.gz");
    char *top = pprof(dir, "-top", "-unit=B", pb, NULL, NULL);
    ck_assert_int_eq(top_flat(top, "reserve_fn"), 1 << 20);
    free(top);
    free(pb);
    free(rep);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

static Suite *pprof_suite(void)
{
    Suite *s = suite_create("pprof");
    TCase *tc = tcase_create("pprof");
    tcase_set_timeout(tc, 300);
    tcase_add_unchecked_fixture(tc, tu_tempbase_setup, tu_tempbase_teardown);
    tcase_add_test(tc, pprof_shows_the_reports_sites_and_bytes);
    tcase_add_test(tc, pprof_diff_base_between_two_reports);
    tcase_add_test(tc, pprof_of_a_real_report);
    tcase_add_test(tc, pprof_leaves_reserved_space_out);
    suite_add_tcase(s, tc);
    return s;
}

LW_SUITE(pprof_suite)
