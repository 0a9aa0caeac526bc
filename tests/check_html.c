/* check_html — `leakwatch report --format html` and `gate --html FILE` opened in a real browser (Debian's
 * chromium, headless): the inline script ran and drew one flame-graph node per frame with width = live bytes and
 * colour by age, names that are markup stay text, the page fetches nothing, and the gate's failing site gets
 * its rounds chart. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_suites.h"
#include "fakereport.h"
#include "testutil.h"

#define EVIL "<img src=x onerror=\"document.title='pwned'\">"
#define EVIL2 "</script><script>document.title='pwned2'</script>"

static const struct fr_site sites[] = {
    {"00000000000000a1", {"build_response", "serve", "main", NULL}, 307200, 300, 0, 0, 41200, 300, 307200},
    {"00000000000000b2", {"cache_insert", "serve", "main", NULL}, 98304, 96, 0, 0, 20600, 96, 98304},
    {"00000000000000c3", {EVIL, EVIL2, "main", NULL}, 65536, 4, 0, 0, 800, 4, 65536},
    {"00000000000000d4", {"build_response", "retry", "main", NULL}, 4096, 2, 4096, 2, 100, 2, 4096},
    {"00000000000000e5", {"__proto__", "constructor", "main", NULL}, 1024, 1, 0, 0, 100, 1, 1024},
    {"00000000000000f6", {"__proto__", "constructor", "main", NULL}, 1024, 1, 0, 0, 100, 1, 1024},
};

static int run(struct tu_proc *p, char **argv, const char *dir)
{
    struct tu_env env;
    tu_env_base(&env, dir);
    tu_env_set(&env, "HOME", dir);
    tu_run(p, argv, env.vars, 120);
    tu_env_free(&env);
    return WIFEXITED(p->status) ? WEXITSTATUS(p->status) : -1;
}

/* The page after its scripts ran, as chromium serialises the DOM (owned). */
static char *browse(const char *dir, const char *page, const char *screenshot)
{
    ck_assert_msg(access("/usr/bin/chromium", X_OK) == 0, "chromium is not installed (scripts/deps.sh installs it)");
    char *profile = tu_strf("--user-data-dir=%s/chromium", dir), *url = tu_strf("file://%s", page);
    char *shot = screenshot ? tu_strf("--screenshot=%s", screenshot) : tu_strf("--dump-dom");
    char *argv[] = {"/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--window-size=1280,1000", profile, shot, url, NULL};
    struct tu_proc p;
    int rc = run(&p, argv, dir);
    ck_assert_msg(rc == 0, "chromium: %s: %.2000s", tu_status_str(&p), p.err);
    char *dom = strdup(p.out);
    tu_proc_free(&p);
    free(profile);
    free(url);
    free(shot);
    return dom;
}

/* The data-bytes of the flame node named name (as serialised, i.e. HTML-escaped) under data-name. */
static long long node_bytes(const char *dom, const char *name, int nth)
{
    char *key = tu_strf("class=\"frame\" data-name=\"%s\" data-bytes=\"", name);
    const char *p = dom;
    for (int i = 0; i <= nth; i++) {
        p = strstr(p, key);
        ck_assert_msg(p != NULL, "no flame node %s (#%d) in the DOM:\n%.3000s", name, nth, dom);
        if (i < nth)
            p++;
    }
    long long v = atoll(p + strlen(key));
    free(key);
    return v;
}

/* xmllint's HTML parser finds nothing wrong but the SVG elements inline in HTML5, which it does not know. */
static bool xmllint_html(const char *path)
{
    char *argv[] = {"/usr/bin/xmllint", "--html", "--noout", (char *)path, NULL};
    struct tu_proc p;
    int rc = run(&p, argv, "/tmp");
    ck_assert_msg(rc != 127 && rc != -1, "xmllint did not run (scripts/deps.sh installs libxml2-utils)");
    static const char *const svg_tags[] = {"Tag svg invalid", "Tag rect invalid", "Tag polyline invalid",
                                           "Tag text invalid"};
    int problems = 0;
    for (const char *l = p.err; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        const char *e = strchr(l, '\n');
        const char *pe = strstr(l, "parser error");
        if (!pe || (e && pe > e))
            continue;
        bool svg = false;
        for (size_t i = 0; i < 4; i++) {
            const char *t = strstr(l, svg_tags[i]);
            svg |= t && (!e || t < e);
        }
        if (!svg) {
            fprintf(stderr, "xmllint --html %s: %.*s\n", path, e ? (int)(e - l) : (int)strlen(l), l);
            problems++;
        }
    }
    tu_proc_free(&p);
    return problems == 0;
}

