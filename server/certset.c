/* certset.c - the certificates one snapshot loaded, by file pair and by SAN name */
#include "certset.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "names.h"

/* one certificate in the list of those with one SAN name; the nodes of a
 * set live in one array, linked by index, so a copy of the set is a copy
 * of the array */
struct certset_names {
	struct certkey *ck;
	size_t next;			/* 1 + index of the next node, or 0 */
};

/* the by_name value for node index i, and back */
#define NODE_VALUE(i) ((void *)(uintptr_t)((i) + 1))
#define VALUE_NODE(v) ((size_t)(uintptr_t)(v))	/* 1 + index; 0: none */

struct certset *
certset_new(size_t n)
{
	struct certset *cs = calloc(1, sizeof(*cs));

	if (cs == NULL)
		return NULL;
	atomic_init(&cs->refs, 1);
	/* about as many pairs as last time: no rehashing while filling */
	if (n > 0 && (strmap_reserve(&cs->by_pair, n) == -1 ||
	    strmap_reserve(&cs->by_name, n) == -1)) {
		certset_unref(cs);
		return NULL;
	}
	return cs;
}

struct certset *
certset_ref(struct certset *cs)
{
	atomic_fetch_add_explicit(&cs->refs, 1, memory_order_relaxed);
	return cs;
}

