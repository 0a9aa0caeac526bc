/* annotate.c — CI annotations for failing sites (see annotate.h). */
#include "annotate.h"
#include "baseline.h"
#include "util.h"

void annotate_escape(FILE *out, const char *s, bool prop)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '%')
            fputs("%25", out);
        else if (*p == '\r')
            fputs("%0D", out);
        else if (*p == '\n')
            fputs("%0A", out);
        else if (prop && *p == ':')
            fputs("%3A", out);
        else if (prop && *p == ',')
            fputs("%2C", out);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\x%02x", *p);
        else
            fputc(*p, out);
    }
}

void annotate_github(FILE *out, const gate_run *g)
{
    for (size_t i = 0; i < g->nsites; i++) {
        const gate_site *s = &g->sites[i];
        if (s->suppressed_by >= 0 || !s->v.fails)
            continue;
        char title[64], why[256], base[256], label[1024];
        snprintf(title, sizeof title, "leakwatch gate: site %s (%s)", s->id, s->site->kind);
        trend_explain(&s->v, &s->limits, gate_unit(g), why, sizeof why);
        gate_site_label(s, 5, label, sizeof label);
        fputs("::error title=", out);
        annotate_escape(out, title, true);
        fputs("::", out);
        annotate_escape(out, why, false);
        fputs("; created at ", out);
        annotate_escape(out, label, false);
        if (s->base != GATE_BASE_NONE) {
            fputs("; ", out);
            annotate_escape(out, baseline_explain(g, s, base, sizeof base), false);
        }
        fputc('\n', out);
    }
}
