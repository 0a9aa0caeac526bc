/* sort.c — heapsort (see sort.h). */
#include <stdint.h>
#include "sort.h"

static void swap_bytes(char *a, char *b, size_t size)
{
    while (size--) {
        char t = *a;
        *a++ = *b;
        *b++ = t;
    }
}

static void sift_down_swapping(char *base, size_t root, size_t n, size_t size,
                               int (*cmp)(const void *, const void *))
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && cmp(base + child * size, base + (child + 1) * size) < 0)
            child++;
        if (cmp(base + root * size, base + child * size) >= 0)
            return;
        swap_bytes(base + root * size, base + child * size, size);
        root = child;
    }
}

void lw_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    char *b = base;
    if (size <= LW_SORT_HOLE_MAX) {
        lw_sort_inline(base, n, size, cmp);
        return;
    }
    if (n < 2)
        return;
    for (size_t i = n / 2; i-- > 0;)
        sift_down_swapping(b, i, n, size, cmp);
    for (size_t end = n - 1; end > 0; end--) {
        swap_bytes(b, b + end * size, size);
        sift_down_swapping(b, 0, end, size, cmp);
    }
}
