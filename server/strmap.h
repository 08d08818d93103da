/* strmap.h - a small open-addressing hash map from strings to pointers (pure) */
#ifndef MTA_STSD_STRMAP_H
#define MTA_STSD_STRMAP_H

#include <stddef.h>

struct strmap_slot {
	const char *key;		/* borrowed: must outlive the map */
	void *value;
};

struct strmap {
	struct strmap_slot *slots;
	size_t cap;			/* a power of two, or 0 */
	size_t n;
};

/* Find key; returns its value or NULL. */
void *strmap_get(const struct strmap *m, const char *key);

/*
 * Insert or replace key -> value. The key string is not copied; replacing
 * an entry stores the new key pointer too (the old string may then be
 * freed). Returns 0, or -1 when memory runs out (the map is then unchanged).
 */
int strmap_put(struct strmap *m, const char *key, void *value);

/* Make room for n keys in all, so that inserting them never rehashes.
 * Returns 0, or -1 when memory runs out (the map is then unchanged). */
int strmap_reserve(struct strmap *m, size_t n);

/* Remove key if present; returns its value or NULL. */
void *strmap_del(struct strmap *m, const char *key);

/* Make dst (uninitialised or freed) an entry-for-entry copy of src, keys
 * and values borrowed as src's are, in one copy of the table: no rehashing.
 * Returns 0, or -1 when memory runs out (dst is then untouched). */
int strmap_copy(struct strmap *dst, const struct strmap *src);

/* Free the table (not the keys or values); the map may be reused. */
void strmap_free(struct strmap *m);

#endif
