/* html.c — the self-contained HTML page (see html.h). The flame graph's data goes into the page as JSON in a
 * <script type="application/json"> element, with '<', '>' and '&' written as \u escapes so no name can close
 * the element; the script reads it with JSON.parse and builds SVG nodes with textContent and setAttribute,
 * never with markup. */
#include "html.h"
#include "util.h"
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

void html_escape(FILE *out, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default:
            if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f)
                fprintf(out, "\\x%02x", *p);
            else
                fputc(*p, out);
        }
    }
}

static const char style[] =
    "body{font:14px/1.4 sans-serif;margin:1.5em;color:#222}h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.5em}"
    "pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:12px}"
    "#flame svg{width:100%;display:block}#flame text{font:11px monospace;pointer-events:none}"
    ".frame rect{stroke:#fff;stroke-width:.5}.frame:hover rect{stroke:#000}"
    ".legend span{display:inline-block;width:2.2em;height:.9em;vertical-align:middle}"
    ".fail{color:#b00}.site{margin:1em 0}.rounds polyline{fill:none;stroke:#c00;stroke-width:2}"
    ".rounds .warm{fill:#eee}.rounds text{font:10px sans-serif}";

/* Draws #flame from #flame-data: a tree of stacks, outermost frame at the bottom. Children live in a Map, so a
 * frame named "__proto__" or "constructor" is a name like any other. */
static const char script[] =
    "(function(){\n"
    "var d=JSON.parse(document.getElementById('flame-data').textContent);\n"
    "var root={name:'all',bytes:0,age:-1,kids:new Map(),order:[]};\n"
    "d.stacks.forEach(function(s){var n=root;n.bytes+=s.bytes;n.age=Math.max(n.age,s.age);\n"
    " for(var i=s.frames.length-1;i>=0;i--){var f=s.frames[i];\n"
    "  if(!n.kids.has(f)){n.kids.set(f,{name:f,bytes:0,age:-1,kids:new Map(),order:[]});n.order.push(f);}\n"
    "  n=n.kids.get(f);n.bytes+=s.bytes;n.age=Math.max(n.age,s.age);}});\n"
    "var depth=function(n){var m=0;n.order.forEach(function(k){m=Math.max(m,depth(n.kids.get(k)));});return m+1;};\n"
    "var H=18,W=1200,D=depth(root),ns='http://www.w3.org/2000/svg',maxAge=Math.max(root.age,1);\n"
    "var svg=document.createElementNS(ns,'svg');svg.setAttribute('viewBox','0 0 '+W+' '+(D*H));\n"
    "svg.setAttribute('id','flame-svg');var count=0;\n"
    "function colour(age){if(age<0)return 'hsl(55,90%,70%)';var t=age/maxAge;\n"
    " return 'hsl('+Math.round(55-55*t)+',85%,'+Math.round(70-18*t)+'%)';}\n"
    "function fmt(b){var u=['B','KiB','MiB','GiB'],i=0;while(b>=1024&&i<3){b/=1024;i++;}return (i?b.toFixed(1):b)+' '+u[i];}\n"
    "function draw(n,x,lvl){if(root.bytes<=0)return;var w=n.bytes/root.bytes*W;if(w<0.1)return;\n"
    " var g=document.createElementNS(ns,'g');g.setAttribute('class','frame');\n"
    " g.setAttribute('data-name',n.name);g.setAttribute('data-bytes',String(n.bytes));\n"
    " g.setAttribute('data-age-ms',String(n.age));\n"
    " var t=document.createElementNS(ns,'title');\n"
    " t.textContent=n.name+': '+fmt(n.bytes)+' live ('+(100*n.bytes/root.bytes).toFixed(1)+'%), '+\n"
    "  (n.age<0?'all younger than the age threshold':'oldest block '+(n.age/1000).toFixed(1)+' s old');\n"
    " var r=document.createElementNS(ns,'rect');r.setAttribute('x',x.toFixed(2));\n"
    " r.setAttribute('y',String((D-1-lvl)*H));r.setAttribute('width',w.toFixed(2));\n"
    " r.setAttribute('height',String(H-1));r.setAttribute('fill',colour(n.age));\n"
    " g.appendChild(t);g.appendChild(r);\n"
    " if(w>40){var tx=document.createElementNS(ns,'text');tx.setAttribute('x',(x+3).toFixed(2));\n"
    "  tx.setAttribute('y',String((D-1-lvl)*H+13));var c=Math.floor((w-6)/6.6);\n"
    "  tx.textContent=n.name.length>c?n.name.slice(0,Math.max(c-2,0))+'..':n.name;g.appendChild(tx);}\n"
    " svg.appendChild(g);count++;var cx=x;\n"
    " n.order.slice().sort(function(a,b){return n.kids.get(b).bytes-n.kids.get(a).bytes;})\n"
    "  .forEach(function(k){var c=n.kids.get(k);draw(c,cx,lvl+1);cx+=c.bytes/root.bytes*W;});}\n"
    "draw(root,0,0);var box=document.getElementById('flame');box.appendChild(svg);\n"
    "box.setAttribute('data-frames',String(count));})();\n";

