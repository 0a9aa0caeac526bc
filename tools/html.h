/* html.h — a report (or the gate's last round, with its failing sites) as one self-contained HTML page:
 * a flame graph of live bytes drawn by an inline script (width = bytes, colour = age of the oldest block),
 * the leak records as the text report has them, and for the gate a small chart of each failing site's rounds.
 * No network fetches: no external scripts, fonts, styles or images, and a Content-Security-Policy that
 * forbids them. Every name is escaped for its context (HTML text and attributes, JSON inside a script).
 * Not thread-safe; no locks. */
#ifndef LW_HTML_H
#define LW_HTML_H
#include <stdbool.h>
#include <stdio.h>
#include "gate.h"
#include "model.h"
#include "render.h"

/* Stacks the flame graph draws one by one; smaller ones are summed into one "[N smaller stacks]" node. */
#define HTML_MAX_STACKS 20000

/* The page for n reports (one process, or every process of a gate round); g adds the gate's verdict and
 * its failing sites' charts (NULL for `report --format html`). ro filters the leak records as in the text
 * report (NULL: all of them, up to each report's own top). */
void html_write(FILE *out, const lw_report *const *reports, size_t n, const gate_run *g, const render_opts *ro);

/* The gate's page for its last round, written to path. False with one error line in err. */
bool html_write_gate(const char *path, const gate_run *g, char *err, size_t errlen);

/* Writes s as HTML text or attribute value: & < > " ' as entities, control characters other than tab and
 * newline as visible "\xNN". */
void html_escape(FILE *out, const char *s);

#endif
