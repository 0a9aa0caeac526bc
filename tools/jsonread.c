/* jsonread.c — JSON text to tokens through a fixed window (see jsonread.h). */
#include "jsonread.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WINDOW_BYTES (64 * 1024)
#define MAX_DEPTH 2048        /* as jansson's parser: deeper text is refused, never a deep recursion */

enum { NEED_VALUE, NEED_VALUE_OR_CLOSE, NEED_KEY, NEED_KEY_OR_CLOSE, NEED_COMMA_OR_CLOSE, NEED_END };

static void init(jreader *jr)
{
    jr->line = 1;
    jr->need = NEED_VALUE;
    jr->last = JR_NULL;
    jr->nest = malloc(MAX_DEPTH);
    jr->cap = 256;
    jr->str = malloc(jr->cap);
    if (jr->str)
        jr->str[0] = '\0';
}

bool jr_open_fd(jreader *jr, int fd)
{
    *jr = (jreader){.fd = fd};
    init(jr);
    jr->window = malloc(WINDOW_BYTES);
    return jr->window && jr->nest && jr->str;
}

void jr_open_mem(jreader *jr, const char *mem, size_t len)
{
    *jr = (jreader){.fd = -1, .mem = mem, .mem_len = len};
    init(jr);
    jr->window = (char *)mem;
    jr->filled = len;
}

void jr_close(jreader *jr)
{
    if (jr->fd >= 0)
        free(jr->window);
    free(jr->nest);
    free(jr->str);
    jr->window = NULL;
    jr->nest = NULL;
    jr->str = NULL;
}

uint64_t jr_offset(const jreader *jr)
{
    return jr->consumed + jr->pos;
}

static jr_token fail(jreader *jr, jr_error_kind kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static jr_token fail(jreader *jr, jr_error_kind kind, const char *fmt, ...)
{
    if (jr->last == JR_ERROR)
        return JR_ERROR;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(jr->error, sizeof jr->error, fmt, ap);
    va_end(ap);
    jr->error_kind = kind;
    jr->column = (long)(jr_offset(jr) - jr->line_start) + 1;
    jr->last = JR_ERROR;
    return JR_ERROR;
}

/* Refills the window; false at the end of the text or on an error (then jr->last is JR_ERROR). */
static bool refill(jreader *jr)
{
    if (jr->fd < 0)
        return false;
    jr->consumed += jr->pos;
    jr->pos = jr->filled = 0;
    for (;;) {
        ssize_t n = read(jr->fd, jr->window, WINDOW_BYTES);
        if (n > 0) {
            jr->filled = (size_t)n;
            return true;
        }
        if (n == 0)
            return false;
        if (errno != EINTR) {
            jr->io_errno = errno;
            fail(jr, JR_ERR_IO, "read failed (%s)", strerror(errno));
            return false;
        }
    }
}

/* The next byte without taking it, -1 at the end. */
static inline int peek(jreader *jr)
{
    if (__builtin_expect(jr->pos == jr->filled, 0) && !refill(jr))
        return -1;
    return (unsigned char)jr->window[jr->pos];
}

static inline void take(jreader *jr, int c)
{
    jr->pos++;
    if (c == '\n') {
        jr->line++;
        jr->line_start = jr_offset(jr);
    }
}

static jr_token truncated(jreader *jr)
{
    return fail(jr, JR_ERR_TRUNCATED, "the text ends before the JSON is complete");
}

/* An unexpected byte c (or the end, c < 0): the error that names it best. */
static jr_token unexpected(jreader *jr, int c, const char *expected)
{
    if (c < 0)
        return jr->last == JR_ERROR ? JR_ERROR : truncated(jr);
    if (c == 0) {
        jr->nul_at = jr_offset(jr) + 1;
        return fail(jr, JR_ERR_NUL, "a NUL byte");
    }
    if (c < 0x20 || c >= 0x7f)
        return fail(jr, JR_ERR_SYNTAX, "%s expected near byte 0x%02x", expected, c);
    return fail(jr, JR_ERR_SYNTAX, "%s expected near '%c'", expected, c);
}

static int skip_ws(jreader *jr)
{
    for (;;) {
        int c = peek(jr);
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return c;
        take(jr, c);
    }
}

static bool grow(jreader *jr, size_t need)
{
    while (jr->len + need >= jr->cap) {
        size_t cap = jr->cap * 2;
        char *s = realloc(jr->str, cap);
        if (!s) {
            fail(jr, JR_ERR_NOMEM, "out of memory for a string of %zu bytes", jr->len);
            return false;
        }
        jr->str = s;
        jr->cap = cap;
    }
    return true;
}

static inline bool put(jreader *jr, char c)
{
    if (__builtin_expect(jr->len + 1 >= jr->cap, 0) && !grow(jr, 1))
        return false;
    jr->str[jr->len++] = c;
    return true;
}

static bool put_utf8(jreader *jr, uint32_t cp)
{
    if (cp < 0x80)
        return put(jr, (char)cp);
    if (cp < 0x800)
        return put(jr, (char)(0xc0 | cp >> 6)) && put(jr, (char)(0x80 | (cp & 0x3f)));
    if (cp < 0x10000)
        return put(jr, (char)(0xe0 | cp >> 12)) && put(jr, (char)(0x80 | ((cp >> 6) & 0x3f))) &&
               put(jr, (char)(0x80 | (cp & 0x3f)));
    return put(jr, (char)(0xf0 | cp >> 18)) && put(jr, (char)(0x80 | ((cp >> 12) & 0x3f))) &&
           put(jr, (char)(0x80 | ((cp >> 6) & 0x3f))) && put(jr, (char)(0x80 | (cp & 0x3f)));
}

/* Four hex digits after "\u"; -1 on an error. */
static long hex4(jreader *jr)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int c = peek(jr);
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) {
            unexpected(jr, c, "a hex digit of a \\u escape");
            return -1;
        }
        take(jr, c);
        v = v * 16 + d;
    }
    return v;
}

