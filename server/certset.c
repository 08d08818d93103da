/* certset.c - the certificates one snapshot loaded, by file pair and by SAN name */
#include "certset.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* prev's pair "cert\nkey" when its files did not change, else NULL */
static struct certkey *
certset_reusable(const struct certset *prev, const struct changes *ch,
    const char *pair, const char *cert, const char *key)
{
	struct certkey *ck;

	if (prev != NULL && (ck = strmap_get(&prev->by_pair, pair)) != NULL &&
	    ((!changes_file(ch, cert, ck->cert_real_dir, 0) &&
	    !changes_file(ch, key, ck->key_real_dir, 0)) || certs_unchanged(ck)))
		return ck;
	return NULL;
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
	if ((ck = certset_reusable(prev, ch, pair, cert, key)) != NULL)
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

/* a pair of cert_dir to load, loaded by one of the threads of
 * certset_discover (ck NULL and messages in d when it failed) */
struct certset_pending {
	char *cert, *key;
	int load;			/* to be read (certs_load) */
	struct certkey *reuse;		/* else prev's, unchanged; or NULL: in the set */
	struct certkey *ck;
	struct diag d;
};

struct certset_loader {
	struct certset_pending *v;
	size_t n;
	atomic_size_t next;
};

/* load pending pairs until none is left (each thread takes the next one) */
static void *
certset_loader_main(void *arg)
{
	struct certset_loader *ld = arg;
	size_t i;

	while ((i = atomic_fetch_add(&ld->next, 1)) < ld->n)
		certs_load(ld->v[i].cert, ld->v[i].key, &ld->v[i].ck,
		    &ld->v[i].d);
	return NULL;
}

/* below this many new pairs one thread loads them (a thread's start and
 * its malloc arena cost more than it saves) */
#define CERTSET_PARALLEL_MIN 64
#define CERTSET_THREADS_MAX 8

/* certs_load every pending pair, on as many threads as there are cores
 * (parsing and the key-pair check of 10,000 pairs take seconds) */
static void
certset_load_parallel(struct certset_pending *v, size_t n)
{
	struct certset_loader ld = { v, n, 0 };
	pthread_t th[CERTSET_THREADS_MAX - 1];
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	int nth = 0;

	atomic_init(&ld.next, 0);
	if (cores > CERTSET_THREADS_MAX)
		cores = CERTSET_THREADS_MAX;
#if !defined(MBEDTLS_THREADING_C)
	cores = 1;	/* mbedTLS's RNG and PSA state would be shared without locks */
#endif
	while (n >= CERTSET_PARALLEL_MIN && nth < cores - 1 &&
	    pthread_create(&th[nth], NULL, certset_loader_main, &ld) == 0)
		nth++;
	certset_loader_main(&ld);	/* this thread too; the rest if none started */
	while (nth > 0)
		pthread_join(th[--nth], NULL);
}

void
certset_discover(struct certset *cs, const struct certset *prev,
    const struct changes *ch, const char *dir, struct diag *d)
{
	struct certset_pending *pend = NULL;
	struct dirent **ents;
	size_t npend = 0;
	int n;

	if ((n = scandir(dir, &ents, NULL, NULL)) == -1) {
		diag_err(d, dir, 0, "cannot read cert_dir: %s", strerror(errno));
		return;
	}
	if (n > 0 && (pend = calloc((size_t)n, sizeof(*pend))) == NULL) {
		diag_err(d, dir, 0, "out of memory");
		goto done;
	}
	/* the pairs, in the directory's order; those that must be read again
	 * are loaded first, in parallel, then all are stored in that order
	 * (so the set, its messages and their order do not depend on the
	 * threads) */
	for (int i = 0; i < n; i++) {
		char cert[4096], key[4096], *pair;
		struct certkey *ck;
		int same = prev != NULL && !changes_entry(ch, dir, ents[i]->d_name);
		int found = 0;

		if (ents[i]->d_name[0] == '.')
			continue;
		/* a subdirectory without events that held a pair still does:
		 * no need to look at the files again */
		if (same && (ck = certset_find_sub(prev, dir,
		    ents[i]->d_name)) != NULL) {
			snprintf(cert, sizeof(cert), "%s", ck->cert_path);
			snprintf(key, sizeof(key), "%s", ck->key_path);
			found = 1;
		}
		if (!found && !certset_find_layout(dir, ents[i]->d_name, cert,
		    key, sizeof(cert)))
			continue;
		if ((pend[npend].cert = strdup(cert)) == NULL ||
		    (pend[npend].key = strdup(key)) == NULL ||
		    (pair = pair_text(cert, key)) == NULL) {
			free(pend[npend].cert);
			free(pend[npend].key);
			diag_err(d, cert, 0, "out of memory");
			continue;
		}
		if (strmap_get(&cs->by_pair, pair) == NULL &&
		    (pend[npend].reuse = certset_reusable(prev, ch, pair, cert,
		    key)) == NULL)
			pend[npend].load = 1;
		free(pair);
		npend++;
	}
	{
		struct certset_pending *load = calloc(npend ? npend : 1,
		    sizeof(*load));
		size_t nload = 0;

		/* a compact array of the pairs to load; their results are
		 * taken in directory order below */
		for (size_t i = 0; load != NULL && i < npend; i++)
			if (pend[i].load)
				load[nload++] = pend[i];
		if (load != NULL)
			certset_load_parallel(load, nload);
		for (size_t i = 0, k = 0; i < npend; i++) {
			struct certkey *ck;

			if (pend[i].reuse != NULL) {	/* prev's, files unchanged */
				certs_ref(pend[i].reuse);
				if (certset_store(cs, pend[i].reuse, 1) == -1)
					diag_err(d, pend[i].cert, 0, "out of memory");
			} else if (!pend[i].load)	/* already in the set */
				;
			else if (load == NULL)	/* out of memory: one by one */
				certset_load(cs, NULL, NULL, pend[i].cert,
				    pend[i].key, 1, &ck, d);
			else {
				diag_move(d, &load[k].d);
				if (load[k].ck != NULL &&
				    certset_store(cs, load[k].ck, 1) == -1)
					diag_err(d, pend[i].cert, 0, "out of memory");
				k++;
			}
			free(pend[i].cert);
			free(pend[i].key);
		}
		free(load);
	}
done:
	for (int i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	free(pend);
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
