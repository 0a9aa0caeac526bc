/* pool.c — pool chunk allocation frames (see pool.h). */
#include <stdio.h>
#include <string.h>
#include "pool.h"

static const pool_kind netty = {
    "Netty's pooled allocator",
    "a pool's chunk is carved into many buffers, and its stack is that of whichever request needed a new chunk, "
    "not of the buffer that leaked: while hunting the leak run the server with "
    "-Dio.netty.allocator.type=unpooled, so that every buffer is its own allocation with its own creation stack",
};

/* class: the simple class name, which nested classes may extend with "$Inner"; method: the method. */
static const struct {
    const char *class_name, *method;
    const pool_kind *kind;
} pool_frames[] = {
    { "PoolArena", "newChunk", &netty },
};

static bool ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Is function "...<class>[$Inner...]<separator><method><end>", with the class starting a name segment? */
static bool names_method(const char *function, const char *class_name, const char *method)
{
    size_t clen = strlen(class_name), mlen = strlen(method);
    for (const char *c = strstr(function, class_name); c; c = strstr(c + 1, class_name)) {
        if (c > function && (ident_char(c[-1]) || c[-1] == '$'))
            continue;                       /* part of a longer name: "MyPoolArena" */
        const char *p = c + clen;
        if (*p == '$') {
            while (*p == '$' || ident_char(*p))
                p++;                        /* nested classes: PoolArena$DirectArena */
        } else if (ident_char(*p)) {
            continue;                       /* "PoolArenaMetric" */
        }
        const char *sep = p;
        while (*p == '.' || *p == ':' || *p == ';')
            p++;                            /* "." (Java), "::" (HotSpot), ";." or ";::" (JNI signatures) */
        if (p == sep || strncmp(p, method, mlen) != 0 || ident_char(p[mlen]) || p[mlen] == '$')
            continue;
        return true;
    }
    return false;
}

const pool_kind *pool_match_function(const char *function)
{
    if (!function)
        return NULL;
    for (size_t i = 0; i < sizeof pool_frames / sizeof *pool_frames; i++)
        if (names_method(function, pool_frames[i].class_name, pool_frames[i].method))
            return pool_frames[i].kind;
    return NULL;
}

static const pool_kind *stack_pool(const lw_stack *st, const char **frame)
{
    for (size_t i = 0; i < st->n; i++) {
        const pool_kind *k = pool_match_function(st->v[i].function);
        if (k) {
            *frame = st->v[i].function;
            return k;
        }
    }
    return NULL;
}

const pool_kind *pool_site(const lw_site *s, const char **frame)
{
    const pool_kind *k = stack_pool(&s->frames, frame);
    for (size_t i = 0; !k && i < s->nleaks; i++)
        k = stack_pool(&s->leaks[i].created_at, frame);
    return k;
}

void pool_note(const pool_kind *k, const char *frame, char *buf, size_t len)
{
    char safe[256];
    size_t o = 0;
    for (const unsigned char *c = (const unsigned char *)frame; *c && o + 5 < sizeof safe; c++) {
        if (*c < 0x20 || *c == 0x7f)
            o += (size_t)snprintf(safe + o, sizeof safe - o, "\\x%02x", *c);
        else
            safe[o++] = (char)*c;
    }
    safe[o] = '\0';
    snprintf(buf, len, "This site is a chunk allocation of %s (%s): %s.", k->pool, safe, k->hint);
}
