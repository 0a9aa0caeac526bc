/* Integration tests: the fixtures run under LD_PRELOAD=libleakwatch.so in a fresh LEAKWATCH_OUT, and the
 * reports they leave must hold exactly what each fixture leaked by construction (see the comment at the top
 * of each fixture in tests/fixtures), name the right functions, and follow docs/report-format.md. */
#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_suites.h"
#include "testutil.h"

#define RUN_LIMIT_S 20.0
/* What tests/fixtures/leak_direct prints (to stdout) when it runs as it should. */
#define LEAK_DIRECT_SAYS "leak_direct: leaked 3866 bytes in 6 blocks\n"

static char *tmp;   /* this test's private directory */
static char *out;   /* tmp/reports: LEAKWATCH_OUT, created by the shim */

static void setup(void)
{
    tmp = tu_tempdir();
    out = tu_strf("%s/reports", tmp);
}

static void teardown(void)
{
    tu_rmtree(tmp);
    free(tmp);
    free(out);
}

/* Runs fixture name (with one argument when arg is not NULL) to its end, under the shim when shim is set,
 * with extra "NAME=value" settings. */
static void run_fixture(struct tu_proc *p, const char *name, const char *arg, const char *const *settings,
                        int shim)
{
    struct tu_env env;
    tu_env_with(&env, out, shim, settings);
    char *path = tu_fixture(name);
    char *argv[] = { path, (char *)arg, NULL };
    tu_run(p, argv, env.vars, RUN_LIMIT_S);
    free(path);
    tu_env_free(&env);
}

static void assert_exit(const struct tu_proc *p, int code)
{
    ck_assert_msg(!p->timed_out && WIFEXITED(p->status) && WEXITSTATUS(p->status) == code,
                  "expected exit %d, got %s; stderr:\n%s", code, tu_status_str(p), p->err);
}

/* The exit report of a fixture that wrote no other report: seq 1, reason "exit". */
static json_t *exit_report(const struct tu_proc *p, const char *name)
{
    json_t *r = tu_report(out, name, p->pid, 1);
    ck_assert_str_eq(tu_str(r, "reason"), "exit");
    ck_assert_int_eq(tu_int(r, "pid"), p->pid);
    ck_assert_int_eq(tu_int(r, "seq"), 1);
    return r;
}

/* Site s has a key frame naming fn. */
static void assert_key_frame(json_t *s, const char *fn)
{
    ck_assert_msg(tu_frames_name(json_object_get(s, "frames"), fn), "no %s frame among the key frames of site %s",
                  fn, json_string_value(json_object_get(s, "id")));
}

/* Runs fixture name to its end under the shim with extra settings, checks it exited with code, and returns
 * its exit report. */
static json_t *run_to_exit_report(struct tu_proc *p, const char *name, const char *const *settings, int code)
{
    run_fixture(p, name, NULL, settings, 1);
    assert_exit(p, code);
    return exit_report(p, name);
}

/* The text report number seq of p, a fixture named name; fails the test when it is missing. */
static char *text_report(const struct tu_proc *p, const char *name, int seq)
{
    char *path = tu_report_path(out, name, p->pid, seq, "txt");
    char *text = tu_slurp(path);
    ck_assert_msg(text != NULL, "no text report %s", path);
    free(path);
    return text;
}

/* Runs alloc_semantics under the shim with extra settings; its own checks of glibc's semantics must pass
 * (it prints "ok") and it must exit 0. Returns its exit report. */
static json_t *run_alloc_semantics(struct tu_proc *p, const char *const *settings)
{
    run_fixture(p, "alloc_semantics", NULL, settings, 1);
    ck_assert_msg(strcmp(p->out, "alloc_semantics: ok\n") == 0, "the fixture's own checks failed:\n%s", p->out);
    assert_exit(p, 0);
    return exit_report(p, "alloc_semantics");
}

/* Runs churn_threads under the shim with extra settings to exit 0; *bytes and *blocks are what it says
 * it left live (its threads' timing decides). Returns its exit report. */
static json_t *run_churn_threads(struct tu_proc *p, const char *const *settings, long long *bytes, int *blocks)
{
    run_fixture(p, "churn_threads", NULL, settings, 1);
    assert_exit(p, 0);
    *bytes = 0;
    *blocks = 0;
    ck_assert_msg(sscanf(p->out, "churn_threads: expect %lld bytes in %d blocks", bytes, blocks) == 2,
                  "stdout: %s", p->out);
    return exit_report(p, "churn_threads");
}

/* The site whose key frames name fn holds exactly bytes/blocks of the given kind, and its leak groups'
 * creation stacks name fn too. */
static json_t *assert_site(json_t *r, const char *fn, const char *kind, long long bytes, long long blocks)
{
    json_t *s = tu_site(r, fn);
    ck_assert_str_eq(tu_str(s, "kind"), kind);
    ck_assert_msg(tu_int(s, "live_bytes") == bytes && tu_int(s, "live_blocks") == blocks,
                  "site %s: %lld bytes in %lld blocks, expected %lld in %lld", fn, tu_int(s, "live_bytes"),
                  tu_int(s, "live_blocks"), bytes, blocks);
    json_t *leaks = json_object_get(s, "leaks");
    ck_assert_msg(json_array_size(leaks) >= 1, "site %s has no leak group at exit", fn);
    long long grouped = 0;
    size_t i;
    json_t *g;
    json_array_foreach(leaks, i, g) {
        grouped += tu_int(g, "bytes");
        ck_assert_msg(tu_frames_name(json_object_get(g, "created_at"), fn),
                      "a leak group of site %s has a creation stack that does not name it", fn);
    }
    ck_assert_msg(grouped == bytes, "site %s: leak groups hold %lld bytes, site %lld", fn, grouped, bytes);
    return s;
}

static int count_lines_with(const char *text, const char *needle, const char *skip_prefix)
{
    int n = 0;
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char *copy = strndup(line, len);
        if (strstr(copy, needle) && !(skip_prefix && strncmp(copy, skip_prefix, strlen(skip_prefix)) == 0))
            n++;
        free(copy);
        line = end ? end + 1 : NULL;
    }
    return n;
}

START_TEST(test_direct_leaks)
{
    struct tu_proc bare, p;
    run_fixture(&bare, "leak_direct", NULL, NULL, 0);
    run_fixture(&p, "leak_direct", NULL, NULL, 1);
    assert_exit(&bare, 3);
    assert_exit(&p, 3);
    ck_assert_str_eq(p.out, bare.out);
    ck_assert_int_eq(tu_count_files(out, "leak_direct."), 2);
    json_t *r = exit_report(&p, "leak_direct");
    ck_assert_str_eq(tu_str(r, "format"), "leakwatch-report");
    ck_assert_int_eq(tu_int(r, "version"), 2);
    tu_assert_totals(r, 3866, 6);
    json_t *s = assert_site(r, "fx_direct_malloc", "heap", 3000, 3);
    ck_assert_int_eq(tu_int(s, "allocs"), 3);
    ck_assert_int_eq(tu_int(s, "frees"), 0);
    ck_assert_int_eq(tu_int(s, "bytes_allocated"), 3000);
    assert_site(r, "fx_direct_calloc", "heap", 770, 1);
    s = assert_site(r, "fx_new_widget", "heap", 96, 2);
    ck_assert_msg(tu_frames_name(json_object_get(s, "frames"), "fx_operator_new"),
                  "the wrapper fx_operator_new is not among the site's key frames");
    ck_assert_int_eq(tu_sites_naming(r, "fx_churn"), 0);
    json_t *t = json_object_get(r, "totals");
    ck_assert_int_eq(tu_int(t, "allocs"), 11);
    ck_assert_int_eq(tu_int(t, "frees"), 5);
    json_decref(r);
    tu_proc_free(&bare);
    tu_proc_free(&p);
}
END_TEST

