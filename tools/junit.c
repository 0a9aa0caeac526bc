/* junit.c — JUnit XML output of the gate (see junit.h). */
#include "junit.h"
#include "javaheap.h"
#include "util.h"
#include <errno.h>
#include <string.h>

static void write_case(FILE *f, const gate_run *g, const gate_site *s)
{
    char label[512], why[256], a[32], name[600];
    gate_site_label(s, 2, label, sizeof label);
    snprintf(name, sizeof name, "site %s: %s", s->id, label);
    fputs("    <testcase classname=\"leakwatch.gate\" name=\"", f);
    lw_xml_escape(f, name);
    fputs("\"", f);
    trend_explain(&s->v, &s->limits, gate_unit(g), why, sizeof why);
    if (s->suppressed_by >= 0) {
        fputs(">\n      <skipped message=\"suppressed by leak:", f);
        lw_xml_escape(f, g->sup.v[s->suppressed_by].pattern);
        fputs("\"/>\n    </testcase>\n", f);
        return;
    }
    if (!s->v.fails) {
        fputs("/>\n", f);
        return;
    }
    fputs(">\n      <failure type=\"leak\" message=\"", f);
    lw_xml_escape(f, why);
    char top[512];
    gate_site_label(s, 5, top, sizeof top);
    fputs("; created at ", f);
    lw_xml_escape(f, top);
    fputs("\">", f);
    fprintf(f, "Live bytes at site %s (", s->id);
    lw_xml_escape(f, s->site->kind);
    fputs(javaheap_is(s->site) ? ", estimated by sampling) per round:" : ") per round:", f);
    for (size_t r = 0; r < g->nrounds; r++)
        fprintf(f, " %s%s", lw_bytes(s->bytes[r], false, a, sizeof a), r < g->warmup ? " (warm-up)" : "");
    char exact[1024];
    if (s->described_by_last_round && javaheap_exact_line(s->report, s->site, "at the last round", exact, sizeof exact)) {
        fputs("\n", f);
        lw_xml_escape(f, exact);
    }
    fputs("\nCreated at:\n", f);
    const lw_stack *st = model_site_stack(s->site);
    for (size_t i = 0; i < st->n; i++) {
        char fr[512];
        model_frame_name(s->report, &st->v[i], true, fr, sizeof fr);
        const char *mod = model_frame_module(s->report, &st->v[i]);
        fputs("\t", f);
        lw_xml_escape(f, fr);
        if (mod) {
            fputs(" (", f);
            lw_xml_escape(f, mod);
            fputs(")", f);
        }
        fputs("\n", f);
    }
    const char *held_by = javaheap_is(s->site) ? javaheap_held_by(s->site) : NULL;
    if (held_by) {
        fputs("Held by: ", f);
        lw_xml_escape(f, held_by);
        fputs("\n", f);
    }
    fputs("</failure>\n    </testcase>\n", f);
}

bool junit_write(const char *path, const gate_run *g, char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "--junit %s: cannot write (%s): check the directory exists and is writable", path,
                 strerror(errno));
        return false;
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<testsuites name=\"leakwatch gate\" tests=\"%zu\" failures=\"%zu\" skipped=\"%zu\">\n", g->nsites,
            g->nfailed, g->nsuppressed);
    fprintf(f, "  <testsuite name=\"leakwatch.gate\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"%zu\">\n",
            g->nsites, g->nfailed, g->nsuppressed);
    for (size_t i = 0; i < g->nsites; i++)
        write_case(f, g, &g->sites[i]);
    fprintf(f, "  </testsuite>\n</testsuites>\n");
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0 || bad) {
        snprintf(err, errlen, "--junit %s: writing failed (%s): check the disk", path, strerror(errno ? errno : EIO));
        return false;
    }
    return true;
}
