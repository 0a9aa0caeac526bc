/* render_json.c — a report's JSON echoed token by token with jansson's indented layout (see render_json.h). */
#include "render_json.h"
#include <stdlib.h>
#include <string.h>
#include "jsonread.h"

/* Where a value sits: the roles that filtering and annotation need to know. */
enum role { ROLE_OTHER, ROLE_ROOT, ROLE_SITES, ROLE_SITE, ROLE_LEAKS, ROLE_LEAK, ROLE_UNDER_SITE };

typedef struct {
    jreader jr;
    FILE *out;
    const lw_report *r;
    const render_opts *o;
    long long leak_age;       /* the oldest_age_ms of the leak group being written, -1 when it has none */
} echo;

static void indent(echo *e, int depth)
{
    static const char spaces[] = "                                                                ";
    fputc('\n', e->out);
    for (size_t n = 2 * (size_t)depth; n;) {
        size_t k = n < sizeof spaces - 1 ? n : sizeof spaces - 1;
        fwrite(spaces, 1, k, e->out);
        n -= k;
    }
}

/* A string as jansson writes it: quotes, backslashes and control characters escaped, UTF-8 kept. */
static void string(FILE *out, const char *s, size_t n)
{
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        size_t run = i;
        while (run < n && (unsigned char)s[run] >= 0x20 && s[run] != '"' && s[run] != '\\')
            run++;
        if (run > i) {
            fwrite(s + i, 1, run - i, out);
            i = run - 1;
            continue;
        }
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\b': fputs("\\b", out); break;
        case '\f': fputs("\\f", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (c < 0x20)
                fprintf(out, "\\u%04x", c);
            else
                fputc(c, out);
        }
    }
    fputc('"', out);
}

/* A real as jansson writes it: 17 significant digits, always with a '.' or an exponent. */
static void real(FILE *out, double v)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.17g", v);
    if (!strpbrk(buf, ".eE") && !strpbrk(buf, "in"))
        strcat(buf, ".0");
    fputs(buf, out);
}

static bool value(echo *e, jr_token t, int depth, enum role role);

static enum role member_role(enum role parent, const char *key)
{
    if (parent == ROLE_ROOT)
        return strcmp(key, "sites") == 0 ? ROLE_SITES : ROLE_OTHER;
    if (parent == ROLE_SITE)
        return strcmp(key, "leaks") == 0 ? ROLE_LEAKS : ROLE_UNDER_SITE;
    if (parent == ROLE_LEAK || parent == ROLE_UNDER_SITE)
        return ROLE_UNDER_SITE;
    return ROLE_OTHER;
}

static bool object(echo *e, int depth, enum role role)
{
    bool any = false, frame_ip = false, frame_module = false, frame_offset = false;
    long long module = -1;
    uint64_t offset = 0;
    jr_token t;
    fputc('{', e->out);
    while ((t = jr_next(&e->jr)) == JR_KEY) {
        fputs(any ? "," : "", e->out);
        indent(e, depth + 1);
        any = true;
        string(e->out, e->jr.str, e->jr.len);
        fputs(": ", e->out);
        enum role sub = member_role(role, e->jr.str);
        bool is_ip = strcmp(e->jr.str, "ip") == 0, is_module = strcmp(e->jr.str, "module") == 0,
             is_offset = strcmp(e->jr.str, "offset") == 0, is_age = strcmp(e->jr.str, "oldest_age_ms") == 0;
        t = jr_next(&e->jr);
        if (t == JR_ERROR)
            return false;
        frame_ip |= is_ip;
        if (is_module && t == JR_INT) {
            frame_module = true;
            module = e->jr.integer;
        }
        if (is_offset && t == JR_STRING) {
            frame_offset = true;
            offset = strtoull(e->jr.str, NULL, 16);
        }
        if (role == ROLE_LEAK && is_age && t == JR_INT)
            e->leak_age = e->jr.integer;
        if (!value(e, t, depth + 1, sub))
            return false;
    }
    if (t != JR_OBJECT_END)
        return false;
    /* a frame below the sites: its file:line, when the module's debug info has it */
    char pos[256];
    const lw_report *r = e->r;
    if ((role == ROLE_UNDER_SITE) && e->o->lines && frame_ip && frame_module && frame_offset && module >= 0 &&
        (size_t)module < r->nmodules &&
        lines_lookup(e->o->lines, r->modules[module].path, r->modules[module].base, offset, pos, sizeof pos)) {
        fputs(any ? "," : "", e->out);
        indent(e, depth + 1);
        any = true;
        fputs("\"source\": ", e->out);
        string(e->out, pos, strlen(pos));
    }
    if (any)
        indent(e, depth);
    fputc('}', e->out);
    return true;
}