/* The text report: three LEAK records, largest first, each followed by "Created at:" and frames. */
START_TEST(test_text_shape)
{
    struct tu_proc p;
    run_fixture(&p, "leak_direct", NULL, NULL, 1);
    assert_exit(&p, 3);
    char *text = text_report(&p, "leak_direct", 1);
    ck_assert_int_eq(count_lines_with(text, "LEAK: ", NULL), 3);
    const char *fns[] = { "fx_direct_malloc", "fx_direct_calloc", "fx_new_widget" };
    const char *at = text;
    for (int i = 0; i < 3; i++) {
        const char *leak = strstr(at, "LEAK: ");
        ck_assert_msg(leak != NULL, "LEAK record %d missing:\n%s", i + 1, text);
        ck_assert_msg(strncmp(leak, "LEAK: ", 6) == 0 && (leak == text || leak[-1] == '\n'),
                      "LEAK does not start a line");
        /* "Created at:" may carry a note, e.g. that the stack is the site's representative one. */
        const char *created = strstr(leak, "\nCreated at");
        const char *next = strstr(leak + 1, "LEAK: ");
        ck_assert_msg(created && (!next || created < next), "record %d has no \"Created at\" block:\n%s",
                      i + 1, text);
        const char *eol = strchr(created + 1, '\n');
        ck_assert_msg(eol && eol[-1] == ':' && eol[1] == '\t', "\"Created at\" is not followed by frames:\n%s",
                      text);
        char *record = strndup(created, next ? (size_t)(next - created) : strlen(created));
        char *want = tu_strf("%s+0x", fns[i]);
        ck_assert_msg(strstr(record, want), "record %d should show %s (largest first):\n%s", i + 1, want, record);
        free(want);
        free(record);
        at = leak + 1;
    }
    ck_assert_msg(strstr(text, "leak_direct") != NULL, "the header does not name the program");
    free(text);
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_wrapper_two_sites)
{
    struct tu_proc p;
    json_t *r = run_to_exit_report(&p, "leak_wrapper", NULL, 0);
    tu_assert_totals(r, 4608, 3);
    ck_assert_int_eq(tu_sites_naming(r, "fx_xmalloc"), 2);
    json_t *a = assert_site(r, "fx_parse_config", "heap", 512, 2);
    json_t *b = assert_site(r, "fx_load_table", "heap", 4096, 1);
    ck_assert_str_ne(tu_str(a, "id"), tu_str(b, "id"));
    for (json_t *s = a; s; s = s == a ? b : NULL) {
        json_t *f0 = json_array_get(json_object_get(s, "frames"), 0);
        ck_assert_str_eq(tu_str(f0, "function"), "fx_xmalloc");
    }
    json_decref(r);
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_realloc_growth)
{
    struct tu_proc p;
    const char *settings[] = { "LEAKWATCH_RECORDS=4", NULL };
    json_t *r = run_to_exit_report(&p, "leak_realloc", settings, 0);
    tu_assert_totals(r, 4096, 1);
    json_t *s = assert_site(r, "fx_grow_buffer", "heap", 4096, 1);
    ck_assert_int_eq(tu_int(s, "bytes_allocated"), 16 + 64 + 256 + 1024 + 4096);
    json_t *recent = json_object_get(json_array_get(json_object_get(s, "leaks"), 0), "recent_access");
    ck_assert_int_eq(json_array_size(recent), 4);
    const char *details[] = { "1024 -> 4096", "256 -> 1024", "64 -> 256", "16 -> 64" };
    for (size_t i = 0; i < 4; i++) {
        json_t *rec = json_array_get(recent, i);
        ck_assert_str_eq(tu_str(rec, "kind"), "realloc");
        ck_assert_str_eq(tu_str(rec, "detail"), details[i]);
        ck_assert_msg(tu_frames_name(json_object_get(rec, "frames"), "fx_grow_step"),
                      "access record %zu does not name fx_grow_step", i);
    }
    char *text = text_report(&p, "leak_realloc", 1);
    ck_assert_msg(strstr(text, "Recent access records:") && strstr(text, "\tHint: realloc") &&
                  strstr(text, "fx_grow_step+0x") && strstr(text, "\nCreated at"),
                  "text report lacks the access records:\n%s", text);
    ck_assert_int_eq(count_lines_with(text, "Hint: realloc", NULL), 4);
    free(text);
    json_decref(r);
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_glibc_semantics)
{
    struct tu_proc p;
    json_t *r = run_alloc_semantics(&p, NULL);
    tu_assert_totals(r, 1100, 4);
    assert_site(r, "fx_realloc_null", "heap", 300, 1);
    assert_site(r, "fx_realloc_fail", "heap", 500, 1);
    assert_site(r, "fx_reallocarray", "heap", 300, 1);
    assert_site(r, "fx_malloc_zero", "heap", 0, 1);
    const char *clean[] = { "fx_realloc_zero", "fx_calloc_overflow", "fx_failed_allocs", "fx_errno_kept",
                            "fx_libc_allocs" };
    for (size_t i = 0; i < sizeof clean / sizeof *clean; i++)
        ck_assert_msg(tu_sites_naming(r, clean[i]) == 0, "%s left a live site", clean[i]);
    json_decref(r);
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_untracked_frees)
{
    struct tu_proc p;
    json_t *r = run_to_exit_report(&p, "untracked_free", NULL, 0);
    tu_assert_totals(r, 64, 1);
    assert_site(r, "fx_tracked_leak", "heap", 64, 1);
    ck_assert_int_eq(tu_int(json_object_get(r, "totals"), "untracked_frees"), 2);
    ck_assert_int_eq(tu_sites_naming(r, "fx_free_foreign"), 0);
    json_decref(r);
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_threads)
{
    struct tu_proc p;
    const char *settings[] = { TU_NO_STACK_CACHE, NULL };
    json_t *r = run_to_exit_report(&p, "leak_threads", settings, 0);
    tu_assert_totals(r, 1536, 12);
    json_t *s = assert_site(r, "fx_thread_leak", "heap", 1536, 12);
    assert_key_frame(s, "fx_thread_worker");
    json_decref(r);
    tu_proc_free(&p);
}
END_TEST

/* The shim allocates nothing on a new thread before the program does (else the thread's arena would
 * be made early and the program's heap laid out differently), and walks threads on stacks the program
 * mapped itself or sized small. */
START_TEST(test_thread_heap_untouched)
{
    struct tu_proc p;
    const char *settings[] = { TU_NO_STACK_CACHE, NULL };
    run_fixture(&p, "thread_heap", NULL, settings, 1);
    assert_exit(&p, 0);
    unsigned long long before = 0, in_thread = 0;
    ck_assert_msg(sscanf(p.out, "thread_heap: arena bytes before the thread %llu, in it %llu", &before,
                         &in_thread) == 2, "stdout: %s", p.out);
    ck_assert_msg(in_thread == before, "the new thread's heap grew from %llu to %llu bytes before its first "
                  "allocation", before, in_thread);
    json_t *r = exit_report(&p, "thread_heap");
    json_t *s = assert_site(r, "fx_stack_leak", "heap", 1554, 2);
    assert_key_frame(s, "fx_stack_worker");
    json_decref(r);
    tu_proc_free(&p);
}
END_TEST

