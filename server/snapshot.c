/* snapshot.c - build, look up, reference-count and publish loaded generations */
#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "names.h"

static _Thread_local struct snapshot *current;	/* per event-loop thread */

/* certificates known to one build: by "cert\nkey" path pair and by SAN name */
struct certset {
	struct certkey **v;		/* one reference each */
	char **pairs;			/* "cert\nkey", parallel to v */
	size_t n, cap;
	struct strmap by_pair;		/* "cert\nkey" -> certkey */
	struct strmap by_name;		/* SAN name -> struct namelist */
	struct namelist *lists;		/* every namelist, for freeing */
};

struct namelist {
	struct certkey *ck;
	struct namelist *next;		/* same name, other certificate */
	struct namelist *all;		/* every namelist of the set */
};

static void
certset_free(struct certset *cs)
{
	struct namelist *nl, *next;

	if (cs == NULL)
		return;
	for (size_t i = 0; i < cs->n; i++) {
		certs_unref(cs->v[i]);
		free(cs->pairs[i]);
	}
	free(cs->v);
	free(cs->pairs);
	strmap_free(&cs->by_pair);
	strmap_free(&cs->by_name);
	for (nl = cs->lists; nl != NULL; nl = next) {
		next = nl->all;
		free(nl);
	}
	free(cs);
}

/*
 * Load a chain + key once per build; *out borrows the set's reference. A pair
 * that prev loaded from files that have not changed since is shared, not
 * parsed again (key parsing is the expensive part of a reload). Returns 0, or
 * -1 after adding the reason to d.
 */
static int
certset_load(struct certset *cs, const struct certset *prev,
    const struct changes *ch, const char *cert, const char *key,
    int index_names, struct certkey **out, struct diag *d)
{
	struct certkey *ck;
	char *pair;
	size_t len = strlen(cert) + strlen(key) + 2;

	if ((pair = malloc(len)) == NULL)
		goto oom;
	snprintf(pair, len, "%s\n%s", cert, key);
	if ((*out = strmap_get(&cs->by_pair, pair)) != NULL) {
		free(pair);
		return 0;
	}
	if (cs->n == cs->cap) {
		size_t cap = cs->cap ? cs->cap * 2 : 16;
		struct certkey **v = realloc(cs->v, cap * sizeof(*v));
		char **p;

		if (v == NULL) {
			free(pair);
			goto oom;
		}
		cs->v = v;
		if ((p = realloc(cs->pairs, cap * sizeof(*p))) == NULL) {
			free(pair);
			goto oom;
		}
		cs->pairs = p;
		cs->cap = cap;
	}
	if (prev != NULL && (ck = strmap_get(&prev->by_pair, pair)) != NULL &&
	    ((!changes_file(ch, cert, ck->cert_real_dir, 0) &&
	    !changes_file(ch, key, ck->key_real_dir, 0)) || certs_unchanged(ck)))
		certs_ref(ck);
	else if (certs_load(cert, key, &ck, d) == -1) {
		free(pair);
		return -1;
	}
	if (strmap_put(&cs->by_pair, pair, ck) == -1) {
		certs_unref(ck);
		free(pair);
		goto oom;
	}
	cs->v[cs->n] = ck;
	cs->pairs[cs->n] = pair;
	cs->n++;
	for (size_t i = 0; index_names && i < ck->nnames; i++) {
		struct namelist *nl = calloc(1, sizeof(*nl));

		if (nl == NULL)
			goto oom;
		nl->ck = ck;
		nl->next = strmap_get(&cs->by_name, ck->names[i]);
		nl->all = cs->lists;
		cs->lists = nl;
		if (strmap_put(&cs->by_name, ck->names[i], nl) == -1)
			goto oom;
	}
	*out = ck;
	return 0;
oom:
	diag_err(d, cert, 0, "out of memory");
	return -1;
}

