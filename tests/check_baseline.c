/* check_baseline — `leakwatch gate --baseline VERDICT.json` against a verdict the main branch stored with
 * --json: a growing site fails only when it is new or grows clearly faster than there, matched by id and,
 * when ids changed with a rebuild, by creation stack; and `--annotations github` workflow commands, escaped. */
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

#define KNOWN_ID "00000000000000aa"
#define CACHE_ID "00000000000000bb"
#define NEW_ID "00000000000000ee"
#define REBUILT_ID "00000000000000ab"

struct grower {
    const char *id, *fn;
    long long per_round;       /* bytes a round; 0: a flat site of 64 KiB */
};

/* Five rounds of a service whose sites grow as given; returns the paths (NULL-terminated). */
static char **rounds(const char *dir, const char *tag, const struct grower *gr, size_t n)
{
    char *sub = tu_strf("%s/%s", dir, tag);
    ck_assert(mkdir(sub, 0700) == 0);
    char **files = calloc(6, sizeof *files);
    for (int r = 1; r <= 5; r++) {
        struct fr_site s[8];
        for (size_t i = 0; i < n; i++) {
            long long b = gr[i].per_round ? gr[i].per_round * r : 65536;
            s[i] = (struct fr_site){gr[i].id, {gr[i].fn, "serve", "main", NULL}, b, b / 256, 0, 0, r * 60000LL,
                                    b / 256, b};
        }
        char name[32];
        snprintf(name, sizeof name, "svc.100.%d.json", r);
        files[r - 1] = fr_write(sub, name, r, r * 60, s, n);
    }
    free(sub);
    return files;
}

