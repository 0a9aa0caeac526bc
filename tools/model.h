/* model.h — a leakwatch JSON report (docs/report-format.md, versions 1 and 2) read into plain structs.
 * Every subcommand reads reports through model_load, so a missing, empty, truncated, corrupt or foreign
 * file always gets the same kind of one-line error. The sites are decoded one at a time and kept only as
 * these structs (a whole jansson tree takes ten times the file); their strings live in `strings`. */
#ifndef LW_MODEL_H
#define LW_MODEL_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t ip;
    int module;               /* index into lw_report.modules; -1 when the address is in no known module */
    uint64_t offset;          /* ip - module base; valid when module >= 0 */
    const char *function;     /* NULL when the address could not be named */
    uint64_t function_offset;
    /* A Java frame ("java" in the JSON): the method as Java developers read it. */
    bool is_java;
    const char *java_class, *java_method, *java_file;   /* java_file may be NULL */
    long long java_line;      /* 0 when unknown */
    bool java_native;
    bool java_inlined;        /* the JIT inlined it into its caller */
    char *owned_function;     /* a Java frame's "Class.method", which `function` points to (freed with the report) */
} lw_frame;

typedef struct {
    lw_frame *v;
    size_t n;
} lw_stack;

typedef struct {
    const char *kind;         /* "realloc", ... */
    long long age_ms;
    long long thread;
    const char *detail;       /* may be NULL */
    lw_stack frames;
} lw_access;

typedef struct {
    long long blocks, bytes, oldest_age_ms;
    bool representative;      /* "stack":"representative": the site's first stack stands in for these blocks */
    long long unstacked_blocks; /* blocks of the group that have no stack of their own */
    bool full_stack;          /* false: no full stack was kept; created_at holds the site's first frames */
    bool has_since;
    long long since_previous_bytes;
    long long recent_growth_bytes, recent_growth_ms;   /* first reports: the site's current run of growth */
    lw_stack created_at;
    lw_access *recent;
    size_t nrecent;
    const char *held_by;      /* java-heap sites: one chain of references from a GC root, or NULL */
} lw_leak;

typedef struct {
    const char *id;           /* 16 hex digits, stable across runs: what diff and gate match on */
    const char *kind;         /* "heap" or "mmap" */
    long long live_bytes, live_blocks, allocs, frees, bytes_allocated;
    long long oldest_age_ms;  /* -1 when the report does not say */
    long long reserved_untouched_bytes; /* of live_bytes: mapped pages with no memory (0 in version 1) */
    long long samples;        /* java-heap sites: the live samples the estimate rests on (0 otherwise) */
    lw_stack frames;
    lw_leak *leaks;
    size_t nleaks;
} lw_site;

typedef struct {
    long long id;
    const char *path;
    uint64_t base;
    const char *build_id;     /* may be NULL */
} lw_module;

struct lw_strings;

typedef struct {
    const char *file;         /* the path it was read from (owned) */
    json_t *root;             /* the whole report (model_load_tree), or all but the sites not kept (model_load:
                                 none kept; model_load_keep: the first N) */
    struct lw_strings *strings; /* every string the structs point to, copied out of the JSON */
    long long version, pid, ppid, seq, previous_seq, uptime_ms;
    const char *program, *reason, *time;
    double time_ms;           /* "time" as milliseconds since the epoch; NAN when absent or unparsable */
    long long min_age_ms, top;
    long long live_bytes, live_blocks, allocs, frees, mmap_live_bytes, mmap_live_regions, nsites_total;
    long long untracked_frees;
    long long reserved_untouched_bytes; /* of mmap_live_bytes: pages with no memory (0 in version 1) */
    lw_module *modules;
    size_t nmodules;
    lw_site *sites;
    size_t nsites;
    size_t sites_cap;
    const lw_site **by_id;    /* the sites sorted by id, for model_find_site */
    void *why;                /* while loading: the reader's state */
} lw_report;

/* Reads and checks one report. On failure returns NULL and writes one error line (without the
 * "leakwatch: " prefix) into err, naming the file, what is wrong and what to do. */
lw_report *model_load(const char *path, char *err, size_t errlen);

/* As model_load, and `root` keeps the whole JSON tree too (for re-rendering it as JSON). */
lw_report *model_load_tree(const char *path, char *err, size_t errlen);

/* As model_load, and root's "sites" keeps the first keep_sites site objects (all when negative): what
 * `report --format json --top N` re-renders, without the memory of the whole tree. */
lw_report *model_load_keep(const char *path, long keep_sites, char *err, size_t errlen);

/* The same from an open fd (a regular file; path names it in messages and r->file). The fd stays open. */
lw_report *model_load_fd(int fd, const char *path, char *err, size_t errlen);

/* As model_load, printing the error with lw_err. */
lw_report *model_load_or_say(const char *path);

void model_free(lw_report *r);

/* The site with this id, or NULL: a binary search, O(log n). */
const lw_site *model_find_site(const lw_report *r, const char *id);

/* The module path of frame f, or NULL. */
const char *model_frame_module(const lw_report *r, const lw_frame *f);

/* Human name of a frame: "func+0x20", else "module+0xoff", else "0xip". */
void model_frame_name(const lw_report *r, const lw_frame *f, bool with_offset, char *buf, size_t len);

/* The creation stack that best describes a site: its largest leak group's, else the site's key frames. */
const lw_stack *model_site_stack(const lw_site *s);

#endif
