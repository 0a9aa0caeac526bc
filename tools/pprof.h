/* pprof.h — a loaded report as a gzip-compressed profile.proto, the format of `go tool pprof` and of
 * continuous profilers (Pyroscope, Grafana Alloy): Go's heap sample types, one sample per leak record plus
 * one per site for its blocks in no record, real function names, module mappings with build ids, and labels
 * for the site id, its kind and the oldest block's age. Encoded by hand (protobuf.h) and compressed with zlib.
 * Not thread-safe; no locks. */
#ifndef LW_PPROF_H
#define LW_PPROF_H
#include <stdbool.h>
#include <stdio.h>
#include "model.h"

/* Writes the profile to out. False with one error line in err when memory or compression failed. */
bool pprof_write(FILE *out, const lw_report *r, char *err, size_t errlen);

#endif
