/* acmed.c - the certificate manager: which domains need a certificate, when,
 * in what order, and storing what the CA issued (the ACME thread) */
#include "acmed.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <resolv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <mbedtls/x509_crt.h>

#include "acme.h"
#include "certs.h"
#include "files.h"
#include "log.h"
#include "metrics.h"
#include "snapshot.h"
#include "x509gen.h"


/* ------------------------------------------------------------------ */
/* timing (pure)                                                       */

unsigned long
acmed_spread(const char *name, unsigned long span)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a, then a final mix */

	if (span == 0)
		return 0;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 1099511628211ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (unsigned long)(h % span);
}

time_t
acmed_renewal_time(const char *name, time_t not_before, time_t not_after,
    time_t ari_start, time_t ari_end, unsigned long rnd)
{
	time_t life = not_after > not_before ? not_after - not_before : 0;

	/* the CA's window is its own spread: a point in it, as RFC 9773
	 * section 4.2 asks, never moved out of it */
	if (ari_start > 0 && ari_end > ari_start)
		return ari_start + (time_t)(rnd % (unsigned long)(ari_end -
		    ari_start));
	return not_after - life / 3 -
	    (time_t)acmed_spread(name, (unsigned long)(life / 10));
}

long
acmed_backoff(unsigned failures, long base, long retry_after,
    unsigned long rnd)
{
	double wait = (double)base;
	long w;

	for (unsigned i = 1; i < failures && wait < 86400; i++)
		wait *= 2;
	if (wait > 86400)
		wait = 86400;
	/* +-20%: instances and domains that failed together spread apart */
	wait *= 0.8 + 0.4 * (double)(rnd % 10001) / 10000.0;
	w = (long)wait;
	return retry_after > w ? retry_after : w;
}

long
acmed_dns_recheck(unsigned checks)
{
	long wait = 600;

	for (unsigned i = 1; i < checks && wait < 21600; i++)
		wait *= 2;
	return wait > 21600 ? 21600 : wait;
}

/* the most the bucket holds: about ten minutes' orders (a few new
 * domains are ordered at once; thousands at the hourly rate) */
static double
bucket_cap(const struct acmed_bucket *b)
{
	return 1.0 + (double)(b->per_hour / 6);
}

void
acmed_bucket_init(struct acmed_bucket *b, unsigned per_hour, time_t now)
{
	b->per_hour = per_hour ? per_hour : 1;
	b->tokens = bucket_cap(b);
	b->last = now;
}

int
acmed_bucket_take(struct acmed_bucket *b, time_t now, long *wait)
{
	double rate = (double)b->per_hour / 3600.0;	/* tokens a second */

	if (now > b->last) {
		b->tokens += rate * (double)(now - b->last);
		if (b->tokens > bucket_cap(b))
			b->tokens = bucket_cap(b);
		b->last = now;
	}
	if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
		return 1;
	}
	if (wait != NULL)
		*wait = (long)((1.0 - b->tokens) / rate) + 1;
	return 0;
}

/* a and b the same host name, case and a final dot aside? */
static int
same_host(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);

	if (alen > 0 && a[alen - 1] == '.')
		alen--;
	if (blen > 0 && b[blen - 1] == '.')
		blen--;
	return alen == blen && strncasecmp(a, b, alen) == 0;
}

