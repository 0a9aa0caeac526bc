/* model.c — reads a leakwatch JSON report with jansson and checks it against the contract (versions 1 and 2).
 * Field getters record the first problem in the load context and return a neutral value, so the loader
 * reads straight through and reports one precise reason ("sites[3].live_bytes is not an integer"). */
#include "model.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "jscan.h"

#define REPORT_VERSION 2

typedef struct {
    char why[256];            /* first problem found, empty while all is well */
    lw_report *r;             /* where strings are kept */
} load_ctx;

static void bad(load_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bad(load_ctx *c, const char *fmt, ...)
{
    if (c->why[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
}

/* Strings copied out of the JSON, in chunks freed with the report. */
struct lw_strings {
    struct lw_strings *next;
    size_t used, cap;
    char data[];
};

static const char *keep(load_ctx *c, const char *s)
{
    size_t n = strlen(s) + 1;
    struct lw_strings *k = c->r->strings;
    if (!k || k->cap - k->used < n) {
        size_t cap = n > (1u << 20) ? n : (1u << 20);
        k = malloc(sizeof *k + cap);
        if (!k) {
            bad(c, "out of memory");
            return "";
        }
        *k = (struct lw_strings){c->r->strings, 0, cap};
        c->r->strings = k;
    }
    char *out = k->data + k->used;
    memcpy(out, s, n);
    k->used += n;
    return out;
}

static long long get_int(load_ctx *c, json_t *obj, const char *key, const char *where, bool required)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required)
            bad(c, "%s%s is missing", where, key);
        return 0;
    }
    if (!json_is_integer(v)) {
        bad(c, "%s%s is not an integer", where, key);
        return 0;
    }
    return json_integer_value(v);
}

/* A count, size or age: the contract allows only integers from 0 to 2^63-1. */
static long long get_count(load_ctx *c, json_t *obj, const char *key, const char *where, bool required)
{
    long long v = get_int(c, obj, key, where, required);
    if (v < 0) {
        bad(c, "%s%s is %lld: it is a count, size or age and the format allows only 0 to 2^63-1", where, key, v);
        return 0;
    }
    return v;
}

static const char *get_str(load_ctx *c, json_t *obj, const char *key, const char *where, bool required)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required)
            bad(c, "%s%s is missing", where, key);
        return NULL;
    }
    if (!json_is_string(v)) {
        bad(c, "%s%s is not a string", where, key);
        return NULL;
    }
    return keep(c, json_string_value(v));
}

static uint64_t get_hex(load_ctx *c, json_t *obj, const char *key, const char *where, bool required)
{
    const char *s = get_str(c, obj, key, where, required);
    if (!s)
        return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 16);
    if (strncmp(s, "0x", 2) != 0 || errno || *end) {
        bad(c, "%s%s is not a 0x hex address (\"%.40s\")", where, key, s);
        return 0;
    }
    return v;
}

static json_t *get_array(load_ctx *c, json_t *obj, const char *key, const char *where, bool required)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required)
            bad(c, "%s%s is missing", where, key);
        return NULL;
    }
    if (!json_is_array(v)) {
        bad(c, "%s%s is not an array", where, key);
        return NULL;
    }
    return v;
}

