/* model_read.h — decodes a report's JSON, token by token from jsonread, into the model's structs and checks
 * it against the contract (docs/report-format.md): types, counts from 0 to 2^63-1, versions, module indexes,
 * known members given twice. Memory: the structs and their strings, never the JSON text or a tree of it.
 * Used by model.c only; no locks; not async-signal-safe. */
#ifndef LW_MODEL_READ_H
#define LW_MODEL_READ_H
#include <stddef.h>
#include "jsonread.h"
#include "model.h"

#define MODEL_REPORT_VERSION 2

/* Reads the one JSON value of jr into r (allocated by the caller, zeroed but for `file`). Returns false with
 * one reason in why (without the file name): the JSON's own problem (syntax, truncation, ...) when there is
 * one anywhere in the text, else the first break of the contract. *json_error is true when the reason is the
 * JSON's own (then jr's error fields say which). A report of a version newer than this reader is read no
 * further than needed to see so: r->version says it, and the result is true. */
bool model_read(jreader *jr, lw_report *r, bool *json_error, char *why, size_t whylen);

/* Frees the chunks model_read kept for r (strings, stacks, groups, records), and the sites. */
void model_read_free_chunks(lw_report *r);
void model_read_free_sites(lw_report *r);

#endif
