/* certset.c - the certificates one snapshot loaded, by file pair and by SAN name */
#include "certset.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "names.h"

/* the certificates with one SAN name: a list, newest first */
struct certset_names {
	struct certkey *ck;
	struct certset_names *next;	/* same name, other certificate */
	struct certset_names *all;	/* every node of the set */
};

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
	struct certset_names *nl, *next;

	if (cs == NULL ||
	    atomic_fetch_sub_explicit(&cs->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (size_t i = 0; i < cs->n; i++) {
		certs_unref(cs->v[i]);
		free(cs->pairs[i]);
	}
	free(cs->v);
	free(cs->pairs);
	free(cs->indexed);
	strmap_free(&cs->by_pair);
	strmap_free(&cs->by_name);
	for (nl = cs->lists; nl != NULL; nl = next) {
		next = nl->all;
		free(nl);
	}
	free(cs);
}

/* room for one more pair; returns 0 or -1 */
static int
certset_grow(struct certset *cs)
{
	size_t cap = cs->cap ? cs->cap * 2 : 16;
	struct certkey **v;
	char **p;
	unsigned char *ix;

	if (cs->n < cs->cap)
		return 0;
	if ((v = realloc(cs->v, cap * sizeof(*v))) == NULL)
		return -1;
	cs->v = v;
	if ((p = realloc(cs->pairs, cap * sizeof(*p))) == NULL)
		return -1;
	cs->pairs = p;
	if ((ix = realloc(cs->indexed, cap)) == NULL)
		return -1;
	cs->indexed = ix;
	cs->cap = cap;
	return 0;
}

/* store ck (the caller's reference passes to the set) under pair (owned by
 * the set from now on, even on failure); returns 0 or -1 */
static int
certset_store(struct certset *cs, struct certkey *ck, char *pair,
    int index_names)
{
	if (certset_grow(cs) == -1 || strmap_put(&cs->by_pair, pair, ck) == -1) {
		certs_unref(ck);
		free(pair);
		return -1;
	}
	cs->v[cs->n] = ck;
	cs->pairs[cs->n] = pair;
	cs->indexed[cs->n] = index_names != 0;
	cs->n++;
	for (size_t i = 0; index_names && i < ck->nnames; i++) {
		struct certset_names *nl = calloc(1, sizeof(*nl));

		if (nl == NULL)
			return -1;
		nl->ck = ck;
		nl->next = strmap_get(&cs->by_name, ck->names[i]);
		nl->all = cs->lists;
		cs->lists = nl;
		if (strmap_put(&cs->by_name, ck->names[i], nl) == -1)
			return -1;
	}
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
	if (certset_store(cs, ck, pair, index_names) == -1) {
		diag_err(d, cert, 0, "out of memory");
		return -1;
	}
	*out = ck;
	return 0;
}

int
certset_add(struct certset *cs, struct certkey *ck, int index_names)
{
	char *pair = pair_text(ck->cert_path, ck->key_path);

	if (pair == NULL)
		return -1;
	certs_ref(ck);
	return certset_store(cs, ck, pair, index_names);
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
	const struct certset_names *nl;
	char wild[NAME_MAX_LEN + 3];

	nl = strmap_get(&cs->by_name, host);
	if (nl == NULL) {
		snprintf(wild, sizeof(wild), "*.%s", name);
		nl = strmap_get(&cs->by_name, wild);
	}
	for (; nl != NULL; nl = nl->next) {
		struct certkey **best = nl->ck->is_ec ? &ec : &rsa;

		if (cert_better(nl->ck, *best, now))
			*best = nl->ck;
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
		if (strmap_get(&b->by_pair, a->pairs[i]) == NULL)
			return 0;
	return 1;
}
