/* annotate.h — the gate's failing sites as CI annotations: GitHub Actions workflow commands
 * (`::error title=...::message`), escaped by GitHub's rules so no site name can end the command early or
 * inject another. Stateless; no locks. */
#ifndef LW_ANNOTATE_H
#define LW_ANNOTATE_H
#include <stdio.h>
#include "gate.h"

/* One ::error line per failing site. */
void annotate_github(FILE *out, const gate_run *g);

/* Writes s as a workflow-command value: '%', CR and LF percent-encoded, and in a property (prop true) ':' and
 * ',' too; other control characters become "\xNN" text, so they reach nobody's terminal. */
void annotate_escape(FILE *out, const char *s, bool prop);

#endif
