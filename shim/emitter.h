/* emitter.h — one call sequence, two outputs: the report code describes a report once, and an emitter
 * writes it either as text (the prose of a leak record) or as JSON (the contract in
 * docs/report-format.md). Structure calls (objects, arrays, keys) shape the JSON and are silent in
 * text; text calls are silent in JSON; the value calls print in both, each in its own form. The
 * emitter places JSON commas itself. Writes through out.h: no allocation, no lock. */
#ifndef LW_EMITTER_H
#define LW_EMITTER_H

#include <stdint.h>
#include "out.h"

enum emit_format { EMIT_TEXT, EMIT_JSON };

#define EMIT_MAX_DEPTH 16

struct emitter {
    struct out *o;
    enum emit_format format;
    unsigned depth;
    uint32_t has_item;              /* bit d: depth d already has an element (the next needs a comma) */
};

void emit_init(struct emitter *e, struct out *o, enum emit_format format);

static inline int emit_is_json(const struct emitter *e) { return e->format == EMIT_JSON; }

/* JSON structure; member is NULL inside an array (and for the outermost object). */
void emit_object_begin(struct emitter *e, const char *member);
void emit_object_end(struct emitter *e);
void emit_array_begin(struct emitter *e, const char *member);
void emit_array_end(struct emitter *e);

/* JSON only. */
void emit_json_u64(struct emitter *e, const char *member, uint64_t v);
void emit_json_i64(struct emitter *e, const char *member, int64_t v);
void emit_json_str(struct emitter *e, const char *member, const char *s);
void emit_json_bool(struct emitter *e, const char *member, int v);
void emit_json_hex(struct emitter *e, const char *member, uint64_t v);           /* "0x1c3e0" */
void emit_json_hex_digits(struct emitter *e, const char *member, uint64_t v);    /* "00000000001c3e0" (16) */

/* Text only. */
void emit_text(struct emitter *e, const char *s);
/* A name or path from outside (a program, module or function name): control characters escaped (out_text). */
void emit_text_name(struct emitter *e, const char *s);
void emit_text_char(struct emitter *e, char c);
void emit_text_u64(struct emitter *e, uint64_t v);                            /* 1523 */
void emit_text_count(struct emitter *e, uint64_t v);                          /* 1,523 */
void emit_text_bytes(struct emitter *e, uint64_t v);                          /* 2.9 KiB */
void emit_text_age(struct emitter *e, uint64_t ms);                           /* 41.2 s */
void emit_text_hex(struct emitter *e, uint64_t v);                            /* 0x1c3e0 */
void emit_text_hex_padded(struct emitter *e, uint64_t v);                     /* 0x000055d0c1a1c3e0 */

/* Both: the JSON member "member": v, and in text the value in its human form. */
void emit_u64(struct emitter *e, const char *member, uint64_t v);                /* text 1523 */
void emit_count(struct emitter *e, const char *member, uint64_t v);              /* text 1,523 */
void emit_bytes(struct emitter *e, const char *member, uint64_t v);              /* text 2.9 KiB */
void emit_age(struct emitter *e, const char *member, uint64_t ms);               /* text 41.2 s; JSON ms */
void emit_str(struct emitter *e, const char *member, const char *s);           /* text escaped, as a name */
void emit_hex(struct emitter *e, const char *member, uint64_t v);                /* "0x1c3e0" / 0x1c3e0 */

/* The end of the document: a newline in JSON (text ends with its own). */
void emit_finish(struct emitter *e);

#endif