static void read_stack(load_ctx *c, json_t *arr, const char *where, size_t nmodules, lw_stack *st)
{
    st->n = arr ? json_array_size(arr) : 0;
    st->v = st->n ? calloc(st->n, sizeof *st->v) : NULL;
    for (size_t i = 0; i < st->n; i++) {
        char w[160];
        snprintf(w, sizeof w, "%.120s[%zu].", where, i);
        json_t *fo = json_array_get(arr, i);
        lw_frame *f = &st->v[i];
        if (!json_is_object(fo)) {
            bad(c, "%.80s[%zu] is not an object", where, i);
            return;
        }
        f->ip = get_hex(c, fo, "ip", w, true);
        long long m = json_object_get(fo, "module") ? get_int(c, fo, "module", w, true) : -1;
        if (m < -1 || m >= (long long)nmodules) {
            bad(c, "%smodule %lld is not -1 or an index into modules (%zu entries)", w, m, nmodules);
            return;
        }
        f->module = (int)m;
        if (f->module >= 0)
            f->offset = get_hex(c, fo, "offset", w, false);
        f->function = get_str(c, fo, "function", w, false);
        f->function_offset = get_hex(c, fo, "function_offset", w, false);
        json_t *jo = json_object_get(fo, "java");
        if (jo && json_is_object(jo)) {
            char jw[180];
            snprintf(jw, sizeof jw, "%.150sjava.", w);
            f->is_java = true;
            f->java_class = get_str(c, jo, "class", jw, true);
            f->java_method = get_str(c, jo, "method", jw, true);
            f->java_file = get_str(c, jo, "file", jw, false);
            f->java_line = json_object_get(jo, "line") ? get_int(c, jo, "line", jw, false) : 0;
            f->java_native = json_is_true(json_object_get(jo, "native"));
            f->java_inlined = json_is_true(json_object_get(jo, "inlined"));
            /* Tools that know only functions and addresses (pprof, html, suppressions) see "Class.method" and a
             * made-up address per Java frame (class, method, line): the report gives Java frames no address. */
            if (f->java_class && f->java_method && !f->function) {
                size_t n = strlen(f->java_class) + strlen(f->java_method) + 2;
                if ((f->owned_function = malloc(n))) {
                    snprintf(f->owned_function, n, "%s.%s", f->java_class, f->java_method);
                    f->function = f->owned_function;
                }
                uint64_t h = 0xcbf29ce484222325ull;
                for (const char *p = f->owned_function ? f->owned_function : ""; *p; p++)
                    h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
                h = (h ^ (uint64_t)f->java_line) * 0x100000001b3ull;
                f->ip = h | (1ull << 63);
            }
        }
    }
}

static void read_leak(load_ctx *c, json_t *lo, const char *where, size_t nmodules, lw_leak *l)
{
    if (!json_is_object(lo)) {
        bad(c, "%s is not an object", where);
        return;
    }
    char w[160], sub[240];
    snprintf(w, sizeof w, "%.120s.", where);
    l->blocks = get_count(c, lo, "blocks", w, true);
    l->bytes = get_count(c, lo, "bytes", w, true);
    l->oldest_age_ms = get_count(c, lo, "oldest_age_ms", w, false);
    const char *stack = get_str(c, lo, "stack", w, false);
    l->representative = stack && strcmp(stack, "representative") == 0;
    l->unstacked_blocks = get_count(c, lo, "unstacked_blocks", w, false);
    l->held_by = get_str(c, lo, "held_by", w, false);
    /* absent in reports written before it was added: those always had a full stack or said nothing */
    l->full_stack = !json_is_false(json_object_get(lo, "full_stack"));
    l->has_since = json_object_get(lo, "since_previous_bytes") != NULL;
    l->since_previous_bytes = get_int(c, lo, "since_previous_bytes", w, false);
    l->recent_growth_bytes = get_int(c, lo, "recent_growth_bytes", w, false);
    l->recent_growth_ms = get_count(c, lo, "recent_growth_ms", w, false);
    snprintf(sub, sizeof sub, "%.150screated_at", w);
    read_stack(c, get_array(c, lo, "created_at", w, false), sub, nmodules, &l->created_at);
    json_t *ra = get_array(c, lo, "recent_access", w, false);
    l->nrecent = ra ? json_array_size(ra) : 0;
    l->recent = l->nrecent ? calloc(l->nrecent, sizeof *l->recent) : NULL;
    for (size_t i = 0; i < l->nrecent; i++) {
        json_t *ao = json_array_get(ra, i);
        snprintf(sub, sizeof sub, "%.150srecent_access[%zu].", w, i);
        if (!json_is_object(ao)) {
            bad(c, "%.100s is not an object", sub);
            return;
        }
        lw_access *a = &l->recent[i];
        a->kind = get_str(c, ao, "kind", sub, false);
        a->age_ms = get_count(c, ao, "age_ms", sub, false);
        a->thread = get_count(c, ao, "thread", sub, false);
        a->detail = get_str(c, ao, "detail", sub, false);
        char fw[260];
        snprintf(fw, sizeof fw, "%.240sframes", sub);
        read_stack(c, get_array(c, ao, "frames", sub, false), fw, nmodules, &a->frames);
    }
}