/* One stack of the flame graph: a leak record at its creation stack, or a site's blocks in no record
 * (younger than the report's age threshold) at the site's key frames with age -1. */
typedef struct {
    long long bytes, age_ms;
    const lw_report *r;
    const lw_stack *st;
    const char *site;
} flame_piece;

static int piece_cmp(const void *a, const void *b)
{
    const flame_piece *x = a, *y = b;
    return x->bytes != y->bytes ? (x->bytes > y->bytes ? -1 : 1) : 0;
}

static json_t *piece_json(const flame_piece *p)
{
    json_t *frames = json_array();
    for (size_t f = 0; f < p->st->n; f++) {
        char name[512];
        model_frame_name(p->r, &p->st->v[f], false, name, sizeof name);
        json_array_append_new(frames, json_string(name));
    }
    if (p->st->n == 0)
        json_array_append_new(frames, json_string("[no stack]"));
    return json_pack("{s:o,s:I,s:I,s:s}", "frames", frames, "bytes", (json_int_t)p->bytes, "age",
                     (json_int_t)p->age_ms, "site", p->site);
}

/* The flame graph's data: the HTML_MAX_STACKS largest stacks, and the rest summed into one node so the
 * widths still add up to every live byte while the page stays small enough for a browser. */
static json_t *flame_data(const lw_report *const *reports, size_t n)
{
    size_t np = 0, cap = 0;
    flame_piece *v = NULL;
    for (size_t k = 0; k < n; k++) {
        const lw_report *r = reports[k];
        for (size_t i = 0; i < r->nsites; i++) {
            const lw_site *s = &r->sites[i];
            long long rest = s->live_bytes - s->reserved_untouched_bytes;   /* no memory: not drawn */
            for (size_t j = 0; j <= s->nleaks; j++) {
                bool record = j < s->nleaks;
                long long bytes = record ? s->leaks[j].bytes : rest;
                rest -= record ? bytes : 0;
                if (bytes <= 0)
                    continue;
                if (np == cap) {
                    cap = cap ? cap * 2 : 1024;
                    flame_piece *nv = realloc(v, cap * sizeof *v);
                    if (!nv)
                        break;
                    v = nv;
                }
                v[np++] = (flame_piece){bytes, record ? s->leaks[j].oldest_age_ms : -1, r,
                                        record ? &s->leaks[j].created_at : &s->frames, s->id};
            }
        }
    }
    if (np > HTML_MAX_STACKS)
        qsort(v, np, sizeof *v, piece_cmp);
    json_t *stacks = json_array();
    long long other = 0, other_age = -1;
    for (size_t i = 0; i < np; i++) {
        if (i < HTML_MAX_STACKS) {
            json_array_append_new(stacks, piece_json(&v[i]));
        } else {
            other += v[i].bytes;
            other_age = v[i].age_ms > other_age ? v[i].age_ms : other_age;
        }
    }
    if (np > HTML_MAX_STACKS) {
        char name[96];
        snprintf(name, sizeof name, "[%zu smaller stacks]", np - HTML_MAX_STACKS);
        json_array_append_new(stacks, json_pack("{s:[s],s:I,s:I,s:s}", "frames", name, "bytes", (json_int_t)other,
                                                "age", (json_int_t)other_age, "site", ""));
    }
    free(v);
    return json_pack("{s:o}", "stacks", stacks);
}

/* JSON text safe inside a <script> element: '<', '>' and '&' only occur in strings, where \u escapes mean
 * the same; non-ASCII is escaped by jansson (so U+2028/2029 cannot end a line either). */
static void script_json(FILE *out, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
    for (const char *p = s ? s : "{\"stacks\":[]}"; *p; p++) {
        if (*p == '<')
            fputs("\\u003c", out);
        else if (*p == '>')
            fputs("\\u003e", out);
        else if (*p == '&')
            fputs("\\u0026", out);
        else
            fputc(*p, out);
    }
    free(s);
}

