/* pprof.h — a loaded report as a gzip-compressed profile.proto, the format of `go tool pprof` and of
 * continuous profilers (Pyroscope, Grafana Alloy): Go's heap sample types, one sample per leak record plus
 * one per site for its blocks in no record, real function names, module mappings with build ids, and labels
 * for the site id, its kind and the oldest block's age, and on request source files and lines. Encoded by hand (protobuf.h) and compressed with zlib.
 * Not thread-safe; no locks. */
#ifndef LW_PPROF_H
#define LW_PPROF_H
#include <stdbool.h>
#include <stdio.h>
#include "lines.h"
#include "model.h"

/* Writes the profile to out; with L, functions get their source file and locations their line (from the
 * modules' debug info, as `report --lines`). False with one error line in err when memory or compression failed. */
bool pprof_write(FILE *out, const lw_report *r, lines *L, char *err, size_t errlen);

#endif