/* One UTF-8 sequence whose lead byte c was taken: its continuation bytes, checked as RFC 3629 says
 * (no overlong forms, no surrogates, nothing past U+10FFFF). */
static bool utf8_rest(jreader *jr, int c)
{
    int more;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf)
        more = 1, cp = (uint32_t)c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        more = 2, cp = (uint32_t)c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        more = 3, cp = (uint32_t)c & 0x07;
    else {
        fail(jr, JR_ERR_SYNTAX, "invalid UTF-8 byte 0x%02x in a string", c);
        return false;
    }
    if (!put(jr, (char)c))
        return false;
    for (int i = 0; i < more; i++) {
        int d = peek(jr);
        if (d < 0 || (d & 0xc0) != 0x80) {
            if (d < 0)
                truncated(jr);
            else
                fail(jr, JR_ERR_SYNTAX, "invalid UTF-8 sequence in a string (byte 0x%02x)", d);
            return false;
        }
        take(jr, d);
        cp = cp << 6 | ((uint32_t)d & 0x3f);
        if (!put(jr, (char)d))
            return false;
    }
    if ((more == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (more == 3 && (cp < 0x10000 || cp > 0x10ffff))) {
        fail(jr, JR_ERR_SYNTAX, "invalid UTF-8 sequence in a string (U+%X)", (unsigned)cp);
        return false;
    }
    return true;
}

