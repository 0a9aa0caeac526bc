/* suppress.h — gate suppressions in the spirit of LeakSanitizer's: lines "leak:PATTERN" (and '#' comments)
 * that hide a site when PATTERN matches a function name (or a module's file name) in its creation stacks
 * or key frames. Each rule counts what it hid, so a stale or too-broad suppression shows. */
#ifndef LW_SUPPRESS_H
#define LW_SUPPRESS_H
#include <stdbool.h>
#include <stddef.h>
#include "model.h"

typedef struct {
    char *pattern;        /* with '*' or '?': a glob over the whole name; otherwise a substring */
    int line;             /* line in the file, for messages */
    size_t sites;         /* sites it hid */
    long long bytes;      /* their live bytes at the last round, saturating at 2^63-1 */
} suppress_rule;

typedef struct {
    suppress_rule *v;
    size_t n;
} suppress_list;

/* Parses suppression text; name is used in errors ("FILE:LINE: ..."). False with one error line in err. */
bool suppress_parse(const char *text, const char *name, suppress_list *out, char *err, size_t errlen);

/* The same over len bytes that need not end in a NUL; a NUL byte inside is an error naming its line. */
bool suppress_parse_mem(const char *text, size_t len, const char *name, suppress_list *out, char *err,
                        size_t errlen);

/* Reads and parses a file; only a regular file (a FIFO or device is an error, never a hang). */
bool suppress_load(const char *path, suppress_list *out, char *err, size_t errlen);

/* Does one rule match a name? Exposed for tests. */
bool suppress_rule_matches(const suppress_rule *rule, const char *name);

/* Index of the first rule matching the site (frames of its leak groups' creation stacks and its key
 * frames), or -1. */
int suppress_match(const suppress_list *l, const lw_report *r, const lw_site *s);

void suppress_free(suppress_list *l);

#endif
