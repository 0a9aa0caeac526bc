/* jheap_report.c — Java-heap sites in the text and JSON reports (see jheap.h, docs/java-heap.md).
 * Reads the view our JVM thread published for this report; runs on the reporter thread only. */
#include <string.h>
#include "jheap.h"
#include "jheap_sites.h"
#include "jheap_names.h"
#include "state.h"

static int have_view(void) { return atomic_load_explicit(&jh.ready, memory_order_acquire); }

static void out_age_s(struct out *o, uint64_t ms)
{
    out_tenths(o, ms / 100);
    out_str(o, " s");
}

static uint64_t since(uint64_t then_ms)
{
    uint64_t now = lw_now_ms();
    return then_ms && now > then_ms ? now - then_ms : 0;
}

/* The frames of a site, down to and including the first frame outside the JDK, then the rest. */
static void text_frames(struct out *o, const struct jheap_site *s)
{
    for (unsigned i = 0; i < s->nframes; i++)
        jheap_names_write_text(o, s->names[i], s->bci[i]);
    if (!s->nframes)
        out_str(o, "\t(no Java frames: allocated by the JVM itself)\n");
}

static void text_record(struct out *o, const struct jheap_site *s, unsigned previous_seq)
{
    const struct jheap_view *v = &s->view;
    out_str(o, "LEAK: ~");
    out_u64_grouped(o, v->old_objects);
    out_str(o, " objects of ");
    out_str(o, jh.classes[s->klass].name);
    out_str(o, " (~");
    out_bytes_human(o, v->old_bytes);
    out_str(o, ", estimated from ");
    out_u64_grouped(o, v->old_samples);
    out_str(o, v->old_samples == 1 ? " sampled object" : " sampled objects");
    out_str(o, ") allocated here are still reachable at the last GC; the oldest sample is ");
    out_age_s(o, v->oldest_ms);
    out_str(o, " old");
    if (previous_seq) {
        out_str(o, "; ");
        if (!v->had_previous) {
            out_str(o, "new");
        } else if (v->delta == 0) {
            out_str(o, "unchanged");
        } else {
            out_str(o, v->delta > 0 ? "+~" : "-~");
            out_bytes_human(o, (uint64_t)(v->delta > 0 ? v->delta : -v->delta));
        }
        out_str(o, " since report #");
        out_u64(o, previous_seq);
    }
    out_str(o, ".\nKind: Java heap (estimated by sampling)\n");
    if (jh.counted) {
        out_str(o, "Exact count: ");
        out_u64_grouped(o, jh.class_objects[s->klass]);
        out_str(o, " objects of ");
        out_str(o, jh.classes[s->klass].name);
        out_str(o, " (");
        out_bytes_human(o, jh.class_bytes[s->klass]);
        out_str(o, ") in the heap at report time, from every allocation site\n");
    }
    if (v->held_by) {
        out_str(o, "Held by: ");
        out_str(o, v->held_by);
        out_char(o, '\n');
    }
    out_str(o, "Created at:\n");
    text_frames(o, s);
}

void jheap_write_text(struct out *o, unsigned top, unsigned previous_seq)
{
    if (!have_view())
        return;
    uint64_t bytes = 0, objects = 0;
    unsigned records = 0;
    for (uint32_t k = 0; k < jh.nview; k++) {
        const struct jheap_site *s = &jh.sites[jh.order[k]];
        bytes += s->view.bytes, objects += s->view.objects;
        records += s->view.old_samples && s->named == 1;
    }
    out_str(o, "\nJava heap: ~");
    out_bytes_human(o, bytes);
    out_str(o, " in ~");
    out_u64_grouped(o, objects);
    out_str(o, " objects still reachable at the last GC (");
    uint64_t gc = atomic_load_explicit(&jh.last_gc_ms, memory_order_acquire);
    if (gc) {
        out_age_s(o, since(gc));
        out_str(o, jh.forced_gc ? " ago, a full GC this report asked for)" : " ago)");
    } else {
        out_str(o, "no GC yet: every sampled object counts as live)");
    }
    out_str(o, ", estimated from ");
    out_u64_grouped(o, jh.live_samples);
    out_str(o, " sampled objects: one sample every ~");
    out_bytes_human(o, jh.interval);
    out_str(o, " allocated, each standing for size/(1-exp(-size/interval)) bytes; ");
    out_u64_grouped(o, jh.nview);
    out_str(o, " Java-heap sites.\n");
    if (jh.walk_why) {
        out_str(o, "Held by: not shown (");
        out_str(o, jh.walk_why);
        out_str(o, ").\n");
    }
    if (jh.count_why) {
        out_str(o, "Exact counts: not shown (");
        out_str(o, jh.count_why);
        out_str(o, ").\n");
    }
    unsigned shown = 0;
    for (uint32_t k = 0; k < jh.nview && shown < top; k++) {
        const struct jheap_site *s = &jh.sites[jh.order[k]];
        if (!s->view.old_samples || s->named != 1)
            continue;
        out_char(o, '\n');
        text_record(o, s, previous_seq);
        shown++;
    }
    if (records > shown) {
        out_str(o, "\n: ");
        out_u64_grouped(o, records - shown);
        out_str(o, " Java-heap leak records were discarded (LEAKWATCH_TOP).\n");
    }
}

