/* svg.c — SVG chart of the gate (see svg.h). Plain SVG 1.1 with inline attributes only, so browsers,
 * rsvg-convert and CI artifact viewers all draw it the same. */
#include "svg.h"
#include "util.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

enum { W = 1020, H = 520, PL = 90, PR = 640, PT = 64, PB = 450 };

static const char *fail_colors[] = {"#d62728", "#ff7f0e", "#a0151e", "#e377c2"};
static const char *pass_colors[] = {"#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#7f7f7f", "#bcbd22",
                                    "#393b79"};

/* A round tick step near max/target: 1, 2 or 5 times a power of ten of a binary unit, or a quarter or half
 * of the next unit (256 KiB, 512 KiB), so that labels read 512 KiB, 1 MiB, 1.5 MiB. */
static double nice_step(double max, int target)
{
    double raw = max / target, best = 0;
    for (double unit = 1; unit <= 1099511627776.0 && !best; unit *= 1024) {
        static const double mult[] = {1, 2, 5, 10, 20, 50, 100, 200, 256, 512};
        for (size_t i = 0; i < sizeof mult / sizeof mult[0] && !best; i++)
            if (mult[i] * unit >= raw)
                best = mult[i] * unit;
    }
    return best ? best : raw;
}

/* "0 B", "512 KiB", "1.5 MiB": the largest unit the value reaches, at most three significant digits. */
static void tick_label(double v, char *buf, size_t len)
{
    static const char *names[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int k = 0;
    while (k < 4 && v >= 1024) {
        v /= 1024;
        k++;
    }
    snprintf(buf, len, "%.3g %s", v, names[k]);
}

/* Text that lw_esc already made printable, with XML's entities added. */
static void xml_entities(FILE *f, const char *s)
{
    for (; *s; s++)
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
}

static double px(const gate_run *g, size_t r)
{
    return g->nrounds > 1 ? PL + (PR - PL) * (double)r / (double)(g->nrounds - 1) : (PL + PR) / 2.0;
}

bool svg_write(const char *path, const gate_run *g, char *err, size_t errlen)
{
    const gate_site *pick[SVG_MAX_SITES];
    size_t n = 0;
    /* Sites are sorted failing first, then by growth: the failing ones and the biggest movers. */
    for (size_t i = 0; i < g->nsites && n < SVG_MAX_SITES; i++)
        if (g->sites[i].suppressed_by < 0)
            pick[n++] = &g->sites[i];
    double max = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t r = 0; r < g->nrounds; r++)
            max = fmax(max, pick[i]->bytes[r]);
    if (max <= 0)
        max = 1024;
    double step = nice_step(max, 5);
    double top = ceil(max / step) * step;

    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "--svg %s: cannot write (%s): check the directory exists and is writable", path,
                 strerror(errno));
        return false;
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n",
            W, H, W, H);
    fprintf(f, "  <rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", W, H);
    fprintf(f, "  <text x=\"%d\" y=\"28\" font-size=\"18\" font-weight=\"bold\" fill=\"%s\">leakwatch gate: %s</text>\n",
            PL, g->nfailed ? "#b01010" : "#106010",
            g->nfailed ? "FAIL — live memory keeps growing with load" : "PASS — no site keeps growing with load");
    fprintf(f, "  <text x=\"%d\" y=\"48\" fill=\"#555555\">live bytes per site after each round; %zu rounds, "
            "%zu warm-up, %zu of %zu sites shown</text>\n", PL, g->nrounds, g->warmup, n, g->nsites);
    if (g->warmup > 0 && g->nrounds > 1) {
        double x1 = px(g, g->warmup - 1) + (px(g, 1) - px(g, 0)) / 2;
        fprintf(f, "  <rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#eeeeee\"/>\n", PL, PT,
                x1 - PL, PB - PT);
        fprintf(f, "  <text x=\"%d\" y=\"%d\" fill=\"#888888\">warm-up</text>\n", PL + 6, PT + 16);
    }
    for (double v = 0; v <= top + step / 2; v += step) {
        double y = PB - (PB - PT) * v / top;
        fprintf(f, "  <line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#dddddd\"/>\n", PL, y, PR, y);
        char label[32];
        tick_label(v, label, sizeof label);
        fprintf(f, "  <text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" fill=\"#333333\">%s</text>\n", PL - 8, y + 4,
                label);
    }
    for (size_t r = 0; r < g->nrounds; r++) {
        double x = px(g, r);
        fprintf(f, "  <line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#333333\"/>\n", x, PB, x, PB + 5);
        fprintf(f, "  <text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#333333\">%zu</text>\n", x, PB + 20, r + 1);
        if (g->load_given)
            fprintf(f, "  <text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#777777\" font-size=\"10\">%g</text>\n",
                    x, PB + 34, g->load[r]);
    }
    fprintf(f, "  <line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333333\"/>\n", PL, PT, PL, PB);
    fprintf(f, "  <line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333333\"/>\n", PL, PB, PR, PB);
    fprintf(f, "  <text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#333333\">round%s</text>\n", (PL + PR) / 2,
            PB + (g->load_given ? 52 : 40), g->load_given ? " (cumulative load below)" : "");
    fprintf(f, "  <text x=\"22\" y=\"%d\" text-anchor=\"middle\" fill=\"#333333\" transform=\"rotate(-90 22 %d)\">"
            "live bytes</text>\n", (PT + PB) / 2, (PT + PB) / 2);

    size_t nf = 0, np = 0;
    int ly = PT + 10;
    fprintf(f, "  <text x=\"%d\" y=\"%d\" font-weight=\"bold\" fill=\"#333333\">sites</text>\n", PR + 24, ly - 14 + 6);
    for (size_t i = 0; i < n; i++) {
        const gate_site *s = pick[i];
        bool fail = s->v.fails;
        const char *color = fail ? fail_colors[nf++ % 4] : pass_colors[np++ % 8];
        fprintf(f, "  <polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\" stroke-linejoin=\"round\" points=\"",
                color, fail ? "3.5" : "1.5");
        for (size_t r = 0; r < g->nrounds; r++)
            fprintf(f, "%s%.1f,%.1f", r ? " " : "", px(g, r), PB - (PB - PT) * s->bytes[r] / top);
        fprintf(f, "\"/>\n");
        for (size_t r = 0; r < g->nrounds; r++)
            fprintf(f, "  <circle cx=\"%.1f\" cy=\"%.1f\" r=\"%s\" fill=\"%s\"/>\n", px(g, r),
                    PB - (PB - PT) * s->bytes[r] / top, fail ? "4" : "2.5", color);
        char raw[512], label[600], head[80];
        gate_site_label(s, 2, raw, sizeof raw);
        lw_esc(raw, label, sizeof label - 3);
        /* Cut between characters (never inside a UTF-8 sequence or an escape) so the file stays XML. */
        if (strlen(label) > 40 && lw_esc_cut(label, 37))
            strcat(label, "...");
        snprintf(head, sizeof head, "%s %.8s", fail ? "FAIL" : "pass", s->id);
        ly += 14;
        fprintf(f, "  <line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"%s\"/>\n", PR + 24,
                ly - 4, PR + 50, ly - 4, color, fail ? "3.5" : "1.5");
        fprintf(f, "  <text x=\"%d\" y=\"%d\" fill=\"%s\"%s>", PR + 58, ly, fail ? "#b01010" : "#333333",
                fail ? " font-weight=\"bold\"" : "");
        lw_xml_escape(f, head);
        fprintf(f, "</text>\n  <text x=\"%d\" y=\"%d\" fill=\"#555555\" font-size=\"11\">", PR + 58, ly + 14);
        xml_entities(f, label);
        fprintf(f, "</text>\n");
        ly += 24;
    }
    if (n == 0)
        fprintf(f, "  <text x=\"%d\" y=\"%d\" fill=\"#555555\">no live sites</text>\n", PR + 24, ly + 14);
    fprintf(f, "</svg>\n");
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0 || bad) {
        snprintf(err, errlen, "--svg %s: writing failed (%s): check the disk", path, strerror(errno ? errno : EIO));
        return false;
    }
    return true;
}
