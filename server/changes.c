/* changes.c - which files a burst of inotify events may have changed */
#include "changes.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

	if (changes_held(c, path))
		return 0;
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

/* polling: compare path's stamp sb with the previous check's, and remember
 * it for the next one. Returns 1 when it changed since (or is new). */
static int
changes_poll_check(const struct changes *c, const char *path,
    const struct stat *sb)
{
	struct changes_poll *now = strmap_get(&c->polls->map, path);
	const struct changes_poll *before;
	long long mtime = (long long)sb->st_mtim.tv_sec * 1000000000LL +
	    sb->st_mtim.tv_nsec;

	if (now != NULL)	/* already looked at in this check */
		return now->unstable > 0;
	if ((now = calloc(1, sizeof(*now))) == NULL ||
	    (now->path = strdup(path)) == NULL ||
	    strmap_put(&c->polls->map, now->path, now) == -1) {
		if (now != NULL)
			free(now->path);
		free(now);
		return 1;	/* cannot tell: keep the previous version */
	}
	now->dev = sb->st_dev;
	now->ino = sb->st_ino;
	now->size = sb->st_size;
	now->mtime_ns = mtime;
	before = c->polled != NULL ? strmap_get(&c->polled->map, path) : NULL;
	if (c->polled == NULL)
		now->unstable = 0;	/* only noted, for the next poll */
	else if (before == NULL)
		now->unstable = 1;
	else if (before->dev != now->dev || before->ino != now->ino ||
	    before->size != now->size || before->mtime_ns != now->mtime_ns)
		now->unstable = before->unstable + 1;
	return now->unstable > 0;
}

int
changes_held(const struct changes *c, const char *path)
{
	struct stat sb;

	if (c == NULL || (c->nheld == 0 && c->polls == NULL) ||
	    stat(path, &sb) == -1)
		return 0;
	for (size_t i = 0; i < c->nheld; i++)
		if (c->held[i].dev == sb.st_dev && c->held[i].ino == sb.st_ino)
			return 1;
	return c->polls != NULL && changes_poll_check(c, path, &sb);
}

void
changes_polls_free(struct changes_polls *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->map.cap; i++) {
		struct changes_poll *e = p->map.slots[i].value;

		if (p->map.slots[i].key != NULL && e != NULL) {
			free(e->path);
			free(e);
		}
	}
	strmap_free(&p->map);
	memset(p, 0, sizeof(*p));
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
	free(c->held);
	changes_polls_free(c->polls);
	free(c->polls);
	memset(c, 0, sizeof(*c));
}
