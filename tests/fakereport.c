/* fakereport.c — synthetic reports for the tools' tests (see fakereport.h). */
#include "fakereport.h"
#include <check.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "testutil.h"

#define SVC_BASE 0x400000ULL
#define LIBC_BASE 0x7f0000000000ULL

static json_t *frame(size_t site, size_t depth, const char *fn)
{
    char ip[32], off[32];
    if (strncmp(fn, "J:", 2) == 0) {
        snprintf(ip, sizeof ip, "0x%llx", 0x7e0000001000ULL + 0x100 * site + 0x10 * depth);
        return json_pack("{s:s,s:i,s:s,s:s}", "ip", ip, "module", -1, "function", fn + 2, "function_offset", "0x40");
    }
    bool libc = strncmp(fn, "__libc", 6) == 0;
    unsigned long long o = 0x1000 + 0x100 * site + 0x10 * depth;
    snprintf(ip, sizeof ip, "0x%llx", (libc ? LIBC_BASE : SVC_BASE) + o);
    snprintf(off, sizeof off, "0x%llx", o);
    return json_pack("{s:s,s:i,s:s,s:s,s:s}", "ip", ip, "module", libc ? 1 : 0, "offset", off, "function", fn,
                     "function_offset", "0x10");
}

static json_t *frames(size_t site, const struct fr_site *s, size_t max)
{
    json_t *a = json_array();
    for (size_t d = 0; d < 6 && d < max && s->frames[d]; d++)
        json_array_append_new(a, frame(site, d, s->frames[d]));
    return a;
}

char *fr_write(const char *dir, const char *name, int seq, int t, const struct fr_site *s, size_t n)
{
    json_t *sites = json_array();
    long long total = 0, blocks = 0;
    for (size_t i = 0; i < n; i++) {
        total += s[i].bytes;
        blocks += s[i].blocks;
        json_t *leaks = json_array();
        if (s[i].bytes > s[i].young_bytes)
            json_array_append_new(leaks, json_pack("{s:I,s:I,s:I,s:s,s:i,s:o,s:[]}", "blocks",
                                                   s[i].blocks - s[i].young_blocks, "bytes",
                                                   s[i].bytes - s[i].young_bytes, "oldest_age_ms", s[i].oldest_ms,
                                                   "stack", "own", "unstacked_blocks", 0, "created_at",
                                                   frames(i, &s[i], 6), "recent_access"));
        json_array_append_new(sites, json_pack("{s:s,s:s,s:I,s:I,s:I,s:i,s:I,s:I,s:o,s:o}", "id", s[i].id, "kind",
                                               "heap", "live_bytes", s[i].bytes, "live_blocks", s[i].blocks, "allocs",
                                               s[i].allocs, "frees", 0, "bytes_allocated", s[i].bytes_allocated,
                                               "oldest_age_ms", s[i].oldest_ms, "frames", frames(i, &s[i], 2),
                                               "leaks", leaks));
    }
    char when[64];
    snprintf(when, sizeof when, "2026-11-22T05:%02d:%02d.000Z", t / 60, t % 60);
    json_t *root = json_pack("{s:s,s:i,s:i,s:i,s:s,s:[s],s:s,s:i,s:i,s:s,s:i,s:{s:i,s:i},"
                             "s:{s:I,s:I,s:i,s:i},s:[{s:i,s:s,s:s,s:s},{s:i,s:s,s:s,s:s}],s:o}",
                             "format", "leakwatch-report", "version", 1, "pid", 100, "ppid", 1, "program",
                             "/usr/bin/svc", "cmdline", "svc", "reason", "signal", "seq", seq, "previous_seq",
                             seq - 1, "time", when, "uptime_ms", t * 1000, "config", "min_age_ms", 10000, "top", 20,
                             "totals", "live_bytes", total, "live_blocks", blocks, "mmap_live_bytes", 0,
                             "mmap_live_regions", 0, "modules", "id", 0, "path", "/usr/bin/svc", "base", "0x400000",
                             "build_id", "5eed0000000000000000000000000000000000aa", "id", 1, "path",
                             "/lib/x86_64-linux-gnu/libc.so.6", "base", "0x7f0000000000", "build_id",
                             "11bc0000000000000000000000000000000000bb", "sites", sites);
    ck_assert_msg(root != NULL, "json_pack of the fake report failed");
    char *path = tu_strf("%s/%s", dir, name);
    ck_assert_msg(json_dump_file(root, path, JSON_COMPACT) == 0, "cannot write %s", path);
    json_decref(root);
    return path;
}