/* Concurrent allocation, realloc and cross-thread frees with no global lock must still count exactly. */
START_TEST(test_threads_churn)
{
    struct tu_proc p;
    const char *settings[] = { TU_NO_STACK_CACHE, NULL };
    long long bytes;
    int blocks;
    json_t *r = run_churn_threads(&p, settings, &bytes, &blocks);
    tu_assert_totals(r, bytes, blocks);
    json_t *t = json_object_get(r, "totals");
    ck_assert_int_eq(tu_int(t, "allocs") - tu_int(t, "frees"), blocks);
    json_t *s = assert_site(r, "fx_churn_worker", "heap", bytes, blocks);
    assert_key_frame(s, "fx_churn_alloc");
    json_decref(r);
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_fork_child_reports)
{
    struct tu_proc p;
    run_fixture(&p, "leak_fork", NULL, NULL, 1);
    assert_exit(&p, 0);
    int child = 0, status = -1;
    ck_assert_msg(sscanf(p.out, "child %d status %d", &child, &status) == 2, "stdout: %s", p.out);
    ck_assert_int_eq(status, 0);
    json_t *c = tu_report(out, "leak_fork", child, 1);
    ck_assert_int_eq(tu_int(c, "pid"), child);
    ck_assert_int_eq(tu_int(c, "ppid"), p.pid);
    ck_assert_str_eq(tu_str(c, "reason"), "exit");
    tu_assert_totals(c, 3333, 2);
    assert_site(c, "fx_child_leak", "heap", 2222, 1);
    assert_site(c, "fx_parent_leak", "heap", 1111, 1);
    json_t *r = exit_report(&p, "leak_fork");
    tu_assert_totals(r, 1111, 1);
    ck_assert_int_eq(tu_sites_naming(r, "fx_child_leak"), 0);
    ck_assert_int_eq(tu_count_files(out, "leak_fork."), 4);
    json_decref(c);
    json_decref(r);
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_exec)
{
    struct tu_proc p;
    char *target = tu_fixture("leak_direct");
    run_fixture(&p, "exec_chain", target, NULL, 1);
    assert_exit(&p, 3);
    ck_assert_str_eq(p.out, LEAK_DIRECT_SAYS);
    json_t *r = exit_report(&p, "leak_direct");
    tu_assert_totals(r, 3866, 6);
    ck_assert_int_eq(tu_sites_naming(r, "fx_before_exec"), 0);
    ck_assert_int_eq(tu_count_files(out, "exec_chain."), 0);
    json_decref(r);
    free(target);
    tu_proc_free(&p);
}
END_TEST

/* LEAKWATCH_TOP limits the text report only; LEAKWATCH_DEPTH bounds every creation stack. */
START_TEST(test_top_and_depth)
{
    struct tu_proc p;
    const char *settings[] = { "LEAKWATCH_TOP=1", "LEAKWATCH_DEPTH=2", NULL };
    json_t *r = run_to_exit_report(&p, "leak_direct", settings, 3);
    ck_assert_int_eq(json_array_size(json_object_get(r, "sites")), 3);
    size_t i, j;
    json_t *s, *g;
    json_array_foreach(json_object_get(r, "sites"), i, s)
        json_array_foreach(json_object_get(s, "leaks"), j, g) {
            size_t n = json_array_size(json_object_get(g, "created_at"));
            ck_assert_msg(n >= 1 && n <= 2, "LEAKWATCH_DEPTH=2 but a creation stack has %zu frames", n);
        }
    char *text = text_report(&p, "leak_direct", 1);
    ck_assert_int_eq(count_lines_with(text, "LEAK: ", NULL), 1);
    ck_assert_msg(strstr(text, "fx_direct_malloc+0x") != NULL, "the one record shown is not the largest");
    ck_assert_msg(strstr(text, "2 leak records were discarded") != NULL && strstr(text, "LEAKWATCH_TOP") != NULL,
                  "the text does not say how many records LEAKWATCH_TOP left out:\n%s", text);
    free(text);
    json_decref(r);
    tu_proc_free(&p);
}
END_TEST

/* With one key frame the wrapper is all a site sees, so both callers collapse into one site: this is why
 * the default LEAKWATCH_SITE_DEPTH is larger than 1. */
START_TEST(test_site_depth_one)
{
    struct tu_proc p;
    const char *settings[] = { "LEAKWATCH_SITE_DEPTH=1", NULL };
    json_t *r = run_to_exit_report(&p, "leak_wrapper", settings, 0);
    tu_assert_totals(r, 4608, 3);
    json_t *s = tu_site(r, "fx_xmalloc");
    ck_assert_int_eq(json_array_size(json_object_get(s, "frames")), 1);
    ck_assert_int_eq(tu_int(s, "live_bytes"), 4608);
    ck_assert_int_eq(tu_int(json_object_get(r, "config"), "site_depth"), 1);
    json_decref(r);
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_settings_survive_environment)
{
    struct tu_proc p;
    const char *settings[] = { "LEAKWATCH_TOP=7", NULL };
    json_t *r = run_to_exit_report(&p, "env_clobber", settings, 0);
    json_t *c = json_object_get(r, "config");
    ck_assert_int_eq(tu_int(c, "top"), 7);
    ck_assert_str_eq(tu_str(c, "out"), out);
    tu_assert_totals(r, 55, 1);
    assert_site(r, "fx_after_clobber", "heap", 55, 1);
    json_decref(r);
    tu_proc_free(&p);
}
END_TEST

/* The exit report counts what is live after atexit and on_exit handlers and destructors have run. */
START_TEST(test_exit_order)
{
    struct tu_proc p;
    json_t *r = run_to_exit_report(&p, "exit_order", NULL, 0);
    tu_assert_totals(r, 1080, 3);
    assert_site(r, "fx_main_leak", "heap", 1000, 1);
    assert_site(r, "fx_atexit_leak", "heap", 30, 1);
    assert_site(r, "fx_destructor_leak", "heap", 50, 1);
    json_decref(r);
    tu_proc_free(&p);
}
END_TEST

/* Threads still blocked at exit: their leaks are counted at their own site. */
START_TEST(test_threads_alive)
{
    struct tu_proc p;
    json_t *r = run_to_exit_report(&p, "threads_alive", NULL, 0);
    assert_site(r, "fx_alive_leak", "heap", 768, 3);
    json_decref(r);
    tu_proc_free(&p);
}
END_TEST

/* The leak group of the site's blocks whose creation stack passes through fn; fails when there is none. */
static json_t *group_via(json_t *site, const char *fn)
{
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(site, "leaks"), i, g)
        if (tu_frames_name(json_object_get(g, "created_at"), fn))
            return g;
    ck_assert_msg(0, "no leak group's creation stack passes through %s", fn);
    return NULL;
}

/* The leak group g, the one whose creation stack passes through fn, holds exactly bytes in blocks. */
static void assert_group(json_t *g, const char *fn, long long bytes, long long blocks)
{
    ck_assert_msg(tu_int(g, "bytes") == bytes && tu_int(g, "blocks") == blocks,
                  "%s's group: %lld bytes in %lld blocks, expected %lld in %lld", fn, tu_int(g, "bytes"),
                  tu_int(g, "blocks"), bytes, blocks);
}

/* One site reached by two paths. LEAKWATCH_SAMPLE=1 means one allocation in 1 gets its own stack, so each
 * path is its own leak group with exactly its blocks. */
START_TEST(test_sample_every_block)
{
    struct tu_proc p;
    const char *settings[] = { "LEAKWATCH_SAMPLE=1", NULL };
    json_t *r = run_to_exit_report(&p, "deep_paths", settings, 0);
    tu_assert_totals(r, 1100, 8);
    json_t *s = assert_site(r, "fx_deep_3", "heap", 1100, 8);
    ck_assert_int_eq(json_array_size(json_object_get(s, "leaks")), 2);
    json_t *alpha = group_via(s, "fx_path_alpha"), *beta = group_via(s, "fx_path_beta");
    assert_group(alpha, "fx_path_alpha", 500, 5);
    assert_group(beta, "fx_path_beta", 600, 3);
    json_decref(r);
    tu_proc_free(&p);
}
END_TEST

/* A site whose live bytes keep growing gets full stacks for its new blocks within the first report after it
 * starts growing, even with sampling off: the leaking path is shown with its own stack, not only under the
 * stack of whichever path reached the site first. */
