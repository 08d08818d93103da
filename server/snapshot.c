/* snapshot.c - build, look up, reference-count and publish loaded generations */
#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "certset.h"
#include "names.h"

static _Thread_local struct snapshot *current;	/* per event-loop thread */
/* the HTTP layer's answer builder (snapshot_set_responder), or NULL */
static struct MHD_Response *(*resp_build)(const char *text, size_t len);
static void (*resp_release)(struct MHD_Response *r);

void
snapshot_set_responder(struct MHD_Response *(*build)(const char *text,
    size_t len), void (*release)(struct MHD_Response *r))
{
	resp_build = build;
	resp_release = release;
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
		certs_explain(d, DIAG_ERROR, path, "policy", errno);
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
	if (n > POLICY_MAX_BYTES) {
		/* only the first bytes were read: say how large the file is */
		diag_err(d, path, 0, "policy is %lld bytes; senders refuse more "
		    "than %d: shorten it", (long long)(sb->st_size > (off_t)n ?
		    sb->st_size : (off_t)n), POLICY_MAX_BYTES);
		free(buf);
		return NULL;
	}
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
	free(dom->pinned_id);
	if (dom->resp != NULL && resp_release != NULL)
		resp_release(dom->resp);
	certs_unref(dom->ck[0]);
	certs_unref(dom->ck[1]);
	free(dom);
}

/* the changes to load the pair cp with: none when one of its files is still
 * being written (the pair loaded before stays whole, never a new key with
 * a certificate cut after the leaf), else ch */
static const struct changes *
pair_changes(const struct changes *ch, const struct cert_paths *cp)
{
	static const struct changes none;

	if (changes_held(ch, cp->cert) || changes_held(ch, cp->key))
		return &none;
	return ch;
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
			if (certset_load(cs, prev, pair_changes(ch, &cp[i]),
			    cp[i].cert, cp[i].key, 0, &ck[i], d) == -1) {
				ck[i] = NULL;
				ok = -1;
			}
		return ok;
	}
	certset_pick(cs, name, host, now, ck);
	if (ck[0] == NULL && config_domain_acme(cfg, name)) {
		/* served once the ACME manager has its certificate; until
		 * then its handshakes fail (no certificate to offer) */
		diag_warn(d, cfg->path, dc != NULL ? dc->line : 0, "%s: no "
		    "certificate for %s yet: the ACME manager orders one "
		    "([acme] directory)", name, host);
		return 0;
	}
	if (ck[0] == NULL) {
		diag_err(d, cfg->path, dc != NULL ? dc->line : 0, "%s: no "
		    "certificate for %s: name one with cert = and key = in [%s] "
		    "or [defaults], or put one whose SAN covers %s in cert_dir",
		    name, host, name, host);
		return -1;
	}
	return 0;
}

/* the policy file of a domain: the section's policy =, else its file in
 * policy_dir as named there (file), else <name>.txt */
static void
policy_path(const struct config *cfg, const struct domain_conf *dc,
    const char *name, const char *file, char *path, size_t len)
{
	if (dc != NULL && dc->policy != NULL)
		snprintf(path, len, "%s", dc->policy);
	else if (file != NULL)
		snprintf(path, len, "%s/%s", cfg->policy_dir, file);
	else
		snprintf(path, len, "%s/%s.txt", cfg->policy_dir, name);
}

/*
 * Load one domain: its policy (file: its name in policy_dir, or NULL) and
 * its certificates, with every check -t runs. When old (the previous version) used the same policy file, unchanged
 * on disk, and the same certificate objects, old itself is returned with one
 * more reference and nothing is read. Returns the domain (one reference), or
 * NULL after adding every problem to d.
 */
static struct domain *
domain_load(const struct config *cfg, const struct domain_conf *dc,
    const char *name, const char *file, struct certset *cs,
    const struct certset *prev_certs, const struct changes *ch,
    struct domain *old, time_t now, struct diag *d)
{
	struct certkey *ck[2];
	struct domain *dom;
	struct stat sb;
	char path[4096], host[NAME_MAX_LEN + 9], *buf;
	size_t len;
	int ok = 0;

	snprintf(host, sizeof(host), "mta-sts.%s", name);
	policy_path(cfg, dc, name, file, path, sizeof(path));
	if (domain_certs(cfg, dc, name, host, cs, prev_certs, ch, now, ck, d) == -1)
		ok = -1;

