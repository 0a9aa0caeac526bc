/* emitter.c — text and JSON from one call sequence (see emitter.h). */
#include "emitter.h"

void emit_init(struct emitter *e, struct out *o, enum emit_format format)
{
    e->o = o;
    e->format = format;
    e->depth = 0;
    e->has_item = 0;
}

/* Before any JSON element: the comma if this depth has one already, then the member. */
static void element(struct emitter *e, const char *member)
{
    uint32_t bit = 1u << e->depth;
    if (e->has_item & bit)
        out_char(e->o, ',');
    e->has_item |= bit;
    if (member)
        out_json_member(e->o, member);
}

static void open_nested(struct emitter *e, const char *member, char bracket)
{
    if (!emit_is_json(e))
        return;
    element(e, member);
    out_char(e->o, bracket);
    if (e->depth + 1 < EMIT_MAX_DEPTH)
        e->depth++;
    e->has_item &= ~(1u << e->depth);
}

static void close_nested(struct emitter *e, char bracket)
{
    if (!emit_is_json(e))
        return;
    if (e->depth > 0)
        e->depth--;
    out_char(e->o, bracket);
}

void emit_object_begin(struct emitter *e, const char *member) { open_nested(e, member, '{'); }
void emit_object_end(struct emitter *e) { close_nested(e, '}'); }
void emit_array_begin(struct emitter *e, const char *member) { open_nested(e, member, '['); }
void emit_array_end(struct emitter *e) { close_nested(e, ']'); }

void emit_json_u64(struct emitter *e, const char *member, uint64_t v)
{
    if (emit_is_json(e))
        element(e, member), out_u64(e->o, v);
}

void emit_json_i64(struct emitter *e, const char *member, int64_t v)
{
    if (emit_is_json(e))
        element(e, member), out_i64(e->o, v);
}

void emit_json_str(struct emitter *e, const char *member, const char *s)
{
    if (emit_is_json(e))
        element(e, member), out_json_str(e->o, s);
}

void emit_json_bool(struct emitter *e, const char *member, int v)
{
    if (emit_is_json(e))
        element(e, member), out_str(e->o, v ? "true" : "false");
}

void emit_json_hex(struct emitter *e, const char *member, uint64_t v)
{
    if (!emit_is_json(e))
        return;
    element(e, member);
    out_char(e->o, '"');
    out_hex(e->o, v);
    out_char(e->o, '"');
}

void emit_json_hex_digits(struct emitter *e, const char *member, uint64_t v)
{
    if (!emit_is_json(e))
        return;
    element(e, member);
    out_char(e->o, '"');
    out_hex_digits(e->o, v, 16);
    out_char(e->o, '"');
}

void emit_text(struct emitter *e, const char *s)
{
    if (!emit_is_json(e))
        out_str(e->o, s);
}

void emit_text_char(struct emitter *e, char c)
{
    if (!emit_is_json(e))
        out_char(e->o, c);
}

void emit_text_u64(struct emitter *e, uint64_t v)
{
    if (!emit_is_json(e))
        out_u64(e->o, v);
}

void emit_text_count(struct emitter *e, uint64_t v)
{
    if (!emit_is_json(e))
        out_u64_grouped(e->o, v);
}

void emit_text_bytes(struct emitter *e, uint64_t v)
{
    if (!emit_is_json(e))
        out_bytes_human(e->o, v);
}

/* Tenths of a second, cut (never rounded up): a block shown as 10.0 s old is at least that old. */
void emit_text_age(struct emitter *e, uint64_t ms)
{
    if (emit_is_json(e))
        return;
    out_tenths(e->o, ms / 100);
    out_str(e->o, " s");
}

void emit_text_hex(struct emitter *e, uint64_t v)
{
    if (!emit_is_json(e))
        out_hex(e->o, v);
}

void emit_text_hex_padded(struct emitter *e, uint64_t v)
{
    if (!emit_is_json(e))
        out_hex_padded(e->o, v, 16);
}

void emit_u64(struct emitter *e, const char *member, uint64_t v)
{
    emit_json_u64(e, member, v);
    emit_text_u64(e, v);
}

void emit_count(struct emitter *e, const char *member, uint64_t v)
{
    emit_json_u64(e, member, v);
    emit_text_count(e, v);
}

void emit_bytes(struct emitter *e, const char *member, uint64_t v)
{
    emit_json_u64(e, member, v);
    emit_text_bytes(e, v);
}

void emit_age(struct emitter *e, const char *member, uint64_t ms)
{
    emit_json_u64(e, member, ms);
    emit_text_age(e, ms);
}

void emit_text_name(struct emitter *e, const char *s)
{
    if (!emit_is_json(e))
        out_text(e->o, s);
}

void emit_str(struct emitter *e, const char *member, const char *s)
{
    emit_json_str(e, member, s);
    emit_text_name(e, s);
}

void emit_hex(struct emitter *e, const char *member, uint64_t v)
{
    emit_json_hex(e, member, v);
    emit_text_hex(e, v);
}

void emit_finish(struct emitter *e)
{
    if (emit_is_json(e))
        out_char(e->o, '\n');
}