static void kv(struct out *o, const char *member, uint64_t v)
{
    out_char(o, ',');
    out_json_member(o, member);
    out_u64(o, v);
}

static void json_frames(struct out *o, const struct jheap_site *s)
{
    out_char(o, '[');
    for (unsigned i = 0; i < s->nframes; i++) {
        if (i)
            out_char(o, ',');
        jheap_names_write_json(o, s->names[i], s->bci[i]);
    }
    out_char(o, ']');
}

static void json_site(struct out *o, const struct jheap_site *s, unsigned previous_seq)
{
    const struct jheap_view *v = &s->view;
    out_str(o, "{\"id\":\"");
    out_hex_digits(o, s->id, 16);
    out_str(o, "\",\"kind\":\"java-heap\",\"estimated\":true,\"class\":");
    out_json_str(o, jh.classes[s->klass].name);
    kv(o, "live_bytes", v->bytes);
    kv(o, "live_blocks", v->objects);
    kv(o, "samples", v->samples);
    kv(o, "oldest_age_ms", v->oldest_ms);
    out_str(o, ",\"frames\":");
    json_frames(o, s);
    out_str(o, ",\"leaks\":[");
    if (v->old_samples) {
        out_str(o, "{\"blocks\":");
        out_u64(o, v->old_objects);
        kv(o, "bytes", v->old_bytes);
        kv(o, "samples", v->old_samples);
        kv(o, "oldest_age_ms", v->oldest_ms);
        out_str(o, ",\"stack\":\"own\",\"unstacked_blocks\":0");
        if (previous_seq) {
            out_str(o, ",\"since_previous_bytes\":");
            out_i64(o, v->delta);
        }
        if (jh.counted) {
            out_str(o, ",\"class_exact\":{\"objects\":");
            out_u64(o, jh.class_objects[s->klass]);
            kv(o, "bytes", jh.class_bytes[s->klass]);
            out_char(o, '}');
        }
        if (v->held_by) {
            out_str(o, ",\"held_by\":");
            out_json_str(o, v->held_by);
        }
        out_str(o, ",\"created_at\":");
        json_frames(o, s);
        out_str(o, ",\"recent_access\":[]}");
    }
    out_str(o, "]}");
}

void jheap_write_json_sites(struct out *o, int first, unsigned previous_seq)
{
    if (!have_view())
        return;
    for (uint32_t k = 0; k < jh.nview; k++) {
        const struct jheap_site *s = &jh.sites[jh.order[k]];
        if (s->named != 1)
            continue;
        if (!first)
            out_char(o, ',');
        first = 0;
        json_site(o, s, previous_seq);
    }
}

void jheap_write_json_meta(struct out *o)
{
    if (!have_view())
        return;
    out_str(o, ",\"java_heap\":{\"estimated\":true,\"scaling\":\"poisson\"");
    kv(o, "sampling_interval_bytes", jh.interval);
    kv(o, "live_samples", jh.live_samples);
    kv(o, "dropped_samples", jh.dropped);
    kv(o, "gcs", atomic_load(&jh.gcs));
    uint64_t gc = atomic_load_explicit(&jh.last_gc_ms, memory_order_acquire);
    if (gc)
        kv(o, "last_gc_age_ms", since(gc));
    out_str(o, jh.forced_gc ? ",\"forced_gc\":true" : ",\"forced_gc\":false");
    kv(o, "held_by_walk_ms", jh.walk_ms);
    if (jh.walk_why) {
        out_str(o, ",\"held_by_missing\":");
        out_json_str(o, jh.walk_why);
    }
    kv(o, "class_count_ms", jh.count_ms);
    if (jh.count_why) {
        out_str(o, ",\"class_count_missing\":");
        out_json_str(o, jh.count_why);
    }
    out_char(o, '}');
}

void jheap_report_done(void)
{
    if (!have_view())
        return;
    for (uint32_t s = 1; s <= JHEAP_SITES_MAX; s++) {
        struct jheap_site *site = &jh.sites[s];
        if (!site->key)
            break;
        site->previous_bytes = site->view.bytes;
        site->in_previous = site->view.samples > 0;
    }
    atomic_store_explicit(&jh.ready, 0, memory_order_release);
}
