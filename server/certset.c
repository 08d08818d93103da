/* certset.c - the certificates one snapshot loaded, by file pair and by SAN name */
#include "certset.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
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
	int acme;			/* found in the ACME storage */
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
certset_link(struct certset *cs, struct certkey *ck, const char *name,
    int acme)
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
	cs->nodes[cs->nnodes].acme = acme;
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
	cs->indexed[cs->n] = (unsigned char)index_names;
	cs->n++;
	for (size_t i = 0; index_names && i < ck->nnames; i++)
		if (certset_link(cs, ck, ck->names[i],
		    index_names == CERTSET_INDEX_ACME) == -1)
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

/*
 * The on-disk layouts cert_dir discovery knows, one row each. Discovery,
 * the directories reload watches (certset_watch_dirs) and the pair a changed
 * file belongs to (certset_pair_of_path) are all read from this table, so a
 * layout is added here and nowhere else. A pair's files lie either
 *   - in a subdirectory of cert_dir of their own (dir "*"): its name, less
 *     the suffix strip, is the pair's name; discovery takes at most one pair
 *     from a subdirectory, that of the first such row with both files there;
 *   - or side by side with other pairs' files (dir: a name, or ""), in
 *     cert_dir itself and in its subdirectory dir, so cert_dir may name the
 *     tool's home or the directory in it that holds the files.
 * In cert and key, '*' stands for the pair's name. not_cert: a name that cert
 * matches but that is another of the tool's files, never a chain.
 * key_alone: a key without its certificate is a step of the tool's work (a
 * certificate being requested), no mistake worth a warning.
 */
struct layout {
	const char *dir;
	const char *strip;
	const char *cert, *key;
	const char *not_cert;
	int key_alone;
};

static const struct layout layouts[] = {
	/* certbot's live/<name>/ (symlinks into archive/<name>/) */
	{ "*", NULL, "fullchain.pem", "privkey.pem", NULL, 0 },
	/* a Kubernetes TLS secret (cert-manager) mounted as <name>/ */
	{ "*", NULL, "tls.crt", "tls.key", NULL, 0 },
	/* acme.sh's home: <name>_ecc/ (ECDSA) or <name>/ (RSA); <name>.cer is
	 * the leaf alone, ca.cer the intermediates */
	{ "*", "_ecc", "fullchain.cer", "*.key", NULL, 1 },
	/* lego's .lego/certificates/: <name>.crt is the chain, <name>.issuer.crt
	 * the issuer alone; .pem, .pfx, .json are other forms (a wildcard's
	 * <name> is _.<domain>) */
	{ "certificates", NULL, "*.crt", "*.key", "*.issuer.crt", 1 },
};

#define NLAYOUTS (sizeof(layouts) / sizeof(layouts[0]))
#define FILE_NAME_LEN 256	/* NAME_MAX + 1 */

/* files side by side (not a subdirectory per pair)? */
static int
layout_flat(const struct layout *l)
{
	return strcmp(l->dir, "*") != 0;
}

