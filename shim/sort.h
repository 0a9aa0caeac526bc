/* sort.h — an in-place heapsort: qsort's interface without qsort's malloc (glibc's qsort allocates a
 * merge buffer), for sorting inside the shim. O(n log n), not stable. */
#ifndef LW_SORT_H
#define LW_SORT_H

#include <stddef.h>

void lw_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));

#endif