START_TEST(test_growing_site_gets_own_stacks)
{
    struct tu_proc p;
    const char *settings[] = { "LEAKWATCH_SAMPLE=0", "LEAKWATCH_MIN_AGE=0", NULL };
    run_fixture(&p, "steady_leak", NULL, settings, 1);
    assert_exit(&p, 0);
    long blocks = 0;
    int rc = -9;
    ck_assert_msg(sscanf(p.out, "steady_leak: %ld blocks, dump %d", &blocks, &rc) == 2 && rc == 0,
                  "stdout: %s", p.out);
    json_t *r = tu_report(out, "steady_leak", p.pid, 1);
    ck_assert_str_eq(tu_str(r, "reason"), "api");
    json_t *s = assert_site(r, "fx_alloc_3", "heap", blocks * 64, blocks);
    json_t *warm = group_via(s, "fx_path_warm"), *leaky = group_via(s, "fx_path_leaky");
    ck_assert_str_eq(tu_str(warm, "stack"), "representative");
    ck_assert_str_eq(tu_str(leaky, "stack"), "own");
    ck_assert_int_ge(tu_int(leaky, "blocks"), 1);
    json_decref(r);
    tu_proc_free(&p);
}
END_TEST

/* With the default sampling most blocks have no stack of their own: the text says how many are shown under
 * the site's representative stack. */
START_TEST(test_representative_stack_said)
{
    struct tu_proc p;
    json_t *r = run_to_exit_report(&p, "deep_paths", NULL, 0);
    json_t *s = assert_site(r, "fx_deep_3", "heap", 1100, 8);
    int representative = 0;
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(s, "leaks"), i, g)
        representative += strcmp(tu_str(g, "stack"), "representative") == 0;
    ck_assert_int_eq(representative, 1);
    char *text = text_report(&p, "deep_paths", 1);
    ck_assert_msg(strstr(text, "\nCreated at (the site's representative stack"),
                  "the text does not say that blocks are shown under the representative stack:\n%s", text);
    free(text);
    json_decref(r);
    tu_proc_free(&p);
}
END_TEST

/* fork() while other threads are inside malloc and free: no child hangs, each reports its own leak. */
START_TEST(test_fork_while_busy)
{
    struct tu_proc p;
    run_fixture(&p, "fork_busy", NULL, NULL, 1);
    assert_exit(&p, 0);
    ck_assert_str_eq(p.out, "forked 20 ok 20\n");
    ck_assert_int_eq(tu_count_files(out, "fork_busy."), 2 * 21);
    json_t *r = exit_report(&p, "fork_busy");
    ck_assert_int_eq(tu_sites_naming(r, "fx_fork_child_leak"), 0);
    json_decref(r);
    DIR *d = opendir(out);
    ck_assert_ptr_nonnull(d);
    int children = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int pid = 0, end = 0;
        if (sscanf(e->d_name, "fork_busy.%d.1.json%n", &pid, &end) != 1 || e->d_name[end] || !end ||
            pid == p.pid)
            continue;
        json_t *c = tu_report(out, "fork_busy", pid, 1);
        ck_assert_int_eq(tu_int(c, "ppid"), p.pid);
        assert_site(c, "fx_fork_child_leak", "heap", 77, 1);
        json_decref(c);
        children++;
    }
    closedir(d);
    ck_assert_int_eq(children, 20);
    tu_proc_free(&p);
}
END_TEST

/* Another allocator preloaded after the shim is the "next" malloc: programs behave as with glibc and the
 * fixtures' sites stay exact. (jemalloc pulls in libstdc++, whose emergency exception pool is one more
 * live block, so only the fixtures' own sites are checked.) */
START_TEST(test_next_allocator_jemalloc)
{
    const char *jemalloc = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";
    ck_assert_msg(access(jemalloc, R_OK) == 0, "%s is missing: install libjemalloc2 (scripts/deps.sh)", jemalloc);
    char *shim = tu_shim_path();
    char *preload = tu_strf("LD_PRELOAD=%s %s", shim, jemalloc);
    const char *settings[] = { preload, TU_NO_STACK_CACHE, NULL };
    struct tu_proc p;
    json_t *r = run_alloc_semantics(&p, settings);
    assert_site(r, "fx_realloc_fail", "heap", 500, 1);
    assert_site(r, "fx_malloc_zero", "heap", 0, 1);
    json_decref(r);
    tu_proc_free(&p);
    long long bytes;
    int blocks;
    r = run_churn_threads(&p, settings, &bytes, &blocks);
    assert_site(r, "fx_churn_worker", "heap", bytes, blocks);
    json_decref(r);
    tu_proc_free(&p);
    free(preload);
    free(shim);
}
END_TEST

START_TEST(test_aligned)
{
    struct tu_proc p;
    run_fixture(&p, "leak_aligned", "pvalloc", NULL, 1);
    assert_exit(&p, 0);
    long page = sysconf(_SC_PAGESIZE);
    json_t *r = exit_report(&p, "leak_aligned");
    tu_assert_totals(r, 6512 + page, 5);
    assert_site(r, "fx_leak_posix_memalign", "heap", 1000, 1);
    assert_site(r, "fx_leak_memalign", "heap", 2000, 1);
    assert_site(r, "fx_leak_aligned_alloc", "heap", 512, 1);
    assert_site(r, "fx_leak_valloc", "heap", 3000, 1);
    assert_site(r, "fx_leak_pvalloc", "heap", page, 1);
    json_decref(r);
    tu_proc_free(&p);
}
END_TEST

static void check_mmap(int all)
{
    struct tu_proc p;
    const char *settings[] = { all ? "LEAKWATCH_MMAP=all" : "LEAKWATCH_MMAP=anon", NULL };
    run_fixture(&p, "leak_mmap", NULL, settings, 1);
    assert_exit(&p, 0);
    long long page = sysconf(_SC_PAGESIZE);
    json_t *r = exit_report(&p, "leak_mmap");
    tu_assert_totals(r, 0, 0);
    json_t *t = json_object_get(r, "totals");
    ck_assert_int_eq(tu_int(t, "mmap_live_bytes"), (37 + all) * page);
    ck_assert_int_eq(tu_int(t, "mmap_live_regions"), 7 + all);
    ck_assert_int_eq(tu_int(t, "reserved_untouched_bytes"), 11 * page);
    assert_site(r, "fx_map_leak", "mmap", 5 * page, 1);
    assert_site(r, "fx_map_partial", "mmap", 7 * page, 1);
    assert_site(r, "fx_map_grow", "mmap", 6 * page, 1);
    assert_site(r, "fx_map_shrink", "mmap", 3 * page, 1);
    assert_site(r, "fx_map_move", "mmap", 4 * page, 1);
    /* a mapping's leak record counts its touched pages only; a reservation never touched is no record */
    json_t *half = tu_site(r, "fx_map_half");
    ck_assert_int_eq(tu_int(half, "live_bytes"), 4 * page);
    ck_assert_int_eq(tu_int(half, "reserved_untouched_bytes"), 3 * page);
    ck_assert_int_eq(json_array_size(json_object_get(half, "leaks")), 1);
    ck_assert_int_eq(tu_int(json_array_get(json_object_get(half, "leaks"), 0), "bytes"), page);
    json_t *reserve = tu_site(r, "fx_map_reserve");
    ck_assert_int_eq(tu_int(reserve, "live_bytes"), 8 * page);
    ck_assert_int_eq(tu_int(reserve, "reserved_untouched_bytes"), 8 * page);
    ck_assert_int_eq(json_array_size(json_object_get(reserve, "leaks")), 0);
    ck_assert_int_eq(tu_sites_naming(r, "fx_map_unmapped"), 0);
    if (all)
        assert_site(r, "fx_map_file", "mmap", page, 1);
    else
        ck_assert_int_eq(tu_sites_naming(r, "fx_map_file"), 0);
    json_decref(r);
    tu_proc_free(&p);
}

START_TEST(test_mmap_anon)
{
    check_mmap(0);
}
END_TEST

START_TEST(test_mmap_all)
{
    check_mmap(1);
}
END_TEST

