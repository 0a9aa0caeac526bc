/* protobuf.c — protocol-buffer wire encoding into a growable buffer (see protobuf.h). */
#include "protobuf.h"
#include <stdlib.h>
#include <string.h>

enum { WIRE_VARINT = 0, WIRE_LEN = 2 };

void pb_init(pb_buf *b)
{
    *b = (pb_buf){0};
}

void pb_free(pb_buf *b)
{
    free(b->data);
    *b = (pb_buf){0};
}

static bool reserve(pb_buf *b, size_t more)
{
    if (b->failed)
        return false;
    if (b->len + more <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more)
        cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d) {
        b->failed = true;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

static void put_varint(pb_buf *b, uint64_t v)
{
    if (!reserve(b, 10))
        return;
    while (v >= 0x80) {
        b->data[b->len++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b->data[b->len++] = (uint8_t)v;
}

static void put_tag(pb_buf *b, unsigned field, unsigned wire)
{
    put_varint(b, ((uint64_t)field << 3) | wire);
}

void pb_uint(pb_buf *b, unsigned field, uint64_t v)
{
    put_tag(b, field, WIRE_VARINT);
    put_varint(b, v);
}

void pb_int(pb_buf *b, unsigned field, int64_t v)
{
    pb_uint(b, field, (uint64_t)v);
}

void pb_bytes(pb_buf *b, unsigned field, const void *data, size_t len)
{
    put_tag(b, field, WIRE_LEN);
    put_varint(b, len);
    if (len && reserve(b, len)) {
        memcpy(b->data + b->len, data, len);
        b->len += len;
    }
}

void pb_string(pb_buf *b, unsigned field, const char *s)
{
    pb_bytes(b, field, s, strlen(s));
}

void pb_message(pb_buf *b, unsigned field, const pb_buf *sub)
{
    if (sub->failed)
        b->failed = true;
    pb_bytes(b, field, sub->data, sub->len);
}

void pb_raw(pb_buf *b, const pb_buf *sub)
{
    if (sub->failed)
        b->failed = true;
    if (sub->len && reserve(b, sub->len)) {
        memcpy(b->data + b->len, sub->data, sub->len);
        b->len += sub->len;
    }
}

void pb_packed(pb_buf *b, unsigned field, const uint64_t *v, size_t n)
{
    if (n == 0)
        return;
    pb_buf run;
    pb_init(&run);
    for (size_t i = 0; i < n; i++)
        put_varint(&run, v[i]);
    pb_message(b, field, &run);
    pb_free(&run);
}
