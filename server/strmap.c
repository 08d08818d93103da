/* strmap.c - a small open-addressing hash map from strings to pointers */
#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a: simple and good enough for host names */
static uint64_t
strmap_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
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
			slots[i].value = value;
			return 0;
		}
	slots[i].key = key;
	slots[i].value = value;
	return 1;
}

int
strmap_put(struct strmap *m, const char *key, void *value)
{
	/* keep the load at most one half: short probe sequences */
	if ((m->n + 1) * 2 > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		struct strmap_slot *slots = calloc(cap, sizeof(*slots));

		if (slots == NULL)
			return -1;
		for (size_t i = 0; i < m->cap; i++)
			if (m->slots[i].key != NULL)
				strmap_place(slots, cap, m->slots[i].key,
				    m->slots[i].value);
		free(m->slots);
		m->slots = slots;
		m->cap = cap;
	}
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

void
strmap_free(struct strmap *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}
