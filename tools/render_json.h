/* render_json.h — `report --format json`: the report's JSON written back out indented, as it streams from the
 * file a second time (after model_load_fd checked it), so the memory stays a few windows and one leak group
 * whatever the report's size: the first --top sites, leak groups younger than --min-age left out, and
 * "source":"file:line" added to frames under --lines. No locks; not async-signal-safe. */
#ifndef LW_RENDER_JSON_H
#define LW_RENDER_JSON_H
#include <stdbool.h>
#include <stdio.h>
#include "model.h"
#include "render.h"

/* Reads fd (from its current offset) and writes the JSON to out. r is the report model_load_fd read from the
 * same file (for the modules, under --lines). False with err set when the text cannot be read again as it was. */
bool render_json(FILE *out, int fd, const lw_report *r, const render_opts *o, char *err, size_t errlen);

#endif
