/* suppress.c — parsing and matching of leak:PATTERN suppressions (see suppress.h). */
#include "suppress.h"
#include "util.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

bool suppress_parse(const char *text, const char *name, suppress_list *out, char *err, size_t errlen)
{
    return suppress_parse_mem(text, strlen(text), name, out, err, errlen);
}

bool suppress_parse_mem(const char *text, size_t len, const char *name, suppress_list *out, char *err,
                        size_t errlen)
{
    *out = (suppress_list){0};
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        int line = 1;
        for (const char *p = text; p < nul; p++)
            line += *p == '\n';
        snprintf(err, errlen, "%s:%d: a NUL byte: a suppression file is text, one leak:PATTERN a line", name, line);
        return false;
    }
    char *copy = strndup(text, len), *save = NULL;
    int lineno = 0;
    bool ok = true;
    /* strtok_r would skip empty lines and so miscount them. */
    for (char *line = copy; line && ok; line = save) {
        char *nl = strchr(line, '\n');
        save = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *t = trim(line);
        if (!*t)
            continue;
        char *colon = strchr(t, ':');
        if (!colon || strncmp(t, "leak", (size_t)(colon - t)) != 0 || colon - t != 4) {
            snprintf(err, errlen, "%s:%d: \"%.60s\" is not a suppression: write leak:FUNCTION (a '*' glob or a "
                     "substring of a function name)", name, lineno, t);
            ok = false;
            break;
        }
        char *pat = trim(colon + 1);
        if (!*pat) {
            snprintf(err, errlen, "%s:%d: leak: needs a pattern: write leak:FUNCTION", name, lineno);
            ok = false;
            break;
        }
        suppress_rule *v = realloc(out->v, (out->n + 1) * sizeof *v);
        if (!v) {
            snprintf(err, errlen, "%s: out of memory", name);
            ok = false;
            break;
        }
        out->v = v;
        out->v[out->n++] = (suppress_rule){.pattern = strdup(pat), .line = lineno};
    }
    free(copy);
    if (!ok)
        suppress_free(out);
    return ok;
}

bool suppress_load(const char *path, suppress_list *out, char *err, size_t errlen)
{
    /* Non-blocking, and only a regular file: a FIFO or a device would hang the gate or never end. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot read the suppressions (%s): check the --suppress path", path,
                 strerror(errno));
        return false;
    }
    struct stat st = {0};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: the suppressions are not a regular file (%s): give a file of leak:PATTERN lines",
                 path, S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISDIR(st.st_mode) ? "a directory" : "a device or socket");
        close(fd);
        return false;
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read the suppressions (%s)", path, strerror(errno));
        close(fd);
        return false;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    char buf[4096];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, k, m);
    bool rerr = ferror(f);
    fclose(f);
    fclose(m);
    if (rerr) {
        snprintf(err, errlen, "%s: reading the suppressions failed: check the file", path);
        free(text);
        return false;
    }
    bool ok = suppress_parse_mem(text, len, path, out, err, errlen);
    free(text);
    return ok;
}

bool suppress_rule_matches(const suppress_rule *rule, const char *name)
{
    if (!name)
        return false;
    if (strpbrk(rule->pattern, "*?["))
        return fnmatch(rule->pattern, name, 0) == 0;
    return strstr(name, rule->pattern) != NULL;
}

static bool stack_matches(const suppress_rule *rule, const lw_report *r, const lw_stack *st)
{
    for (size_t i = 0; i < st->n; i++) {
        const char *mod = model_frame_module(r, &st->v[i]);
        if (suppress_rule_matches(rule, st->v[i].function) || (mod && suppress_rule_matches(rule, lw_basename(mod))))
            return true;
    }
    return false;
}

int suppress_match(const suppress_list *l, const lw_report *r, const lw_site *s)
{
    for (size_t i = 0; i < l->n; i++) {
        if (stack_matches(&l->v[i], r, &s->frames))
            return (int)i;
        for (size_t j = 0; j < s->nleaks; j++)
            if (stack_matches(&l->v[i], r, &s->leaks[j].created_at))
                return (int)i;
    }
    return -1;
}

void suppress_free(suppress_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].pattern);
    free(l->v);
    *l = (suppress_list){0};
}