/* out = "a/b"; returns 0, or -1 when it does not fit in len */
static int
path_join(char *out, size_t len, const char *a, const char *b)
{
	int n = snprintf(out, len, "%s/%s", a, b);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* does file match the name template t ('*' standing for one character or
 * more)? Fills name (of size len) with what '*' stands for ("" when t has
 * none). Returns 1 or 0. */
static int
layout_match(const char *t, const char *file, char *name, size_t len)
{
	const char *star = strchr(t, '*');
	size_t pre, post, n = strlen(file);

	if (star == NULL) {
		name[0] = '\0';
		return strcmp(t, file) == 0;
	}
	pre = (size_t)(star - t);
	post = strlen(star + 1);
	if (n <= pre + post || n - pre - post >= len ||
	    strncmp(file, t, pre) != 0 || strcmp(file + n - post, star + 1) != 0)
		return 0;
	memcpy(name, file + pre, n - pre - post);
	name[n - pre - post] = '\0';
	return 1;
}

/* the paths of l's pair of name in directory place: fills cert and key (each
 * of size len); returns 0, or -1 when they do not fit */
static int
layout_pair(const struct layout *l, const char *place, const char *name,
    char *cert, size_t len, char *key)
{
	const char *t[2] = { l->cert, l->key };
	char *out[2] = { cert, key };

	for (int k = 0; k < 2; k++) {
		const char *star = strchr(t[k], '*');
		int n = star == NULL ? snprintf(out[k], len, "%s/%s", place, t[k]) :
		    snprintf(out[k], len, "%s/%.*s%s%s", place, (int)(star - t[k]),
		    t[k], name, star + 1);

		if (n < 0 || (size_t)n >= len)
			return -1;
	}
	return 0;
}

/* the paths of per-subdirectory row l's pair in subdirectory sub of dir;
 * returns 0 or -1 */
static int
layout_sub_pair(const struct layout *l, const char *dir, const char *sub,
    char *cert, size_t len, char *key)
{
	char place[PATH_MAX], name[FILE_NAME_LEN];
	size_t n = strlen(sub), s = l->strip != NULL ? strlen(l->strip) : 0;

	if (s > 0 && n > s && strcmp(sub + n - s, l->strip) == 0)
		n -= s;
	if (n >= sizeof(name) || path_join(place, sizeof(place), dir, sub) == -1)
		return -1;
	memcpy(name, sub, n);
	name[n] = '\0';
	return layout_pair(l, place, name, cert, len, key);
}

/* is file (an entry of directory place) a file of flat row l's pairs? Fills
 * cert and key with its pair's paths and returns 1 (file is the
 * certificate) or 2 (the key); 0: another of the tool's files (not_cert);
 * -1: none of l's */
static int
layout_flat_pair(const struct layout *l, const char *place, const char *file,
    char *cert, size_t len, char *key)
{
	char name[FILE_NAME_LEN];
	int kind;

	if (l->not_cert != NULL && layout_match(l->not_cert, file, name,
	    sizeof(name)))
		return 0;
	if (layout_match(l->cert, file, name, sizeof(name)))
		kind = 1;
	else if (layout_match(l->key, file, name, sizeof(name)))
		kind = 2;
	else
		return -1;
	return layout_pair(l, place, name, cert, len, key) == -1 ? 0 : kind;
}

/* cs's pair cert + key (looked up, not on disk), or NULL; cs NULL is fine */
static struct certkey *
certset_get(const struct certset *cs, const char *cert, const char *key)
{
	char pair[2 * PATH_MAX + 2];

	if (cs == NULL || (size_t)snprintf(pair, sizeof(pair), "%s\n%s", cert,
	    key) >= sizeof(pair))
		return NULL;
	return strmap_get(&cs->by_pair, pair);
}

/* the pair discovery takes from subdirectory sub of dir (at most one): the
 * first per-subdirectory row whose two files are there. Fills cert and key
 * (each of size len); returns 1, or 0 when there is none */
static int
sub_find(const char *dir, const char *sub, char *cert, char *key, size_t len)
{
	for (size_t l = 0; l < NLAYOUTS; l++)
		if (!layout_flat(&layouts[l]) &&
		    layout_sub_pair(&layouts[l], dir, sub, cert, len, key) == 0 &&
		    is_file(cert) && is_file(key))
			return 1;
	return 0;
}

/* the pair of cs that discovery took from subdirectory sub of dir (looked
 * up, not on disk), or NULL */
static struct certkey *
sub_held(const struct certset *cs, const char *dir, const char *sub)
{
	char cert[PATH_MAX], key[PATH_MAX];
	struct certkey *ck;

	for (size_t l = 0; l < NLAYOUTS; l++)
		if (!layout_flat(&layouts[l]) &&
		    layout_sub_pair(&layouts[l], dir, sub, cert, sizeof(cert),
		    key) == 0 && (ck = certset_get(cs, cert, key)) != NULL)
			return ck;
	return NULL;
}

/*
 * Why the pair cert + key of a layout, not both regular files, cannot be
 * used, when that looks like a mistake: a dangling symlink (certbot's live/
 * without its archive/) or an entry the user cannot read, or one file
 * without the other (where: the directory holding them). Neither file there
 * is no mistake, nor a key alone when key_alone. Warnings go to d.
 */
static void
explain_pair(const char *where, const char *cert, const char *key,
    int key_alone, struct diag *d)
{
	const char *f[2] = { cert, key };
	int present[2];
	struct stat sb;

	for (int k = 0; k < 2; k++) {
		present[k] = lstat(f[k], &sb) == 0 || errno != ENOENT;
		if (present[k] && stat(f[k], &sb) == -1)
			certs_explain(d, DIAG_WARNING, f[k], k == 0 ?
			    "certificate" : "private key", errno);
	}
	if (present[0] != present[1] && (present[0] || !key_alone))
		diag_warn(d, where, 0, "holds %s but no %s; cert_dir "
		    "discovery needs both files of a pair",
		    strrchr(f[present[0] ? 0 : 1], '/') + 1,
		    strrchr(f[present[0] ? 1 : 0], '/') + 1);
}

/* a pair cert_dir discovery found, loaded by one of the threads of
 * discover_flush (ck NULL and messages in d when it failed) */
struct certset_pending {
	char *cert, *key;
	int load;			/* to be read (certs_load) */
	struct certkey *reuse;		/* else prev's, unchanged */
	struct certkey *ck;
	struct diag d;
};

/* the pairs one certset_discover found, in the order found */
struct certset_batch {
	struct certset_pending *v;
	size_t n, cap;
};

/* the batch of the certset_discover running on this thread, or NULL, and
 * how its pairs are indexed */
static _Thread_local struct certset_batch *discover_batch;
static _Thread_local int discover_index = CERTSET_INDEX_FILE;

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

/* note the pair for discover_flush; -1 (out of memory): load it now */
static int
discover_queue(struct certset_batch *b, struct certset *cs,
    const struct certset *prev, const struct changes *ch, const char *cert,
    const char *key)
{
	struct certset_pending *p;
	char *pair;

	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		struct certset_pending *v = realloc(b->v, cap * sizeof(*v));

		if (v == NULL)
			return -1;
		b->v = v;
		b->cap = cap;
	}
	if ((pair = pair_text(cert, key)) == NULL)
		return -1;
	if (strmap_get(&cs->by_pair, pair) != NULL) {
		free(pair);	/* in the set already */
		return 0;
	}
	p = &b->v[b->n];
	memset(p, 0, sizeof(*p));
	if ((p->cert = strdup(cert)) == NULL || (p->key = strdup(key)) == NULL) {
		free(p->cert);
		free(pair);
		return -1;
	}
	p->reuse = certset_reusable(prev, ch, pair, cert, key);
	p->load = p->reuse == NULL;
	free(pair);
	b->n++;
	return 0;
}