/* Nothing in the page can make a browser fetch: no external script, style, font or image. */
static void self_contained(const char *page)
{
    /* The SVG namespace name is an identifier, never fetched. */
    char *html = strdup(page);
    for (char *ns; (ns = strstr(html, "http://www.w3.org/2000/svg"));)
        memset(ns, '_', 7);
    static const char *const fetches[] = {"<script src", "<link", "<img", "<iframe", "url(", "@import", "http://",
                                          "https://", "//cdn"};
    for (size_t i = 0; i < sizeof fetches / sizeof fetches[0]; i++)
        ck_assert_msg(!strstr(html, fetches[i]), "the page holds \"%s\"", fetches[i]);
    ck_assert_msg(strstr(html, "Content-Security-Policy\" content=\"default-src 'none'"), "no CSP");
    free(html);
}

START_TEST(html_report_draws_the_flame_graph_in_a_browser)
{
    char *dir = tu_tempdir();
    char *rep = fr_write(dir, "svc.100.1.json", 1, 30, sites, 6);
    char *lw = tu_strf("%s/leakwatch", tu_build_dir());
    char *argv[] = {lw, "report", rep, "--format", "html", NULL};
    struct tu_proc p;
    ck_assert_int_eq(run(&p, argv, dir), 0);
    char *page = tu_strf("%s/report.html", dir);
    FILE *f = fopen(page, "w");
    ck_assert(f && fwrite(p.out, 1, p.out_len, f) == p.out_len);
    fclose(f);
    self_contained(p.out);
    ck_assert_msg(!strstr(p.out, "<img") && !strstr(p.out, "</script><script>document"), "a name became markup");
    ck_assert_msg(strstr(p.out, "&lt;img src=x onerror=&quot;document.title=&#39;pwned&#39;&quot;&gt;"),
                  "leak records do not show the name escaped");
    tu_proc_free(&p);
    ck_assert(xmllint_html(page));

    char *dom = browse(dir, page, NULL);
    ck_assert_msg(strstr(dom, "<title>leakwatch: svc</title>"), "a name ran as script: %.300s", dom);
    ck_assert_msg(strstr(dom, "id=\"flame\" data-frames=\"11\""), "the script did not draw 11 nodes: %.3000s", dom);
    ck_assert_int_eq(node_bytes(dom, "all", 0), 307200 + 98304 + 65536 + 4096 + 2048);
    ck_assert_int_eq(node_bytes(dom, "main", 0), 307200 + 98304 + 65536 + 2048);
    /* Names a plain object would take for its own members are frames like any other: two sites' stacks meet
     * in one __proto__ node. */
    ck_assert_int_eq(node_bytes(dom, "constructor", 0), 2048);
    ck_assert_int_eq(node_bytes(dom, "__proto__", 0), 2048);
    /* The last site's blocks are all younger than the age threshold, so in no leak record: they stand on the
     * site's key frames (build_response < retry), which is all the report knows of them. */
    ck_assert_int_eq(node_bytes(dom, "retry", 0), 4096);
    ck_assert_int_eq(node_bytes(dom, "serve", 0), 307200 + 98304);
    ck_assert_int_eq(node_bytes(dom, "build_response", 0), 307200);
    ck_assert_int_eq(node_bytes(dom, "build_response", 1), 4096);
    ck_assert_int_eq(node_bytes(dom, "&lt;img src=x onerror=&quot;document.title='pwned'&quot;&gt;", 0), 65536);
    /* Width is bytes: the serve node's rect is (307200 + 98304) / 477184 of the 1200 units. */
    const char *serve = strstr(dom, "data-name=\"serve\"");
    ck_assert_msg(serve && strstr(serve, "width=\"1019.74\""), "serve width: %.400s", serve);
    /* Colour is the oldest block's age: the 41.2 s old record is the reddest, the 0.8 s one nearly yellow. */
    const char *old = strstr(dom, "data-name=\"build_response\""), *young = strstr(dom, "data-name=\"&lt;img");
    ck_assert_msg(old && strstr(old, "fill=\"hsl(0,85%,52%)\""), "%.400s", old);
    ck_assert_msg(young && strstr(young, "fill=\"hsl(54,85%,70%)\""), "%.400s", young);
    free(dom);

    char *png = tu_strf("%s/report.png", dir);
    free(browse(dir, page, png));
    char *img = tu_slurp(png);
    struct stat st;
    ck_assert_msg(img && stat(png, &st) == 0 && st.st_size > 20000 && memcmp(img, "\x89PNG", 4) == 0,
                  "no real screenshot at %s", png);
    if (getenv("LEAKWATCH_KEEP_SCREENSHOT")) {
        char *cmd = tu_strf("cp '%s' '%s'", png, getenv("LEAKWATCH_KEEP_SCREENSHOT"));
        ck_assert(system(cmd) == 0);
        free(cmd);
    }
    free(img);
    free(png);
    free(page);
    free(lw);
    free(rep);
    free(dir);
}
END_TEST