void
certset_unref(struct certset *cs)
{
	if (cs == NULL ||
	    atomic_fetch_sub_explicit(&cs->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (size_t i = 0; i < cs->n; i++)
		certs_unref(cs->v[i]);
	free(cs->v);
	free(cs->indexed);
	free(cs->nodes);
	strmap_free(&cs->by_pair);
	strmap_free(&cs->by_name);
	free(cs);
}

/* room for one more pair; returns 0 or -1 */
static int
certset_grow(struct certset *cs)
{
	size_t cap = cs->cap ? cs->cap * 2 : 16;
	struct certkey **v;
	unsigned char *ix;

	if (cs->n < cs->cap)
		return 0;
	if ((v = realloc(cs->v, cap * sizeof(*v))) == NULL)
		return -1;
	cs->v = v;
	if ((ix = realloc(cs->indexed, cap)) == NULL)
		return -1;
	cs->indexed = ix;
	cs->cap = cap;
	return 0;
}

/* a new list node for ck at the head of name's list; returns 0 or -1 */
static int
certset_link(struct certset *cs, struct certkey *ck, const char *name)
{
	if (cs->nnodes == cs->capnodes) {
		size_t cap = cs->capnodes ? cs->capnodes * 2 : 16;
		struct certset_names *nv = realloc(cs->nodes, cap * sizeof(*nv));

		if (nv == NULL)
			return -1;
		cs->nodes = nv;
		cs->capnodes = cap;
	}
	cs->nodes[cs->nnodes].ck = ck;
	cs->nodes[cs->nnodes].next = VALUE_NODE(strmap_get(&cs->by_name, name));
	if (strmap_put(&cs->by_name, name, NODE_VALUE(cs->nnodes)) == -1)
		return -1;
	cs->nnodes++;
	return 0;
}

/* store ck (the caller's reference passes to the set); returns 0 or -1 */
static int
certset_store(struct certset *cs, struct certkey *ck, int index_names)
{
	if (certset_grow(cs) == -1 ||
	    strmap_put(&cs->by_pair, ck->pair, ck) == -1) {
		certs_unref(ck);
		return -1;
	}
	cs->v[cs->n] = ck;
	cs->indexed[cs->n] = index_names != 0;
	cs->n++;
	for (size_t i = 0; index_names && i < ck->nnames; i++)
		if (certset_link(cs, ck, ck->names[i]) == -1)
			return -1;
	return 0;
}

/* "cert\nkey" in a new string, or NULL */
static char *
pair_text(const char *cert, const char *key)
{
	size_t len = strlen(cert) + strlen(key) + 2;
	char *pair = malloc(len);

	if (pair != NULL)
		snprintf(pair, len, "%s\n%s", cert, key);
	return pair;
}

int
certset_load(struct certset *cs, const struct certset *prev,
    const struct changes *ch, const char *cert, const char *key,
    int index_names, struct certkey **out, struct diag *d)
{
	struct certkey *ck;
	char *pair;

	if ((pair = pair_text(cert, key)) == NULL) {
		diag_err(d, cert, 0, "out of memory");
		return -1;
	}
	if ((*out = strmap_get(&cs->by_pair, pair)) != NULL) {
		free(pair);
		return 0;
	}
	if (prev != NULL && (ck = strmap_get(&prev->by_pair, pair)) != NULL &&
	    ((!changes_file(ch, cert, ck->cert_real_dir, 0) &&
	    !changes_file(ch, key, ck->key_real_dir, 0)) || certs_unchanged(ck)))
		certs_ref(ck);
	else if (certs_load(cert, key, &ck, d) == -1) {
		free(pair);
		return -1;
	}
	free(pair);
	if (certset_store(cs, ck, index_names) == -1) {
		diag_err(d, cert, 0, "out of memory");
		return -1;
	}
	*out = ck;
	return 0;
}

int
certset_add(struct certset *cs, struct certkey *ck, int index_names)
{
	certs_ref(ck);
	return certset_store(cs, ck, index_names);
}

/* unlink ck from the lists of its SAN names and drop it from cs */
static void
certset_remove(struct certset *cs, struct certkey *ck)
{
	size_t i;

	for (i = 0; i < cs->n && cs->v[i] != ck; i++)
		;
	if (i == cs->n)
		return;
	strmap_del(&cs->by_pair, ck->pair);
	for (size_t k = 0; cs->indexed[i] && k < ck->nnames; k++) {
		const char *name = ck->names[k];
		size_t head = VALUE_NODE(strmap_get(&cs->by_name, name));
		size_t prevn = 0, cur = head;

		while (cur != 0 && cs->nodes[cur - 1].ck != ck) {
			prevn = cur;
			cur = cs->nodes[cur - 1].next;
		}
		if (cur == 0)
			continue;
		cs->ngarbage++;
		if (prevn != 0) {
			cs->nodes[prevn - 1].next = cs->nodes[cur - 1].next;
			continue;
		}
		head = cs->nodes[cur - 1].next;
		if (head == 0) {
			strmap_del(&cs->by_name, name);
			continue;
		}
		/* the map's key string may be ck's, about to go: use the
		 * new first certificate's own copy of the name */
		for (size_t j = 0; j < cs->nodes[head - 1].ck->nnames; j++)
			if (strcmp(cs->nodes[head - 1].ck->names[j], name) == 0) {
				strmap_put(&cs->by_name,
				    cs->nodes[head - 1].ck->names[j],
				    NODE_VALUE(head - 1));
				break;
			}
	}
	memmove(&cs->v[i], &cs->v[i + 1], (cs->n - i - 1) * sizeof(*cs->v));
	memmove(&cs->indexed[i], &cs->indexed[i + 1], cs->n - i - 1);
	cs->n--;
	certs_unref(ck);
}

struct certset *
certset_copy(const struct certset *src, struct certkey *const *drop,
    size_t ndrop)
{
	struct certset *cs;

	/* lists cluttered with unlinked nodes: copy entry by entry, which
	 * leaves them out */
	if (src->ngarbage > 1024 && src->ngarbage > src->nnodes / 4) {
		if ((cs = certset_new(src->n)) == NULL)
			return NULL;
		for (size_t i = 0; i < src->n; i++) {
			int skip = 0;

			for (size_t k = 0; k < ndrop; k++)
				skip |= drop[k] == src->v[i];
			if (!skip && certset_add(cs, src->v[i], src->indexed[i]) == -1) {
				certset_unref(cs);
				return NULL;
			}
		}
		return cs;
	}
	if ((cs = calloc(1, sizeof(*cs))) == NULL)
		return NULL;
	atomic_init(&cs->refs, 1);
	cs->cap = src->n + 16;
	cs->capnodes = src->nnodes + 16;
	if ((cs->v = malloc(cs->cap * sizeof(*cs->v))) == NULL ||
	    (cs->indexed = malloc(cs->cap)) == NULL ||
	    (cs->nodes = malloc(cs->capnodes * sizeof(*cs->nodes))) == NULL ||
	    strmap_copy(&cs->by_pair, &src->by_pair) == -1 ||
	    strmap_copy(&cs->by_name, &src->by_name) == -1) {
		certset_unref(cs);
		return NULL;
	}
	if (src->n > 0) {
		memcpy(cs->v, src->v, src->n * sizeof(*cs->v));
		memcpy(cs->indexed, src->indexed, src->n);
	}
	if (src->nnodes > 0)
		memcpy(cs->nodes, src->nodes, src->nnodes * sizeof(*cs->nodes));
	cs->n = src->n;
	cs->nnodes = src->nnodes;
	cs->ngarbage = src->ngarbage;
	for (size_t i = 0; i < cs->n; i++)
		certs_ref(cs->v[i]);
	for (size_t k = 0; k < ndrop; k++)
		certset_remove(cs, drop[k]);
	return cs;
}

/* a file, following symlinks, that is a regular file */
static int
is_file(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static const char *const layouts[][2] = {
	{ "fullchain.pem", "privkey.pem" },	/* certbot's live/<name>/ */
	{ "tls.crt", "tls.key" },		/* a Kubernetes TLS secret */
};

int
certset_find_layout(const char *dir, const char *name, char *cert, char *key,
    size_t len)
{
	for (size_t l = 0; l < sizeof(layouts) / sizeof(layouts[0]); l++) {
		snprintf(cert, len, "%s/%s/%s", dir, name, layouts[l][0]);
		snprintf(key, len, "%s/%s/%s", dir, name, layouts[l][1]);
		if (is_file(cert) && is_file(key))
			return 1;
	}
	return 0;
}

struct certkey *
certset_find_sub(const struct certset *cs, const char *dir, const char *name)
{
	char pair[8200];
	struct certkey *ck;

	for (size_t l = 0; l < sizeof(layouts) / sizeof(layouts[0]); l++) {
		snprintf(pair, sizeof(pair), "%s/%s/%s\n%s/%s/%s", dir, name,
		    layouts[l][0], dir, name, layouts[l][1]);
		if ((ck = strmap_get(&cs->by_pair, pair)) != NULL)
			return ck;
	}
	return NULL;
}

/*
 * Why subdirectory name of dir holds no pair discovery can use, when that
 * looks like a mistake: a dangling symlink (certbot's live/ without its
 * archive/), an entry the user cannot read, one file of a pair without the
 * other. A plain file (certbot's live/README) or a directory holding none
 * of the files is skipped without a word. Warnings go to d.
 */
static void
certset_explain_sub(const char *dir, const char *name, struct diag *d)
{
	char path[4096], file[2][4096 + 32];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (stat(path, &sb) == -1) {
		certs_explain(d, DIAG_WARNING, path, "this cert_dir entry", errno);
		return;
	}
	if (!S_ISDIR(sb.st_mode))
		return;
	for (size_t l = 0; l < sizeof(layouts) / sizeof(layouts[0]); l++) {
		int present[2];

		for (int k = 0; k < 2; k++) {
			snprintf(file[k], sizeof(file[k]), "%s/%s", path,
			    layouts[l][k]);
			present[k] = lstat(file[k], &sb) == 0 || errno != ENOENT;
			if (present[k] && stat(file[k], &sb) == -1)
				certs_explain(d, DIAG_WARNING, file[k], k == 0 ?
				    "certificate" : "private key", errno);
		}
		if (present[0] != present[1])
			diag_warn(d, path, 0, "holds %s but no %s; cert_dir "
			    "discovery needs both files of a pair",
			    layouts[l][present[0] ? 0 : 1],
			    layouts[l][present[0] ? 1 : 0]);
	}
}

void
certset_discover(struct certset *cs, const struct certset *prev,
    const struct changes *ch, const char *dir, struct diag *d)
{
	struct dirent **ents;
	int n;

	if ((n = scandir(dir, &ents, NULL, NULL)) == -1) {
		diag_err(d, dir, 0, "cannot read cert_dir: %s", strerror(errno));
		return;
	}
	for (int i = 0; i < n; i++) {
		char cert[4096], key[4096];
		struct certkey *ck;
		int same = prev != NULL && !changes_entry(ch, dir, ents[i]->d_name);
		int found = 0;

		if (ents[i]->d_name[0] == '.')
			goto next;
		/* a subdirectory without events that held a pair still does:
		 * no need to look at the files again */
		if (same && (ck = certset_find_sub(prev, dir,
		    ents[i]->d_name)) != NULL) {
			snprintf(cert, sizeof(cert), "%s", ck->cert_path);
			snprintf(key, sizeof(key), "%s", ck->key_path);
			found = 1;
		}
		if (found || certset_find_layout(dir, ents[i]->d_name, cert, key,
		    sizeof(cert)))
			certset_load(cs, prev, ch, cert, key, 1, &ck, d);
		else
			certset_explain_sub(dir, ents[i]->d_name, d);
next:
		free(ents[i]);
	}
	free(ents);
}

/* is ck better than best for serving now? (valid now, then latest expiry) */
static int
cert_better(const struct certkey *ck, const struct certkey *best, time_t now)
{
	int ok = now >= ck->not_before && now <= ck->not_after;
	int best_ok;

	if (best == NULL)
		return 1;
	best_ok = now >= best->not_before && now <= best->not_after;
	if (ok != best_ok)
		return ok;
	return ck->not_after > best->not_after;
}

void
certset_pick(const struct certset *cs, const char *name, const char *host,
    time_t now, struct certkey *ck[2])
{
	struct certkey *ec = NULL, *rsa = NULL;
	char wild[NAME_MAX_LEN + 3];
	size_t k;

	k = VALUE_NODE(strmap_get(&cs->by_name, host));
	if (k == 0) {
		snprintf(wild, sizeof(wild), "*.%s", name);
		k = VALUE_NODE(strmap_get(&cs->by_name, wild));
	}
	for (; k != 0; k = cs->nodes[k - 1].next) {
		struct certkey *c = cs->nodes[k - 1].ck;
		struct certkey **best = c->is_ec ? &ec : &rsa;

		if (cert_better(c, *best, now))
			*best = c;
	}
	ck[0] = ec != NULL ? ec : rsa;
	ck[1] = ec != NULL ? rsa : NULL;
}

int
certset_has(const struct certset *cs, const char *cert, const char *key)
{
	char *pair = pair_text(cert, key);
	int has = pair != NULL && strmap_get(&cs->by_pair, pair) != NULL;

	free(pair);
	return has;
}

int
certset_same_pairs(const struct certset *a, const struct certset *b)
{
	if (a == b)
		return 1;
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (strmap_get(&b->by_pair, a->v[i]->pair) == NULL)
			return 0;
	return 1;
}