START_TEST(test_api_dump)
{
    struct tu_proc bare, p;
    run_fixture(&bare, "api_dump", NULL, NULL, 0);
    assert_exit(&bare, 0);
    ck_assert_str_eq(bare.out, "dump absent\n");
    run_fixture(&p, "api_dump", NULL, NULL, 1);
    assert_exit(&p, 0);
    ck_assert_str_eq(p.out, "dump 0\n");
    json_t *api = tu_report(out, "api_dump", p.pid, 1);
    ck_assert_str_eq(tu_str(api, "reason"), "api");
    ck_assert_int_eq(tu_int(api, "previous_seq"), 0);
    tu_assert_totals(api, 777, 1);
    ck_assert_int_eq(tu_sites_naming(api, "fx_api_leak"), 1);
    json_t *ex = tu_report(out, "api_dump", p.pid, 2);
    ck_assert_str_eq(tu_str(ex, "reason"), "exit");
    ck_assert_int_eq(tu_int(ex, "previous_seq"), 1);
    tu_assert_totals(ex, 777, 1);
    assert_site(ex, "fx_api_leak", "heap", 777, 1);
    json_decref(api);
    json_decref(ex);
    tu_proc_free(&bare);
    tu_proc_free(&p);
}
END_TEST

/* Waits up to limit_s for dir/name.pid.seq.json; returns the seconds it took, or -1. */
static double wait_report(const char *name, pid_t pid, int seq, double limit_s)
{
    char *path = tu_report_path(out, name, pid, seq, "json");
    double start = tu_now(), took = -1;
    struct timespec tick = { 0, 5 * 1000 * 1000 };
    while (tu_now() - start < limit_s) {
        if (access(path, F_OK) == 0) {
            took = tu_now() - start;
            break;
        }
        nanosleep(&tick, NULL);
    }
    free(path);
    return took;
}

/* Starts fixture name (under the shim when shim is set, with extra "NAME=value" settings) and leaves it
 * running. */
static void start_fixture(struct tu_proc *p, const char *name, int shim, const char *const *settings)
{
    struct tu_env env;
    tu_env_with(&env, out, shim, settings);
    char *path = tu_fixture(name);
    char *argv[] = { path, NULL };
    tu_spawn(p, argv, env.vars, NULL);
    free(path);
    tu_env_free(&env);
}

/* start_fixture, then waits for the fixture to say "ready". */
static void start_fixture_ready(struct tu_proc *p, const char *name, int shim, const char *const *settings)
{
    start_fixture(p, name, shim, settings);
    ck_assert_msg(tu_read_until(p, "ready\n", RUN_LIMIT_S) == 0, "%s never became ready; stderr:\n%s", name,
                  p->err);
}

/* start_fixture_ready with LEAKWATCH_SIGNAL=signal_setting when that is not NULL. */
static void spawn_fixture(struct tu_proc *p, const char *name, int shim, const char *signal_setting)
{
    char *setting = signal_setting ? tu_strf("LEAKWATCH_SIGNAL=%s", signal_setting) : NULL;
    const char *settings[] = { setting, NULL };
    start_fixture_ready(p, name, shim, settings);
    free(setting);
}

/* The default signal and two chosen with LEAKWATCH_SIGNAL (by name, and as SIGRTMIN+n). */
static const struct { const char *setting; int offset_from_rtmin; int signo; } report_signals[] = {
    { NULL, -1, SIGUSR2 },
    { "SIGUSR1", -1, SIGUSR1 },
    { "SIGRTMIN+3", 3, 0 },
};

START_TEST(test_signal_while_idle)
{
    struct tu_proc p;
    int sig = report_signals[_i].offset_from_rtmin >= 0 ? SIGRTMIN + report_signals[_i].offset_from_rtmin
                                                         : report_signals[_i].signo;
    spawn_fixture(&p, "idle", 1, report_signals[_i].setting);
    ck_assert_int_eq(kill(p.pid, sig), 0);
    double took = wait_report("idle", p.pid, 1, 10.0);
    kill(p.pid, SIGKILL);
    tu_finish(&p, RUN_LIMIT_S);
    ck_assert_msg(took >= 0, "no report 10 s after signal %d; stderr:\n%s", sig, p.err);
    ck_assert_msg(took <= 1.0, "the report took %.3f s after signal %d (must be within 1 s)", took, sig);
    json_t *r = tu_report(out, "idle", p.pid, 1);
    ck_assert_str_eq(tu_str(r, "reason"), "signal");
    tu_assert_totals(r, 4321, 1);
    /* The block is younger than the default LEAKWATCH_MIN_AGE (10 s): its site is listed, no leak group. */
    ck_assert_int_eq(tu_int(json_object_get(r, "config"), "min_age_ms"), 10000);
    json_t *s = tu_site(r, "fx_idle_leak");
    ck_assert_int_eq(tu_int(s, "live_bytes"), 4321);
    ck_assert_int_eq(json_array_size(json_object_get(s, "leaks")), 0);
    json_decref(r);
    tu_proc_free(&p);
}
END_TEST

/* LEAKWATCH_INTERVAL writes reports by itself while the program sleeps; with LEAKWATCH_MIN_AGE=0 the
 * young block is a leak group at once, and deltas refer to the previous report. */
START_TEST(test_interval_reports)
{
    struct tu_proc p;
    const char *settings[] = { "LEAKWATCH_INTERVAL=200ms", "LEAKWATCH_MIN_AGE=0", NULL };
    start_fixture(&p, "idle", 1, settings);
    double took = wait_report("idle", p.pid, 2, 10.0);
    kill(p.pid, SIGKILL);
    tu_finish(&p, RUN_LIMIT_S);
    ck_assert_msg(took >= 0, "no second interval report within 10 s; stderr:\n%s", p.err);
    json_t *r = tu_report(out, "idle", p.pid, 2);
    ck_assert_str_eq(tu_str(r, "reason"), "interval");
    ck_assert_int_eq(tu_int(r, "previous_seq"), 1);
    ck_assert_int_eq(tu_int(json_object_get(r, "config"), "interval_ms"), 200);
    assert_site(r, "fx_idle_leak", "heap", 4321, 1);
    json_decref(r);
    tu_proc_free(&p);
}
END_TEST

/* The first line of the text record that names fn in its creation stack, or NULL; *index is the record's
 * position (1 = the first LEAK record). */
static char *leak_record_naming(const char *text, const char *fn, int *index)
{
    *index = 0;
    for (const char *rec = strstr(text, "\nLEAK: "); rec; rec = strstr(rec + 1, "\nLEAK: ")) {
        ++*index;
        const char *next = strstr(rec + 1, "\nLEAK: ");
        size_t len = next ? (size_t)(next - rec) : strlen(rec);
        char *record = strndup(rec + 1, len);
        char *name = tu_strf(" %s+", fn);
        int hit = strstr(record, name) != NULL;
        free(name);
        if (hit) {
            *strchrnul(record, '\n') = '\0';
            return record;
        }
        free(record);
    }
    return NULL;
}

/* A 1 GiB PROT_NONE reservation, a 32 MiB buffer touched once, and a steady small leak: in the second signal
 * report the leaking site is the first LEAK record (it grew since report #1, the others did not), the
 * reservation is no LEAK record at all, and the totals and its site show it apart as reserved, untouched. */