START_TEST(gate_html_charts_the_failing_sites_rounds)
{
    char *dir = tu_tempdir();
    char *files[5];
    for (int r = 1; r <= 5; r++) {
        struct fr_site s[2] = {sites[0], sites[1]};
        s[0].bytes = 102400LL * r;
        s[0].blocks = 100LL * r;
        s[0].oldest_ms = s[1].oldest_ms = 60000LL * r;
        char name[32];
        snprintf(name, sizeof name, "svc.100.%d.json", r);
        files[r - 1] = fr_write(dir, name, r, r * 60, s, 2);
    }
    char *lw = tu_strf("%s/leakwatch", tu_build_dir()), *page = tu_strf("%s/gate.html", dir);
    char *argv[] = {lw, "gate", files[0], files[1], files[2], files[3], files[4], "--html", page, NULL};
    struct tu_proc p;
    ck_assert_msg(run(&p, argv, dir) == 1, "gate: %s %s", p.out, p.err);
    tu_proc_free(&p);
    char *html = tu_slurp(page);
    ck_assert_msg(html != NULL, "--html wrote nothing");
    self_contained(html);
    free(html);
    ck_assert(xmllint_html(page));
    char *dom = browse(dir, page, NULL);
    ck_assert_msg(strstr(dom, "Gate verdict: <span class=\"fail\">FAIL</span>"), "%.2000s", dom);
    const char *chart = strstr(dom, "<svg class=\"rounds\" data-site=\"00000000000000a1\"");
    ck_assert_msg(chart != NULL, "no rounds chart for the failing site: %.3000s", dom);
    ck_assert_msg(!strstr(dom, "data-site=\"00000000000000b2\""), "a passing site got a chart");
    /* Five rounds, rising: the last point is at the top of the plot (y = 14), the first at a fifth of it. */
    const char *pts = strstr(chart, "<polyline points=\"");
    ck_assert_msg(pts && strncmp(pts + 18, "8.0,82.8 94.0,65.6 180.0,48.4 266.0,31.2 352.0,14.0\"", 52) == 0,
                  "%.300s", pts);
    ck_assert_int_eq(node_bytes(dom, "build_response", 0), 512000);
    free(dom);
    for (int r = 0; r < 5; r++)
        free(files[r]);
    free(page);
    free(lw);
    free(dir);
}
END_TEST

/* A page for a report of more stacks than a browser should draw one by one: the largest are drawn, the rest are
 * summed into one node, so the widths still add up to every live byte. */
