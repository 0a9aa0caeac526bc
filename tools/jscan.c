/* jscan.c — the top level of a JSON object, member by member (see jscan.h). */
#include "jscan.h"
#include <string.h>

size_t jscan_skip_ws(const char *b, size_t n, size_t i)
{
    while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r'))
        i++;
    return i;
}

/* b[*i] is '"': moves *i past the closing quote. */
static bool skip_string(const char *b, size_t n, size_t *i)
{
    for (size_t k = *i + 1; k < n; k++) {
        if (b[k] == '\\')
            k++;
        else if (b[k] == '"') {
            *i = k + 1;
            return true;
        }
    }
    return false;
}

/* Moves *i past the value that starts there: a string, a nested object or array (by depth), or a scalar. */
static bool skip_value(const char *b, size_t n, size_t *i)
{
    if (*i >= n)
        return false;
    if (b[*i] == '"')
        return skip_string(b, n, i);
    if (b[*i] == '{' || b[*i] == '[') {
        size_t depth = 0;
        for (size_t k = *i; k < n; k++) {
            if (b[k] == '"') {
                if (!skip_string(b, n, &k))
                    return false;
                k--;
            } else if (b[k] == '{' || b[k] == '[') {
                depth++;
            } else if (b[k] == '}' || b[k] == ']') {
                if (--depth == 0) {
                    *i = k + 1;
                    return true;
                }
            }
        }
        return false;
    }
    size_t k = *i;
    while (k < n && !strchr(",}] \t\r\n", b[k]) && b[k] != '\0')
        k++;
    if (k == *i)
        return false;
    *i = k;
    return true;
}

bool jscan_member_array(const char *b, size_t n, const char *key, size_t *open, size_t *close)
{
    size_t klen = strlen(key), i = jscan_skip_ws(b, n, 0);
    bool found = false;
    if (i >= n || b[i] != '{')
        return false;
    i = jscan_skip_ws(b, n, i + 1);
    if (i < n && b[i] == '}')
        return false;
    for (;;) {
        if (i >= n || b[i] != '"')
            return false;
        size_t k = i;
        if (!skip_string(b, n, &k))
            return false;
        bool match = k - i == klen + 2 && memcmp(b + i + 1, key, klen) == 0;
        i = jscan_skip_ws(b, n, k);
        if (i >= n || b[i] != ':')
            return false;
        i = jscan_skip_ws(b, n, i + 1);
        size_t start = i;
        if (!skip_value(b, n, &i))
            return false;
        if (match) {
            if (found || b[start] != '[')
                return false;
            found = true;
            *open = start;
            *close = i - 1;
        }
        i = jscan_skip_ws(b, n, i);
        if (i < n && b[i] == ',') {
            i = jscan_skip_ws(b, n, i + 1);
            continue;
        }
        if (i < n && b[i] == '}')
            break;
        return false;
    }
    return found && jscan_skip_ws(b, n, i + 1) == n;
}