/* load the batch's new pairs (in parallel), then store every pair and move
 * the messages in the order found, so that the set and the log do not
 * depend on the threads */
static void
discover_flush(struct certset_batch *b, struct certset *cs, struct diag *d)
{
	struct certset_pending *load = calloc(b->n ? b->n : 1, sizeof(*load));
	size_t nload = 0;

	for (size_t i = 0; load != NULL && i < b->n; i++)
		if (b->v[i].load)
			load[nload++] = b->v[i];
	if (load != NULL)
		certset_load_parallel(load, nload);
	for (size_t i = 0, k = 0; i < b->n; i++) {
		struct certset_pending *p = &b->v[i];
		struct certkey *ck = NULL;

		if (p->load && load == NULL) {	/* out of memory: one by one */
			certset_load(cs, NULL, NULL, p->cert, p->key,
			    discover_index, &ck, d);
			goto next;
		}
		if (p->load) {
			diag_move(d, &load[k].d);
			ck = load[k++].ck;
		} else {
			certs_ref(p->reuse);
			ck = p->reuse;
		}
		/* found twice (two routes to one pair): stored once */
		if (ck != NULL && certset_has(cs, p->cert, p->key)) {
			certs_unref(ck);
			ck = NULL;
		}
		if (ck != NULL && certset_store(cs, ck, discover_index) == -1)
			diag_err(d, p->cert, 0, "out of memory");
next:
		free(p->cert);
		free(p->key);
	}
	free(load);
	free(b->v);
	b->v = NULL;
	b->n = b->cap = 0;
}

