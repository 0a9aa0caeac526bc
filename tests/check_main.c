/* The one Check runner: joins every suite registered with LW_SUITE and exits non-zero on any failure.
 * CK_RUN_SUITE / CK_RUN_CASE (Check's own variables) select a part. */
#include <stdio.h>
#include <stdlib.h>
#include "check_suites.h"

#define MAX_SUITES 64
static lw_suite_fn suites[MAX_SUITES];
static int nsuites;

void lw_register_suite(lw_suite_fn fn)
{
    if (nsuites < MAX_SUITES)
        suites[nsuites++] = fn;
    else
        fprintf(stderr, "check_main: more than %d suites; raise MAX_SUITES\n", MAX_SUITES);
}

int main(void)
{
    if (nsuites == 0) {
        fprintf(stderr, "check_main: no suites registered\n");
        return 1;
    }
    SRunner *runner = srunner_create(suites[0]());
    for (int i = 1; i < nsuites; i++)
        srunner_add_suite(runner, suites[i]());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