/* A string whose opening quote is next. */
static bool read_string(jreader *jr)
{
    take(jr, '"');
    jr->len = 0;
    for (;;) {
        /* the common case: a run of plain printable ASCII in the window, copied at once */
        const char *w = jr->window + jr->pos;
        size_t run = 0, avail = jr->filled - jr->pos;
        while (run < avail && (unsigned char)w[run] >= 0x20 && (unsigned char)w[run] < 0x80 && w[run] != '"' &&
               w[run] != '\\')
            run++;
        if (run) {
            if (!grow(jr, run))
                return false;
            memcpy(jr->str + jr->len, w, run);
            jr->len += run;
            jr->pos += run;
        }
        int c = peek(jr);
        if (c < 0) {
            truncated(jr);
            return false;
        }
        if (c == '"') {
            take(jr, c);
            jr->str[jr->len] = '\0';
            return true;
        }
        if (c < 0x20) {
            if (c == 0)
                unexpected(jr, c, "");
            else
                fail(jr, JR_ERR_SYNTAX, "control character 0x%02x in a string (it must be escaped)", c);
            return false;
        }
        take(jr, c);
        if (c >= 0x80) {
            if (!utf8_rest(jr, c))
                return false;
            continue;
        }
        if (c != '\\') {
            if (!put(jr, (char)c))
                return false;
            continue;
        }
        int e = peek(jr);
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
        const char *at = e > 0 ? strchr(from, e) : NULL;
        if (at) {
            take(jr, e);
            if (!put(jr, to[at - from]))
                return false;
            continue;
        }
        if (e != 'u') {
            unexpected(jr, e, "an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
            return false;
        }
        take(jr, e);
        long cp = hex4(jr);
        if (cp < 0)
            return false;
        if (cp >= 0xd800 && cp <= 0xdbff) {
            if (peek(jr) != '\\') {
                unexpected(jr, peek(jr), "the low surrogate of \\u escape pair");
                return false;
            }
            take(jr, '\\');
            if (peek(jr) != 'u') {
                unexpected(jr, peek(jr), "the low surrogate of \\u escape pair");
                return false;
            }
            take(jr, 'u');
            long lo = hex4(jr);
            if (lo < 0)
                return false;
            if (lo < 0xdc00 || lo > 0xdfff) {
                fail(jr, JR_ERR_SYNTAX, "invalid Unicode escape pair \\u%04lX\\u%04lX", cp, lo);
                return false;
            }
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            fail(jr, JR_ERR_SYNTAX, "invalid Unicode escape \\u%04lX (a lone low surrogate)", cp);
            return false;
        } else if (cp == 0) {
            fail(jr, JR_ERR_SYNTAX, "\\u0000 is not allowed in a string");
            return false;
        }
        if (!put_utf8(jr, (uint32_t)cp))
            return false;
    }
}

static bool digit(int c)
{
    return c >= '0' && c <= '9';
}

/* A number whose first byte (a digit or '-') is next. */
static jr_token read_number(jreader *jr)
{
    jr->len = 0;
    bool is_int = true;
    int c = peek(jr);
    if (c == '-') {
        take(jr, c);
        put(jr, '-');
        c = peek(jr);
    }
    if (!digit(c))
        return unexpected(jr, c, "a digit");
    if (c == '0') {
        take(jr, c);
        put(jr, '0');
        c = peek(jr);
        if (digit(c))
            return fail(jr, JR_ERR_SYNTAX, "a number with a leading zero");
    }
    while (digit(c)) {
        take(jr, c);
        if (!put(jr, (char)c))
            return JR_ERROR;
        c = peek(jr);
    }
    if (c == '.') {
        is_int = false;
        take(jr, c);
        put(jr, '.');
        c = peek(jr);
        if (!digit(c))
            return unexpected(jr, c, "a digit after the decimal point");
        while (digit(c)) {
            take(jr, c);
            if (!put(jr, (char)c))
                return JR_ERROR;
            c = peek(jr);
        }
    }
    if (c == 'e' || c == 'E') {
        is_int = false;
        take(jr, c);
        put(jr, 'e');
        c = peek(jr);
        if (c == '+' || c == '-') {
            take(jr, c);
            put(jr, (char)c);
            c = peek(jr);
        }
        if (!digit(c))
            return unexpected(jr, c, "a digit of the exponent");
        while (digit(c)) {
            take(jr, c);
            if (!put(jr, (char)c))
                return JR_ERROR;
            c = peek(jr);
        }
    }
    if (jr->last == JR_ERROR)
        return JR_ERROR;
    jr->str[jr->len] = '\0';
    errno = 0;
    if (is_int) {
        jr->integer = strtoll(jr->str, NULL, 10);
        if (errno == ERANGE)
            return fail(jr, JR_ERR_OVERFLOW, "too big integer near '%.40s'", jr->str);
        return JR_INT;
    }
    jr->real = strtod(jr->str, NULL);
    if (errno == ERANGE && (jr->real > 1 || jr->real < -1))
        return fail(jr, JR_ERR_SYNTAX, "real number overflow near '%.40s'", jr->str);
    return JR_REAL;
}

static bool literal(jreader *jr, const char *word)
{
    for (const char *w = word; *w; w++) {
        int c = peek(jr);
        if (c != *w) {
            unexpected(jr, c, word);
            return false;
        }
        take(jr, c);
    }
    return true;
}

static void after_value(jreader *jr)
{
    jr->need = jr->depth ? NEED_COMMA_OR_CLOSE : NEED_END;
}

static jr_token close_container(jreader *jr, int c)
{
    take(jr, c);
    jr->depth--;
    after_value(jr);
    return c == '}' ? JR_OBJECT_END : JR_ARRAY_END;
}

static jr_token value(jreader *jr, int c)
{
    switch (c) {
    case '{':
    case '[':
        if (jr->depth == MAX_DEPTH)
            return fail(jr, JR_ERR_SYNTAX, "nested more than %d deep", MAX_DEPTH);
        take(jr, c);
        jr->nest[jr->depth++] = (unsigned char)c;
        jr->need = c == '{' ? NEED_KEY_OR_CLOSE : NEED_VALUE_OR_CLOSE;
        return c == '{' ? JR_OBJECT : JR_ARRAY;
    case '"':
        if (!read_string(jr))
            return JR_ERROR;
        after_value(jr);
        return JR_STRING;
    case 't':
    case 'f':
    case 'n': {
        const char *word = c == 't' ? "true" : c == 'f' ? "false" : "null";
        if (!literal(jr, word))
            return JR_ERROR;
        after_value(jr);
        return c == 't' ? JR_TRUE : c == 'f' ? JR_FALSE : JR_NULL;
    }
    default:
        if (c == '-' || digit(c)) {
            jr_token t = read_number(jr);
            if (t != JR_ERROR)
                after_value(jr);
            return t;
        }
        return unexpected(jr, c, jr->depth ? "a value" : "'{' or '['");
    }
}

jr_token jr_next(jreader *jr)
{
    if (jr->last == JR_ERROR || !jr->nest || !jr->str)
        return jr->last == JR_ERROR ? JR_ERROR : fail(jr, JR_ERR_NOMEM, "out of memory");
    int c = skip_ws(jr);
    jr_token t;
    switch (jr->need) {
    case NEED_END:
        if (c < 0)
            t = jr->last == JR_ERROR ? JR_ERROR : JR_END;
        else
            t = unexpected(jr, c, "the end of the text");
        break;
    case NEED_COMMA_OR_CLOSE: {
        int open = jr->nest[jr->depth - 1];
        if (c == (open == '{' ? '}' : ']')) {
            t = close_container(jr, c);
            break;
        }
        if (c != ',') {
            t = unexpected(jr, c, open == '{' ? "',' or '}'" : "',' or ']'");
            break;
        }
        take(jr, c);
        c = skip_ws(jr);
        if (open == '[') {
            t = value(jr, c);
            break;
        }
    }
        __attribute__((fallthrough)); /* a key after the comma */
    case NEED_KEY_OR_CLOSE:
    case NEED_KEY:
        if (c == '}' && jr->need == NEED_KEY_OR_CLOSE) {
            t = close_container(jr, c);
            break;
        }
        if (c != '"') {
            t = unexpected(jr, c, "a string (a member name)");
            break;
        }
        if (!read_string(jr)) {
            t = JR_ERROR;
            break;
        }
        c = skip_ws(jr);
        if (c != ':') {
            t = unexpected(jr, c, "':'");
            break;
        }
        take(jr, c);
        jr->need = NEED_VALUE;
        t = JR_KEY;
        break;
    case NEED_VALUE_OR_CLOSE:
        if (c == ']') {
            t = close_container(jr, c);
            break;
        }
        /* fall through */
    default:
        t = value(jr, c);
        break;
    }
    jr->last = t == JR_ERROR || jr->last == JR_ERROR ? JR_ERROR : t;
    return jr->last;
}

bool jr_skip(jreader *jr, jr_token first)
{
    if (first == JR_ERROR)
        return false;
    if (first != JR_OBJECT && first != JR_ARRAY)
        return true;
    int depth = jr->depth - 1;
    while (jr->depth > depth) {
        jr_token t = jr_next(jr);
        if (t == JR_ERROR || t == JR_END)
            return false;
    }
    return true;
}