static void read_site(load_ctx *c, lw_report *r, json_t *so);
static lw_report *finish(lw_report *r, const char *path, char *err, size_t errlen);
static lw_report *load_fd(int fd, const char *path, long keep_sites, bool whole_tree, char *err, size_t errlen);

static void read_report(load_ctx *c, lw_report *r)
{
    json_t *root = r->root;
    const char *format = get_str(c, root, "format", "", false);
    if (!format) {
        bad(c, "no \"format\" field; this JSON was not written by leakwatch");
        return;
    }
    if (strcmp(format, "leakwatch-report") != 0) {
        bad(c, "\"format\" is \"%.40s\", expected \"leakwatch-report\"", format);
        return;
    }
    r->version = get_int(c, root, "version", "", true);
    if (c->why[0])
        return;
    if (r->version < 1) {
        bad(c, "version is %lld: report versions start at 1", r->version);
        return;
    }
    if (r->version > REPORT_VERSION)
        return;               /* model_load says to upgrade; its fields may mean something else */
    r->pid = get_count(c, root, "pid", "", true);
    r->ppid = get_count(c, root, "ppid", "", false);
    r->program = get_str(c, root, "program", "", true);
    r->reason = get_str(c, root, "reason", "", false);
    r->seq = get_count(c, root, "seq", "", true);
    r->previous_seq = get_count(c, root, "previous_seq", "", false);
    r->time = get_str(c, root, "time", "", false);
    r->time_ms = lw_parse_time_ms(r->time);
    r->uptime_ms = get_count(c, root, "uptime_ms", "", false);
    json_t *cfg = json_object_get(root, "config");
    if (json_is_object(cfg)) {
        r->min_age_ms = get_count(c, cfg, "min_age_ms", "config.", false);
        r->top = get_count(c, cfg, "top", "config.", false);
    }
    /* config holds the setting; the exit report applies 0 (every live block is a leak then). */
    if (r->reason && strcmp(r->reason, "exit") == 0)
        r->min_age_ms = 0;
    json_t *tot = json_object_get(root, "totals");
    if (json_is_object(tot)) {
        r->live_bytes = get_count(c, tot, "live_bytes", "totals.", false);
        r->live_blocks = get_count(c, tot, "live_blocks", "totals.", false);
        r->allocs = get_count(c, tot, "allocs", "totals.", false);
        r->frees = get_count(c, tot, "frees", "totals.", false);
        r->mmap_live_bytes = get_count(c, tot, "mmap_live_bytes", "totals.", false);
        r->mmap_live_regions = get_count(c, tot, "mmap_live_regions", "totals.", false);
        r->nsites_total = get_count(c, tot, "sites", "totals.", false);
        r->untracked_frees = get_count(c, tot, "untracked_frees", "totals.", false);
        r->reserved_untouched_bytes = get_count(c, tot, "reserved_untouched_bytes", "totals.", false);
    }
    json_t *mods = get_array(c, root, "modules", "", false);
    r->nmodules = mods ? json_array_size(mods) : 0;
    r->modules = r->nmodules ? calloc(r->nmodules, sizeof *r->modules) : NULL;
    for (size_t i = 0; i < r->nmodules && !c->why[0]; i++) {
        char w[48];
        snprintf(w, sizeof w, "modules[%zu].", i);
        json_t *mo = json_array_get(mods, i);
        if (!json_is_object(mo)) {
            bad(c, "modules[%zu] is not an object", i);
            break;
        }
        r->modules[i].id = get_int(c, mo, "id", w, false);
        r->modules[i].path = get_str(c, mo, "path", w, true);
        r->modules[i].base = get_hex(c, mo, "base", w, false);
        r->modules[i].build_id = get_str(c, mo, "build_id", w, false);
    }
    json_t *sites = get_array(c, root, "sites", "", true);
    size_t n = sites ? json_array_size(sites) : 0;
    for (size_t i = 0; i < n && !c->why[0]; i++)
        read_site(c, r, json_array_get(sites, i));
}