/* One leak group, written aside until its age says whether --min-age keeps it. */
static bool leak_filtered(echo *e, jr_token t, int depth, bool *any)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = e->out, *aside = open_memstream(&buf, &len);
    if (!aside)
        return false;
    e->out = aside;
    e->leak_age = -1;
    bool ok = value(e, t, depth, t == JR_OBJECT ? ROLE_LEAK : ROLE_UNDER_SITE);
    e->out = out;
    bool young = t == JR_OBJECT && e->leak_age >= 0 && e->leak_age < e->o->min_age_ms;
    if (fclose(aside) != 0)
        ok = false;
    if (ok && !young) {
        fputs(*any ? "," : "", out);
        indent(e, depth);
        fwrite(buf, 1, len, out);
        *any = true;
    }
    free(buf);
    return ok;
}

static bool array(echo *e, int depth, enum role role)
{
    bool any = false;
    long index = 0;
    jr_token t;
    fputc('[', e->out);
    while ((t = jr_next(&e->jr)) != JR_ARRAY_END) {
        if (t == JR_ERROR || t == JR_END)
            return false;
        if (role == ROLE_SITES && e->o->top >= 0 && index++ >= e->o->top) {
            if (!jr_skip(&e->jr, t))
                return false;
            continue;
        }
        if (role == ROLE_LEAKS && e->o->min_age_ms >= 0) {
            if (!leak_filtered(e, t, depth + 1, &any))
                return false;
            continue;
        }
        fputs(any ? "," : "", e->out);
        indent(e, depth + 1);
        any = true;
        enum role sub = role == ROLE_SITES ? ROLE_SITE : role == ROLE_LEAKS ? ROLE_LEAK
                      : role == ROLE_UNDER_SITE ? ROLE_UNDER_SITE : ROLE_OTHER;
        if (!value(e, t, depth + 1, sub))
            return false;
    }
    if (any)
        indent(e, depth);
    fputc(']', e->out);
    return true;
}

static bool value(echo *e, jr_token t, int depth, enum role role)
{
    switch (t) {
    case JR_OBJECT: return object(e, depth, role);
    case JR_ARRAY: return array(e, depth, role);
    case JR_STRING: string(e->out, e->jr.str, e->jr.len); return true;
    case JR_INT: fprintf(e->out, "%lld", e->jr.integer); return true;
    case JR_REAL: real(e->out, e->jr.real); return true;
    case JR_TRUE: fputs("true", e->out); return true;
    case JR_FALSE: fputs("false", e->out); return true;
    case JR_NULL: fputs("null", e->out); return true;
    default: return false;
    }
}

bool render_json(FILE *out, int fd, const lw_report *r, const render_opts *o, char *err, size_t errlen)
{
    echo e = {.out = out, .r = r, .o = o, .leak_age = -1};
    if (!jr_open_fd(&e.jr, fd)) {
        jr_close(&e.jr);
        snprintf(err, errlen, "%s: not enough memory to read it", r->file);
        return false;
    }
    jr_token t = jr_next(&e.jr);
    bool ok = t == JR_OBJECT && value(&e, t, 0, ROLE_ROOT) && jr_next(&e.jr) == JR_END;
    if (ok)
        fputc('\n', out);
    else
        snprintf(err, errlen, "%s: changed while it was read (%s): take a copy of the report and read that", r->file,
                 e.jr.last == JR_ERROR ? e.jr.error : "not a JSON object");
    jr_close(&e.jr);
    return ok;
}
