/* model.c — opens a leakwatch JSON report, has model_read decode and check it, indexes its sites by id, and
 * names its frames (see model.h). */
#include "model.h"
#include "model_read.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int site_ptr_cmp(const void *a, const void *b)
{
    const lw_site *x = *(const lw_site *const *)a, *y = *(const lw_site *const *)b;
    if (x->id_key != y->id_key)
        return x->id_key < y->id_key ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Sorts the sites by id for model_find_site; two sites with one id would make diff and gate mix them up. */
static void index_sites(lw_report *r, char *why, size_t whylen)
{
    r->by_id = r->nsites ? malloc(r->nsites * sizeof *r->by_id) : NULL;
    if (r->nsites && !r->by_id) {
        snprintf(why, whylen, "out of memory for an index of %zu sites", r->nsites);
        return;
    }
    for (size_t i = 0; i < r->nsites; i++)
        r->by_id[i] = &r->sites[i];
    if (r->nsites)
        qsort(r->by_id, r->nsites, sizeof *r->by_id, site_ptr_cmp);
    for (size_t i = 1; i < r->nsites; i++)
        if (r->by_id[i - 1]->id_key == r->by_id[i]->id_key) {
            snprintf(why, whylen, "sites[%td] and sites[%td] have the same id %s: a site id must be unique in a "
                     "report", r->by_id[i - 1] - r->sites, r->by_id[i] - r->sites, r->by_id[i]->id);
            return;
        }
}

const lw_site *model_find_site(const lw_report *r, const char *id)
{
    /* ids are 16 lower-case hex digits (model_read checks it): as numbers they sort as the strings do */
    if (!id || strlen(id) != 16 || strspn(id, "0123456789abcdef") != 16)
        return NULL;
    return model_find_site_key(r, strtoull(id, NULL, 16));
}

const lw_site *model_find_site_key(const lw_report *r, uint64_t key)
{
    size_t lo = 0, hi = r->nsites;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t k = r->by_id[mid]->id_key;
        if (k == key)
            return r->by_id[mid];
        if (k < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int model_open(const char *path, char *err, size_t errlen)
{
    /* Non-blocking, so a FIFO or a device given as a report cannot hang the command before fstat sees it. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot read (%s): pass the .json file of a leakwatch report", path,
                 strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: cannot read (%s): pass the .json file of a leakwatch report", path,
                 strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: is a directory: pass one <program>.<pid>.<seq>.json file from it", path);
    } else if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file (a pipe, socket or device): pass the .json file of a "
                 "leakwatch report", path);
    } else {
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        return fd;
    }
    close(fd);
    return -1;
}

/* The one error line for a report whose JSON itself is broken. */
static void json_error_line(const jreader *jr, const char *path, char *err, size_t errlen)
{
    const char *hint_txt = "";
    size_t plen = strlen(path);
    if (plen > 4 && strcmp(path + plen - 4, ".txt") == 0)
        hint_txt = " (this is the text report; use the .json file beside it)";
    switch (jr->error_kind) {
    case JR_ERR_IO:
        snprintf(err, errlen, "%s: cannot read (%s): check the path and its permissions", path,
                 strerror(jr->io_errno));
        break;
    case JR_ERR_NOMEM:
        snprintf(err, errlen, "%s: not enough memory to read it (%s)", path, jr->error);
        break;
    case JR_ERR_NUL:
        snprintf(err, errlen, "%s: not a leakwatch report (a NUL byte at byte %llu: binary data, not JSON text): "
                 "pass an unmodified .json report", path, (unsigned long long)jr->nul_at);
        break;
    case JR_ERR_OVERFLOW:
        snprintf(err, errlen, "%s: not a leakwatch report (a number at line %ld, column %ld does not fit in 64 "
                 "signed bits: %s): the writer broke the format contract (a negative age or count written "
                 "unsigned); update libleakwatch.so and take a new report", path, jr->line, jr->column, jr->error);
        break;
    case JR_ERR_TRUNCATED:
        if (jr_offset(jr) == 0)
            snprintf(err, errlen, "%s: not a leakwatch report (empty file): take a new report, e.g. with "
                     "leakwatch dump PID", path);
        else
            snprintf(err, errlen, "%s: not a leakwatch report (truncated: the JSON ends at byte %llu before it is "
                     "complete): the file was cut short; take a new report", path,
                     (unsigned long long)jr_offset(jr));
        break;
    default:
        snprintf(err, errlen, "%s: not a leakwatch report (invalid JSON at line %ld, column %ld: %s)%s: pass an "
                 "unmodified .json report", path, jr->line, jr->column, jr->error, hint_txt);
    }
}

static lw_report *load_fd(int fd, const char *path, bool keep_sites, char *err, size_t errlen)
{
    jreader jr;
    lw_report *r = calloc(1, sizeof *r);
    if (!r || !(r->file = strdup(path))) {
        snprintf(err, errlen, "%s: not enough memory to read it", path);
        model_free(r);
        return NULL;
    }
    if (!jr_open_fd(&jr, fd)) {
        snprintf(err, errlen, "%s: not enough memory to read it", path);
        jr_close(&jr);
        model_free(r);
        return NULL;
    }
    r->sites_not_kept = !keep_sites;
    char why[512] = "";
    bool json_error = false;
    bool ok = model_read(&jr, r, &json_error, why, sizeof why);
    if (json_error)
        json_error_line(&jr, path, err, errlen);
    jr_close(&jr);
    if (ok && r->version > MODEL_REPORT_VERSION) {
        snprintf(err, errlen, "%s: report version %lld is newer than this leakwatch reads (%d): upgrade leakwatch",
                 path, r->version, MODEL_REPORT_VERSION);
        ok = false;
    } else if (ok) {
        index_sites(r, why, sizeof why);
        ok = !why[0];
    }
    if (!ok && !json_error && why[0])
        snprintf(err, errlen, "%s: not a leakwatch report (%s): pass a .json report written by leakwatch", path, why);
    if (!ok) {
        model_free(r);
        return NULL;
    }
    return r;
}

lw_report *model_load_fd(int fd, const char *path, char *err, size_t errlen)
{
    return load_fd(fd, path, true, err, errlen);
}

lw_report *model_check_fd(int fd, const char *path, char *err, size_t errlen)
{
    return load_fd(fd, path, false, err, errlen);
}

lw_report *model_load(const char *path, char *err, size_t errlen)
{
    int fd = model_open(path, err, errlen);
    if (fd < 0)
        return NULL;
    lw_report *r = model_load_fd(fd, path, err, errlen);
    close(fd);
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

void model_free(lw_report *r)
{
    if (!r)
        return;
    model_read_free_sites(r);
    model_read_free_chunks(r);
    free(r->by_id);
    free(r->modules);
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
    if (f->java->native)
        snprintf(buf, len, "%s.%s(Native Method)", f->java->class_name, f->java->method);
    else if (f->java->line > 0)
        snprintf(buf, len, "%s.%s(%s:%lld)", f->java->class_name, f->java->method,
                 f->java->file ? f->java->file : "unknown source", f->java->line);
    else
        snprintf(buf, len, "%s.%s(%s, line unknown)", f->java->class_name, f->java->method,
                 f->java->file ? f->java->file : "unknown source");
}

void model_frame_name(const lw_report *r, const lw_frame *f, bool with_offset, char *buf, size_t len)
{
    const char *mod = model_frame_module(r, f);
    if (f->java && f->java->class_name && f->java->method)
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
