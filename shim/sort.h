/* sort.h — an in-place heapsort: qsort's interface without qsort's malloc (glibc's qsort allocates a
 * merge buffer), for sorting inside the shim. O(n log n), not stable. No locks; async-signal-safe as
 * long as the comparison is. */
#ifndef LW_SORT_H
#define LW_SORT_H

#include <stddef.h>
#include <string.h>

void lw_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));

/* Elements up to this size are sifted through a hole (one copy a level); larger ones are swapped. */
#define LW_SORT_HOLE_MAX 128

/* Places x, which belongs at root, in the heap below it: the comparisons of a heapsort that swaps, and so
 * the same order of equal elements, with each larger child moved up once instead of swapped. */
static inline __attribute__((always_inline)) void
lw_sort_sift(char *base, size_t root, size_t n, size_t size, const char *x, int (*cmp)(const void *, const void *))
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            break;
        if (child + 1 < n && cmp(base + child * size, base + (child + 1) * size) < 0)
            child++;
        if (cmp(x, base + child * size) >= 0)
            break;
        memcpy(base + root * size, base + child * size, size);
        root = child;
    }
    memcpy(base + root * size, x, size);
}

/* lw_sort for elements of at most LW_SORT_HOLE_MAX bytes, compiled into its caller: with a constant
 * size and comparison the copies and the comparisons are inlined (the report sorts 100,000 items). */
static inline __attribute__((always_inline)) void
lw_sort_inline(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    char *b = base;
    _Alignas(16) char x[LW_SORT_HOLE_MAX];
    if (n < 2)
        return;
    for (size_t i = n / 2; i-- > 0;) {
        memcpy(x, b + i * size, size);
        lw_sort_sift(b, i, n, size, x, cmp);
    }
    for (size_t end = n - 1; end > 0; end--) {
        /* the largest goes to the end; the element it displaces is sifted down from the top */
        memcpy(x, b + end * size, size);
        memcpy(b + end * size, b, size);
        lw_sort_sift(b, 0, end, size, x, cmp);
    }
}

#endif
