/* protobuf.h — the few protocol-buffer wire encodings pprof's profile.proto needs: varints, packed
 * repeated integers, length-delimited strings and nested messages, written into a growable byte buffer.
 * No schema, no reflection: the caller names each field number. Not thread-safe; no locks. */
#ifndef LW_PROTOBUF_H
#define LW_PROTOBUF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *data;
    size_t len, cap;
    bool failed;              /* an allocation failed: the contents are incomplete */
} pb_buf;

void pb_init(pb_buf *b);
void pb_free(pb_buf *b);

/* Field `field` as a varint (wire type 0). Zero values are written too: proto3 readers treat them as unset. */
void pb_uint(pb_buf *b, unsigned field, uint64_t v);
/* An int64 field: negative values take ten bytes, as the wire format says for int64 (not zig-zag). */
void pb_int(pb_buf *b, unsigned field, int64_t v);
/* Length-delimited bytes (wire type 2): strings and already encoded messages. */
void pb_bytes(pb_buf *b, unsigned field, const void *data, size_t len);
void pb_string(pb_buf *b, unsigned field, const char *s);
/* Nested message: appends sub's bytes as field `field`. */
void pb_message(pb_buf *b, unsigned field, const pb_buf *sub);
/* Appends sub's bytes as they are (fields encoded elsewhere, e.g. one repeated field built apart). */
void pb_raw(pb_buf *b, const pb_buf *sub);
/* A packed repeated uint64/int64 field (one length-delimited run of varints); nothing when n is 0. */
void pb_packed(pb_buf *b, unsigned field, const uint64_t *v, size_t n);

#endif
