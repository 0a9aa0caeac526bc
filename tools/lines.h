/* lines.h — offline source-line lookup for report frames with elfutils libdw: a module's path, base and
 * the frame's offset give "file.c:123" from the module's DWARF or its separate debug info (build-id link,
 * /usr/lib/debug). Each module is opened once per lines session and kept. Not thread-safe. */
#ifndef LW_LINES_H
#define LW_LINES_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lines lines;

lines *lines_open(void);

/* The source position of the call that a return address (module base + offset) returns to, as
 * "basename.c:LINE" in buf. False when the module cannot be read or has no line information. */
bool lines_lookup(lines *L, const char *module_path, uint64_t base, uint64_t offset, char *buf, size_t len);

void lines_close(lines *L);

#endif
