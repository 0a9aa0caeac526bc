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

#define REPORT_VERSION 2

typedef struct {
    char why[256];            /* first problem found, empty while all is well */
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
    return json_string_value(v);
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
        f->json = fo;
        if (!json_is_object(fo)) {
            bad(c, "%.80s[%zu] is not an object", where, i);
            return;
        }
        f->ip = get_hex(c, fo, "ip", w, true);
        f->module = json_object_get(fo, "module") ? (int)get_int(c, fo, "module", w, true) : -1;
        if (f->module >= (int)nmodules) {
            bad(c, "%smodule %d is not in modules (%zu entries)", w, f->module, nmodules);
            return;
        }
        if (f->module < -1)
            f->module = -1;
        if (f->module >= 0)
            f->offset = get_hex(c, fo, "offset", w, false);
        f->function = get_str(c, fo, "function", w, false);
        f->function_offset = get_hex(c, fo, "function_offset", w, false);
    }
}

static void read_leak(load_ctx *c, json_t *lo, const char *where, size_t nmodules, lw_leak *l)
{
    l->json = lo;
    if (!json_is_object(lo)) {
        bad(c, "%s is not an object", where);
        return;
    }
    char w[160], sub[240];
    snprintf(w, sizeof w, "%.120s.", where);
    l->blocks = get_int(c, lo, "blocks", w, true);
    l->bytes = get_int(c, lo, "bytes", w, true);
    l->oldest_age_ms = get_int(c, lo, "oldest_age_ms", w, false);
    const char *stack = get_str(c, lo, "stack", w, false);
    l->representative = stack && strcmp(stack, "representative") == 0;
    l->unstacked_blocks = get_int(c, lo, "unstacked_blocks", w, false);
    l->has_since = json_object_get(lo, "since_previous_bytes") != NULL;
    l->since_previous_bytes = get_int(c, lo, "since_previous_bytes", w, false);
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
        a->age_ms = get_int(c, ao, "age_ms", sub, false);
        a->thread = get_int(c, ao, "thread", sub, false);
        a->detail = get_str(c, ao, "detail", sub, false);
        char fw[260];
        snprintf(fw, sizeof fw, "%.240sframes", sub);
        read_stack(c, get_array(c, ao, "frames", sub, false), fw, nmodules, &a->frames);
    }
}

/* "2026-11-22T03:40:00.123Z" -> ms since the epoch, NAN when it does not look like that. */
static double parse_time(const char *s)
{
    if (!s)
        return NAN;
    struct tm tm = {0};
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return NAN;
    double frac = 0;
    if (*rest == '.') {
        char *end;
        frac = strtod(rest, &end);
        rest = end;
    }
    if (*rest != 'Z' && *rest != '\0')
        return NAN;
    return (double)timegm(&tm) * 1000.0 + frac * 1000.0;
}

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
    r->pid = get_int(c, root, "pid", "", true);
    r->ppid = get_int(c, root, "ppid", "", false);
    r->program = get_str(c, root, "program", "", true);
    r->reason = get_str(c, root, "reason", "", false);
    r->seq = get_int(c, root, "seq", "", true);
    r->previous_seq = get_int(c, root, "previous_seq", "", false);
    r->time = get_str(c, root, "time", "", false);
    r->time_ms = parse_time(r->time);
    r->uptime_ms = get_int(c, root, "uptime_ms", "", false);
    json_t *cfg = json_object_get(root, "config");
    if (json_is_object(cfg)) {
        r->min_age_ms = get_int(c, cfg, "min_age_ms", "config.", false);
        r->top = get_int(c, cfg, "top", "config.", false);
    }
    /* config holds the setting; the exit report applies 0 (every live block is a leak then). */
    if (r->reason && strcmp(r->reason, "exit") == 0)
        r->min_age_ms = 0;
    json_t *tot = json_object_get(root, "totals");
    if (json_is_object(tot)) {
        r->live_bytes = get_int(c, tot, "live_bytes", "totals.", false);
        r->live_blocks = get_int(c, tot, "live_blocks", "totals.", false);
        r->allocs = get_int(c, tot, "allocs", "totals.", false);
        r->frees = get_int(c, tot, "frees", "totals.", false);
        r->mmap_live_bytes = get_int(c, tot, "mmap_live_bytes", "totals.", false);
        r->mmap_live_regions = get_int(c, tot, "mmap_live_regions", "totals.", false);
        r->nsites_total = get_int(c, tot, "sites", "totals.", false);
        r->untracked_frees = get_int(c, tot, "untracked_frees", "totals.", false);
        r->reserved_untouched_bytes = get_int(c, tot, "reserved_untouched_bytes", "totals.", false);
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
    r->nsites = sites ? json_array_size(sites) : 0;
    r->sites = r->nsites ? calloc(r->nsites, sizeof *r->sites) : NULL;
    for (size_t i = 0; i < r->nsites && !c->why[0]; i++) {
        char w[48], sub[120];
        snprintf(w, sizeof w, "sites[%zu].", i);
        json_t *so = json_array_get(sites, i);
        lw_site *s = &r->sites[i];
        s->json = so;
        if (!json_is_object(so)) {
            bad(c, "sites[%zu] is not an object", i);
            break;
        }
        s->id = get_str(c, so, "id", w, true);
        if (s->id && (strlen(s->id) != 16 || strspn(s->id, "0123456789abcdef") != 16))
            bad(c, "%sid \"%.40s\" is not 16 hex digits", w, s->id);
        s->kind = get_str(c, so, "kind", w, false);
        if (!s->kind)
            s->kind = "heap";
        s->live_bytes = get_int(c, so, "live_bytes", w, true);
        s->live_blocks = get_int(c, so, "live_blocks", w, true);
        s->reserved_untouched_bytes = get_int(c, so, "reserved_untouched_bytes", w, false);
        s->allocs = get_int(c, so, "allocs", w, false);
        s->frees = get_int(c, so, "frees", w, false);
        s->bytes_allocated = get_int(c, so, "bytes_allocated", w, false);
        s->oldest_age_ms = json_object_get(so, "oldest_age_ms") ? get_int(c, so, "oldest_age_ms", w, false) : -1;
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
}

static bool is_truncation(const json_error_t *je)
{
    return json_error_code(je) == json_error_premature_end_of_input;
}

lw_report *model_load(const char *path, char *err, size_t errlen)
{
    /* Non-blocking, so a FIFO or a device given as a report cannot hang the command before fstat sees it. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot read (%s): pass the .json file of a leakwatch report", path,
                 strerror(errno));
        return NULL;
    }
    lw_report *r = model_load_fd(fd, path, err, errlen);
    close(fd);
    return r;
}

lw_report *model_load_fd(int fd, const char *path, char *err, size_t errlen)
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
    lw_report *r = calloc(1, sizeof *r);
    r->root = root;
    r->file = strdup(path);
    load_ctx c = {{0}};
    read_report(&c, r);
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

void model_frame_name(const lw_report *r, const lw_frame *f, bool with_offset, char *buf, size_t len)
{
    const char *mod = model_frame_module(r, f);
    if (f->function && with_offset)
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