/* Reads the next site object into r->sites (grown as needed). */
static void read_site(load_ctx *c, lw_report *r, json_t *so)
{
    if (r->nsites == r->sites_cap) {
        size_t cap = r->sites_cap ? r->sites_cap * 2 : 64;
        lw_site *v = realloc(r->sites, cap * sizeof *v);
        if (!v) {
            bad(c, "out of memory for %zu sites", cap);
            return;
        }
        r->sites = v;
        r->sites_cap = cap;
    }
    size_t i = r->nsites++;
    lw_site *s = &r->sites[i];
    *s = (lw_site){0};
    char w[48], sub[120];
    snprintf(w, sizeof w, "sites[%zu].", i);
    if (!json_is_object(so)) {
        bad(c, "sites[%zu] is not an object", i);
        return;
    }
    s->id = get_str(c, so, "id", w, true);
    if (s->id && (strlen(s->id) != 16 || strspn(s->id, "0123456789abcdef") != 16))
        bad(c, "%sid \"%.40s\" is not 16 hex digits", w, s->id);
    s->kind = get_str(c, so, "kind", w, false);
    if (!s->kind)
        s->kind = "heap";
    s->live_bytes = get_count(c, so, "live_bytes", w, true);
    s->live_blocks = get_count(c, so, "live_blocks", w, true);
        s->samples = json_object_get(so, "samples") ? get_count(c, so, "samples", w, false) : 0;
    s->reserved_untouched_bytes = get_count(c, so, "reserved_untouched_bytes", w, false);
    s->allocs = get_count(c, so, "allocs", w, false);
    s->frees = get_count(c, so, "frees", w, false);
    s->bytes_allocated = get_count(c, so, "bytes_allocated", w, false);
    s->oldest_age_ms = json_object_get(so, "oldest_age_ms") ? get_count(c, so, "oldest_age_ms", w, false) : -1;
    snprintf(sub, sizeof sub, "%sframes", w);
    read_stack(c, get_array(c, so, "frames", w, true), sub, r->nmodules, &s->frames);
    json_t *leaks = get_array(c, so, "leaks", w, false);
    s->nleaks = leaks ? json_array_size(leaks) : 0;
    s->leaks = s->nleaks ? calloc(s->nleaks, sizeof *s->leaks) : NULL;
    for (size_t j = 0; j < s->nleaks && !c->why[0]; j++) {
        snprintf(sub, sizeof sub, "%sleaks[%zu]", w, j);
        read_leak(c, json_array_get(leaks, j), sub, r->nmodules, &s->leaks[j]);
    }
}

static int site_ptr_cmp(const void *a, const void *b)
{
    const lw_site *x = *(const lw_site *const *)a, *y = *(const lw_site *const *)b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x < y ? -1 : x > y);
}

/* Sorts the sites by id for model_find_site; two sites with one id would make diff and gate mix them up. */
static void index_sites(load_ctx *c, lw_report *r)
{
    r->by_id = r->nsites ? malloc(r->nsites * sizeof *r->by_id) : NULL;
    for (size_t i = 0; i < r->nsites; i++)
        r->by_id[i] = &r->sites[i];
    if (r->nsites)
        qsort(r->by_id, r->nsites, sizeof *r->by_id, site_ptr_cmp);
    for (size_t i = 1; i < r->nsites; i++)
        if (strcmp(r->by_id[i - 1]->id, r->by_id[i]->id) == 0) {
            bad(c, "sites[%td] and sites[%td] have the same id %s: a site id must be unique in a report",
                r->by_id[i - 1] - r->sites, r->by_id[i] - r->sites, r->by_id[i]->id);
            return;
        }
}