static void free_files(char **v)
{
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* leakwatch gate F1..F5 extra...; returns the exit code. */
static int gate(struct tu_proc *p, char **files, const char *a1, const char *a2, const char *a3, const char *a4)
{
    char *lw = tu_strf("%s/leakwatch", tu_build_dir());
    char *argv[] = {lw, "gate", files[0], files[1], files[2], files[3], files[4], (char *)a1, (char *)a2, (char *)a3,
                    (char *)a4, NULL};
    struct tu_env env;
    tu_env_base(&env, "/nonexistent");
    tu_run(p, argv, env.vars, 60);
    tu_env_free(&env);
    free(lw);
    return WIFEXITED(p->status) ? WEXITSTATUS(p->status) : -1;
}

/* The main branch's verdict: one known leak of 100 KiB a round and a flat cache. */
static char *main_verdict(const char *dir)
{
    static const struct grower main_sites[] = {{KNOWN_ID, "build_response", 102400}, {CACHE_ID, "cache_insert", 0}};
    char **f = rounds(dir, "main", main_sites, 2);
    char *json = tu_strf("%s/main-verdict.json", dir);
    struct tu_proc p;
    ck_assert_int_eq(gate(&p, f, "--json", json, NULL, NULL), 1);
    tu_proc_free(&p);
    free_files(f);
    return json;
}

START_TEST(baseline_fails_only_new_growth)
{
    char *dir = tu_tempdir();
    char *base = main_verdict(dir);
    static const struct grower branch[] = {{KNOWN_ID, "build_response", 110000}, {CACHE_ID, "cache_insert", 0},
                                           {NEW_ID, "parse_header", 102400}};
    char **f = rounds(dir, "branch", branch, 3);
    struct tu_proc p;
    int rc = gate(&p, f, "--baseline", base, NULL, NULL);
    ck_assert_msg(rc == 1, "exit %d: %s %s", rc, p.out, p.err);
    ck_assert_msg(strstr(p.out, "FAIL  site " NEW_ID) && strstr(p.out, "baseline: new: no site of the baseline"),
                  "the new leak: %s", p.out);
    ck_assert_msg(!strstr(p.out, "FAIL  site " KNOWN_ID), "the known leak failed: %s", p.out);
    ck_assert_msg(strstr(p.out, "known site " KNOWN_ID ": grows as in the baseline") &&
                  strstr(p.out, "(matched by id)"), "the known leak is not shown: %s", p.out);
    ck_assert_msg(strstr(p.out, "leakwatch gate: FAIL: 1 site keeps growing"), "%s", p.out);
    tu_proc_free(&p);

    /* Without the baseline both leaks fail: the baseline is what excuses the known one. */
    rc = gate(&p, f, NULL, NULL, NULL, NULL);
    ck_assert_msg(rc == 1 && strstr(p.out, "FAIL  site " KNOWN_ID) && strstr(p.out, "FAIL: 2 sites"), "%s", p.out);
    tu_proc_free(&p);
    free_files(f);
    free(base);
    free(dir);
}
END_TEST

START_TEST(baseline_matches_rebuilt_sites_by_stack_and_fails_faster_growth)
{
    char *dir = tu_tempdir();
    char *base = main_verdict(dir);
    /* A rebuild changed the site's id (build id in its hash); its stack is the same. */
    static const struct grower same[] = {{REBUILT_ID, "build_response", 102400}, {CACHE_ID, "cache_insert", 0}};
    char **f = rounds(dir, "same", same, 2);
    struct tu_proc p;
    int rc = gate(&p, f, "--baseline", base, NULL, NULL);
    ck_assert_msg(rc == 0, "exit %d: %s %s", rc, p.out, p.err);
    ck_assert_msg(strstr(p.out, "known site " REBUILT_ID) && strstr(p.out, "(matched by creation stack)") &&
                  strstr(p.out, "PASS: no site is new and growing or grows clearly faster"), "%s", p.out);
    tu_proc_free(&p);
    free_files(f);

    /* 2.5 times the baseline's rate, and 150 KiB a round more than it: clearly faster. */
    static const struct grower faster[] = {{KNOWN_ID, "build_response", 256000}, {CACHE_ID, "cache_insert", 0}};
    f = rounds(dir, "faster", faster, 2);
    char *js = tu_strf("%s/faster.json", dir);
    rc = gate(&p, f, "--baseline", base, "--json", js);
    ck_assert_msg(rc == 1, "exit %d: %s %s", rc, p.out, p.err);
    ck_assert_msg(strstr(p.out, "FAIL  site " KNOWN_ID) &&
                  strstr(p.out, "baseline: grows faster than in the baseline: +250.0 KiB per round against +100.0 KiB"),
                  "%s", p.out);
    char *j = tu_slurp(js);
    ck_assert_msg(j && strstr(j, "\"baseline\": \"faster\""), "--json: %s", j);
    free(j);
    free(js);
    tu_proc_free(&p);
    free_files(f);

    /* 1.5 times the baseline's rate is within what the baseline explains. */
    static const struct grower bit[] = {{KNOWN_ID, "build_response", 153600}, {CACHE_ID, "cache_insert", 0}};
    f = rounds(dir, "bit", bit, 2);
    rc = gate(&p, f, "--baseline", base, NULL, NULL);
    ck_assert_msg(rc == 0 && strstr(p.out, "known site " KNOWN_ID), "exit %d: %s", rc, p.out);
    tu_proc_free(&p);
    free_files(f);
    free(base);
    free(dir);
}
END_TEST

START_TEST(github_annotations_are_escaped)
{
    char *dir = tu_tempdir();
    static const struct grower sites[] = {{NEW_ID, "evil%0A\n::warning::x,y:z", 102400},
                                          {CACHE_ID, "cache_insert", 0}};
    char **f = rounds(dir, "evil", sites, 2);
    struct tu_proc p;
    int rc = gate(&p, f, "--annotations", "github", NULL, NULL);
    ck_assert_msg(rc == 1, "exit %d: %s %s", rc, p.out, p.err);
    int commands = 0;
    const char *line = NULL;
    for (const char *l = p.out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, "::error", 7) == 0) {
            commands++;
            line = l;
        }
    ck_assert_msg(commands == 1, "%d ::error commands, want 1: %s", commands, p.out);
    const char *want = "::error title=leakwatch gate%3A site " NEW_ID " (heap)::keeps growing: ";
    ck_assert_msg(strncmp(line, want, strlen(want)) == 0, "%s", line);
    ck_assert_msg(strstr(line, "; created at evil%250A%0A::warning::x,y:z < serve < main\n"), "%s", line);
    tu_proc_free(&p);
    rc = gate(&p, f, "--annotations", "gitlab", NULL, NULL);
    ck_assert_msg(rc == 2 && strstr(p.err, "--annotations \"gitlab\" is unknown"), "%s", p.err);
    tu_proc_free(&p);
    char *bad = tu_strf("%s/bad.json", dir);
    FILE *b = fopen(bad, "w");
    fputs("{\"format\":\"leakwatch-report\"}", b);
    fclose(b);
    rc = gate(&p, f, "--baseline", bad, NULL, NULL);
    ck_assert_msg(rc == 2 && strstr(p.err, "not a gate verdict") && strchr(p.err, '\n') == p.err + p.err_len - 1,
                  "%s", p.err);
    tu_proc_free(&p);
    free(bad);
    free_files(f);
    free(dir);
}
END_TEST

static Suite *baseline_suite(void)
{
    Suite *s = suite_create("baseline");
    TCase *tc = tcase_create("baseline");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, tu_tempbase_setup, tu_tempbase_teardown);
    tcase_add_test(tc, baseline_fails_only_new_growth);
    tcase_add_test(tc, baseline_matches_rebuilt_sites_by_stack_and_fails_faster_growth);
    tcase_add_test(tc, github_annotations_are_escaped);
    suite_add_tcase(s, tc);
    return s;
}

LW_SUITE(baseline_suite)
