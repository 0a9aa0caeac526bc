/* jsonread.h — a pull reader of JSON text: one token at a time from a file descriptor or a memory buffer,
 * through a fixed 64 KiB window, so a report of any size is read in memory that does not grow with it (only
 * the longest single string is held). It checks the whole grammar as it goes (RFC 8259: nesting, commas,
 * numbers, escapes, UTF-8, no NUL) and names the first problem with its line and column; the caller checks
 * what the values mean. Keys come as their own token. One reader per thread; no locks; not
 * async-signal-safe (it allocates). */
#ifndef LW_JSONREAD_H
#define LW_JSONREAD_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    JR_ERROR,                 /* see jr_error / jr_error_kind; every later call returns it again */
    JR_END,                   /* the one top-level value is complete and only whitespace followed it */
    JR_OBJECT, JR_OBJECT_END, JR_ARRAY, JR_ARRAY_END,
    JR_KEY,                   /* a member name, in jr->str; its value is the next token */
    JR_STRING,                /* jr->str (jr->len bytes, NUL-terminated, no NUL inside) */
    JR_INT,                   /* jr->integer: a number without fraction or exponent that fits in 64 signed bits */
    JR_REAL,                  /* jr->real: any other number */
    JR_TRUE, JR_FALSE, JR_NULL,
} jr_token;

typedef enum {
    JR_ERR_SYNTAX,            /* not JSON at jr->line/jr->column */
    JR_ERR_TRUNCATED,         /* the text ends before the value is complete */
    JR_ERR_OVERFLOW,          /* an integer outside 64 signed bits */
    JR_ERR_NUL,               /* a NUL byte (binary data), at jr->nul_at (counted from 1) */
    JR_ERR_IO,                /* read(2) failed: errno in jr->io_errno */
    JR_ERR_NOMEM,
} jr_error_kind;

typedef struct {
    int fd;                   /* -1: reading from mem */
    const char *mem;
    size_t mem_len;
    char *window;             /* the bytes read from fd and not consumed yet: window[pos..filled) */
    size_t pos, filled;
    uint64_t consumed;        /* bytes before window[pos] */
    long line;                /* of the next byte, from 1 */
    uint64_t line_start;      /* offset of that line's first byte */
    long column;              /* of the byte where the error was found, from 1 (set with the error) */
    unsigned char *nest;      /* '{' or '[' per open container */
    int depth;
    int need;                 /* what the grammar allows next (private) */
    char *str;                /* the last string or key, NUL-terminated */
    size_t len, cap;
    long long integer;
    double real;
    jr_token last;
    jr_error_kind error_kind;
    int io_errno;
    uint64_t nul_at;
    char error[160];          /* "invalid ... near ..." without position */
} jreader;

/* Starts a reader over fd (read from its current offset; the fd stays the caller's) or over mem. */
bool jr_open_fd(jreader *jr, int fd);
void jr_open_mem(jreader *jr, const char *mem, size_t len);
void jr_close(jreader *jr);

jr_token jr_next(jreader *jr);

/* Skips the value whose first token was just returned (a container's whole contents; nothing for a scalar).
 * False on an error. */
bool jr_skip(jreader *jr, jr_token first);

/* The bytes read so far (for "the JSON ends at byte N"). */
uint64_t jr_offset(const jreader *jr);

#endif
