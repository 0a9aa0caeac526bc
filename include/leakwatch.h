/* leakwatch.h — the public API of libleakwatch.so, the preloaded leak finder.
 *
 * A program may ask for a report itself. The declaration is weak, so a program that calls it need not
 * link against leakwatch and runs unchanged without it:
 *
 *     #include <leakwatch.h>
 *     if (leakwatch_dump) leakwatch_dump();
 */
#ifndef LEAKWATCH_H
#define LEAKWATCH_H

#ifdef __cplusplus
extern "C" {
#endif

/* Writes a report now (reason "api") from the calling thread. Returns 0 when both files were written,
 * -1 when tracking is off or the report could not be written (the reason goes to stderr). Thread-safe;
 * not async-signal-safe. */
int leakwatch_dump(void) __attribute__((weak));

#ifdef __cplusplus
}
#endif
#endif
