/* Registry of Check suites: each tests/check_<module>.c says LW_SUITE(<module>_suite) once and
 * tests/check_main.c runs them all, so adding a suite never edits a shared list. */
#ifndef LW_CHECK_SUITES_H
#define LW_CHECK_SUITES_H
#include <check.h>

typedef Suite *(*lw_suite_fn)(void);
void lw_register_suite(lw_suite_fn fn);

#define LW_SUITE(fn) \
    static void __attribute__((constructor)) lw_register_##fn(void) { lw_register_suite(fn); }

#endif
