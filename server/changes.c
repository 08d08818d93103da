/* changes.c - which files a burst of inotify events may have changed */
#include "changes.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* add key to map (copied, owned by c) unless present */
static void
changes_add(struct changes *c, struct strmap *m, const char *key)
{
	char *copy;

	if (strmap_get(m, key) != NULL)
		return;
	if (c->nkeys == c->capkeys) {
		size_t cap = c->capkeys ? c->capkeys * 2 : 16;
		char **v = realloc(c->keys, cap * sizeof(*v));

		if (v == NULL) {
			c->full = 1;	/* cannot remember it: look at everything */
			return;
		}
		c->keys = v;
		c->capkeys = cap;
	}
	if ((copy = strdup(key)) == NULL || strmap_put(m, copy, copy) == -1) {
		free(copy);
		c->full = 1;
		return;
	}
	c->keys[c->nkeys++] = copy;
}

void
changes_note(struct changes *c, const char *dir, const char *name)
{
	char path[PATH_MAX];

	changes_add(c, &c->dirs, dir);
	if (name == NULL || strncmp(name, "..", 2) == 0) {
		changes_add(c, &c->dirs_all, dir);
		return;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path)) {
		changes_add(c, &c->dirs_all, dir);
		return;
	}
	changes_add(c, &c->files, path);
}

void
changes_note_all(struct changes *c)
{
	c->full = 1;
}

int
changes_file(const struct changes *c, const char *path, const char *realdir,
    int exact)
{
	char dir[PATH_MAX];
	const char *slash;

	if (c == NULL || c->full)
		return 1;
	if ((slash = strrchr(path, '/')) == NULL ||
	    (size_t)(slash - path) >= sizeof(dir))
		return 1;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	if (strmap_get(&c->dirs_all, dir) != NULL ||
	    strmap_get(&c->files, path) != NULL ||
	    (realdir != NULL && strmap_get(&c->dirs, realdir) != NULL))
		return 1;
	return !exact && strmap_get(&c->dirs, dir) != NULL;
}

int
changes_entry(const struct changes *c, const char *dir, const char *name)
{
	char path[PATH_MAX];

	if (c == NULL || c->full ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path))
		return 1;
	return strmap_get(&c->dirs_all, dir) != NULL ||
	    strmap_get(&c->files, path) != NULL ||
	    strmap_get(&c->dirs, path) != NULL;
}

void
changes_free(struct changes *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nkeys; i++)
		free(c->keys[i]);
	free(c->keys);
	strmap_free(&c->dirs);
	strmap_free(&c->files);
	strmap_free(&c->dirs_all);
	memset(c, 0, sizeof(*c));
}
