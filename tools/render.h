/* render.h — a loaded report written back out: as the text report (the shim's LEAK record shape),
 * as collapsed stacks for flame graph tools (JSON: render_json.h). Used by `report` and, for tables, by `gate`. */
#ifndef LW_RENDER_H
#define LW_RENDER_H
#include <stdio.h>
#include "lines.h"
#include "model.h"

typedef struct {
    long top;              /* records (text) or sites (json, folded) to show; -1: text uses the report's
                              config.top (20 when absent), the others show everything */
    long long min_age_ms;  /* leak groups whose oldest block is younger are left out; -1 keeps all */
    lines *lines;          /* non-NULL: add file:line to frames that have debug info */
} render_opts;

void render_text(FILE *out, const lw_report *r, const render_opts *o);

/* One line per leak group: "outermost;...;allocating_function BYTES". */
void render_folded(FILE *out, const lw_report *r, const render_opts *o);

#endif
