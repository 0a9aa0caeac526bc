/* state.c — the definitions of the process-wide state (see state.h): a leaf, so that every module can
 * read the settings and the real functions without depending on the modules that start the shim. */
#include "state.h"
#include "log.h"

struct lw_state lw;
__thread int lw_guard __attribute__((tls_model("initial-exec")));
__thread int *lw_errno_at __attribute__((tls_model("initial-exec")));

void lw_disable(const char *why)
{
    int expected = LW_ON;
    if (atomic_compare_exchange_strong(&lw.status, &expected, LW_OFF))
        lw_log("tracking is off from now on: ", why, "; the program runs on unaffected", NULL, NULL);
}