START_TEST(test_leak_leads_reservation_apart)
{
    struct tu_proc p;
    const char *settings[] = { "LEAKWATCH_MIN_AGE=0", NULL };
    start_fixture_ready(&p, "reserve_and_leak", 1, settings);
    double took[2] = { -1, -1 };
    for (int seq = 1; seq <= 2; seq++) {
        struct timespec pause = { 0, 300 * 1000 * 1000 };
        nanosleep(&pause, NULL);
        ck_assert_int_eq(kill(p.pid, SIGUSR2), 0);
        took[seq - 1] = wait_report("reserve_and_leak", p.pid, seq, 10.0);
        if (took[seq - 1] < 0)
            break;
    }
    kill(p.pid, SIGKILL);
    tu_finish(&p, RUN_LIMIT_S);
    ck_assert_msg(took[0] >= 0 && took[1] >= 0, "reports missing after SIGUSR2; stderr:\n%s", p.err);
    const long long gib = 1ll << 30;

    json_t *r = tu_report(out, "reserve_and_leak", p.pid, 2);
    ck_assert_int_eq(tu_int(r, "previous_seq"), 1);
    json_t *t = json_object_get(r, "totals");
    ck_assert_int_ge(tu_int(t, "reserved_untouched_bytes"), gib);
    ck_assert_int_le(tu_int(t, "reserved_untouched_bytes"), tu_int(t, "mmap_live_bytes"));
    json_t *reserve = tu_site(r, "fx_reserve");
    ck_assert_int_eq(tu_int(reserve, "live_bytes"), gib);
    ck_assert_int_eq(tu_int(reserve, "reserved_untouched_bytes"), gib);
    ck_assert_int_eq(json_array_size(json_object_get(reserve, "leaks")), 0);
    json_t *once = tu_site(r, "fx_touch_once");
    ck_assert_int_eq(tu_int(once, "live_bytes"), 32 << 20);
    ck_assert_int_eq(tu_int(once, "reserved_untouched_bytes"), 0);
    json_t *leak = tu_site(r, "fx_leak_step");
    json_t *g = json_array_get(json_object_get(leak, "leaks"), 0);
    ck_assert_msg(g && tu_int(g, "since_previous_bytes") > 0, "the leaking site did not grow since report #1");
    json_decref(r);

    char *text = text_report(&p, "reserve_and_leak", 2);
    int at = 0;
    char *first = leak_record_naming(text, "fx_leak_step", &at);
    ck_assert_msg(first && at == 1, "the leaking site is LEAK record %d, not the first:\n%.3000s", at, text);
    ck_assert_msg(strstr(first, "; +") && strstr(first, " since report #1."),
                  "the first record does not say how much it grew: %s", first);
    free(first);
    char *rec = leak_record_naming(text, "fx_reserve", &at);
    ck_assert_msg(rec == NULL, "the reservation is LEAK record %d: %s", at, rec);
    rec = leak_record_naming(text, "fx_touch_once", &at);
    ck_assert_msg(rec && at == 2 && strstr(rec, "unchanged since report #1"), "the touched buffer: record %d: %s",
                  at, rec);
    free(rec);
    ck_assert_msg(strstr(text, "GiB of it reserved or never touched, not counted in leak records"),
                  "the header does not set the reservation apart:\n%.600s", text);
    free(text);
    tu_proc_free(&p);
}
END_TEST

/* LEAKWATCH_SIGNAL=none: the shim takes no signal, so SIGUSR2 keeps its default action (terminate). */
START_TEST(test_signal_none)
{
    struct tu_proc p;
    spawn_fixture(&p, "idle", 1, "none");
    ck_assert_int_eq(kill(p.pid, SIGUSR2), 0);
    tu_finish(&p, RUN_LIMIT_S);
    ck_assert_msg(!p.timed_out && WIFSIGNALED(p.status) && WTERMSIG(p.status) == SIGUSR2,
                  "with LEAKWATCH_SIGNAL=none SIGUSR2 should end the program, got %s", tu_status_str(&p));
    ck_assert_int_eq(tu_count_files(out, "idle."), 0);
    tu_proc_free(&p);
}
END_TEST

/* The report signal sent by the process to itself, or generated by the kernel, with no handler of the
 * program's: the default action, as without the shim (a report would keep the program running). */
static const struct { const char *signal_setting, *cmd; int signo; } default_action_cases[] = {
    { NULL, "kill -USR2 $$; echo survived", SIGUSR2 },
    { "SIGUSR1", "kill -USR1 $$; echo survived", SIGUSR1 },
    { "SIGALRM", "exec perl -e 'alarm 1; sleep 5; print \"survived\\n\"'", SIGALRM },
};

/* main leaves with pthread_exit and another thread ends the process, by returning as the last program thread
 * (the shim's reporter thread must not keep the process alive) or by exit(0): the exit report is still named
 * after the program (not "program") and its JSON names the executable; a block the program's atexit handler
 * frees is not in it, whichever thread runs the handlers. */
START_TEST(test_main_exits_first)
{
    struct tu_proc p;
    run_fixture(&p, "main_exits_first", _i ? "exit" : NULL, NULL, 1);
    assert_exit(&p, 0);
    ck_assert_msg(tu_count_files(out, "program.") == 0, "the exit report is named \"program\":\n%s", p.err);
    json_t *r = exit_report(&p, "main_exits_first");
    ck_assert_msg(strstr(tu_str(r, "program"), "main_exits_first") != NULL,
                  "program is \"%s\"", tu_str(r, "program"));
    assert_site(r, "fx_main_leak", "heap", 555, 1);
    assert_site(r, "fx_thread_leak", "heap", 444, 1);
    if (tu_sites_naming(r, "fx_freed_at_exit"))
        ck_assert_msg(tu_int(tu_site(r, "fx_freed_at_exit"), "live_blocks") == 0,
                      "the block the atexit handler freed is still live in the exit report");
    json_decref(r);
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_own_signal_takes_default_action)
{
    struct tu_proc p;
    const char *settings[] = { NULL, NULL };
    if (default_action_cases[_i].signal_setting)
        settings[0] = tu_strf("LEAKWATCH_SIGNAL=%s", default_action_cases[_i].signal_setting);
    for (int shim = 0; shim <= 1; shim++) {
        struct tu_env env;
        tu_env_with(&env, out, shim, settings);
        char *argv[] = { "/bin/sh", "-c", (char *)default_action_cases[_i].cmd, NULL };
        tu_run(&p, argv, env.vars, RUN_LIMIT_S);
        tu_env_free(&env);
        ck_assert_msg(!p.timed_out && WIFSIGNALED(p.status) && WTERMSIG(p.status) == default_action_cases[_i].signo
                      && strstr(p.out, "survived") == NULL, "%s %s: expected the signal's default action (killed by "
                      "signal %d), got %s; stdout: %s; stderr:\n%s", shim ? "under the shim" : "bare",
                      default_action_cases[_i].cmd, default_action_cases[_i].signo, tu_status_str(&p), p.out, p.err);
        tu_proc_free(&p);
    }
    free((char *)settings[0]);
}
END_TEST

/* stderr a pipe nobody reads: the shim's line at exit must not raise SIGPIPE in the host (the program
 * exits with its own status, its stdout intact). */
