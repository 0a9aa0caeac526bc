/* model.h — a leakwatch JSON report (docs/report-format.md, versions 1 and 2) read into plain structs.
 * Every subcommand reads reports through model_load, so a missing, empty, truncated, corrupt or foreign
 * file always gets the same kind of one-line error. The JSON is read as a stream of tokens (jsonread.h,
 * model_read.h) and kept only as these structs; their strings and stacks live in a few large `chunks`.
 * No locks; not async-signal-safe. */
#ifndef LW_MODEL_H
#define LW_MODEL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A Java frame's method, as Java developers read it ("java" in the JSON). */
typedef struct {
    const char *class_name, *method, *file;   /* file may be NULL */
    long long line;           /* 0 when unknown */
    bool native;
    bool inlined;             /* the JIT inlined it into its caller */
} lw_java_frame;

typedef struct {
    /* kept small and without padding: a large report holds millions of frames */
    uint64_t ip;
    uint64_t offset;          /* ip - module base; valid when module >= 0 */
    const char *function;     /* NULL when the address could not be named; "Class.method" for a Java frame */
    uint64_t function_offset;
    const lw_java_frame *java; /* NULL for a native frame */
    int module;               /* index into lw_report.modules; -1 when the address is in no known module */
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
    bool has_class_exact;     /* java-heap sites: the report counted every object of the site's class */
    long long class_exact_objects, class_exact_bytes; /* that count: the class in the whole heap, not the site */
} lw_leak;

typedef struct {
    const char *id;           /* 16 hex digits, stable across runs: what diff and gate match on */
    uint64_t id_key;          /* id as a number: the index compares these, in the order of the id strings */
    const char *kind;         /* "heap" or "mmap" */
    long long live_bytes, live_blocks, allocs, frees, bytes_allocated;
    long long oldest_age_ms;  /* -1 when the report does not say */
    long long reserved_untouched_bytes; /* of live_bytes: mapped pages with no memory (0 in version 1) */
    long long samples;        /* java-heap sites: the live samples the estimate rests on (0 otherwise) */
    const char *class_name;   /* java-heap sites: the objects' class as Java writes it, or NULL */
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

struct lw_chunk;

typedef struct {
    const char *file;         /* the path it was read from (owned) */
    struct lw_chunk *chunks;  /* the strings, stacks, groups and records the structs point to */
    long long version, pid, ppid, seq, previous_seq, uptime_ms;
    const char *program, *reason, *time;
    double time_ms;           /* "time" as milliseconds since the epoch; NAN when absent or unparsable */
    long long min_age_ms, top;
    long long live_bytes, live_blocks, allocs, frees, mmap_live_bytes, mmap_live_regions, nsites_total;
    long long untracked_frees;
    long long reserved_untouched_bytes; /* of mmap_live_bytes: pages with no memory (0 in version 1) */
    long long java_sampling_interval_bytes; /* java_heap.sampling_interval_bytes, 0 when absent */
    lw_module *modules;
    size_t nmodules;
    lw_site *sites;
    size_t nsites;
    size_t sites_cap;
    const lw_site **by_id;    /* the sites sorted by id, for model_find_site */
    bool sites_not_kept;      /* model_check_fd: the sites were checked and let go; sites is empty */
} lw_report;

/* Reads and checks one report. On failure returns NULL and writes one error line (without the
 * "leakwatch: " prefix) into err, naming the file, what is wrong and what to do. */
lw_report *model_load(const char *path, char *err, size_t errlen);

/* The same from an open fd (a regular file; path names it in messages and r->file). The fd stays open. */
lw_report *model_load_fd(int fd, const char *path, char *err, size_t errlen);

/* As model_load_fd, but the sites are only checked (ids unique included), not kept: a report of any size
 * in the memory of its header, its modules and its site ids. For rendering that streams the file again. */
lw_report *model_check_fd(int fd, const char *path, char *err, size_t errlen);

/* Opens a report file for reading as model_load does (a regular file, never blocking on a FIFO); -1 with
 * the error line in err. */
int model_open(const char *path, char *err, size_t errlen);

/* As model_load, printing the error with lw_err. */
lw_report *model_load_or_say(const char *path);

void model_free(lw_report *r);

/* The site with this id, or NULL: a binary search, O(log n). */
const lw_site *model_find_site(const lw_report *r, const char *id);
/* The same by a site's id_key. */
const lw_site *model_find_site_key(const lw_report *r, uint64_t key);

/* The module path of frame f, or NULL. */
const char *model_frame_module(const lw_report *r, const lw_frame *f);

/* Human name of a frame: "func+0x20", else "module+0xoff", else "0xip". */
void model_frame_name(const lw_report *r, const lw_frame *f, bool with_offset, char *buf, size_t len);

/* The creation stack that best describes a site: its largest leak group's, else the site's key frames. */
const lw_stack *model_site_stack(const lw_site *s);

#endif
