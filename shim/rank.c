/* rank.c — leak record order (see rank.h). */
#include "rank.h"

int64_t rank_growth(int had_previous_report, int was_in_it, uint64_t bytes, int64_t delta)
{
    if (!had_previous_report)
        return 0;
    return was_in_it ? delta : (int64_t)bytes;
}

int rank_compare(const struct rank_entry *a, const struct rank_entry *b)
{
    int a_grew = a->growth > 0, b_grew = b->growth > 0;
    if (a_grew != b_grew)
        return a_grew ? -1 : 1;
    if (a_grew && a->growth != b->growth)
        return a->growth > b->growth ? -1 : 1;
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes ? -1 : 1;
    return a->tie_break < b->tie_break ? -1 : a->tie_break > b->tie_break;
}
