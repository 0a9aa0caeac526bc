/* junit.h — the gate's verdict as JUnit XML for CI systems: one testcase per site, a <failure> with the
 * explanation, the live bytes per round and the creation stack for a growing site, <skipped> for a
 * suppressed one. */
#ifndef LW_JUNIT_H
#define LW_JUNIT_H
#include <stdbool.h>
#include <stdio.h>
#include "gate.h"

/* Writes the document to path. False with one error line in err when the file cannot be written. */
bool junit_write(const char *path, const gate_run *g, char *err, size_t errlen);

#endif