/* load the pair cert + key into cs (indexed by SAN names): queued while
 * certset_discover runs, at once otherwise */
static void
discover_load(struct certset *cs, const struct certset *prev,
    const struct changes *ch, const char *cert, const char *key,
    struct diag *d)
{
	struct certkey *ck;

	if (discover_batch != NULL &&
	    discover_queue(discover_batch, cs, prev, ch, cert, key) == 0)
		return;
	certset_load(cs, prev, ch, cert, key, discover_index, &ck, d);
}

/* the pairs of flat row l among the entries ents (n) of directory place */
static void
discover_flat(struct certset *cs, const struct certset *prev,
    const struct changes *ch, const char *place, const struct layout *l,
    struct dirent **ents, int n, struct diag *d)
{
	char cert[PATH_MAX], key[PATH_MAX];
	struct stat sb;

	for (int i = 0; i < n; i++) {
		const char *file = ents[i]->d_name;
		int kind;

		if (file[0] == '.' ||
		    (kind = layout_flat_pair(l, place, file, cert, sizeof(cert),
		    key)) <= 0)
			continue;
		if (kind == 2) {	/* a key: its certificate's entry says */
			if (lstat(cert, &sb) == -1 && errno == ENOENT)
				explain_pair(place, cert, key, l->key_alone, d);
			continue;
		}
		/* a pair without events that prev held still holds: no need to
		 * look at its files again */
		if ((prev != NULL && !changes_file(ch, cert, NULL, 1) &&
		    !changes_file(ch, key, NULL, 1) &&
		    certset_get(prev, cert, key) != NULL) ||
		    (is_file(cert) && is_file(key)))
			discover_load(cs, prev, ch, cert, key, d);
		else
			explain_pair(place, cert, key, l->key_alone, d);
	}
}

