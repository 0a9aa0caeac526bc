/* sort.c — heapsort (see sort.h). */
#include <stdint.h>
#include <string.h>
#include "sort.h"

/* Elements up to this size are sifted through a hole (one copy a level); larger ones are swapped. */
#define HOLE_MAX 128

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

/* Places x, which belongs at root, in the heap below it: the comparisons of sift_down_swapping, and so
 * the same order of equal elements, with each larger child moved up once instead of swapped. */
static void sift_down_hole(char *base, size_t root, size_t n, size_t size, const char *x,
                           int (*cmp)(const void *, const void *))
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

void lw_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    char *b = base;
    if (n < 2)
        return;
    if (size > HOLE_MAX) {
        for (size_t i = n / 2; i-- > 0;)
            sift_down_swapping(b, i, n, size, cmp);
        for (size_t end = n - 1; end > 0; end--) {
            swap_bytes(b, b + end * size, size);
            sift_down_swapping(b, 0, end, size, cmp);
        }
        return;
    }
    _Alignas(16) char x[HOLE_MAX];
    for (size_t i = n / 2; i-- > 0;) {
        memcpy(x, b + i * size, size);
        sift_down_hole(b, i, n, size, x, cmp);
    }
    for (size_t end = n - 1; end > 0; end--) {
        /* the largest goes to the end; the element it displaces is sifted down from the top */
        memcpy(x, b + end * size, size);
        memcpy(b + end * size, b, size);
        sift_down_hole(b, 0, end, size, x, cmp);
    }
}