START_TEST(test_stderr_closed_pipe)
{
    int dead[2], outp[2];
    ck_assert_int_eq(pipe(dead), 0);
    ck_assert_int_eq(pipe(outp), 0);
    close(dead[0]);
    struct tu_env env;
    tu_env_with(&env, out, 1, NULL);
    char *path = tu_fixture("leak_direct");
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        dup2(outp[1], 1);
        dup2(dead[1], 2);
        close(outp[0]);
        close(outp[1]);
        close(dead[1]);
        char *argv[] = { path, NULL };
        execve(path, argv, env.vars);
        _exit(127);
    }
    close(dead[1]);
    close(outp[1]);
    char buf[256];
    ssize_t n, got = 0;
    while ((n = read(outp[0], buf + got, sizeof buf - 1 - (size_t)got)) > 0)
        got += n;
    buf[got] = '\0';
    close(outp[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 3, "with stderr a closed pipe the program should exit 3 "
                  "as without the shim, got status 0x%x (signal %d)", status, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    ck_assert_str_eq(buf, LEAK_DIRECT_SAYS);
    free(path);
    tu_env_free(&env);
}
END_TEST

START_TEST(test_program_owns_the_signal)
{
    struct tu_proc bare, p;
    spawn_fixture(&bare, "own_handler", 0, NULL);
    kill(bare.pid, SIGUSR1);
    tu_finish(&bare, RUN_LIMIT_S);
    assert_exit(&bare, 0);
    ck_assert_str_eq(bare.out, "handled 2\nready\n");
    spawn_fixture(&p, "own_handler", 1, NULL);
    ck_assert_msg(strncmp(p.out, "handled 2\n", 10) == 0,
                  "the program's SIGUSR2 handler did not see its own raise() and kill(getpid()): %s", p.out);
    ck_assert_int_eq(kill(p.pid, SIGUSR2), 0);
    double took = wait_report("own_handler", p.pid, 1, 10.0);
    kill(p.pid, SIGUSR1);
    tu_finish(&p, RUN_LIMIT_S);
    ck_assert_msg(took >= 0, "an outside SIGUSR2 gave no report; stderr:\n%s", p.err);
    assert_exit(&p, 0);
    ck_assert_str_eq(p.out, bare.out);
    ck_assert_msg(count_lines_with(p.err, "SIGUSR2", "leakwatch: report #") == 1,
                  "expected one stderr line about the program's SIGUSR2 handler:\n%s", p.err);
    json_t *r = tu_report(out, "own_handler", p.pid, 1);
    ck_assert_str_eq(tu_str(r, "reason"), "signal");
    json_t *ex = tu_report(out, "own_handler", p.pid, 2);
    ck_assert_str_eq(tu_str(ex, "reason"), "exit");
    assert_site(ex, "fx_handler_leak", "heap", 321, 1);
    json_decref(r);
    json_decref(ex);
    tu_proc_free(&bare);
    tu_proc_free(&p);
}
END_TEST

/* One bad value per variable: the line names the variable, the value and the default; the program runs on
 * and the report's config holds the default. */
static const struct { const char *var, *bad, *deflt, *config_key; } bad_settings[] = {
    { "LEAKWATCH_TOP", "banana", "20", "top" },
    { "LEAKWATCH_INTERVAL", "soon", "0", "interval_ms" },
    { "LEAKWATCH_MMAP", "some", "anon", "mmap" },
    { "LEAKWATCH_SIGNAL", "SIGFOO", "SIGUSR2", "signal" },
    { "LEAKWATCH_SIGNAL", "SIGPIPE", "SIGUSR2", "signal" },
    { "LEAKWATCH_SITE_DEPTH", "-3", "4", "site_depth" },
};

START_TEST(test_bad_setting)
{
    struct tu_proc p;
    char *setting = tu_strf("%s=%s", bad_settings[_i].var, bad_settings[_i].bad);
    const char *settings[] = { setting, NULL };
    run_fixture(&p, "leak_direct", NULL, settings, 1);
    assert_exit(&p, 3);
    ck_assert_str_eq(p.out, LEAK_DIRECT_SAYS);
    ck_assert_msg(count_lines_with(p.err, bad_settings[_i].var, NULL) == 1,
                  "expected one stderr line naming %s:\n%s", bad_settings[_i].var, p.err);
    const char *line = strstr(p.err, bad_settings[_i].var);
    char *end = strchr(line, '\n');
    char *one = strndup(line, end ? (size_t)(end - line) : strlen(line));
    ck_assert_msg(strstr(one, bad_settings[_i].bad) && strstr(one, bad_settings[_i].deflt),
                  "the line should name the bad value \"%s\" and the default \"%s\": %s", bad_settings[_i].bad,
                  bad_settings[_i].deflt, one);
    json_t *r = exit_report(&p, "leak_direct");
    json_t *v = json_object_get(json_object_get(r, "config"), bad_settings[_i].config_key);
    char *got = json_is_string(v) ? strdup(json_string_value(v)) : tu_strf("%lld", (long long)json_integer_value(v));
    ck_assert_msg(strcmp(got, bad_settings[_i].deflt) == 0, "config.%s is %s, expected the default %s",
                  bad_settings[_i].config_key, got, bad_settings[_i].deflt);
    tu_assert_totals(r, 3866, 6);
    free(got);
    free(one);
    free(setting);
    json_decref(r);
    tu_proc_free(&p);
}
END_TEST

/* Runs leak_direct with LEAKWATCH_OUT=dir, which the shim must refuse: the program is unchanged, stderr
 * says why naming the directory, and nothing is written. */
static void assert_refused(const char *dir, const char *look_in)
{
    struct tu_proc p;
    free(out);
    out = strdup(dir);
    run_fixture(&p, "leak_direct", NULL, NULL, 1);
    assert_exit(&p, 3);
    ck_assert_str_eq(p.out, LEAK_DIRECT_SAYS);
    ck_assert_msg(count_lines_with(p.err, dir, NULL) >= 1 && strstr(p.err, "leakwatch"),
                  "stderr should say why %s was refused:\n%s", dir, p.err);
    ck_assert_msg(tu_count_files(look_in, "leak_direct.") == 0, "a report was written into %s", look_in);
    tu_proc_free(&p);
}

START_TEST(test_out_under_regular_file)
{
    char *file = tu_strf("%s/plain", tmp);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    char *dir = tu_strf("%s/reports", file);
    assert_refused(dir, tmp);
    free(dir);
    free(file);
}
END_TEST

START_TEST(test_out_symlink)
{
    char *real = tu_strf("%s/real", tmp);
    char *link = tu_strf("%s/link", tmp);
    ck_assert_int_eq(mkdir(real, 0700), 0);
    ck_assert_int_eq(symlink(real, link), 0);
    assert_refused(link, real);
    free(real);
    free(link);
}
END_TEST

START_TEST(test_out_other_owner)
{
    ck_assert_msg(geteuid() == 0, "this test hands a directory to another user and must run as root");
    char *dir = tu_strf("%s/nobodys", tmp);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    ck_assert_int_eq(chown(dir, 65534, 65534), 0);
    assert_refused(dir, dir);
    free(dir);
}
END_TEST

START_TEST(test_file_modes)
{
    struct tu_proc p;
    run_fixture(&p, "leak_wrapper", NULL, NULL, 1);
    assert_exit(&p, 0);
    struct stat st;
    ck_assert_int_eq(lstat(out, &st), 0);
    ck_assert_msg(S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700 && st.st_uid == geteuid(),
                  "report directory mode %o uid %d", st.st_mode & 07777, (int)st.st_uid);
    const char *suffix[] = { "txt", "json" };
    for (int i = 0; i < 2; i++) {
        char *path = tu_report_path(out, "leak_wrapper", p.pid, 1, suffix[i]);
        ck_assert_msg(lstat(path, &st) == 0, "%s missing", path);
        ck_assert_msg(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600, "%s has mode %o", path,
                      st.st_mode & 07777);
        free(path);
    }
    ck_assert_int_eq(tu_count_files(out, ""), 4);   /* ".", "..", .txt, .json: no temporary left */
    ck_assert_msg(strstr(p.err, "leakwatch: report #1 (exit) for leak_wrapper["),
                  "no report line on stderr:\n%s", p.err);
    tu_proc_free(&p);
    const char *quiet[] = { "LEAKWATCH_QUIET=1", NULL };
    run_fixture(&p, "leak_wrapper", NULL, quiet, 1);
    assert_exit(&p, 0);
    ck_assert_msg(p.err_len == 0, "LEAKWATCH_QUIET=1 but stderr says:\n%s", p.err);
    tu_proc_free(&p);
}
END_TEST

static int is_hex_string(const char *s, size_t digits)
{
    if (!s || (digits && strlen(s) != digits))
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s) && !(*s >= 'a' && *s <= 'f'))
            return 0;
    return 1;
}