int
acmed_points_here(const char *addresses, const char *const *found, size_t n,
    const char *cname)
{
	const char *p = addresses;

	while (p != NULL && *p != '\0') {
		size_t len = strcspn(p, ", \t");
		unsigned char bin[16], fbin[16];
		char word[256];

		if (len > 0 && len < sizeof(word)) {
			int fam;

			memcpy(word, p, len);
			word[len] = '\0';
			fam = strchr(word, ':') != NULL ? AF_INET6 : AF_INET;
			if (inet_pton(fam, word, bin) == 1) {
				for (size_t i = 0; i < n; i++)
					if (inet_pton(fam, found[i], fbin) == 1 &&
					    memcmp(bin, fbin, fam == AF_INET ? 4 :
					    16) == 0)
						return 1;
			} else if (cname != NULL &&
			    same_host(cname, strlen(cname), word))
				return 1;
		}
		p += len;
		p += strspn(p, ", \t");
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* files: paths, atomic writes, the state file, the lock               */

char *
acmed_path(const struct config *cfg, const char *sub, const char *file,
    char *out, size_t len)
{
	int n = file != NULL ? snprintf(out, len, "%s/%s/%s", cfg->acme.storage,
	    sub, file) : snprintf(out, len, "%s/%s", cfg->acme.storage, sub);

	return n < 0 || (size_t)n >= len ? NULL : out;
}

int
acmed_state_read(const char *path, struct acmed_state *st, char *err,
    size_t errlen)
{
	json_error_t je;
	json_t *root, *v;

	memset(st, 0, sizeof(*st));
	if (access(path, F_OK) == -1 && errno == ENOENT)
		return 1;
	if ((root = json_load_file(path, 0, &je)) == NULL ||
	    !json_is_object(root)) {
		snprintf(err, errlen, "%s:%d: not a state file: %s", path,
		    je.line, root == NULL ? je.text : "not a JSON object");
		json_decref(root);
		return -1;
	}
	st->not_after = (time_t)json_integer_value(json_object_get(root,
	    "not_after"));
	st->next_renewal = (time_t)json_integer_value(json_object_get(root,
	    "next_renewal"));
	st->last_attempt = (time_t)json_integer_value(json_object_get(root,
	    "last_attempt"));
	st->retry_at = (time_t)json_integer_value(json_object_get(root,
	    "retry_at"));
	st->failures = (unsigned)json_integer_value(json_object_get(root,
	    "failures"));
	if ((v = json_object_get(root, "last_error")) != NULL && json_is_string(v))
		snprintf(st->last_error, sizeof(st->last_error), "%s",
		    json_string_value(v));
	if ((v = json_object_get(root, "ari_id")) != NULL && json_is_string(v))
		snprintf(st->ari_id, sizeof(st->ari_id), "%s",
		    json_string_value(v));
	json_decref(root);
	return 0;
}

int
acmed_state_write(const char *path, const struct acmed_state *st)
{
	json_t *root = json_pack("{s:I, s:I, s:I, s:I, s:i, s:s, s:s}",
	    "not_after", (json_int_t)st->not_after,
	    "next_renewal", (json_int_t)st->next_renewal,
	    "last_attempt", (json_int_t)st->last_attempt,
	    "retry_at", (json_int_t)st->retry_at,
	    "failures", (int)st->failures,
	    "last_error", st->last_error,
	    "ari_id", st->ari_id);
	char *text;
	int rc;

	if (root == NULL) {
		errno = ENOMEM;
		return -1;
	}
	text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
	json_decref(root);
	if (text == NULL) {
		errno = ENOMEM;
		return -1;
	}
	rc = files_write_atomic(path, text, strlen(text));
	free(text);
	return rc;
}

/*
 * The lock between instances sharing the storage (possibly on several
 * hosts, over NFS): no fcntl lock, only what link() and rename() promise.
 * A lock file is born whole (files_create_exclusive: written aside, then
 * linked to its name), so a reader never sees a half-written one; one that
 * does not say until when (empty, garbage: made by hand, or by an older
 * version) is held until its mtime + the timeout. An expired lock is moved
 * aside by rename() - of all the instances that saw it expired, exactly one
 * moves that very file - and whoever moved something else (a fresh lock
 * made meanwhile) puts it back. Before ordering, the manager waits a moment
 * and confirms the lock still holds its owner (acmed_lock_confirm): that
 * settles the rare interleaving where a put-back found its place taken.
 */
struct lock_seen {
	char text[320];			/* the content, NUL-terminated */
	dev_t dev;			/* the file that held it */
	ino_t ino;
	long long until;		/* held until then */
};

/* read the lock at path into *s (until: its expiry, or mtime + timeout when
 * it says none); 0, or -1 with errno (ENOENT: no lock there) */
static int
lock_read(const char *path, unsigned timeout, struct lock_seen *s)
{
	struct stat sb;
	const char *sp;
	char *end;
	size_t got = 0;
	int fd, saved;

	memset(s, 0, sizeof(*s));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) == -1)
		return -1;
	if (fstat(fd, &sb) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	while (got < sizeof(s->text) - 1) {
		ssize_t n = read(fd, s->text + got, sizeof(s->text) - 1 - got);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	s->text[got] = '\0';
	s->dev = sb.st_dev;
	s->ino = sb.st_ino;
	s->until = (long long)sb.st_mtime + timeout;
	/* "<owner> <expiry>\n", all of it */
	if ((sp = strrchr(s->text, ' ')) != NULL && sp > s->text &&
	    sp[1] >= '0' && sp[1] <= '9') {
		long long t = strtoll(sp + 1, &end, 10);

		if (strcmp(end, "\n") == 0 || *end == '\0')
			s->until = t;
	}
	return 0;
}

/* does the lock text belong to owner ("<owner> <expiry>")? */
static int
lock_is_owner(const char *text, const char *owner)
{
	size_t n = strlen(owner);

	return strncmp(text, owner, n) == 0 && text[n] == ' ';
}

/*
 * Remove the lock at path if it is still the file *seen describes (same
 * file, same content): rename it aside, to a name of our own, and look at
 * what was moved. Returns 1 removed, 0 when something else was there (put
 * back) or nothing, -1 with errno.
 */
static int
lock_remove_seen(const char *path, unsigned timeout,
    const struct lock_seen *seen)
{
	char aside[PATH_MAX];
	struct lock_seen got;
	int same;

	if (files_write_temp(path, "", 0, aside, sizeof(aside)) == -1)
		return -1;
	if (rename(path, aside) == -1) {
		int saved = errno;

		unlink(aside);
		errno = saved;
		return saved == ENOENT ? 0 : -1;
	}
	same = lock_read(aside, timeout, &got) == 0 && got.dev == seen->dev &&
	    got.ino == seen->ino && strcmp(got.text, seen->text) == 0;
	/* not the one seen: someone's fresh lock, put it back (when yet
	 * another was made meanwhile, that one holds: the owner of this one
	 * finds out when it confirms) */
	if (!same && link(aside, path) == -1 && errno != EEXIST) {
		int saved = errno;

		unlink(aside);
		errno = saved;
		return -1;
	}
	unlink(aside);
	files_sync_dir(path);
	return same;
}

/* dir/name.lock into path; -1 (ENAMETOOLONG) when it does not fit */
static int
lock_path(const char *dir, const char *name, char *path, size_t len)
{
	int n = snprintf(path, len, "%s/%s.lock", dir, name);

	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
acmed_lock_take(const char *dir, const char *name, const char *owner,
    time_t now, unsigned timeout)
{
	char path[PATH_MAX], mine[320];
	struct lock_seen seen;

	if (lock_path(dir, name, path, sizeof(path)) == -1)
		return -1;
	snprintf(mine, sizeof(mine), "%s %lld\n", owner,
	    (long long)now + timeout);
	/* a few turns: a lock released or removed between our steps */
	for (int turn = 0; turn < 4; turn++) {
		int r = files_create_exclusive(path, mine, strlen(mine));

		if (r != 0)
			return r;
		if (lock_read(path, timeout, &seen) == -1) {
			if (errno == ENOENT)
				continue;
			return -1;
		}
		if (seen.until > (long long)now)
			return 0;	/* held (by us too: one order at a time) */
		/* expired: remove that very file, then create ours again
		 * (whoever removed it, the next create has one winner) */
		if (lock_remove_seen(path, timeout, &seen) == -1)
			return -1;
	}
	return 0;
}

int
acmed_lock_confirm(const char *dir, const char *name, const char *owner)
{
	char path[PATH_MAX];
	struct lock_seen seen;

	if (lock_path(dir, name, path, sizeof(path)) == -1)
		return 0;
	/* missing for a moment: another instance moving an expired lock
	 * aside moved ours and is putting it back */
	for (int turn = 0; turn < 5; turn++) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		if (lock_read(path, 0, &seen) == 0)
			return lock_is_owner(seen.text, owner);
		if (errno != ENOENT)
			return 0;
		nanosleep(&ts, NULL);
	}
	return 0;
}

int
acmed_lock_release(const char *dir, const char *name, const char *owner)
{
	char path[PATH_MAX];
	struct lock_seen seen;

	if (lock_path(dir, name, path, sizeof(path)) == -1 ||
	    lock_read(path, 0, &seen) == -1 || !lock_is_owner(seen.text, owner))
		return 0;
	/* moved aside and checked, not unlinked by name: had it expired and
	 * been taken over meanwhile, the new owner's lock stays */
	return lock_remove_seen(path, 0, &seen) == 1;
}

/* ------------------------------------------------------------------ */
/* -t and the storage                                                  */

static const char *const storage_subdirs[] = {
	"accounts", "certificates", "state", "locks", "challenges",
	"challenges/tls-alpn-01", "challenges/http-01"
};
#define NSUBDIRS (sizeof(storage_subdirs) / sizeof(storage_subdirs[0]))

/* mkdir -p path with mode 0700 for what it makes; 0 or -1 (errno) */
static int
mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdir(buf, 0700) == -1 && errno != EEXIST)
				return -1;
			*p = c;
			if (c == '\0')
				break;
		}
	}
	return 0;
}

