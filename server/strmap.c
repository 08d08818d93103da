/* strmap.c - a small open-addressing hash map from strings to pointers */
#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * A word-at-a-time multiplicative hash (in the manner of FxHash): keys are
 * host names and file paths of up to a few hundred bytes, hashed on every
 * lookup of a reload, so eight bytes per step matter. The final mixing
 * spreads the high bits down to the low ones the table index uses.
 */
static uint64_t
strmap_hash(const char *s)
{
	const uint64_t k = 0x517cc1b727220a95ULL;
	size_t len = strlen(s);
	uint64_t h = len * k, w;

	for (; len >= 8; s += 8, len -= 8) {
		memcpy(&w, s, 8);
		h = (((h << 5) | (h >> 59)) ^ w) * k;
	}
	if (len > 0) {
		w = 0;
		memcpy(&w, s, len);
		h = (((h << 5) | (h >> 59)) ^ w) * k;
	}
	h ^= h >> 32;
	h *= k;
	return h ^ (h >> 29);
}

void *
strmap_get(const struct strmap *m, const char *key)
{
	size_t i;

	if (m->cap == 0)
		return NULL;
	for (i = strmap_hash(key) & (m->cap - 1); m->slots[i].key != NULL;
	    i = (i + 1) & (m->cap - 1))
		if (strcmp(m->slots[i].key, key) == 0)
			return m->slots[i].value;
	return NULL;
}

/* place without growing; the table has a free slot */
static int
strmap_place(struct strmap_slot *slots, size_t cap, const char *key,
    void *value)
{
	size_t i;

	for (i = strmap_hash(key) & (cap - 1); slots[i].key != NULL;
	    i = (i + 1) & (cap - 1))
		if (strcmp(slots[i].key, key) == 0) {
			/* the new key: the old one may be freed with its owner */
			slots[i].key = key;
			slots[i].value = value;
			return 0;
		}
	slots[i].key = key;
	slots[i].value = value;
	return 1;
}

/* move every entry into a table of cap slots (a power of two) */
static int
strmap_resize(struct strmap *m, size_t cap)
{
	struct strmap_slot *slots = calloc(cap, sizeof(*slots));

	if (slots == NULL)
		return -1;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key != NULL)
			strmap_place(slots, cap, m->slots[i].key, m->slots[i].value);
	free(m->slots);
	m->slots = slots;
	m->cap = cap;
	return 0;
}

int
strmap_reserve(struct strmap *m, size_t n)
{
	size_t cap = m->cap ? m->cap : 16;

	while (n * 2 > cap)
		cap *= 2;
	return cap == m->cap ? 0 : strmap_resize(m, cap);
}

int
strmap_put(struct strmap *m, const char *key, void *value)
{
	/* keep the load at most one half: short probe sequences */
	if ((m->n + 1) * 2 > m->cap &&
	    strmap_resize(m, m->cap ? m->cap * 2 : 16) == -1)
		return -1;
	m->n += (size_t)strmap_place(m->slots, m->cap, key, value);
	return 0;
}

void *
strmap_del(struct strmap *m, const char *key)
{
	size_t i, j, mask = m->cap - 1;
	void *value;

	if (m->cap == 0)
		return NULL;
	for (i = strmap_hash(key) & mask; m->slots[i].key != NULL;
	    i = (i + 1) & mask)
		if (strcmp(m->slots[i].key, key) == 0)
			break;
	if (m->slots[i].key == NULL)
		return NULL;
	value = m->slots[i].value;
	/* backward-shift deletion keeps every probe sequence unbroken: move
	 * later entries of the cluster into the hole when their home slot
	 * does not lie (cyclically) between the hole and their position */
	for (j = (i + 1) & mask; m->slots[j].key != NULL; j = (j + 1) & mask) {
		size_t home = strmap_hash(m->slots[j].key) & mask;

		if (i <= j ? (home > i && home <= j) : (home > i || home <= j))
			continue;
		m->slots[i] = m->slots[j];
		i = j;
	}
	m->slots[i].key = NULL;
	m->slots[i].value = NULL;
	m->n--;
	return value;
}

int
strmap_copy(struct strmap *dst, const struct strmap *src)
{
	struct strmap_slot *slots = NULL;

	if (src->cap > 0 &&
	    (slots = malloc(src->cap * sizeof(*slots))) == NULL)
		return -1;
	if (src->cap > 0)
		memcpy(slots, src->slots, src->cap * sizeof(*slots));
	dst->slots = slots;
	dst->cap = src->cap;
	dst->n = src->n;
	return 0;
}

void
strmap_free(struct strmap *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}