/* the pairs of flat row l in subdirectory sub of dir */
static void
discover_flat_sub(struct certset *cs, const struct certset *prev,
    const struct changes *ch, const char *dir, const char *sub,
    const struct layout *l, struct diag *d)
{
	char place[PATH_MAX];
	struct dirent **ents;
	int n;

	if (path_join(place, sizeof(place), dir, sub) == -1 ||
	    (n = scandir(place, &ents, NULL, NULL)) == -1)
		return;		/* no directory: nothing of l's there */
	discover_flat(cs, prev, ch, place, l, ents, n, d);
	for (int i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
}

/* the pair of subdirectory sub of dir, or why there is none when that looks
 * like a mistake (a plain file, like certbot's live/README, or a directory
 * holding none of the files is skipped without a word) */
static void
discover_sub(struct certset *cs, const struct certset *prev,
    const struct changes *ch, const char *dir, const char *sub,
    struct diag *d)
{
	char cert[PATH_MAX], key[PATH_MAX], path[PATH_MAX];
	struct certkey *ck;
	struct stat sb;

	/* a subdirectory without events that held a pair still does: no need
	 * to look at the files again */
	if (prev != NULL && !changes_entry(ch, dir, sub) &&
	    (ck = sub_held(prev, dir, sub)) != NULL) {
		snprintf(cert, sizeof(cert), "%s", ck->cert_path);
		snprintf(key, sizeof(key), "%s", ck->key_path);
		discover_load(cs, prev, ch, cert, key, d);
		return;
	}
	if (sub_find(dir, sub, cert, key, sizeof(cert))) {
		discover_load(cs, prev, ch, cert, key, d);
		return;
	}
	if (path_join(path, sizeof(path), dir, sub) == -1)
		return;
	if (stat(path, &sb) == -1) {
		certs_explain(d, DIAG_WARNING, path, "this cert_dir entry", errno);
		return;
	}
	if (!S_ISDIR(sb.st_mode))
		return;
	for (size_t l = 0; l < NLAYOUTS; l++)
		if (!layout_flat(&layouts[l]) && layout_sub_pair(&layouts[l], dir,
		    sub, cert, sizeof(cert), key) == 0)
			explain_pair(path, cert, key, layouts[l].key_alone, d);
}

void
certset_discover(struct certset *cs, const struct certset *prev,
    const struct changes *ch, const char *dir, int acme, struct diag *d)
{
	struct certset_batch batch = { NULL, 0, 0 };
	struct dirent **ents;
	int n;

	if ((n = scandir(dir, &ents, NULL, NULL)) == -1) {
		diag_err(d, dir, 0, "cannot read %s: %s", acme ? "the ACME "
		    "storage's certificates" : "cert_dir", strerror(errno));
		return;
	}
	/* the pairs are found first, then loaded on several threads */
	discover_batch = &batch;
	discover_index = acme ? CERTSET_INDEX_ACME : CERTSET_INDEX_FILE;
	for (size_t l = 0; l < NLAYOUTS; l++)
		if (layout_flat(&layouts[l]))
			discover_flat(cs, prev, ch, dir, &layouts[l], ents, n, d);
	for (int i = 0; i < n; i++) {
		const char *e = ents[i]->d_name;

		if (e[0] == '.' || ents[i]->d_type == DT_REG)
			continue;	/* a file: taken above, or no pair's */
		for (size_t l = 0; l < NLAYOUTS; l++)
			if (layout_flat(&layouts[l]) && layouts[l].dir[0] != '\0' &&
			    strcmp(layouts[l].dir, e) == 0)
				discover_flat_sub(cs, prev, ch, dir, e, &layouts[l], d);
		discover_sub(cs, prev, ch, dir, e, d);
	}
	discover_batch = NULL;
	discover_flush(&batch, cs, d);
	discover_index = CERTSET_INDEX_FILE;
	for (int i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
}

/* what flat row l makes of file in directory place: -1 none of its files,
 * else as certset_pair_of_path */
static int
pair_of_flat_file(const struct certset *prev, const struct layout *l,
    const char *place, const char *file, struct certkey **old, char *cert,
    char *key, size_t len)
{
	int kind = layout_flat_pair(l, place, file, cert, len, key);

	if (kind < 0)
		return -1;
	if (kind == 0) {
		cert[0] = key[0] = '\0';
		return CERTSET_PATH_NONE;
	}
	*old = certset_get(prev, cert, key);
	if (!is_file(cert) || !is_file(key))
		cert[0] = key[0] = '\0';
	return CERTSET_PATH_PAIR;
}

int
certset_pair_of_path(const struct certset *prev, const char *dir,
    const char *path, struct certkey **old, char *cert, char *key,
    size_t len)
{
	char sub[FILE_NAME_LEN], place[PATH_MAX], f[2][PATH_MAX];
	size_t n = strlen(dir);
	const char *rel = path + n + 1, *file;
	struct stat sb;
	int r, found = 0;

	*old = NULL;
	cert[0] = key[0] = '\0';
	if (strncmp(path, dir, n) != 0 || path[n] != '/' || *rel == '.')
		return CERTSET_PATH_NONE;
	if ((file = strchr(rel, '/')) == NULL) {
		/* an entry of cert_dir: a file of pairs side by side, another
		 * file, or a directory that may hold pairs */
		for (size_t l = 0; l < NLAYOUTS; l++)
			if (layout_flat(&layouts[l]) && (r = pair_of_flat_file(prev,
			    &layouts[l], dir, rel, old, cert, key, len)) >= 0)
				return r;
		return stat(path, &sb) == 0 && !S_ISDIR(sb.st_mode) ?
		    CERTSET_PATH_NONE : CERTSET_PATH_ENTRY;
	}
	if ((size_t)(file - rel) >= sizeof(sub))
		return CERTSET_PATH_NONE;
	memcpy(sub, rel, (size_t)(file - rel));
	sub[file - rel] = '\0';
	file++;
	if (*file == '\0' || *file == '.' || strchr(file, '/') != NULL ||
	    path_join(place, sizeof(place), dir, sub) == -1)
		return CERTSET_PATH_NONE;	/* discovery never looks there */
	for (size_t l = 0; l < NLAYOUTS; l++)
		if (layout_flat(&layouts[l]) && strcmp(layouts[l].dir, sub) == 0 &&
		    (r = pair_of_flat_file(prev, &layouts[l], place, file, old,
		    cert, key, len)) >= 0)
			return r;
	for (size_t l = 0; l < NLAYOUTS; l++)
		if (!layout_flat(&layouts[l]) && layout_sub_pair(&layouts[l], dir,
		    sub, f[0], sizeof(f[0]), f[1]) == 0)
			found |= strcmp(strrchr(f[0], '/') + 1, file) == 0 ||
			    strcmp(strrchr(f[1], '/') + 1, file) == 0;
	if (!found)
		return CERTSET_PATH_NONE;
	/* one pair per subdirectory: the one prev took, the one there now */
	*old = sub_held(prev, dir, sub);
	if (!sub_find(dir, sub, cert, key, len))
		cert[0] = key[0] = '\0';
	return CERTSET_PATH_PAIR;
}

void
certset_watch_dirs(const char *dir, void (*fn)(const char *dir, void *arg),
    void *arg)
{
	struct dirent **ents;
	int n;

	fn(dir, arg);
	if ((n = scandir(dir, &ents, NULL, NULL)) == -1)
		return;
	for (int i = 0; i < n; i++) {
		char sub[PATH_MAX];
		struct stat sb;

		if (ents[i]->d_name[0] != '.' && ents[i]->d_type != DT_REG &&
		    path_join(sub, sizeof(sub), dir, ents[i]->d_name) == 0 &&
		    stat(sub, &sb) == 0 && S_ISDIR(sb.st_mode))
			fn(sub, arg);
		free(ents[i]);
	}
	free(ents);
}

/* is ck (acme: from the ACME storage) better than best (best_acme) for
 * serving now? Valid now, then hand-managed before ACME, then latest
 * expiry: an ACME certificate serves a domain whose own one expired */
static int
cert_better(const struct certkey *ck, int acme, const struct certkey *best,
    int best_acme, time_t now)
{
	int ok = now >= ck->not_before && now <= ck->not_after;
	int best_ok;

	if (best == NULL)
		return 1;
	best_ok = now >= best->not_before && now <= best->not_after;
	if (ok != best_ok)
		return ok;
	if (ok && acme != best_acme)
		return !acme;
	return ck->not_after > best->not_after;
}

void
certset_pick(const struct certset *cs, const char *name, const char *host,
    time_t now, struct certkey *ck[2])
{
	struct certkey *ec = NULL, *rsa = NULL;
	int ec_acme = 0, rsa_acme = 0;
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
		int *best_acme = c->is_ec ? &ec_acme : &rsa_acme;

		if (cert_better(c, cs->nodes[k - 1].acme, *best, *best_acme, now)) {
			*best = c;
			*best_acme = cs->nodes[k - 1].acme;
		}
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