int
acmed_prepare(const struct config *cfg, long uid, long gid)
{
	char path[PATH_MAX];

	if (cfg->acme.directory == NULL)
		return 0;
	for (size_t i = 0; i <= NSUBDIRS; i++) {
		const char *p = i == 0 ? cfg->acme.storage :
		    acmed_path(cfg, storage_subdirs[i - 1], NULL, path,
		    sizeof(path));

		if (p == NULL || mkdir_p(p) == -1) {
			log_err("[acme] storage %s: cannot make it: %s; make it "
			    "(mode 0700) writable by the server's user, or set "
			    "storage = to such a directory", cfg->acme.storage,
			    strerror(p == NULL ? ENAMETOOLONG : errno));
			return -1;
		}
		if (uid != -1 && chown(p, (uid_t)uid, (gid_t)gid) == -1)
			log_warn("[acme] storage %s: cannot give it to the "
			    "server's user: %s", p, strerror(errno));
	}
	return 0;
}

int
acmed_check(const struct config *cfg, struct diag *d)
{
	const char *f = cfg->path;
	size_t nerr = d->nerrors;

	if (cfg->acme.directory == NULL)
		return 0;
	/* the storage: there and writable, or makeable (-t makes nothing) */
	{
		char dir[PATH_MAX];
		char *slash;

		snprintf(dir, sizeof(dir), "%s", cfg->acme.storage);
		while (access(dir, F_OK) == -1 && (slash = strrchr(dir, '/')) !=
		    NULL && slash != dir)
			*slash = '\0';
		if (access(dir, W_OK | X_OK) == -1)
			diag_err(d, f, 0, "[acme] storage %s: %s %s is not "
			    "writable by this user (%s); make the storage (mode "
			    "0700) and give it to the server's user",
			    cfg->acme.storage, strcmp(dir, cfg->acme.storage) == 0 ?
			    "it" : "its parent", dir, strerror(errno));
	}
	if (cfg->acme.ca_file != NULL) {
		mbedtls_x509_crt ca;
		int r;

		mbedtls_x509_crt_init(&ca);
		if (access(cfg->acme.ca_file, R_OK) == -1)
			diag_err(d, f, 0, "[acme] ca_file %s cannot be read: %s",
			    cfg->acme.ca_file, strerror(errno));
		else if ((r = mbedtls_x509_crt_parse_file(&ca,
		    cfg->acme.ca_file)) < 0 || ca.raw.len == 0)
			diag_err(d, f, 0, "[acme] ca_file %s holds no PEM "
			    "certificate mbedTLS can parse (-0x%04x); it must "
			    "hold the CA certificate(s) that sign the ACME "
			    "server's HTTPS certificate", cfg->acme.ca_file,
			    (unsigned)-r);
		else if (r > 0)
			diag_warn(d, f, 0, "[acme] ca_file %s: %d certificate(s) "
			    "in it could not be parsed and are ignored",
			    cfg->acme.ca_file, r);
		mbedtls_x509_crt_free(&ca);
	}
	if (strncmp(cfg->acme.directory, "https://", 8) != 0 ||
	    cfg->acme.directory[8] == '\0' || cfg->acme.directory[8] == '/')
		diag_err(d, f, 0, "[acme] directory %s is not an https:// URL "
		    "with a host (e.g. https://acme-v02.api.letsencrypt.org/"
		    "directory)", cfg->acme.directory);
	if ((cfg->acme.eab_kid == NULL) != (cfg->acme.eab_hmac_key == NULL))
		diag_err(d, f, 0, "[acme] eab_kid and eab_hmac_key go together: "
		    "set both (the CA gives them as a pair) or neither");
	if (config_number(cfg, "challenge") == 1 && cfg->acme.http_listen.len == 0)
		diag_err(d, f, 0, "[acme] challenge = http-01 needs http_listen "
		    "(the plain-HTTP listener the CA's validation reaches, e.g. "
		    "http_listen = [::]:80)");
	if (!config_number(cfg, "agree_terms"))
		diag_warn(d, f, 0, "[acme] agree_terms = no: a CA that publishes "
		    "terms of service (Let's Encrypt does) refuses the account "
		    "until you read them and set agree_terms = yes");
	return d->nerrors > nerr ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* the manager thread                                                  */

enum dstate { D_VALID, D_PENDING, D_WAITING_DNS, D_FAILING, D_HAND, D_NSTATES };

/* one managed domain, as the thread sees it */
struct mdom {
	char *name;			/* "example.com" */
	int seen;			/* in the latest update */
	time_t served_nb, served_na;	/* the served certificate; 0: none */
	int served_acme;		/* from the storage */
	struct acmed_state st;
	int loaded;			/* st and the stored dates read */
	time_t stored_nb, stored_na;	/* the stored certificate; 0: none */
	enum dstate state;
	unsigned dns_checks;
	time_t dns_at;			/* next DNS check */
};

/* what acmed_update hands over */
struct input {
	char **names;
	time_t (*served)[2];		/* not_before, not_after */
	unsigned char *served_acme;
	size_t n;
};

static struct acmed {
	pthread_t thread;
	int running, stop;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct input *pending;		/* the latest update, or NULL */
	struct config *pending_cfg;
	void (*reload)(const char *why);
	unsigned stop_wait;		/* shutdown_timeout, seconds */
	/* the thread's own */
	struct config *cfg;
	struct mdom *v;
	size_t n;
	struct acmed_bucket bucket;
	time_t last_progress;
	char owner[300];
	struct acme_client *client;
} am = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* *dst = a copy of src (NULL stays NULL); 0, or -1 when memory runs out */
static int
dup_opt(char **dst, const char *src)
{
	*dst = src != NULL ? strdup(src) : NULL;
	return src != NULL && *dst == NULL ? -1 : 0;
}

/* a copy of what the manager reads of cfg (the [acme] strings and the
 * numbers), or NULL */
static struct config *
settings_copy(const struct config *cfg)
{
	struct config *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	if (dup_opt(&c->path, cfg->path) == -1 ||
	    dup_opt(&c->acme.directory, cfg->acme.directory) == -1 ||
	    dup_opt(&c->acme.email, cfg->acme.email) == -1 ||
	    dup_opt(&c->acme.storage, cfg->acme.storage) == -1 ||
	    dup_opt(&c->acme.ca_file, cfg->acme.ca_file) == -1 ||
	    dup_opt(&c->acme.eab_kid, cfg->acme.eab_kid) == -1 ||
	    dup_opt(&c->acme.eab_hmac_key, cfg->acme.eab_hmac_key) == -1 ||
	    dup_opt(&c->acme.preferred_issuer, cfg->acme.preferred_issuer) == -1 ||
	    dup_opt(&c->acme.addresses, cfg->acme.addresses) == -1) {
		config_free(c);
		free(c);
		return NULL;
	}
	c->acme.http_listen = cfg->acme.http_listen;
	memcpy(c->values, cfg->values, sizeof(c->values));
	return c;
}

static void
settings_free(struct config *c)
{
	if (c == NULL)
		return;
	if (c->acme.eab_hmac_key != NULL)
		explicit_bzero(c->acme.eab_hmac_key, strlen(c->acme.eab_hmac_key));
	config_free(c);
	free(c);
}

static void
input_free(struct input *in)
{
	if (in == NULL)
		return;
	for (size_t i = 0; i < in->n; i++)
		free(in->names[i]);
	free(in->names);
	free(in->served);
	free(in->served_acme);
	free(in);
}

/* is path a file of <storage>/certificates? */
static int
under_storage(const struct config *cfg, const char *path)
{
	char dir[PATH_MAX];
	size_t n;

	if (acmed_path(cfg, "certificates", NULL, dir, sizeof(dir)) == NULL)
		return 0;
	n = strlen(dir);
	return strncmp(path, dir, n) == 0 && path[n] == '/';
}

void
acmed_update(const struct config *cfg, const struct snapshot *s)
{
	struct input *in;
	struct config *c;
	size_t k = 0;

	if (!am.running || s == NULL)
		return;
	if ((in = calloc(1, sizeof(*in))) == NULL ||
	    (in->names = calloc(s->ndomains + 1, sizeof(*in->names))) == NULL ||
	    (in->served = calloc(s->ndomains + 1, sizeof(*in->served))) == NULL ||
	    (in->served_acme = calloc(s->ndomains + 1, 1)) == NULL)
		goto oom;
	for (size_t i = 0; i < s->ndomains; i++) {
		const struct domain *dom = s->domains[i];
		const struct certkey *ck = dom->ck[0];

		if (!config_domain_acme(cfg, dom->name))
			continue;
		if ((in->names[k] = strdup(dom->name)) == NULL)
			goto oom;
		if (ck != NULL) {
			in->served[k][0] = ck->not_before;
			in->served[k][1] = ck->not_after;
			in->served_acme[k] = (unsigned char)under_storage(cfg,
			    ck->cert_path);
		}
		in->n = ++k;
	}
	if ((c = settings_copy(cfg)) == NULL)
		goto oom;
	pthread_mutex_lock(&am.lock);
	am.stop_wait = config_number(cfg, "shutdown_timeout");
	input_free(am.pending);
	settings_free(am.pending_cfg);
	am.pending = in;
	am.pending_cfg = c;
	pthread_cond_signal(&am.cond);
	pthread_mutex_unlock(&am.lock);
	return;
oom:
	input_free(in);
	log_err("acme: out of memory handing the domains to the manager");
}

/* "2026-11-30T14:00:00Z" */
static const char *
fmt_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static unsigned long
dice(void)
{
	unsigned long r = 0;

	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (unsigned long)rand();
	return r;
}

/* the stored certificate's directory and files of host ("mta-sts.x") */
static void
stored_paths(const struct config *cfg, const char *host, const char *suffix,
    char *dir, char *chain, char *key, size_t len)
{
	char sub[300];

	snprintf(sub, sizeof(sub), "%s%s", host, suffix);
	chain[0] = key[0] = '\0';
	if (acmed_path(cfg, "certificates", sub, dir, len) == NULL ||
	    snprintf(chain, len, "%s/fullchain.pem", dir) >= (int)len ||
	    snprintf(key, len, "%s/privkey.pem", dir) >= (int)len)
		chain[0] = key[0] = '\0';	/* too long: no such files */
}

/* the state file of host */
static void
state_path(const struct config *cfg, const char *host, char *path, size_t len)
{
	char file[320];

	snprintf(file, sizeof(file), "%s.json", host);
	acmed_path(cfg, "state", file, path, len);
}

/* read d's state file and the dates of its stored certificate */
static void
mdom_load(struct mdom *d)
{
	char host[300], dir[PATH_MAX], chain[PATH_MAX], key[PATH_MAX];
	char err[400];
	mbedtls_x509_crt crt;

	snprintf(host, sizeof(host), "mta-sts.%s", d->name);
	state_path(am.cfg, host, dir, sizeof(dir));
	if (acmed_state_read(dir, &d->st, err, sizeof(err)) == -1)
		log_warn("acme: %s (starting over for %s)", err, host);
	stored_paths(am.cfg, host, "", dir, chain, key, sizeof(dir));
	d->stored_nb = d->stored_na = 0;
	mbedtls_x509_crt_init(&crt);
	if (mbedtls_x509_crt_parse_file(&crt, chain) >= 0 && crt.raw.len > 0) {
		d->stored_nb = certs_x509_time(&crt.valid_from);
		d->stored_na = certs_x509_time(&crt.valid_to);
	}
	mbedtls_x509_crt_free(&crt);
	if (d->stored_na != 0 && (d->st.not_after != d->stored_na ||
	    d->st.next_renewal == 0)) {
		/* a certificate without its state (or stored by another
		 * instance): its renewal time from its dates */
		d->st.not_after = d->stored_na;
		d->st.next_renewal = acmed_renewal_time(host, d->stored_nb,
		    d->stored_na, 0, 0, 0);
	}
	d->loaded = 1;
}

/* merge the latest update into the thread's table */
static void
take_input(struct input *in)
{
	struct mdom *v = calloc(in->n + 1, sizeof(*v));

	if (v == NULL) {
		log_err("acme: out of memory taking the domain list");
		return;
	}
	for (size_t i = 0; i < in->n; i++) {
		struct mdom *old = NULL;

		for (size_t k = 0; k < am.n && old == NULL; k++)
			if (am.v[k].name != NULL &&
			    strcmp(am.v[k].name, in->names[i]) == 0)
				old = &am.v[k];
		if (old != NULL) {
			v[i] = *old;
			old->name = NULL;
		} else {
			v[i].name = in->names[i];
			in->names[i] = NULL;
		}
		v[i].seen = 1;
		v[i].served_nb = in->served[i][0];
		v[i].served_na = in->served[i][1];
		v[i].served_acme = in->served_acme[i];
		/* a stored certificate we did not write (another instance
		 * sharing the storage): read its dates and state again */
		if (v[i].loaded && v[i].served_acme &&
		    v[i].served_na != v[i].stored_na)
			v[i].loaded = 0;
	}
	for (size_t k = 0; k < am.n; k++)
		free(am.v[k].name);
	free(am.v);
	am.v = v;
	am.n = in->n;
}

/* when ACME takes over from a hand-managed certificate from nb to na */
static time_t
hand_due(time_t nb, time_t na)
{
	return na - (na > nb ? (na - nb) / 10 : 0);
}

/* what d needs at now; *at: when to look again (0: nothing planned) */
static enum dstate
mdom_assess(struct mdom *d, time_t now, time_t *at)
{
	char host[300];

	snprintf(host, sizeof(host), "mta-sts.%s", d->name);
	*at = 0;
	if (!d->loaded)
		mdom_load(d);
	/* a hand-managed certificate served: its own tool renews it (at a
	 * third of the lifetime, as certbot does); ACME steps in only when
	 * it is left to come within a tenth of its lifetime of expiring */
	if (d->served_na != 0 && !d->served_acme &&
	    now < hand_due(d->served_nb, d->served_na)) {
		*at = hand_due(d->served_nb, d->served_na);
		return D_HAND;
	}
	if (d->stored_na != 0 && now < d->st.next_renewal) {
		*at = d->st.next_renewal;
		return D_VALID;
	}
	if (d->st.retry_at > now) {
		*at = d->st.retry_at;
		return D_FAILING;
	}
	if (am.cfg->acme.addresses != NULL && now < d->dns_at) {
		*at = d->dns_at;
		return D_WAITING_DNS;
	}
	return D_PENDING;
}

/* resolve host: does it point here? The addresses found in what (for the
 * log). Returns 1, or 0 */
static int
dns_points_here(const char *host, char *what, size_t len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	const char *found[16];
	char addr[16][INET6_ADDRSTRLEN], cname[NS_MAXDNAME] = "";
	unsigned char ans[4096];
	struct __res_state rs;
	size_t n = 0, used = 0;
	int here, alen;

	memset(&rs, 0, sizeof(rs));
	if (res_ninit(&rs) == 0) {
		ns_msg msg;
		ns_rr rr;

		alen = res_nquery(&rs, host, ns_c_in, ns_t_cname, ans, sizeof(ans));
		if (alen > 0 && ns_initparse(ans, alen, &msg) == 0)
			for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++)
				if (ns_parserr(&msg, ns_s_an, i, &rr) == 0 &&
				    ns_rr_type(rr) == ns_t_cname &&
				    ns_name_uncompress(ns_msg_base(msg),
				    ns_msg_end(msg), ns_rr_rdata(rr), cname,
				    sizeof(cname)) >= 0)
					break;
		res_nclose(&rs);
	}
	if (getaddrinfo(host, NULL, &hints, &res) == 0)
		for (struct addrinfo *a = res; a != NULL && n < 16; a = a->ai_next) {
			const void *src = a->ai_family == AF_INET ?
			    (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr :
			    (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
			int dup = 0;

			if (inet_ntop(a->ai_family, src, addr[n], sizeof(addr[n])) == NULL)
				continue;
			for (size_t k = 0; k < n; k++)
				dup |= strcmp(addr[k], addr[n]) == 0;
			if (!dup)
				found[n] = addr[n], n++;
		}
	if (res != NULL)
		freeaddrinfo(res);
	here = acmed_points_here(am.cfg->acme.addresses, found, n,
	    cname[0] ? cname : NULL);
	what[0] = '\0';
	if (cname[0] && used < len)
		used += (size_t)snprintf(what + used, len - used, "CNAME %s%s",
		    cname, n ? ", " : "");
	for (size_t i = 0; i < n && used < len; i++)
		used += (size_t)snprintf(what + used, len - used, "%s%s",
		    i ? ", " : "", found[i]);
	if (what[0] == '\0')
		snprintf(what, len, "nothing");
	return here;
}

/* the stored pair of host changed on disk since loaded? re-read it */
static void
mdom_reload(struct mdom *d)
{
	d->loaded = 0;
	mdom_load(d);
}

/* write st of d */
static void
mdom_save(struct mdom *d)
{
	char host[300], path[PATH_MAX];

	snprintf(host, sizeof(host), "mta-sts.%s", d->name);
	state_path(am.cfg, host, path, sizeof(path));
	if (acmed_state_write(path, &d->st) == -1)
		log_err("acme: %s: cannot write %s: %s", host, path,
		    strerror(errno));
}

/*
 * Write the chain and key of host to temporary files in its directory,
 * check them as a reload will (certs_load: chain parses, key matches,
 * size; certs_check: SAN covers host, valid now), then rename them into
 * place. The served certificate is untouched until then. Returns 0, or -1
 * with why in err.
 */
static int
store_pair(const char *host, const char *suffix, const char *chain_pem,
    const char *key_pem, time_t now, time_t *nb, time_t *na, char *err,
    size_t errlen)
{
	char dir[PATH_MAX], chain[PATH_MAX], key[PATH_MAX];
	char tchain[PATH_MAX], tkey[PATH_MAX], dom[300];
	struct certkey *ck = NULL;
	struct diag d = { 0 };
	int rc = -1;

	stored_paths(am.cfg, host, suffix, dir, chain, key, sizeof(dir));
	snprintf(dom, sizeof(dom), "%s", host + 8);
	if (mkdir_p(dir) == -1) {
		snprintf(err, errlen, "cannot make %.200s: %s", dir, strerror(errno));
		return -1;
	}
	tchain[0] = tkey[0] = '\0';
	if (files_write_temp(key, key_pem, strlen(key_pem), tkey,
	    sizeof(tkey)) == -1 ||
	    files_write_temp(chain, chain_pem, strlen(chain_pem), tchain,
	    sizeof(tchain)) == -1) {
		snprintf(err, errlen, "cannot write in %.200s: %s", dir,
		    strerror(errno));
		goto out;
	}
	if (certs_load(tchain, tkey, &ck, &d) == -1 ||
	    certs_check(ck, dom, host, now, &d) == -1) {
		char msg[300];

		snprintf(err, errlen, "the CA's certificate fails the checks: %s",
		    diag_join(&d, DIAG_ERROR, msg, sizeof(msg)));
		goto out;
	}
	*nb = ck->not_before;
	*na = ck->not_after;
	if (rename(tkey, key) == -1 || rename(tchain, chain) == -1) {
		snprintf(err, errlen, "cannot rename into %.200s: %s", dir,
		    strerror(errno));
		goto out;
	}
	tchain[0] = tkey[0] = '\0';
	files_sync_dir(chain);
	rc = 0;
out:
	if (tchain[0])
		unlink(tchain);
	if (tkey[0])
		unlink(tkey);
	certs_unref(ck);
	diag_clear(&d);
	return rc;
}

static int stopping(void);

/* acme.c's cancel question: a stop ends an order between requests */
static int
client_cancelled(void *arg)
{
	(void)arg;
	return stopping();
}

/* the client, made (and its account ensured) at the first order */
static struct acme_client *
client_get(struct acme_error *e)
{
	struct acme_settings s = { 0 };
	char err[256];

	if (am.client != NULL)
		return am.client;
	s.directory = am.cfg->acme.directory;
	s.email = am.cfg->acme.email;
	s.agree_terms = (int)config_number(am.cfg, "agree_terms");
	s.eab_kid = am.cfg->acme.eab_kid;
	s.eab_hmac_key = am.cfg->acme.eab_hmac_key;
	s.ca_file = am.cfg->acme.ca_file;
	s.storage = am.cfg->acme.storage;
	s.challenge = (int)config_number(am.cfg, "challenge");
	s.preferred_issuer = am.cfg->acme.preferred_issuer;
	s.cancelled = client_cancelled;
	s.timeout_s = 15;	/* per request: a stop waits for one at most */
	if ((am.client = acme_client_new(&s, err, sizeof(err))) == NULL) {
		e->kind = ACME_LOCAL;
		snprintf(e->detail, sizeof(e->detail), "%s", err);
		return NULL;
	}
	if (acme_account(am.client, e) == -1) {
		acme_client_free(am.client);
		am.client = NULL;
		return NULL;
	}
	return am.client;
}

/* the whole file at path, NUL-terminated and malloc'd, or NULL */
static char *
read_all(const char *path)
{
	FILE *fp = fopen(path, "re");
	char *buf = NULL;
	long n;

	if (fp == NULL)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) > 0 && n < (1L << 20) &&
	    fseek(fp, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
		if (fread(buf, 1, (size_t)n, fp) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else
			buf[n] = '\0';
	}
	fclose(fp);
	return buf;
}

/* one order of host with a new key of type t; stores the pair. 0 or -1 */
static int
order_one(const char *host, enum x509gen_key t, const char *suffix,
    time_t *nb, time_t *na, char **chain_out, struct acme_error *e)
{
	const char *names[1] = { host };
	mbedtls_pk_context key;
	char *chain = NULL, *key_pem = NULL;
	int rc = -1;

	mbedtls_pk_init(&key);
	if (client_get(e) == NULL)
		goto out;
	if (x509gen_key(&key, t) != 0 || (key_pem = x509gen_key_pem(&key)) == NULL) {
		e->kind = ACME_LOCAL;
		snprintf(e->detail, sizeof(e->detail), "cannot make a key");
		goto out;
	}
	{
		char dir[PATH_MAX], cpath[PATH_MAX], kpath[PATH_MAX];
		char *old;
		int r;

		/* a renewal names the certificate it replaces (ARI) */
		stored_paths(am.cfg, host, suffix, dir, cpath, kpath, sizeof(dir));
		old = cpath[0] != '\0' ? read_all(cpath) : NULL;
		r = acme_order_replacing(am.client, names, 1, &key, old, &chain, e);
		free(old);
		if (r == -1)
			goto out;
	}
	if (store_pair(host, suffix, chain, key_pem, time(NULL), nb, na,
	    e->detail, sizeof(e->detail)) == -1) {
		e->kind = ACME_LOCAL;
		goto out;
	}
	rc = 0;
	if (chain_out != NULL) {
		*chain_out = chain;
		chain = NULL;
	}
out:
	free(chain);
	if (key_pem != NULL) {
		explicit_bzero(key_pem, strlen(key_pem));
		free(key_pem);
	}
	mbedtls_pk_free(&key);
	return rc;
}

/* the metrics result of an error kind */
static enum metrics_acme_result
result_of(int kind)
{
	switch (kind) {
	case ACME_OK: return ACME_RESULT_OK;
	case ACME_RATE_LIMITED: return ACME_RESULT_RATE_LIMITED;
	case ACME_SERVER: return ACME_RESULT_SERVER_ERROR;
	case ACME_INVALID: return ACME_RESULT_INVALID;
	default: return ACME_RESULT_FAILED;
	}
}

/*
 * Order d's certificate(s) now (the lock is held): on success store, state
 * and reload; on failure back off. The served certificate is never touched.
 */
static void
mdom_order(struct mdom *d, time_t now)
{
	char host[300], when[2][32];
	int kind = -1;
	long retry_after = -1;
	char detail[360] = "", ari_id[sizeof(d->st.ari_id)] = "";
	time_t nb = 0, na = 0, ari_s = 0, ari_e = 0;

	snprintf(host, sizeof(host), "mta-sts.%s", d->name);
	log_info("acme: %s: ordering %s", host,
	    d->stored_na != 0 || d->served_na != 0 ? "renewal" : "first issuance");
	d->st.last_attempt = now;
	{
		unsigned kt = config_number(am.cfg, "key_type");
		struct acme_error e = { 0 };
		char *chain = NULL, ae_text[128];
		int rc;

		e.retry_after = -1;
		/* the first pair in mta-sts.<domain>/, the RSA one of "both"
		 * beside it in mta-sts.<domain>-rsa/ */
		rc = order_one(host, kt == 1 ? X509GEN_RSA2048 : X509GEN_P256,
		    "", &nb, &na, &chain, &e);
		if (rc == 0 && kt == 2) {
			time_t nb2, na2;

			rc = order_one(host, X509GEN_RSA2048, "-rsa", &nb2, &na2,
			    NULL, &e);
		}
		if (rc == 0 && chain != NULL) {
			struct acme_error ae = { 0 };

			if (acme_renewal_info(am.client, chain, &ari_s, &ari_e,
			    &ae) != 0)
				ari_s = ari_e = 0;
		}
		if (rc == 0 && chain != NULL && acme_cert_id(chain, strlen(chain),
		    ari_id, sizeof(ari_id), ae_text, sizeof(ae_text)) == -1)
			ari_id[0] = '\0';
		free(chain);
		kind = rc == 0 ? ACME_OK : e.kind;
		retry_after = e.retry_after;
		snprintf(detail, sizeof(detail), "%s%s%s", e.detail,
		    e.type[0] ? " " : "", e.type);
	}
	metrics_acme_order(result_of(kind));
	if (na != 0) {
		d->st.not_after = na;
		d->st.next_renewal = acmed_renewal_time(host, nb, na, ari_s, ari_e,
		    dice());
		d->st.failures = 0;
		d->st.retry_at = 0;
		d->st.last_error[0] = '\0';
		memcpy(d->st.ari_id, ari_id, sizeof(ari_id));
		d->stored_nb = nb;
		d->stored_na = na;
		mdom_save(d);
		log_info("acme: %s: certificate obtained, valid until %s; next "
		    "renewal %s", host, fmt_time(na, when[0], sizeof(when[0])),
		    fmt_time(d->st.next_renewal, when[1], sizeof(when[1])));
		if (am.reload != NULL) {
			static char why[340];

			snprintf(why, sizeof(why), "acme: new certificate for %s",
			    host);
			am.reload(why);
		}
		return;
	}
	d->st.failures++;
	{
		/* the CA unreachable or failing: soon again; refused or a
		 * validation failed: slower, the CA counts those per name */
		long wait = acmed_backoff(d->st.failures, kind == ACME_NETWORK ||
		    kind == ACME_SERVER ? 60 : 300, retry_after, dice());
		char esc[sizeof(d->st.last_error)];

		d->st.retry_at = now + wait;
		log_escape(esc, sizeof(esc), detail, strlen(detail), "");
		memcpy(d->st.last_error, esc, sizeof(esc));
		mdom_save(d);
		log_warn("acme: %s: order failed: %s; retrying in %ld s", host,
		    esc, wait);
	}
}

/* the thread's wait until at (0: until an update), or a stop */
static void
wait_until(time_t at)
{
	struct timespec ts;

	pthread_mutex_lock(&am.lock);
	if (!am.stop && am.pending == NULL) {
		if (at == 0)
			pthread_cond_wait(&am.cond, &am.lock);
		else {
			clock_gettime(CLOCK_REALTIME, &ts);
			if (at > ts.tv_sec) {
				ts.tv_sec = at;
				ts.tv_nsec = 0;
				pthread_cond_timedwait(&am.cond, &am.lock, &ts);
			}
		}
	}
	pthread_mutex_unlock(&am.lock);
}

/* has a stop been asked for? */
static int
stopping(void)
{
	int s;

	pthread_mutex_lock(&am.lock);
	s = am.stop;
	pthread_mutex_unlock(&am.lock);
	return s;
}

/* the metrics gauges and per-domain renewal times */
static void
push_metrics(void)
{
	unsigned long counts[D_NSTATES] = { 0 };
	const char **names = calloc(am.n + 1, sizeof(*names));
	long long *times = calloc(am.n + 1, sizeof(*times));

	for (size_t i = 0; i < am.n; i++) {
		counts[am.v[i].state]++;
		if (names != NULL && times != NULL) {
			names[i] = am.v[i].name;
			times[i] = am.v[i].state == D_HAND ? 0 :
			    (long long)am.v[i].st.next_renewal;
		}
	}
	metrics_acme_domains(counts[D_VALID], counts[D_PENDING],
	    counts[D_WAITING_DNS], counts[D_FAILING], counts[D_HAND]);
	if (names != NULL && times != NULL)
		metrics_acme_renewals(names, times, am.n);
	free(names);
	free(times);
}

/*
 * Take host's lock in locks for an order and make sure it is ours: after
 * taking it, a pause, then it must still hold our name (an instance moving
 * an expired lock aside at the same moment may have replaced it). 1 ours,
 * 0 another instance's, -1 error (errno).
 */
static int
lock_hold(const char *locks, const char *host, time_t now)
{
	struct timespec pause = { 0, 250 * 1000 * 1000 };
	int r = acmed_lock_take(locks, host, am.owner, now,
	    config_number(am.cfg, "lock_timeout"));

	if (r != 1)
		return r;
	nanosleep(&pause, NULL);
	if (acmed_lock_confirm(locks, host, am.owner))
		return 1;
	log_info("acme: %s: another instance took the order lock at the same "
	    "moment; leaving the order to it", host);
	return 0;
}

/*
 * One pass over every domain: assess, DNS-check, and order the ones due,
 * renewals first, as far as the budget allows. Returns when to look again
 * (0: at the next update).
 */
static time_t
manage_pass(void)
{
	time_t now = time(NULL), next = 0;
	size_t waiting = 0, have = 0;
	char locks[PATH_MAX];

	acmed_path(am.cfg, "locks", NULL, locks, sizeof(locks));
	for (size_t i = 0; i < am.n; i++) {
		time_t at;

		am.v[i].state = mdom_assess(&am.v[i], now, &at);
		if (at != 0 && (next == 0 || at < next))
			next = at;
	}
	/* renewals (pass 0) go before first issuance (pass 1) */
	for (int pass = 0; pass < 2 && !stopping(); pass++) {
		for (size_t i = 0; i < am.n && !stopping(); i++) {
			struct mdom *d = &am.v[i];
			char host[300], what[300];
			time_t at;
			long wait;
			int r;

			if (d->state != D_PENDING && d->state != D_WAITING_DNS)
				continue;
			/* renewal: a certificate exists; pass 1: the rest */
			if ((d->stored_na != 0 || d->served_na != 0) != (pass == 0))
				continue;
			snprintf(host, sizeof(host), "mta-sts.%s", d->name);
			now = time(NULL);
			if (am.cfg->acme.addresses != NULL && now < d->dns_at) {
				if (next == 0 || d->dns_at < next)
					next = d->dns_at;
				continue;
			}
			/* the budget first: only a domain about to be ordered
			 * is looked up in DNS (not thousands waiting) */
			if (!acmed_bucket_take(&am.bucket, now, &wait)) {
				waiting++;
				if (next == 0 || now + wait < next)
					next = now + wait;
				continue;
			}
			if (am.cfg->acme.addresses != NULL) {
				if (!dns_points_here(host, what, sizeof(what))) {
					long again = acmed_dns_recheck(++d->dns_checks);

					d->state = D_WAITING_DNS;
					d->dns_at = now + again;
					am.bucket.tokens += 1.0;	/* unused */
					metrics_acme_skipped_dns();
					log_info("acme: %s: not ordered: the name "
					    "resolves to %s, not to this server "
					    "(addresses = %s); will check again in "
					    "%ld s", host, what,
					    am.cfg->acme.addresses, again);
					if (next == 0 || d->dns_at < next)
						next = d->dns_at;
					continue;
				}
				d->state = D_PENDING;
				d->dns_checks = 0;
				d->dns_at = 0;
			}
			r = lock_hold(locks, host, now);
			if (r != 1) {
				if (r == -1)
					log_err("acme: %s: cannot take the lock "
					    "in %s: %s", host, locks,
					    strerror(errno));
				/* another instance orders it: look again soon */
				am.bucket.tokens += 1.0;
				if (next == 0 || now + 60 < next)
					next = now + 60;
				continue;
			}
			/* another instance may have stored it meanwhile */
			mdom_reload(d);
			if (d->stored_na != 0 && now < d->st.next_renewal) {
				d->state = D_VALID;
				am.bucket.tokens += 1.0;
				if (am.reload != NULL)
					am.reload("acme: certificate stored by "
					    "another instance");
			} else {
				mdom_order(d, now);
				d->state = d->stored_na != 0 &&
				    time(NULL) < d->st.next_renewal ? D_VALID :
				    D_FAILING;
			}
			acmed_lock_release(locks, host, am.owner);
			at = d->state == D_VALID ? d->st.next_renewal :
			    d->st.retry_at;
			if (at != 0 && (next == 0 || at < next))
				next = at;
		}
	}
	for (size_t i = 0; i < am.n; i++)
		have += am.v[i].stored_na > time(NULL) ||
		    am.v[i].served_na > time(NULL);
	if (waiting > 0 && time(NULL) - am.last_progress >= 60) {
		am.last_progress = time(NULL);
		log_info("acme: %zu of %zu domains have certificates; %zu waiting "
		    "for the order budget", have, am.n, waiting);
	}
	push_metrics();
	return next;
}

static void *
acmed_main(void *arg)
{
	time_t next = 0;

	(void)arg;
	for (;;) {
		struct input *in;
		struct config *c;

		wait_until(next);
		pthread_mutex_lock(&am.lock);
		in = am.pending;
		c = am.pending_cfg;
		am.pending = NULL;
		am.pending_cfg = NULL;
		if (am.stop) {
			pthread_mutex_unlock(&am.lock);
			input_free(in);
			settings_free(c);
			break;
		}
		pthread_mutex_unlock(&am.lock);
		if (c != NULL) {
			int same = am.cfg != NULL &&
			    !config_str_differs(c->acme.directory,
			    am.cfg->acme.directory) &&
			    !config_str_differs(c->acme.email, am.cfg->acme.email) &&
			    !config_str_differs(c->acme.ca_file, am.cfg->acme.ca_file) &&
			    !config_str_differs(c->acme.eab_kid, am.cfg->acme.eab_kid);
			if (!same && am.client != NULL) {
				acme_client_free(am.client);
				am.client = NULL;
			}
			(void)same;
			if (am.cfg == NULL || config_number(c, "orders_per_hour") !=
			    am.bucket.per_hour)
				acmed_bucket_init(&am.bucket,
				    config_number(c, "orders_per_hour"), time(NULL));
			settings_free(am.cfg);
			am.cfg = c;
		}
		if (in != NULL) {
			take_input(in);
			input_free(in);
		}
		if (am.cfg == NULL)
			continue;
		next = manage_pass();
	}
	return NULL;
}

int
acmed_start(const struct config *cfg, void (*reload)(const char *why))
{
	pthread_condattr_t ca;
	char hostname[256] = "localhost";

	if (cfg->acme.directory == NULL || am.running)
		return 0;
	gethostname(hostname, sizeof(hostname) - 1);
	snprintf(am.owner, sizeof(am.owner), "%s:%ld", hostname, (long)getpid());
	am.reload = reload;
	am.stop = 0;
	pthread_condattr_init(&ca);
	pthread_cond_init(&am.cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&am.thread, NULL, acmed_main, NULL) != 0) {
		log_err("acme: cannot start the certificate manager: %s",
		    strerror(errno));
		return -1;
	}
	am.running = 1;
	log_info("acme: certificate manager started (directory %s, storage %s)",
	    cfg->acme.directory, cfg->acme.storage);
	return 0;
}

void
acmed_stop(void)
{
	struct timespec ts;

	if (!am.running)
		return;
	pthread_mutex_lock(&am.lock);
	am.stop = 1;
	pthread_cond_signal(&am.cond);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)am.stop_wait + 1;
	pthread_mutex_unlock(&am.lock);
	/* an order stops between two requests to the CA; one request still
	 * under way may outlast shutdown_timeout: then the process ends
	 * without waiting for it (its lock expires after lock_timeout) */
	if (pthread_timedjoin_np(am.thread, NULL, &ts) != 0) {
		log_warn("acme: the certificate manager is still waiting for the "
		    "CA after shutdown_timeout: not waiting for it");
		am.running = 0;
		return;		/* its state stays allocated: the process ends */
	}
	am.running = 0;
	if (am.client != NULL)
		acme_client_free(am.client);
	am.client = NULL;
	for (size_t i = 0; i < am.n; i++)
		free(am.v[i].name);
	free(am.v);
	am.v = NULL;
	am.n = 0;
	settings_free(am.cfg);
	am.cfg = NULL;
	input_free(am.pending);
	am.pending = NULL;
	settings_free(am.pending_cfg);
	am.pending_cfg = NULL;
	pthread_cond_destroy(&am.cond);
}