START_TEST(html_sums_the_smallest_stacks_of_a_big_report)
{
    enum { N = 20003 };
    char *dir = tu_tempdir();
    struct fr_site *many = calloc(N, sizeof *many);
    char (*ids)[17] = calloc(N, sizeof *ids);
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "%016x", i + 1);
        /* distinct sizes: 1000 + i bytes, so the three smallest are 1000, 1001 and 1002 */
        many[i] = (struct fr_site){ids[i], {i < 3 ? "tiny_alloc" : "big_alloc", "serve", "main", NULL},
                                   1000 + i, 1, 0, 0, 5000, 1, 1000 + i};
    }
    char *rep = fr_write(dir, "svc.100.1.json", 1, 30, many, N);
    char *lw = tu_strf("%s/leakwatch", tu_build_dir());
    char *argv[] = {lw, "report", rep, "--format", "html", "--top", "1", NULL};
    struct tu_proc p;
    ck_assert_int_eq(run(&p, argv, dir), 0);
    ck_assert_msg(strstr(p.out, "{\"frames\":[\"[3 smaller stacks]\"],\"bytes\":3003,"), "no summed node");
    ck_assert_msg(!strstr(p.out, "tiny_alloc\""), "a summed stack was drawn on its own");
    ck_assert_msg(strstr(p.out, "\"big_alloc\""), "the drawn stacks are missing");
    tu_proc_free(&p);
    free(lw);
    free(rep);
    free(ids);
    free(many);
    free(dir);
}
END_TEST

/* A mapping's reserved, untouched address space holds no memory: the page counts it apart and draws it nowhere. */
START_TEST(html_leaves_reserved_space_out)
{
    char *dir = tu_tempdir();
    char *rep = fr_write(dir, "svc.100.1.json", 1, 30, sites, 1);
    json_error_t je;
    json_t *root = json_load_file(rep, 0, &je);
    ck_assert_ptr_nonnull(root);
    json_t *frame = json_pack("{s:s,s:i}", "ip", "0x7f0000001000", "module", -1);
    json_array_append_new(json_object_get(root, "sites"),
                          json_pack("{s:s,s:s,s:I,s:i,s:I,s:[o],s:[]}", "id", "00000000000000ee", "kind", "mmap",
                                    "live_bytes", (json_int_t)1 << 30, "live_blocks", 1, "reserved_untouched_bytes",
                                    (json_int_t)1 << 30, "frames", frame, "leaks"));
    json_t *totals = json_object_get(root, "totals");
    json_object_set_new(totals, "mmap_live_bytes", json_integer((json_int_t)1 << 30));
    json_object_set_new(totals, "mmap_live_regions", json_integer(1));
    json_object_set_new(totals, "reserved_untouched_bytes", json_integer((json_int_t)1 << 30));
    ck_assert_int_eq(json_dump_file(root, rep, JSON_COMPACT), 0);
    json_decref(root);
    char *lw = tu_strf("%s/leakwatch", tu_build_dir());
    char *argv[] = {lw, "report", rep, "--format", "html", NULL};
    struct tu_proc p;
    ck_assert_int_eq(run(&p, argv, dir), 0);
    ck_assert_msg(strstr(p.out, "300.0 KiB live in heap blocks and anonymous mappings, besides 1.0 GiB of mappings "
                                "reserved or never touched (no memory: not drawn)."), "%.800s", p.out);
    ck_assert_msg(!strstr(p.out, "\"site\":\"00000000000000ee\""), "the reservation is drawn in the flame graph");
    ck_assert_msg(strstr(p.out, "\"site\":\"00000000000000a1\""), "the heap site is not drawn");
    tu_proc_free(&p);
    free(lw);
    free(rep);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

static Suite *html_suite(void)
{
    Suite *s = suite_create("html");
    TCase *tc = tcase_create("html");
    tcase_set_timeout(tc, 300);
    tcase_add_unchecked_fixture(tc, tu_tempbase_setup, tu_tempbase_teardown);
    tcase_add_test(tc, html_report_draws_the_flame_graph_in_a_browser);
    tcase_add_test(tc, gate_html_charts_the_failing_sites_rounds);
    tcase_add_test(tc, html_sums_the_smallest_stacks_of_a_big_report);
    tcase_add_test(tc, html_leaves_reserved_space_out);
    suite_add_tcase(s, tc);
    return s;
}

LW_SUITE(html_suite)