/* a file, following symlinks, that is a regular file */
static int
is_file(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/*
 * Load every certificate in cert_dir: each subdirectory (symlinks followed)
 * holding fullchain.pem + privkey.pem (certbot's live/<name>/) or tls.crt +
 * tls.key (a Kubernetes TLS secret). Names starting with '.' are skipped.
 */
static void
certset_discover(struct certset *cs, const struct certset *prev,
    const struct changes *ch, const char *dir, struct diag *d)
{
	static const char *const layouts[][2] = {
		{ "fullchain.pem", "privkey.pem" },
		{ "tls.crt", "tls.key" },
	};
	struct dirent **ents;
	int n;

	if ((n = scandir(dir, &ents, NULL, NULL)) == -1) {
		diag_err(d, dir, 0, "cannot read cert_dir: %s", strerror(errno));
		return;
	}
	for (int i = 0; i < n; i++) {
		char cert[4096], key[4096], pair[8200];
		struct certkey *ck;
		int same = prev != NULL && !changes_entry(ch, dir, ents[i]->d_name);

		if (ents[i]->d_name[0] == '.')
			goto next;
		for (size_t l = 0; l < sizeof(layouts) / sizeof(layouts[0]); l++) {
			snprintf(cert, sizeof(cert), "%s/%s/%s", dir,
			    ents[i]->d_name, layouts[l][0]);
			snprintf(key, sizeof(key), "%s/%s/%s", dir,
			    ents[i]->d_name, layouts[l][1]);
			snprintf(pair, sizeof(pair), "%s\n%s", cert, key);
			/* a subdirectory without events that held this pair
			 * still does: no need to look at the files again */
			if ((same && strmap_get(&prev->by_pair, pair) != NULL) ||
			    (is_file(cert) && is_file(key))) {
				certset_load(cs, prev, ch, cert, key, 1, &ck, d);
				break;
			}
		}
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

/* choose up to one ECDSA and one RSA certificate from the SAN index:
 * exact name first, then the one-label wildcard */
static void
certset_pick(const struct certset *cs, const char *name, const char *host,
    time_t now, struct certkey *ck[2])
{
	struct certkey *ec = NULL, *rsa = NULL;
	const struct namelist *nl;
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

/* read at most POLICY_MAX_BYTES + 1 bytes of path into a new buffer */
static char *
read_policy_file(const char *path, size_t *len, struct stat *sb,
    struct diag *d)
{
	size_t cap = POLICY_MAX_BYTES + 1, n = 0;
	char *buf;
	int fd;

	/* O_NONBLOCK: a FIFO in policy_dir must not hang the loader */
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1) {
		diag_err(d, path, 0, "cannot open policy: %s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, sb) == -1 || !S_ISREG(sb->st_mode)) {
		diag_err(d, path, 0, "policy is not a regular file");
		close(fd);
		return NULL;
	}
	if ((buf = malloc(cap)) == NULL) {
		diag_err(d, path, 0, "out of memory");
		close(fd);
		return NULL;
	}
	while (n < cap) {
		ssize_t r = read(fd, buf + n, cap - n);

		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			diag_err(d, path, 0, "cannot read policy: %s",
			    strerror(errno));
			free(buf);
			close(fd);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	*len = n;
	return buf;
}

static void
domain_unref(struct domain *dom)
{
	if (dom == NULL ||
	    atomic_fetch_sub_explicit(&dom->refs, 1, memory_order_acq_rel) != 1)
		return;
	free(dom->name);
	free(dom->host);
	free(dom->policy_path);
	policy_free(&dom->policy);
	http_response_free(dom->resp);
	certs_unref(dom->ck[0]);
	certs_unref(dom->ck[1]);
	free(dom);
}

/* the certificates a domain is to use: the section's, else [defaults], else
 * the best match by SAN name in cert_dir. ck[] borrows the set's references.
 * Returns 0, or -1 after adding the reason to d. */
static int
domain_certs(const struct config *cfg, const struct domain_conf *dc,
    const char *name, const char *host, struct certset *cs,
    const struct certset *prev, const struct changes *ch, time_t now,
    struct certkey *ck[2], struct diag *d)
{
	const struct cert_paths *cp = NULL;
	int ok = 0;

	ck[0] = ck[1] = NULL;
	if (dc != NULL && dc->certs[0].cert != NULL)
		cp = dc->certs;
	else if (cfg->default_certs[0].cert != NULL)
		cp = cfg->default_certs;
	if (cp != NULL) {
		for (int i = 0; i < 2 && cp[i].cert != NULL; i++)
			if (certset_load(cs, prev, ch, cp[i].cert, cp[i].key, 0, &ck[i],
			    d) == -1) {
				ck[i] = NULL;
				ok = -1;
			}
		return ok;
	}
	certset_pick(cs, name, host, now, ck);
	if (ck[0] == NULL) {
		diag_err(d, cfg->path, dc != NULL ? dc->line : 0, "%s: no "
		    "certificate for %s: name one with cert = and key = in [%s] "
		    "or [defaults], or put one whose SAN covers %s in cert_dir",
		    name, host, name, host);
		return -1;
	}
	return 0;
}

/*
 * Load one domain: its policy and its certificates, with every check -t
 * runs. When old (the previous version) used the same policy file, unchanged
 * on disk, and the same certificate objects, old itself is returned with one
 * more reference and nothing is read. Returns the domain (one reference), or
 * NULL after adding every problem to d.
 */
static struct domain *
domain_load(const struct config *cfg, const struct domain_conf *dc,
    const char *name, struct certset *cs, const struct certset *prev_certs,
    const struct changes *ch, struct domain *old, time_t now, struct diag *d)
{
	struct certkey *ck[2];
	struct domain *dom;
	struct stat sb;
	char path[4096], host[NAME_MAX_LEN + 9], *buf;
	size_t len;
	int ok = 0;

	snprintf(host, sizeof(host), "mta-sts.%s", name);
	if (dc != NULL && dc->policy != NULL)
		snprintf(path, sizeof(path), "%s", dc->policy);
	else
		snprintf(path, sizeof(path), "%s/%s.txt", cfg->policy_dir, name);
	if (domain_certs(cfg, dc, name, host, cs, prev_certs, ch, now, ck, d) == -1)
		ok = -1;

	if (ok == 0 && old != NULL && strcmp(old->policy_path, path) == 0 &&
	    old->ck[0] == ck[0] && old->ck[1] == ck[1]) {
		struct file_stamp st;

		/* in policy_dir we build the paths ourselves, so an event on
		 * another name there says nothing about this file */
		if (!changes_file(ch, path, NULL, dc == NULL || dc->policy == NULL) ||
		    (certs_stamp(path, &st) == 0 &&
		    memcmp(&st, &old->policy_stamp, sizeof(st)) == 0)) {
			atomic_fetch_add_explicit(&old->refs, 1,
			    memory_order_relaxed);
			return old;
		}
	}

	if ((dom = calloc(1, sizeof(*dom))) == NULL) {
		diag_err(d, name, 0, "out of memory");
		return NULL;
	}
	atomic_init(&dom->refs, 1);
	if ((dom->name = strdup(name)) == NULL ||
	    (dom->host = strdup(host)) == NULL ||
	    (dom->policy_path = strdup(path)) == NULL)
		goto oom;
	for (int i = 0; i < 2; i++)
		if ((dom->ck[i] = ck[i]) != NULL)
			certs_ref(ck[i]);

	/* stamp before reading: a file replaced meanwhile looks changed next time */
	memset(&dom->policy_stamp, 0, sizeof(dom->policy_stamp));
	certs_stamp(path, &dom->policy_stamp);
	if ((buf = read_policy_file(path, &len, &sb, d)) == NULL)
		ok = -1;
	else {
		if (policy_parse(buf, len, path, &dom->policy, d) == -1)
			ok = -1;
		free(buf);
	}
	for (int i = 0; i < 2; i++)
		if (dom->ck[i] != NULL &&
		    certs_check(dom->ck[i], name, host, now, d) == -1)
			ok = -1;
	if (ok == -1) {
		domain_unref(dom);
		return NULL;
	}
	if ((dom->resp = http_policy_response(dom->policy.text,
	    dom->policy.text_len)) == NULL)
		goto oom;
	return dom;
oom:
	diag_err(d, name, 0, "out of memory");
	domain_unref(dom);
	return NULL;
}

/* does the file name look like "<domain>.txt"? fills name when so */
static int
discovered_name(const char *file, char *name, size_t len)
{
	size_t n = strlen(file);

	if (n <= 4 || strcmp(file + n - 4, ".txt") != 0)
		return 0;
	return name_normalise(file, n - 4, name, len) == 0;
}

/* every domain to load: the sections, then <domain>.txt files in policy_dir */
static int
collect_names(const struct config *cfg, char ***names, size_t *n,
    struct diag *d)
{
	struct strmap seen = { 0 };
	struct dirent **ents = NULL;
	int nents = 0;
	size_t cap;

	*n = 0;
	nents = scandir(cfg->policy_dir, &ents, NULL, NULL);
	if (nents == -1 && errno != ENOENT) {
		/* a directory that exists but cannot be read now (no memory,
		 * an I/O error, permissions): carrying on would drop every
		 * domain found there, and a reload would stop serving them */
		diag_err(d, cfg->policy_dir, 0, "cannot read policy_dir: %s",
		    strerror(errno));
		return -1;
	}
	if (nents == -1) {
		if (cfg->ndomains == 0)
			diag_warn(d, cfg->policy_dir, 0, "cannot read policy_dir: "
			    "%s; no policies are discovered there",
			    strerror(ENOENT));
		nents = 0;
	}
	cap = cfg->ndomains + (size_t)nents + 1;
	strmap_reserve(&seen, cap);
	if ((*names = calloc(cap, sizeof(char *))) == NULL)
		goto fail;
	for (size_t i = 0; i < cfg->ndomains; i++) {
		if (((*names)[*n] = strdup(cfg->domains[i].name)) == NULL)
			goto fail;
		strmap_put(&seen, (*names)[*n], (*names)[*n]);
		(*n)++;
	}
	for (int i = 0; i < nents; i++) {
		char name[NAME_MAX_LEN + 1];
		const char *f = ents[i]->d_name;

		if (f[0] == '.')
			continue;
		if (!discovered_name(f, name, sizeof(name))) {
			if (strcmp(f, "README") != 0 && strcmp(f, "README.md") != 0)
				diag_warn(d, cfg->policy_dir, 0, "ignoring \"%s\": "
				    "policy files are named <domain>.txt", f);
			continue;
		}
		if (strmap_get(&seen, name) != NULL)
			continue;
		if (((*names)[*n] = strdup(name)) == NULL)
			goto fail;
		strmap_put(&seen, (*names)[*n], (*names)[*n]);
		(*n)++;
	}
	for (int i = 0; i < nents; i++)
		free(ents[i]);
	free(ents);
	strmap_free(&seen);
	return 0;
fail:
	for (int i = 0; i < nents; i++)
		free(ents[i]);
	free(ents);
	strmap_free(&seen);
	diag_err(d, cfg->path, 0, "out of memory");
	return -1;
}

/* do s and prev use other files or directories? (the configuration, a
 * domain added or removed, a certificate file pair appeared or went, or
 * cert_dir's entries changed) */
static int
paths_differ(const struct snapshot *s, const struct snapshot *prev,
    const struct changes *ch)
{
	/* without events to go by, or with entries of cert_dir come or gone
	 * (a new subdirectory may not hold its files yet), look again */
	if (ch == NULL || ch->full || (s->cfg.cert_dir != NULL &&
	    strmap_get(&ch->dirs, s->cfg.cert_dir) != NULL))
		return 1;
	if (prev == NULL || s->nadded > 0 || s->nremoved > 0 ||
	    memcmp(&s->cfg_stamp, &prev->cfg_stamp, sizeof(s->cfg_stamp)) != 0 ||
	    s->certs->n != prev->certs->n)
		return 1;
	for (size_t i = 0; i < s->certs->n; i++)
		if (strmap_get(&prev->certs->by_pair, s->certs->pairs[i]) == NULL)
			return 1;
	return 0;
}

static void
snapshot_free(struct snapshot *s)
{
	for (size_t i = 0; i < s->ndomains; i++)
		domain_unref(s->domains[i]);
	free(s->domains);
	strmap_free(&s->index);
	certset_free(s->certs);
	config_free(&s->cfg);
	free(s);
}

int
snapshot_build(const char *config_path, unsigned long generation,
    const struct snapshot *prev, const struct changes *ch,
    struct snapshot **out, struct diag *d)
{
	const struct certset *prev_certs = prev != NULL ? prev->certs : NULL;
	struct snapshot *s;
	char **names = NULL;
	size_t nnames = 0;
	time_t now = time(NULL);

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->certs = calloc(1, sizeof(*s->certs))) == NULL) {
		free(s);
		diag_err(d, config_path, 0, "out of memory");
		return -1;
	}
	atomic_init(&s->refs, 1);
	s->generation = generation;
	certs_stamp(config_path, &s->cfg_stamp);
	if (config_load(config_path, &s->cfg, d) == -1) {
		free(s->certs);
		free(s);
		return -1;
	}
	if (prev_certs != NULL) {
		/* about as many certificates as last time: no rehashing */
		strmap_reserve(&s->certs->by_pair, prev_certs->by_pair.n);
		strmap_reserve(&s->certs->by_name, prev_certs->by_name.n);
	}
	if (s->cfg.cert_dir != NULL)
		certset_discover(s->certs, prev_certs, ch, s->cfg.cert_dir, d);
	if (collect_names(&s->cfg, &names, &nnames, d) == -1)
		goto fail;
	if ((s->domains = calloc(nnames ? nnames : 1, sizeof(*s->domains))) == NULL ||
	    strmap_reserve(&s->index, nnames) == -1)
		goto fail;
	for (size_t i = 0; i < nnames; i++) {
		struct domain *old = prev != NULL ?
		    (struct domain *)snapshot_find(prev, names[i]) : NULL;
		struct domain *dom;

		dom = domain_load(&s->cfg, config_find_domain(&s->cfg, names[i]),
		    names[i], s->certs, prev_certs, ch, old, now, d);
		if (dom == NULL) {
			s->nfailed++;
			if (old == NULL)
				continue;
			/* one customer's mistake never takes down what worked */
			diag_warn(d, names[i], 0, "keeping the previous version of "
			    "this domain until the problems above are fixed");
			s->nkept++;
			atomic_fetch_add_explicit(&old->refs, 1,
			    memory_order_relaxed);
			dom = old;
		} else if (old == NULL)
			s->nadded++;
		else if (dom != old)
			s->nchanged++;
		if (strmap_put(&s->index, dom->name, dom) == -1) {
			domain_unref(dom);
			goto fail;
		}
		s->domains[s->ndomains++] = dom;
	}
	if (prev != NULL)
		for (size_t i = 0; i < prev->ndomains; i++)
			if (snapshot_find(s, prev->domains[i]->name) == NULL)
				s->nremoved++;
	s->paths_changed = paths_differ(s, prev, ch);
	if (s->cfg.default_domain != NULL &&
	    (s->default_domain = snapshot_find(s, s->cfg.default_domain)) == NULL)
		diag_err(d, s->cfg.path, 0, "default_domain %s is not served "
		    "(it failed to load or has no section or policy file); "
		    "clients without SNI are refused", s->cfg.default_domain);
	if (s->ndomains == 0) {
		if (nnames == 0)
			diag_err(d, s->cfg.path, 0, "no domain is configured: add "
			    "a [domain] section or put <domain>.txt files in %s",
			    s->cfg.policy_dir);
		else
			diag_err(d, s->cfg.path, 0, "none of the %zu configured "
			    "domains could be loaded (see above)", nnames);
		goto fail;
	}
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	*out = s;
	return 0;
fail:
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	snapshot_free(s);
	return -1;
}

int
snapshot_same(const struct snapshot *s, const struct snapshot *prev)
{
	if (prev == NULL || s->ndomains != prev->ndomains ||
	    memcmp(&s->cfg_stamp, &prev->cfg_stamp, sizeof(s->cfg_stamp)) != 0)
		return 0;
	for (size_t i = 0; i < s->ndomains; i++)
		if (snapshot_find(prev, s->domains[i]->name) != s->domains[i])
			return 0;
	return 1;
}

const struct domain *
snapshot_find(const struct snapshot *s, const char *name)
{
	return strmap_get(&s->index, name);
}

struct snapshot *
snapshot_ref(struct snapshot *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	return s;
}

void
snapshot_unref(struct snapshot *s)
{
	if (s == NULL)
		return;
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
		snapshot_free(s);
}

struct snapshot *
snapshot_current(void)
{
	return current;
}

void
snapshot_publish(struct snapshot *s)
{
	struct snapshot *old = current;

	current = s;
	snapshot_unref(old);
}