const lw_site *model_find_site(const lw_report *r, const char *id)
{
    size_t lo = 0, hi = r->nsites;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->by_id[mid]->id, id);
        if (c == 0)
            return r->by_id[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static bool is_truncation(const json_error_t *je)
{
    return json_error_code(je) == json_error_premature_end_of_input;
}

/* A report over root (owned from here), read but for sites that come one at a time. */
static lw_report *start(const char *path, json_t *root)
{
    lw_report *r = calloc(1, sizeof *r);
    load_ctx *c = calloc(1, sizeof *c);
    r->root = root;
    r->file = strdup(path);
    r->why = c;
    c->r = r;
    read_report(c, r);
    return r;
}

/* The report read with the sites decoded one at a time: jscan finds the "sites" array, jansson decodes and
 * checks everything but its contents as one document, then each site on its own, which is read into the
 * structs and freed (the first keep_sites of them, all when it is negative, stay in root's "sites" too).
 * *settled is false when the text is not shaped so (not an object, "sites" missing or
 * twice, a site that jansson rejects, anything between sites but commas) or breaks the contract: the caller
 * then reads the file whole, which gives the same report or the same error as always. */
static lw_report *load_streaming(const char *path, const char *buf, size_t len, long keep_sites, bool *settled)
{
    *settled = false;
    size_t open_at, close_at;
    if (!jscan_member_array(buf, len, "sites", &open_at, &close_at))
        return NULL;
    /* the document with "sites":[] */
    char *rest = malloc(open_at + 1 + len - close_at);
    json_t *root = NULL;
    if (rest) {
        memcpy(rest, buf, open_at + 1);
        memcpy(rest + open_at + 1, buf + close_at, len - close_at);
        root = json_loadb(rest, open_at + 1 + len - close_at, JSON_REJECT_DUPLICATES, NULL);
        free(rest);
    }
    if (!json_is_object(root)) {
        json_decref(root);
        return NULL;
    }
    lw_report *r = start(path, root);
    load_ctx *c = r->why;
    bool shaped = true;
    for (size_t pos = jscan_skip_ws(buf, close_at, open_at + 1); !c->why[0] && r->version <= REPORT_VERSION &&
                                                                  pos < close_at;) {
        json_error_t je;
        json_t *so = json_loadb(buf + pos, close_at - pos, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &je);
        if (!so) {
            shaped = false;
            break;
        }
        read_site(c, r, so);
        json_t *kept = json_object_get(r->root, "sites");
        if (keep_sites < 0 || json_array_size(kept) < (size_t)keep_sites)
            json_array_append(kept, so);
        json_decref(so);
        pos = jscan_skip_ws(buf, close_at, pos + (size_t)je.position);
        if (pos < close_at && buf[pos] == ',' && (pos = jscan_skip_ws(buf, close_at, pos + 1)) < close_at)
            continue;
        if (pos != close_at)
            shaped = false;
        break;
    }
    /* A problem is reported as the whole read finds it: JSON that does not parse comes before what the
     * contract does not allow, wherever each is in the file. */
    if (!shaped || ((load_ctx *)r->why)->why[0]) {
        free(r->why);
        r->why = NULL;
        model_free(r);
        return NULL;
    }
    *settled = true;
    return r;
}

static lw_report *load(const char *path, long keep_sites, bool whole_tree, char *err, size_t errlen)
{
    /* Non-blocking, so a FIFO or a device given as a report cannot hang the command before fstat sees it. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot read (%s): pass the .json file of a leakwatch report", path,
                 strerror(errno));
        return NULL;
    }
    lw_report *r = load_fd(fd, path, keep_sites, whole_tree, err, errlen);
    close(fd);
    return r;
}

lw_report *model_load_fd(int fd, const char *path, char *err, size_t errlen)
{
    return load_fd(fd, path, 0, false, err, errlen);
}

static lw_report *load_fd(int fd, const char *path, long keep_sites, bool whole_tree, char *err, size_t errlen)
{
    const char *hint_txt = "";
    size_t plen = strlen(path);
    if (plen > 4 && strcmp(path + plen - 4, ".txt") == 0)
        hint_txt = " (this is the text report; use the .json file beside it)";
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: cannot read (%s): pass the .json file of a leakwatch report", path,
                 strerror(errno));
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: is a directory: pass one <program>.<pid>.<seq>.json file from it", path);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file (a pipe, socket or device): pass the .json file of a "
                 "leakwatch report", path);
        return NULL;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    /* Read whole, not by st_size: /proc and other pseudo files say 0 and have content. */
    size_t len = 0, cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 65536;
    char *text = malloc(cap);
    ssize_t n;
    while (text && (n = read(fd, text + len, cap - len)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            snprintf(err, errlen, "%s: cannot read (%s): check the path and its permissions", path, strerror(errno));
            free(text);
            return NULL;
        }
        len += (size_t)n;
        if (len == cap) {
            char *more = realloc(text, cap * 2);
            if (!more)
                free(text);
            text = more;
            cap *= 2;
        }
    }
    if (!text) {
        snprintf(err, errlen, "%s: not enough memory to read it", path);
        return NULL;
    }
    if (len == 0) {
        snprintf(err, errlen, "%s: not a leakwatch report (empty file): take a new report, e.g. with leakwatch dump PID",
                 path);
        free(text);
        return NULL;
    }
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        snprintf(err, errlen, "%s: not a leakwatch report (a NUL byte at byte %zu: binary data, not JSON text): pass "
                 "an unmodified .json report", path, (size_t)(nul - text) + 1);
        free(text);
        return NULL;
    }
    lw_report *r = NULL;
    if (!whole_tree) {
        bool settled = false;
        r = load_streaming(path, text, len, keep_sites, &settled);
        if (settled) {
            free(text);
            return finish(r, path, err, errlen);
        }
    }
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!root) {
        if (json_error_code(&je) == json_error_cannot_open_file)
            snprintf(err, errlen, "%s: cannot read (%s): check the path and its permissions", path, je.text);
        else if (json_error_code(&je) == json_error_numeric_overflow)
            snprintf(err, errlen, "%s: not a leakwatch report (a number at line %d, column %d does not fit in 64 "
                     "signed bits: %s): the writer broke the format contract (a negative age or count written "
                     "unsigned); update libleakwatch.so and take a new report", path, je.line, je.column, je.text);
        else if (is_truncation(&je))
            snprintf(err, errlen, "%s: not a leakwatch report (truncated: the JSON ends at byte %d before it is "
                     "complete): the file was cut short; take a new report", path, je.position);
        else
            snprintf(err, errlen, "%s: not a leakwatch report (invalid JSON at line %d, column %d: %s)%s: "
                     "pass an unmodified .json report", path, je.line, je.column, je.text, hint_txt);
        return NULL;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "%s: not a leakwatch report (the JSON is not an object): pass a .json report "
                 "written by leakwatch", path);
        json_decref(root);
        return NULL;
    }
    return finish(start(path, root), path, err, errlen);
}