/* A small chart of one site's live bytes per round, warm-up rounds shaded. */
static void rounds_chart(FILE *out, const gate_run *g, const gate_site *s)
{
    const double w = 360, h = 120, left = 8, top = 14, pw = w - 16, ph = h - 34;
    double max = 1;
    for (size_t r = 0; r < g->nrounds; r++)
        if (s->bytes[r] > max)
            max = s->bytes[r];
    double step = g->nrounds > 1 ? pw / (double)(g->nrounds - 1) : 0;
    fprintf(out, "<svg class=\"rounds\" data-site=\"");
    html_escape(out, s->id);
    fprintf(out, "\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">", w, h, w, h);
    if (g->warmup)
        fprintf(out, "<rect class=\"warm\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>", left, top,
                step * (double)g->warmup - step / 2 > 0 ? step * (double)g->warmup - step / 2 : 4, ph);
    fprintf(out, "<polyline points=\"");
    for (size_t r = 0; r < g->nrounds; r++)
        fprintf(out, "%s%.1f,%.1f", r ? " " : "", left + step * (double)r, top + ph - ph * s->bytes[r] / max);
    fprintf(out, "\"/>");
    char a[32];
    fprintf(out, "<text x=\"%.0f\" y=\"10\">%s</text>", left, lw_bytes(max, false, a, sizeof a));
    for (size_t r = 0; r < g->nrounds; r++)
        fprintf(out, "<text x=\"%.1f\" y=\"%.0f\">%zu%s</text>", left + step * (double)r - 3, h - 6, r + 1,
                r < g->warmup ? "*" : "");
    fprintf(out, "</svg>\n");
}

static void gate_section(FILE *out, const gate_run *g)
{
    fprintf(out, "<h2>Gate verdict: <span class=\"%s\">%s</span></h2>\n<p>%zu rounds (%zu warm-up, marked *), "
            "%zu sites, %zu failing, %zu suppressed.</p>\n", g->nfailed ? "fail" : "pass",
            g->nfailed ? "FAIL" : "PASS", g->nrounds, g->warmup, g->nsites, g->nfailed, g->nsuppressed);
    for (size_t i = 0; i < g->nsites; i++) {
        const gate_site *s = &g->sites[i];
        if (s->suppressed_by >= 0 || !s->v.fails)
            continue;
        char why[256], label[1024];
        trend_explain(&s->v, &s->limits, gate_unit(g), why, sizeof why);
        gate_site_label(s, 5, label, sizeof label);
        fprintf(out, "<div class=\"site fail\" id=\"site-");
        html_escape(out, s->id);
        fprintf(out, "\"><h3>FAIL site ");
        html_escape(out, s->id);
        fprintf(out, "</h3><p>");
        html_escape(out, why);
        fprintf(out, "<br>created at ");
        html_escape(out, label);
        fprintf(out, "</p>\n");
        rounds_chart(out, g, s);
        fprintf(out, "</div>\n");
    }
}

void html_write(FILE *out, const lw_report *const *reports, size_t n, const gate_run *g, const render_opts *ro)
{
    const render_opts all = {.top = -1, .min_age_ms = -1};
    if (!ro)
        ro = &all;
    const lw_report *r0 = n ? reports[0] : NULL;
    long long live = 0, reserved = 0;
    for (size_t k = 0; k < n; k++) {
        live += reports[k]->live_bytes + reports[k]->mmap_live_bytes - reports[k]->reserved_untouched_bytes;
        reserved += reports[k]->reserved_untouched_bytes;
    }
    fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
            "script-src 'unsafe-inline'\">\n<title>leakwatch: ");
    html_escape(out, r0 && r0->program ? lw_basename(r0->program) : "report");
    fprintf(out, "</title>\n<style>%s</style></head>\n<body>\n<h1>leakwatch %s: ", style, g ? "gate" : "report");
    html_escape(out, r0 && r0->program ? r0->program : "?");
    char a[32];
    fprintf(out, "</h1>\n<p>%zu report%s", n, n == 1 ? "" : "s");
    if (n == 1)
        fprintf(out, " (PID %lld, report #%lld)", r0->pid, r0->seq);
    fprintf(out, ", %s live in heap blocks and anonymous mappings", lw_bytes((double)live, false, a, sizeof a));
    if (reserved > 0)
        fprintf(out, ", besides %s of mappings reserved or never touched (no memory: not drawn)",
                lw_bytes((double)reserved, false, a, sizeof a));
    fprintf(out, ".</p>\n");
    if (g)
        gate_section(out, g);
    fprintf(out, "<h2>Live bytes by creation stack</h2>\n<p class=\"legend\">Width: live bytes. Colour: age of the "
            "oldest block, <span style=\"background:hsl(55,85%%,70%%)\"></span> young to "
            "<span style=\"background:hsl(0,85%%,52%%)\"></span> oldest in this page. Hover for figures.</p>\n"
            "<div id=\"flame\"></div>\n<script type=\"application/json\" id=\"flame-data\">");
    json_t *data = flame_data(reports, n);
    script_json(out, data);
    json_decref(data);
    fprintf(out, "</script>\n<script>\n%s</script>\n<h2>Leak records</h2>\n", script);
    for (size_t k = 0; k < n; k++) {
        char *text = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&text, &len);
        if (!mem)
            continue;
        render_text(mem, reports[k], ro);
        fclose(mem);
        fprintf(out, "<pre class=\"records\">");
        html_escape(out, text);
        fprintf(out, "</pre>\n");
        free(text);
    }
    fprintf(out, "</body></html>\n");
}

bool html_write_gate(const char *path, const gate_run *g, char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "--html %s: cannot write (%s): check the directory exists and is writable", path,
                 strerror(errno));
        return false;
    }
    const lw_report **last = calloc(g->nreports + 1, sizeof *last);
    size_t n = 0;
    for (size_t k = 0; last && k < g->nreports; k++)
        if (g->report_round[k] == g->nrounds - 1)
            last[n++] = g->reports[k];
    html_write(f, last, n, g, NULL);
    free(last);
    bool ok = !ferror(f);
    if (fclose(f) != 0 || !ok) {
        snprintf(err, errlen, "--html %s: write failed (%s): check free space", path, strerror(errno));
        return false;
    }
    return true;
}
