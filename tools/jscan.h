/* jscan.h — finds where one member of a JSON object's top level lies in the text, without parsing the rest,
 * so that a large array (a report's "sites") can be decoded one element at a time while jansson checks
 * everything else. It follows only the structure (strings, nesting); the caller has jansson decode and check
 * every byte. Stateless, no allocation. */
#ifndef LW_JSCAN_H
#define LW_JSCAN_H
#include <stdbool.h>
#include <stddef.h>

/* Finds the top-level member whose key is written exactly "key" (no escapes) and whose value is an array:
 * *open and *close get the offsets of its '[' and of the ']' that ends it. False when the text is not one
 * object (whitespace around it allowed), the structure cannot be followed, the member is missing, appears
 * twice, or is not an array. */
bool jscan_member_array(const char *text, size_t len, const char *key, size_t *open, size_t *close);

/* The offset of the first byte at or after i that is not JSON whitespace (len when there is none). */
size_t jscan_skip_ws(const char *text, size_t len, size_t i);

#endif