/* Indexes a report that was read, or turns what went wrong into the one error line. */
static lw_report *finish(lw_report *r, const char *path, char *err, size_t errlen)
{
    load_ctx c = *(load_ctx *)r->why;
    free(r->why);
    r->why = NULL;
    if (!c.why[0] && r->version <= REPORT_VERSION)
        index_sites(&c, r);
    if (!c.why[0] && r->version > REPORT_VERSION) {
        snprintf(err, errlen, "%s: report version %lld is newer than this leakwatch reads (%d): upgrade leakwatch",
                 path, r->version, REPORT_VERSION);
        model_free(r);
        return NULL;
    }
    if (c.why[0]) {
        snprintf(err, errlen, "%s: not a leakwatch report (%s): pass a .json report written by leakwatch", path,
                 c.why);
        model_free(r);
        return NULL;
    }
    return r;
}

lw_report *model_load(const char *path, char *err, size_t errlen)
{
    return load(path, 0, false, err, errlen);
}

lw_report *model_load_keep(const char *path, long keep_sites, char *err, size_t errlen)
{
    return load(path, keep_sites, false, err, errlen);
}

lw_report *model_load_tree(const char *path, char *err, size_t errlen)
{
    return load(path, -1, true, err, errlen);
}

lw_report *model_load_or_say(const char *path)
{
    char err[1024];
    lw_report *r = model_load(path, err, sizeof err);
    if (!r)
        lw_err("%s", err);
    return r;
}

