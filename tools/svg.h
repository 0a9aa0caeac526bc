/* svg.h — the gate's verdict as a hand-written SVG line chart: live bytes per round for the top sites
 * (failing ones first, drawn thick in red), the warm-up shaded, axes, labels and a legend — the rising
 * curve a monitoring dashboard would show. */
#ifndef LW_SVG_H
#define LW_SVG_H
#include <stdbool.h>
#include "gate.h"

#define SVG_MAX_SITES 8

/* Writes the chart to path. False with one error line in err when the file cannot be written. */
bool svg_write(const char *path, const gate_run *g, char *err, size_t errlen);

#endif