static void assert_frames_well_formed(json_t *frames, size_t nmodules)
{
    size_t i;
    json_t *f;
    json_array_foreach(frames, i, f) {
        const char *ip = json_string_value(json_object_get(f, "ip"));
        ck_assert_msg(ip && strncmp(ip, "0x", 2) == 0 && is_hex_string(ip + 2, 0), "bad ip %s", ip);
        long long mod = tu_int(f, "module");
        ck_assert_msg(mod >= -1 && mod < (long long)nmodules, "module index %lld out of range", mod);
        if (mod >= 0) {
            const char *off = json_string_value(json_object_get(f, "offset"));
            ck_assert_msg(off && strncmp(off, "0x", 2) == 0 && is_hex_string(off + 2, 0), "bad offset %s", off);
        }
    }
}

/* The rules of docs/report-format.md that readers rely on. */
static void assert_json_rules(json_t *r)
{
    json_t *t = json_object_get(r, "totals");
    size_t nmodules = json_array_size(json_object_get(r, "modules"));
    long long heap_bytes = 0, heap_blocks = 0, map_bytes = 0, map_regions = 0, prev = -1;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(r, "sites"), i, s) {
        const char *kind = json_string_value(json_object_get(s, "kind"));
        ck_assert_msg(kind && (strcmp(kind, "heap") == 0 || strcmp(kind, "mmap") == 0), "bad kind %s", kind);
        long long b = tu_int(s, "live_bytes"), n = tu_int(s, "live_blocks");
        ck_assert_msg(n > 0, "site %zu has no live blocks but is listed", i);
        ck_assert_msg(prev < 0 || b <= prev, "sites are not in decreasing live_bytes (%lld after %lld)", b, prev);
        prev = b;
        ck_assert_msg(is_hex_string(json_string_value(json_object_get(s, "id")), 16), "site id %s",
                      json_string_value(json_object_get(s, "id")));
        assert_frames_well_formed(json_object_get(s, "frames"), nmodules);
        if (strcmp(kind, "heap") == 0) {
            heap_bytes += b;
            heap_blocks += n;
        } else {
            map_bytes += b;
            map_regions += n;
        }
    }
    ck_assert_int_eq(tu_int(t, "live_bytes"), heap_bytes);
    ck_assert_int_eq(tu_int(t, "live_blocks"), heap_blocks);
    ck_assert_int_eq(tu_int(t, "mmap_live_bytes"), map_bytes);
    ck_assert_int_eq(tu_int(t, "mmap_live_regions"), map_regions);
    json_t *c = json_object_get(r, "config");
    const char *keys[] = { "out", "signal", "interval_ms", "min_age_ms", "top", "depth", "records", "mmap",
                           "quiet", "site_depth", "sample" };
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
        ck_assert_msg(json_object_get(c, keys[k]) != NULL, "config.%s missing", keys[k]);
}

START_TEST(test_json_rules)
{
    const char *fixtures[] = { "leak_direct", "leak_mmap", "alloc_semantics", "leak_threads" };
    for (size_t i = 0; i < 4; i++) {
        struct tu_proc p;
        run_fixture(&p, fixtures[i], NULL, NULL, 1);
        ck_assert_msg(!p.timed_out && WIFEXITED(p.status), "%s: %s", fixtures[i], tu_status_str(&p));
        json_t *r = exit_report(&p, fixtures[i]);
        assert_json_rules(r);
        json_decref(r);
        tu_proc_free(&p);
    }
}
END_TEST

/* Exiting while other threads are inside malloc and free: ten runs, each must exit 0 with a sound report. */
START_TEST(test_exit_while_busy)
{
    for (int run = 0; run < 10; run++) {
        struct tu_proc p;
        json_t *r = run_to_exit_report(&p, "exit_busy", NULL, 0);
        assert_json_rules(r);
        json_t *s = tu_site(r, "fx_busy_leak");
        ck_assert_int_eq(tu_int(s, "live_bytes"), 999);
        json_decref(r);
        tu_proc_free(&p);
        tu_rmtree(out);
    }
}
END_TEST

/* Site ids hash module + offset, so two runs (different ASLR bases) give the same ids. */
START_TEST(test_ids_stable)
{
    char *ids[2][2];
    for (int run = 0; run < 2; run++) {
        struct tu_proc p;
        json_t *r = run_to_exit_report(&p, "leak_wrapper", NULL, 0);
        ids[run][0] = strdup(tu_str(tu_site(r, "fx_parse_config"), "id"));
        ids[run][1] = strdup(tu_str(tu_site(r, "fx_load_table"), "id"));
        json_decref(r);
        tu_proc_free(&p);
    }
    ck_assert_str_eq(ids[0][0], ids[1][0]);
    ck_assert_str_eq(ids[0][1], ids[1][1]);
    ck_assert_str_ne(ids[0][0], ids[0][1]);
    for (int i = 0; i < 4; i++)
        free(ids[i / 2][i % 2]);
}
END_TEST

static Suite *integration_suite(void)
{
    Suite *s = suite_create("integration");
    TCase *tc = tcase_create("fixtures");
    tcase_add_unchecked_fixture(tc, tu_tempbase_setup, tu_tempbase_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_direct_leaks);
    tcase_add_test(tc, test_text_shape);
    tcase_add_test(tc, test_wrapper_two_sites);
    tcase_add_test(tc, test_realloc_growth);
    tcase_add_test(tc, test_glibc_semantics);
    tcase_add_test(tc, test_untracked_frees);
    tcase_add_test(tc, test_threads);
    tcase_add_test(tc, test_thread_heap_untouched);
    tcase_add_test(tc, test_threads_churn);
    tcase_add_test(tc, test_fork_child_reports);
    tcase_add_test(tc, test_exec);
    tcase_add_test(tc, test_top_and_depth);
    tcase_add_test(tc, test_site_depth_one);
    tcase_add_test(tc, test_settings_survive_environment);
    tcase_add_test(tc, test_exit_order);
    tcase_add_test(tc, test_threads_alive);
    tcase_add_test(tc, test_sample_every_block);
    tcase_add_test(tc, test_representative_stack_said);
    tcase_add_test(tc, test_growing_site_gets_own_stacks);
    tcase_add_test(tc, test_fork_while_busy);
    tcase_add_test(tc, test_next_allocator_jemalloc);
    tcase_add_test(tc, test_aligned);
    tcase_add_test(tc, test_mmap_anon);
    tcase_add_test(tc, test_mmap_all);
    tcase_add_test(tc, test_api_dump);
    suite_add_tcase(s, tc);

    tc = tcase_create("signals");
    tcase_add_unchecked_fixture(tc, tu_tempbase_setup, tu_tempbase_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 90);
    tcase_add_loop_test(tc, test_signal_while_idle, 0, (int)(sizeof report_signals / sizeof *report_signals));
    tcase_add_test(tc, test_interval_reports);
    tcase_add_test(tc, test_signal_none);
    tcase_add_test(tc, test_program_owns_the_signal);
    tcase_add_test(tc, test_leak_leads_reservation_apart);
    tcase_add_loop_test(tc, test_own_signal_takes_default_action, 0,
                        (int)(sizeof default_action_cases / sizeof *default_action_cases));
    tcase_add_test(tc, test_stderr_closed_pipe);
    tcase_add_loop_test(tc, test_main_exits_first, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("host_safety");
    tcase_add_unchecked_fixture(tc, tu_tempbase_setup, tu_tempbase_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_bad_setting, 0, (int)(sizeof bad_settings / sizeof *bad_settings));
    tcase_add_test(tc, test_out_under_regular_file);
    tcase_add_test(tc, test_out_symlink);
    tcase_add_test(tc, test_out_other_owner);
    tcase_add_test(tc, test_file_modes);
    suite_add_tcase(s, tc);

    tc = tcase_create("json_contract");
    tcase_add_unchecked_fixture(tc, tu_tempbase_setup, tu_tempbase_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_json_rules);
    tcase_add_test(tc, test_ids_stable);
    tcase_add_test(tc, test_exit_while_busy);
    suite_add_tcase(s, tc);
    return s;
}

LW_SUITE(integration_suite)