static void free_stack(lw_stack *s)
{
    for (size_t i = 0; s->v && i < s->n; i++)
        free(s->v[i].owned_function);
    free(s->v);
}

void model_free(lw_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nsites; i++) {
        lw_site *s = &r->sites[i];
        free_stack(&s->frames);
        for (size_t j = 0; j < s->nleaks; j++) {
            lw_leak *l = &s->leaks[j];
            free_stack(&l->created_at);
            for (size_t k = 0; k < l->nrecent; k++)
                free_stack(&l->recent[k].frames);
            free(l->recent);
        }
        free(s->leaks);
    }
    free(r->sites);
    free(r->by_id);
    free(r->why);
    for (struct lw_strings *k = r->strings, *next; k; k = next) {
        next = k->next;
        free(k);
    }
    free(r->modules);
    json_decref(r->root);
    free((char *)r->file);
    free(r);
}

const char *model_frame_module(const lw_report *r, const lw_frame *f)
{
    if (f->module < 0 || (size_t)f->module >= r->nmodules)
        return NULL;
    return r->modules[f->module].path;
}

/* io.netty.buffer.PoolArena.allocate(PoolArena.java:147), as a Java stack trace prints it. */
static void java_frame_name(const lw_frame *f, char *buf, size_t len)
{
    if (f->java_native)
        snprintf(buf, len, "%s.%s(Native Method)", f->java_class, f->java_method);
    else if (f->java_line > 0)
        snprintf(buf, len, "%s.%s(%s:%lld)", f->java_class, f->java_method,
                 f->java_file ? f->java_file : "unknown source", f->java_line);
    else
        snprintf(buf, len, "%s.%s(%s, line unknown)", f->java_class, f->java_method,
                 f->java_file ? f->java_file : "unknown source");
}

void model_frame_name(const lw_report *r, const lw_frame *f, bool with_offset, char *buf, size_t len)
{
    const char *mod = model_frame_module(r, f);
    if (f->is_java && f->java_class && f->java_method)
        java_frame_name(f, buf, len);
    else if (f->function && with_offset)
        snprintf(buf, len, "%s+0x%llx", f->function, (unsigned long long)f->function_offset);
    else if (f->function)
        snprintf(buf, len, "%s", f->function);
    else if (mod)
        snprintf(buf, len, "%s+0x%llx", lw_basename(mod), (unsigned long long)f->offset);
    else
        snprintf(buf, len, "0x%llx", (unsigned long long)f->ip);
}

const lw_stack *model_site_stack(const lw_site *s)
{
    const lw_leak *best = NULL;
    for (size_t i = 0; i < s->nleaks; i++)
        if (s->leaks[i].created_at.n && (!best || s->leaks[i].bytes > best->bytes))
            best = &s->leaks[i];
    return best ? &best->created_at : &s->frames;
}