	if (ok == 0 && old != NULL && strcmp(old->policy_path, path) == 0 &&
	    old->ck[0] == ck[0] && old->ck[1] == ck[1] &&
	    !config_str_differs(old->pinned_id, dc != NULL ? dc->policy_id : NULL)) {
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
	/* the id published in DNS: pinned by hand, or derived */
	if (dc != NULL && dc->policy_id != NULL &&
	    (dom->pinned_id = strdup(dc->policy_id)) == NULL)
		goto oom;
	dom->policy_id = dom->pinned_id != NULL ? dom->pinned_id : dom->policy.id;
	if (resp_build != NULL && (dom->resp = resp_build(dom->policy.text,
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

/* one domain to load: a section's, or a file's in policy_dir */
struct wanted {
	char *name;		/* normalised (lower case) */
	char *file;		/* its policy file in policy_dir as named there,
				 * or NULL */
	char *clash;		/* another file there for the same name (they
				 * differ only by case), or NULL */
};

static void
wanted_free(struct wanted *w, size_t n)
{
	for (size_t i = 0; w != NULL && i < n; i++) {
		free(w[i].name);
		free(w[i].file);
		free(w[i].clash);
	}
	free(w);
}

/* note the file f of policy_dir for the domain w; returns 0 or -1 */
static int
wanted_file(struct wanted *w, const char *f)
{
	char **slot = w->file == NULL ? &w->file : &w->clash;

	if (*slot != NULL)
		return 0;	/* a third one: the error names two */
	return (*slot = strdup(f)) == NULL ? -1 : 0;
}

/* every domain to load: the sections, then <domain>.txt files in policy_dir
 * (domain names ignore case: the file is opened as it is named) */
static int
collect_names(const struct config *cfg, struct wanted **names, size_t *n,
    struct diag *d)
{
	struct strmap seen = { 0 };
	struct dirent **ents = NULL;
	struct wanted *w;
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
	if ((*names = calloc(cap, sizeof(**names))) == NULL)
		goto fail;
	for (size_t i = 0; i < cfg->ndomains; i++) {
		w = &(*names)[*n];
		if ((w->name = strdup(cfg->domains[i].name)) == NULL)
			goto fail;
		strmap_put(&seen, w->name, w);
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
		if ((w = strmap_get(&seen, name)) == NULL) {
			w = &(*names)[*n];
			if ((w->name = strdup(name)) == NULL)
				goto fail;
			strmap_put(&seen, w->name, w);
			(*n)++;
		}
		if (wanted_file(w, f) == -1)
			goto fail;
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
	wanted_free(*names, *n + 1);	/* the one being filled too */
	*names = NULL;
	*n = 0;
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
	char acme_dir[PATH_MAX];

	/* without events to go by, or with entries of cert_dir (or of the
	 * ACME storage's) come or gone (a new subdirectory may not hold its
	 * files yet), look again */
	if (ch == NULL || ch->full || (s->cfg.cert_dir != NULL &&
	    strmap_get(&ch->dirs, s->cfg.cert_dir) != NULL) ||
	    (snapshot_acme_dir(&s->cfg, acme_dir, sizeof(acme_dir)) != NULL &&
	    strmap_get(&ch->dirs, acme_dir) != NULL))
		return 1;
	return prev == NULL || s->nadded > 0 || s->nremoved > 0 ||
	    memcmp(&s->cfg_stamp, &prev->cfg_stamp, sizeof(s->cfg_stamp)) != 0 ||
	    !certset_same_pairs(s->certs, prev->certs);
}

static void
snapshot_free(struct snapshot *s)
{
	for (size_t i = 0; i < s->ndomains; i++)
		domain_unref(s->domains[i]);
	free(s->domains);
	strmap_free(&s->index);
	certset_unref(s->certs);
	for (size_t i = 0; i < s->nfailed; i++)
		free(s->failed[i]);
	free(s->failed);
	for (size_t i = 0; i < s->nclashed; i++)
		free(s->clashed[i]);
	free(s->clashed);
	config_free(&s->cfg);
	free(s);
}

/* remember that the domain name failed to load; returns 0 or -1 */
static int
note_failed(struct snapshot *s, const char *name, size_t *cap)
{
	if (s->nfailed == *cap) {
		size_t c = *cap ? *cap * 2 : 8;
		char **v = realloc(s->failed, c * sizeof(*v));

		if (v == NULL)
			return -1;
		s->failed = v;
		*cap = c;
	}
	if ((s->failed[s->nfailed] = strdup(name)) == NULL)
		return -1;
	s->nfailed++;
	return 0;
}

/* the domain name failed to load: note it, and when prev had it (old),
 * say that its previous version stays. Returns 0 or -1 */
static int
domain_failed(struct snapshot *s, const char *name, const struct domain *old,
    size_t *failed_cap, struct diag *d)
{
	if (note_failed(s, name, failed_cap) == -1)
		return -1;
	if (old != NULL) {
		/* one customer's mistake never takes down what worked */
		diag_warn(d, name, 0, "keeping the previous version of this "
		    "domain until the problems above are fixed");
		s->nkept++;
	}
	return 0;
}

/*
 * Append what loading the domain name gave (dom, or NULL when it failed) to
 * s, with old its version in prev (or NULL): a failed domain keeps old.
 * Counts added/changed/kept. Returns 0, or -1 when memory runs out.
 */
static int
place_domain(struct snapshot *s, const char *name, struct domain *dom,
    struct domain *old, size_t *failed_cap, struct diag *d)
{
	if (dom == NULL) {
		if (domain_failed(s, name, old, failed_cap, d) == -1)
			return -1;
		if (old == NULL)
			return 0;
		atomic_fetch_add_explicit(&old->refs, 1, memory_order_relaxed);
		dom = old;
	} else if (old == NULL)
		s->nadded++;
	else if (dom != old)
		s->nchanged++;
	if (strmap_put(&s->index, dom->name, dom) == -1) {
		domain_unref(dom);
		return -1;
	}
	s->domains[s->ndomains++] = dom;
	return 0;
}

/* the checks every build ends with; returns 0, or -1 when nothing is served */
static int
snapshot_finish(struct snapshot *s, size_t nnames, struct diag *d)
{
	if (s->cfg.default_domain != NULL &&
	    (s->default_domain = snapshot_find(s, s->cfg.default_domain)) == NULL)
		diag_err(d, s->cfg.path, 0, "default_domain %s is not served "
		    "(it failed to load or has no section or policy file); "
		    "clients without SNI are refused", s->cfg.default_domain);
	if (s->ndomains > 0)
		return 0;
	if (nnames == 0)
		diag_err(d, s->cfg.path, 0, "no domain is configured: add a "
		    "[domain] section or put <domain>.txt files in %s",
		    s->cfg.policy_dir);
	else
		diag_err(d, s->cfg.path, 0, "none of the %zu configured domains "
		    "could be loaded (see above)", nnames);
	return -1;
}

/* a new, empty snapshot of generation, or NULL */
static struct snapshot *
snapshot_new(unsigned long generation)
{
	struct snapshot *s = calloc(1, sizeof(*s));

	if (s != NULL) {
		atomic_init(&s->refs, 1);
		s->generation = generation;
	}
	return s;
}

/* note that the domain name has two policy files differing by case;
 * returns 0 or -1 */
static int
note_clashed(struct snapshot *s, const char *name)
{
	char **v = realloc(s->clashed, (s->nclashed + 1) * sizeof(*v));

	if (v == NULL)
		return -1;
	s->clashed = v;
	if ((v[s->nclashed] = strdup(name)) == NULL)
		return -1;
	s->nclashed++;
	return 0;
}

/* one more reference to dom; returns it */
static struct domain *
domain_keep(struct domain *dom)
{
	atomic_fetch_add_explicit(&dom->refs, 1, memory_order_relaxed);
	return dom;
}

/*
 * Load the domain w for s unless its policy file is still being written
 * (*held set, nothing loaded: the caller keeps old) or two files in
 * policy_dir differ only by case (an error naming both). Returns what
 * domain_load returns.
 */
static struct domain *
domain_try(struct snapshot *s, const struct domain_conf *dc,
    const struct wanted *w, const struct certset *prev_certs,
    const struct changes *ch, struct domain *old, time_t now, int *held,
    struct diag *d)
{
	char path[4096];

	*held = 0;
	if ((dc == NULL || dc->policy == NULL) && w->clash != NULL) {
		policy_path(&s->cfg, dc, w->name, w->clash, path, sizeof(path));
		diag_err(d, path, 0, "%s/%s is the policy of %s too (domain names "
		    "ignore case): remove one of the two files", s->cfg.policy_dir,
		    w->file, w->name);
		if (note_clashed(s, w->name) == -1)
			diag_err(d, path, 0, "out of memory");
		return NULL;
	}
	policy_path(&s->cfg, dc, w->name, w->file, path, sizeof(path));
	if (changes_held(ch, path)) {
		*held = 1;
		return NULL;
	}
	return domain_load(&s->cfg, dc, w->name, w->file, s->certs, prev_certs,
	    ch, old, now, d);
}

/* every file looked at (start-up, SIGHUP, polling, events not trusted):
 * what snapshot_build does when snapshot_patch cannot */
static int
snapshot_build_full(const char *config_path, unsigned long generation,
    const struct snapshot *prev, const struct changes *ch,
    struct snapshot **out, struct diag *d)
{
	const struct certset *prev_certs = prev != NULL ? prev->certs : NULL;
	struct snapshot *s;
	struct wanted *names = NULL;
	size_t nnames = 0, failed_cap = 0;
	time_t now = time(NULL);
	char acme_dir[PATH_MAX];

	if ((s = snapshot_new(generation)) == NULL) {
		diag_err(d, config_path, 0, "out of memory");
		return -1;
	}
	certs_stamp(config_path, &s->cfg_stamp);
	if (config_load(config_path, &s->cfg, d) == -1) {
		free(s);
		return -1;
	}
	if ((s->certs = certset_new(prev_certs != NULL ? prev_certs->n : 0)) ==
	    NULL) {
		diag_err(d, config_path, 0, "out of memory");
		goto fail;
	}
	if (s->cfg.cert_dir != NULL)
		certset_discover(s->certs, prev_certs, ch, s->cfg.cert_dir, 0, d);
	if (snapshot_acme_dir(&s->cfg, acme_dir, sizeof(acme_dir)) != NULL &&
	    access(acme_dir, F_OK) == 0)
		certset_discover(s->certs, prev_certs, ch, acme_dir, 1, d);
	if (collect_names(&s->cfg, &names, &nnames, d) == -1)
		goto fail;
	if ((s->domains = calloc(nnames ? nnames : 1, sizeof(*s->domains))) == NULL ||
	    strmap_reserve(&s->index, nnames) == -1)
		goto fail;
	for (size_t i = 0; i < nnames; i++) {
		const char *name = names[i].name;
		struct domain *old = prev != NULL ?
		    (struct domain *)snapshot_find(prev, name) : NULL;
		struct domain *dom;
		int held;

		dom = domain_try(s, config_find_domain(&s->cfg, name), &names[i],
		    prev_certs, ch, old, now, &held, d);
		if (held)	/* still being written: as it was, if at all */
			dom = old != NULL ? domain_keep(old) : NULL;
		if ((!held || dom != NULL) &&
		    place_domain(s, name, dom, old, &failed_cap, d) == -1)
			goto fail;
	}
	if (prev != NULL)
		for (size_t i = 0; i < prev->ndomains; i++)
			if (snapshot_find(s, prev->domains[i]->name) == NULL)
				s->nremoved++;
	s->paths_changed = paths_differ(s, prev, ch);
	if (snapshot_finish(s, nnames, d) == -1)
		goto fail;
	wanted_free(names, nnames);
	*out = s;
	return 0;
fail:
	wanted_free(names, nnames);
	snapshot_free(s);
	return -1;
}

/*
 * The incremental build. With file events to go by that touch neither the
 * configuration nor the directories of cert_dir that hold pairs (an entry
 * come or gone, as certset_pair_of_path tells), only what the events name
 * can differ from prev: the policy files named, the certificate pairs whose
 * files (or the directories their symlinks lead to) saw events, pairs new
 * where files of cert_dir saw events, and the domains using or covered by
 * any of those. The new snapshot copies prev's tables (a table copy, no
 * rehashing), shares its certificate set when no certificate changed, and
 * loads just those domains again, so a change to one domain of 10,000 costs
 * about one domain's work instead of two directory walks and a rebuild of
 * every table.
 */

/* the most certificate pairs one incremental build reloads; more than this
 * and the full build is no slower */
#define PATCH_MAX_PAIRS 64

/* outcome of snapshot_patch beyond 0 and -1: use the full build */
#define PATCH_FULL 1

/* one domain to look at again: its name, and the policy file name that an
 * event named (NULL: <name>.txt) */
struct dirty {
	char *name;
	char *file;
};

struct patch {
	const struct snapshot *prev;
	const struct changes *ch;
	struct certkey *old_cks[PATCH_MAX_PAIRS];	/* prev's, changed */
	size_t nold;
	struct certkey *new_cks[PATCH_MAX_PAIRS];	/* loaded anew */
	size_t nnew;
	int pairs_changed;		/* a pair appeared or went */
	struct strmap dirty_map;	/* name -> struct dirty */
	struct dirty **dirty;		/* each allocated on its own */
	size_t ndirty, capdirty;
};

/* was this domain changed by the events? name normalised; file: the
 * policy file name an event named, or NULL. Returns 0 or -1 */
static int
patch_mark(struct patch *p, const char *name, const char *file)
{
	struct dirty *dt;

	if ((dt = strmap_get(&p->dirty_map, name)) != NULL) {
		if (file != NULL && dt->file == NULL &&
		    (dt->file = strdup(file)) == NULL)
			return -1;
		return 0;
	}
	if (p->ndirty == p->capdirty) {
		size_t cap = p->capdirty ? p->capdirty * 2 : 16;
		struct dirty **v = realloc(p->dirty, cap * sizeof(*v));

		if (v == NULL)
			return -1;
		p->dirty = v;
		p->capdirty = cap;
	}
	if ((dt = calloc(1, sizeof(*dt))) == NULL)
		return -1;
	p->dirty[p->ndirty++] = dt;	/* patch_free frees it from here on */
	if ((dt->name = strdup(name)) == NULL ||
	    (file != NULL && (dt->file = strdup(file)) == NULL))
		return -1;
	return strmap_put(&p->dirty_map, dt->name, dt);
}

/* the domains a certificate's SAN names may give a certificate to: the
 * host mta-sts.<domain> and the wildcard *.<domain> */
static int
patch_mark_names(struct patch *p, const struct certkey *ck)
{
	for (size_t i = 0; i < ck->nnames; i++) {
		const char *n = ck->names[i];

		if (strncmp(n, "mta-sts.", 8) == 0 && patch_mark(p, n + 8, NULL) == -1)
			return -1;
		if (strncmp(n, "*.", 2) == 0 && patch_mark(p, n + 2, NULL) == -1)
			return -1;
	}
	return 0;
}

static void
patch_free(struct patch *p)
{
	for (size_t i = 0; i < p->ndirty; i++) {
		free(p->dirty[i]->name);
		free(p->dirty[i]->file);
		free(p->dirty[i]);
	}
	free(p->dirty);
	strmap_free(&p->dirty_map);
}

/* may the events have touched the configuration file? (the events of a
 * file named without a directory are noted in ".") */
static int
config_touched(const char *config_path, const struct changes *ch)
{
	char path[PATH_MAX], real[PATH_MAX], dir[PATH_MAX];
	const char *slash;
	struct stat sb;

	if (strchr(config_path, '/') == NULL) {
		snprintf(path, sizeof(path), "./%s", config_path);
		config_path = path;
	}
	if (changes_file(ch, config_path, NULL, 1) ||
	    lstat(config_path, &sb) == -1)
		return 1;
	if (!S_ISLNK(sb.st_mode))
		return 0;
	/* a symlink (a Kubernetes ConfigMap): the directory it leads to */
	if (realpath(config_path, real) == NULL ||
	    (slash = strrchr(real, '/')) == NULL)
		return 1;
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - real), real);
	return changes_file(ch, real, dir, 0);
}

/* is path dir itself or below it? */
static int
path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* are all events in policy_dir or in cert_dir and below, with no
 * certificate named in the configuration? Then only the pairs the layouts
 * (certset_pair_of_path) give those files can have changed, and finding
 * them needs no walk over every certificate. */
static int
events_in_known_dirs(const struct snapshot *s, const struct changes *ch)
{
	const char *cert_dir = s->cfg.cert_dir;

	if (s->cfg.default_certs[0].cert != NULL)
		return 0;
	for (size_t i = 0; i < s->cfg.ndomains; i++)
		if (s->cfg.domains[i].certs[0].cert != NULL)
			return 0;
	for (size_t i = 0; i < ch->dirs.cap; i++) {
		const char *dir = ch->dirs.slots[i].key;

		if (dir != NULL && strcmp(dir, s->cfg.policy_dir) != 0 &&
		    (cert_dir == NULL || !path_under(dir, cert_dir)))
			return 0;
	}
	return 1;
}

/* note ck, a pair of prev's, as changed by the events (once); returns 0, or
 * PATCH_FULL when there are too many */
static int
patch_old(struct patch *p, struct certkey *ck)
{
	for (size_t k = 0; k < p->nold; k++)
		if (p->old_cks[k] == ck)
			return 0;
	if (p->nold == PATCH_MAX_PAIRS)
		return PATCH_FULL;
	p->old_cks[p->nold++] = ck;
	return 0;
}

/* is a file of ck's pair still being written? Then the pair stays whole */
static int
pair_held(const struct changes *ch, const struct certkey *ck)
{
	return changes_held(ch, ck->cert_path) || changes_held(ch, ck->key_path);
}

/*
 * The certificates: prev's pairs whose files changed (old_cks), and pairs
 * that appeared in cert_dir where files saw events. Builds s->certs: prev's
 * set shared when nothing changed, else a copy with the changes. Returns 0,
 * -1, or PATCH_FULL.
 */
static int
patch_certs(struct patch *p, struct snapshot *s, struct diag *d)
{
	const struct certset *pc = p->prev->certs;
	const char *cert_dir = s->cfg.cert_dir;
	char cert[PATH_MAX], key[PATH_MAX];
	char *added[PATCH_MAX_PAIRS][2];	/* cert, key of new pairs */
	size_t nadd = 0;
	int rc = PATCH_FULL, elsewhere = !events_in_known_dirs(s, p->ch);

	/* events elsewhere, or pairs named in the configuration: any pair's
	 * files, or where their symlinks lead, may have changed */
	for (size_t i = 0; elsewhere && i < pc->n; i++) {
		struct certkey *ck = pc->v[i];

		if ((!changes_file(p->ch, ck->cert_path, ck->cert_real_dir, 0) &&
		    !changes_file(p->ch, ck->key_path, ck->key_real_dir, 0)) ||
		    certs_unchanged(ck) || pair_held(p->ch, ck))
			continue;
		if (patch_old(p, ck) != 0)
			return PATCH_FULL;
	}
	/* in cert_dir the layouts say which pair a file is of: the one prev
	 * took from its place, and the one discovery finds there now */
	for (size_t i = 0; cert_dir != NULL && i < p->ch->files.cap; i++) {
		const char *path = p->ch->files.slots[i].key;
		struct certkey *old;
		int what, dup = 0;

		if (path == NULL || !path_under(path, cert_dir))
			continue;
		what = certset_pair_of_path(pc, cert_dir, path, &old, cert, key,
		    sizeof(cert));
		if (what == CERTSET_PATH_ENTRY)
			goto out;	/* an entry come or gone: discovery */
		if (what != CERTSET_PATH_PAIR)
			continue;
		/* a place that now gives another layout's pair: discovery */
		if (old != NULL && cert[0] != '\0' && (strcmp(old->cert_path,
		    cert) != 0 || strcmp(old->key_path, key) != 0))
			goto out;
		if (old != NULL && !certs_unchanged(old) && !pair_held(p->ch, old) &&
		    patch_old(p, old) != 0)
			goto out;
		for (size_t k = 0; k < nadd; k++)
			dup |= strcmp(added[k][0], cert) == 0;
		/* a new pair with a file still being written: its close is the
		 * change that adds it */
		if (cert[0] == '\0' || dup || certset_has(pc, cert, key) ||
		    changes_held(p->ch, cert) || changes_held(p->ch, key))
			continue;
		if (nadd == PATCH_MAX_PAIRS)
			goto out;
		added[nadd][0] = strdup(cert);
		added[nadd][1] = strdup(key);
		nadd++;		/* freed at out, NULL or not */
		if (added[nadd - 1][0] == NULL || added[nadd - 1][1] == NULL) {
			rc = -1;
			goto out;
		}
	}
	if (p->nold == 0 && nadd == 0) {
		s->certs = certset_ref((struct certset *)pc);
		return 0;
	}
	rc = -1;
	if ((s->certs = certset_copy(pc, p->old_cks, p->nold)) == NULL)
		goto out;
	for (size_t k = 0; k < p->nold; k++) {
		struct certkey *ck = p->old_cks[k], *nck;
		int indexed = 0;

		for (size_t i = 0; i < pc->n; i++)
			if (pc->v[i] == ck)
				indexed = pc->indexed[i];
		/* a pair named in the configuration is loaded again by the
		 * domains using it (all of them are looked at again), so that
		 * its errors are reported as a full build reports them; a
		 * discovered pair whose files went is no error: it is gone */
		if (!indexed)
			continue;
		if (access(ck->cert_path, F_OK) == -1 ||
		    access(ck->key_path, F_OK) == -1 ||
		    certset_load(s->certs, NULL, NULL, ck->cert_path,
		    ck->key_path, indexed, &nck, d) == -1) {
			p->pairs_changed = 1;
			continue;
		}
		p->new_cks[p->nnew++] = nck;
	}
	p->pairs_changed |= nadd > 0;
	for (size_t i = 0; i < nadd; i++) {
		struct certkey *nck;

		if (certset_load(s->certs, NULL, NULL, added[i][0], added[i][1], 1,
		    &nck, d) == 0 && p->nnew < PATCH_MAX_PAIRS)
			p->new_cks[p->nnew++] = nck;
	}
	rc = 0;
out:
	for (size_t i = 0; i < nadd; i++) {
		free(added[i][0]);
		free(added[i][1]);
	}
	return rc;
}

/* may events have touched the certificate or key file of cp? */
static int
cert_paths_touched(const struct cert_paths *cp, const struct changes *ch)
{
	return cp->cert != NULL && (changes_file(ch, cp->cert, NULL, 0) ||
	    changes_file(ch, cp->key, NULL, 0));
}

/*
 * Is the policy file at path (of the domain name) named otherwise than
 * name.txt, or did prev serve name from another file? Then
 * another file of policy_dir may differ from it only by case, and only the
 * full build, which reads the whole directory, can tell.
 */
static int
patch_case_differs(const struct snapshot *prev, const char *path,
    const char *name)
{
	const struct domain *old = snapshot_find(prev, name);
	const char *file = strrchr(path, '/') + 1;
	size_t n = strlen(name);

	return strncmp(file, name, n) != 0 || strcmp(file + n, ".txt") != 0 ||
	    (old != NULL && strcmp(old->policy_path, path) != 0);
}

/* the domains the events may have changed: policy files named, sections'
 * own policy and certificate files, users of changed pairs, names new
 * pairs cover. Returns 0, -1, or PATCH_FULL */
static int
patch_domains_dirty(struct patch *p, const struct snapshot *s)
{
	const struct snapshot *prev = p->prev;
	const char *pdir = s->cfg.policy_dir;
	size_t plen = strlen(pdir);

	for (size_t i = 0; i < p->ch->files.cap; i++) {
		const char *path = p->ch->files.slots[i].key;
		char name[NAME_MAX_LEN + 1];

		if (path == NULL || strncmp(path, pdir, plen) != 0 ||
		    path[plen] != '/' || strchr(path + plen + 1, '/') != NULL)
			continue;
		if (path[plen + 1] == '.' ||
		    !discovered_name(path + plen + 1, name, sizeof(name)))
			continue;
		if (patch_case_differs(prev, path, name))
			return PATCH_FULL;
		if (patch_mark(p, name, path + plen + 1) == -1)
			return -1;
	}
	/* certificates named in the configuration, also those prev could
	 * not load (they are in no set): [defaults]' serve most domains, so
	 * a change there is a full build */
	for (int k = 0; k < 2; k++)
		if (cert_paths_touched(&s->cfg.default_certs[k], p->ch))
			return PATCH_FULL;
	for (size_t i = 0; i < s->cfg.ndomains; i++) {
		const struct domain_conf *dc = &s->cfg.domains[i];

		if (((dc->policy != NULL && changes_file(p->ch, dc->policy, NULL, 1)) ||
		    cert_paths_touched(&dc->certs[0], p->ch) ||
		    cert_paths_touched(&dc->certs[1], p->ch)) &&
		    patch_mark(p, dc->name, NULL) == -1)
			return -1;
	}
	for (size_t i = 0; p->nold > 0 && i < prev->ndomains; i++) {
		const struct domain *dom = prev->domains[i];

		for (size_t k = 0; k < p->nold; k++)
			if ((dom->ck[0] == p->old_cks[k] ||
			    dom->ck[1] == p->old_cks[k]) &&
			    patch_mark(p, dom->name, NULL) == -1)
				return -1;
	}
	for (size_t k = 0; k < p->nnew; k++)
		if (patch_mark_names(p, p->new_cks[k]) == -1)
			return -1;
	/* a domain with two files differing by case: only the full build
	 * looks at every file (the others' clashes are copied) */
	for (size_t i = 0; i < prev->nclashed; i++)
		if (strmap_get(&p->dirty_map, prev->clashed[i]) != NULL)
			return PATCH_FULL;
	return 0;
}

/* is the domain dt to be served? (a section, or a policy file in policy_dir) */
static int
patch_served(const struct snapshot *s, const struct dirty *dt,
    const char *file)
{
	char path[4096];
	struct stat sb;

	if (config_find_domain(&s->cfg, dt->name) != NULL)
		return 1;
	policy_path(&s->cfg, NULL, dt->name, file, path, sizeof(path));
	return stat(path, &sb) == 0;
}

/* the file of policy_dir dt is loaded from: the one an event named, else
 * the one old (prev's version, or NULL) was loaded from there, else NULL */
static const char *
patch_file(const struct snapshot *s, const struct dirty *dt,
    const struct domain *old)
{
	size_t n = strlen(s->cfg.policy_dir);

	if (dt->file != NULL || old == NULL)
		return dt->file;
	if (strncmp(old->policy_path, s->cfg.policy_dir, n) == 0 &&
	    old->policy_path[n] == '/' && strchr(old->policy_path + n + 1,
	    '/') == NULL)
		return old->policy_path + n + 1;
	return NULL;
}

/* where dom is in s->domains; s holds it */
static size_t
domain_pos(const struct snapshot *s, const struct domain *dom)
{
	size_t i = 0;

	while (s->domains[i] != dom)
		i++;
	return i;
}

/*
 * Look at the domain dt again in s, a copy of prev's domains and index:
 * replace, add or remove it (a removed one leaves NULL in s->domains), or
 * keep prev's version when it fails now. Returns 0, or -1 when memory runs
 * out.
 */
static int
patch_domain(struct patch *p, struct snapshot *s, const struct dirty *dt,
    time_t now, size_t *failed_cap, struct diag *d)
{
	struct domain *old = (struct domain *)snapshot_find(p->prev, dt->name);
	struct domain *dom;
	size_t pos = old != NULL ? domain_pos(s, old) : 0;
	const char *file = patch_file(s, dt, old);

	if (!patch_served(s, dt, file)) {
		if (old != NULL) {
			strmap_del(&s->index, dt->name);
			s->domains[pos] = NULL;
			domain_unref(old);
			s->nremoved++;
		}
		return 0;
	}
	{
		struct wanted w = { .name = dt->name, .file = (char *)file };
		int held;

		dom = domain_try(s, config_find_domain(&s->cfg, dt->name), &w,
		    p->prev->certs, p->ch, old, now, &held, d);
		if (held)	/* still being written: s holds old, if any */
			return 0;
	}
	if (dom == NULL)	/* s holds old already, if any */
		return domain_failed(s, dt->name, old, failed_cap, d);
	if (dom == old) {
		domain_unref(dom);	/* s holds it already */
		return 0;
	}
	if (strmap_put(&s->index, dom->name, dom) == -1) {
		domain_unref(dom);
		return -1;
	}
	if (old != NULL) {
		s->domains[pos] = dom;
		domain_unref(old);
		s->nchanged++;
	} else {
		s->domains[s->ndomains++] = dom;
		s->nadded++;
	}
	return 0;
}

/* will loading the dirty domains add pairs to s->certs? (a pair named in
 * the configuration that is not in the set: prev could not load it) */
static int
patch_loads_pairs(const struct patch *p, const struct snapshot *s)
{
	for (size_t i = 0; i < p->ndirty; i++) {
		const struct domain_conf *dc =
		    config_find_domain(&s->cfg, p->dirty[i]->name);
		const struct cert_paths *cp = dc != NULL &&
		    dc->certs[0].cert != NULL ? dc->certs : s->cfg.default_certs;

		for (int k = 0; k < 2 && cp[k].cert != NULL; k++)
			if (!certset_has(s->certs, cp[k].cert, cp[k].key))
				return 1;
	}
	return 0;
}

/* did events touch the ACME storage's certificates? Those (a certificate
 * the manager stored, a few an hour) take the full build */
static int
acme_touched(const struct snapshot *prev, const struct changes *ch)
{
	char dir[PATH_MAX];

	if (snapshot_acme_dir(&prev->cfg, dir, sizeof(dir)) == NULL)
		return 0;
	for (size_t i = 0; i < ch->dirs.cap; i++)
		if (ch->dirs.slots[i].key != NULL &&
		    path_under(ch->dirs.slots[i].key, dir))
			return 1;
	return 0;
}

static int
snapshot_patch(const char *config_path, unsigned long generation,
    const struct snapshot *prev, const struct changes *ch,
    struct snapshot **out, struct diag *d)
{
	struct patch p = { .prev = prev, .ch = ch };
	struct snapshot *s;
	struct diag cd = { 0 };
	size_t failed_cap = 0, cap;
	time_t now = time(NULL);
	int rc = PATCH_FULL;

	if (ch->dirs_all.n > 0 || config_touched(config_path, ch) ||
	    acme_touched(prev, ch))
		return PATCH_FULL;
	if ((s = snapshot_new(generation)) == NULL)
		return PATCH_FULL;
	/* the file has not changed; anything unexpected: the full build,
	 * which reports it */
	if (config_load(config_path, &s->cfg, &cd) == -1 ||
	    config_str_differs(s->cfg.policy_dir, prev->cfg.policy_dir) ||
	    config_str_differs(s->cfg.cert_dir, prev->cfg.cert_dir)) {
		diag_clear(&cd);
		config_free(&s->cfg);
		free(s);
		return PATCH_FULL;
	}
	diag_clear(&cd);
	s->cfg_stamp = prev->cfg_stamp;
	s->patched = 1;
	if ((rc = patch_certs(&p, s, d)) != 0 ||
	    (rc = patch_domains_dirty(&p, s)) != 0)
		goto oom;
	rc = -1;
	/* a section's pair that prev could not load is loaded now: never into
	 * a set prev still uses */
	if (s->certs == prev->certs && patch_loads_pairs(&p, s)) {
		certset_unref(s->certs);
		if ((s->certs = certset_copy(prev->certs, NULL, 0)) == NULL)
			goto oom;
	}
	cap = prev->ndomains + p.ndirty;
	if ((s->domains = calloc(cap ? cap : 1, sizeof(*s->domains))) == NULL ||
	    strmap_copy(&s->index, &prev->index) == -1)
		goto oom;
	/* prev's domains, each with one more reference */
	memcpy(s->domains, prev->domains, prev->ndomains * sizeof(*s->domains));
	s->ndomains = prev->ndomains;
	for (size_t i = 0; i < s->ndomains; i++)
		atomic_fetch_add_explicit(&s->domains[i]->refs, 1,
		    memory_order_relaxed);
	for (size_t i = 0; i < prev->nfailed; i++)
		if (strmap_get(&p.dirty_map, prev->failed[i]) == NULL &&
		    note_failed(s, prev->failed[i], &failed_cap) == -1)
			goto oom;
	for (size_t i = 0; i < prev->nclashed; i++)
		if (note_clashed(s, prev->clashed[i]) == -1)
			goto oom;
	for (size_t i = 0; i < p.ndirty; i++)
		if (patch_domain(&p, s, p.dirty[i], now, &failed_cap, d) == -1)
			goto oom;
	if (s->nremoved > 0) {	/* close the gaps the removed domains left */
		size_t k = 0;

		for (size_t i = 0; i < s->ndomains; i++)
			if (s->domains[i] != NULL)
				s->domains[k++] = s->domains[i];
		s->ndomains = k;
	}
	s->paths_changed = s->nadded > 0 || s->nremoved > 0 || p.pairs_changed;
	if (snapshot_finish(s, s->ndomains + s->nfailed, d) == -1)
		goto fail;
	patch_free(&p);
	*out = s;
	return 0;
oom:
	if (rc == -1)
		diag_err(d, config_path, 0, "out of memory");
fail:
	patch_free(&p);
	snapshot_free(s);
	return rc;
}

int
snapshot_build(const char *config_path, unsigned long generation,
    const struct snapshot *prev, const struct changes *ch,
    struct snapshot **out, struct diag *d)
{
	*out = NULL;
	/* the configuration still being written: everything stays as it is
	 * (at start-up there is nothing else; its stamp is noted) */
	if (changes_held(ch, config_path) && prev != NULL) {
		*out = snapshot_ref((struct snapshot *)prev);
		return 0;
	}
	if (prev != NULL && ch != NULL && !ch->full) {
		int rc = snapshot_patch(config_path, generation, prev, ch, out, d);

		if (rc != PATCH_FULL)
			return rc;
	}
	return snapshot_build_full(config_path, generation, prev, ch, out, d);
}

int
snapshot_same(const struct snapshot *s, const struct snapshot *prev)
{
	/* built from prev: what it counted is what differs */
	if (s->patched && prev != NULL)
		return s->nadded == 0 && s->nchanged == 0 && s->nremoved == 0 &&
		    s->certs == prev->certs;
	if (prev == NULL || s->ndomains != prev->ndomains ||
	    memcmp(&s->cfg_stamp, &prev->cfg_stamp, sizeof(s->cfg_stamp)) != 0)
		return 0;
	for (size_t i = 0; i < s->ndomains; i++)
		if (snapshot_find(prev, s->domains[i]->name) != s->domains[i])
			return 0;
	return 1;
}

char *
snapshot_acme_dir(const struct config *cfg, char *out, size_t len)
{
	int n;

	if (cfg->acme.directory == NULL || cfg->acme.storage == NULL)
		return NULL;
	n = snprintf(out, len, "%s/certificates", cfg->acme.storage);
	return n < 0 || (size_t)n >= len ? NULL : out;
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
