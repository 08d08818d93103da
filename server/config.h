/* config.h - the INI configuration file as plain structs (reads only that file) */
#ifndef MTA_STSD_CONFIG_H
#define MTA_STSD_CONFIG_H

#include <stddef.h>
#include <sys/socket.h>

#include "diag.h"
#include "loglevel.h"

#define CONFIG_MAX_LINE 200	/* inih as packaged by Debian reads at most this per line */
#define CONFIG_DEFAULT_PORT 443

struct listen_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	char text[64];			/* "127.0.0.1:443" or "[::1]:443" */
	unsigned line;			/* config line it came from; 0: the default */
};

/* One certificate chain and its key, as paths. */
struct cert_paths {
	char *cert;
	char *key;
};

struct domain_conf {
	char *name;			/* lower case, e.g. "example.com" */
	char *policy;			/* path; NULL: <policy_dir>/<name>.txt */
	struct cert_paths certs[2];	/* certs[0].cert NULL: [defaults] or cert_dir */
	char *policy_id;		/* pinned policy id; NULL: derived from the policy */
	char *tlsrpt;			/* TLS-RPT rua list "uri,uri"; NULL: [defaults]' */
	unsigned line;			/* line of the section header, for messages */
};

struct config {
	char *path;			/* the file as given */
	char *dir;			/* its directory: base of relative paths */

	/* [server] */
	struct listen_addr *listen;	/* default: 0.0.0.0:443 and [::]:443 */
	size_t nlisten;
	char *user;			/* NULL: keep the starting user */
	char *group;			/* NULL: the user's primary group */
	char *policy_dir;		/* absolute; default <dir>/policies */
	char *cert_dir;			/* absolute or NULL: no certificate discovery */
	char *default_domain;		/* for clients that send no SNI; NULL: refuse */
	unsigned handshake_timeout;	/* seconds, default 10 */
	unsigned idle_timeout;		/* seconds, keep-alive idle, default 30 */
	unsigned max_connections;	/* default 1024 */
	unsigned max_connections_per_ip; /* default 64 */
	unsigned request_timeout;	/* seconds from a request's first byte to its answer, default 10 */
	unsigned max_header_size;	/* bytes of request line + headers, default 8192 */
	unsigned shutdown_timeout;	/* seconds a stop gives requests in flight, default 5 */
	unsigned max_requests_per_connection; /* default 1000 */
	unsigned workers;		/* event-loop threads, default 1 */
	int allow_root;			/* keep running as root without user =; default no */
	struct listen_addr admin;	/* admin_listen; admin.len 0: off (default) */
	int metrics_per_domain;		/* per-domain series in /metrics; default no */
	int log_json;			/* log_format json; default text */
	char *error_log;		/* NULL/"stderr" (default), "syslog", or an absolute path */
	int auto_reload;		/* watch files with inotify; default yes */
	unsigned poll_interval;		/* seconds between polls for changes; 0 (default): none */
	enum log_level log_level;	/* default info */
	char *access_log;		/* "stderr" (default), "off", or an absolute path */

	/* [defaults] */
	struct cert_paths default_certs[2];
	char *default_tlsrpt;		/* TLS-RPT rua list "uri,uri" or NULL */

	/* one per [domain] section, in file order */
	struct domain_conf *domains;
	size_t ndomains;

	/* private to config.c: hash index over domains (index + 1; 0 empty) */
	size_t *domain_slots;
	size_t domain_nslots;
};

/*
 * Read and validate the INI file at path. Every problem is added to d as
 * "path:line: message": unknown sections or keys, bad values, lines longer
 * than CONFIG_MAX_LINE, lines that are not "key = value", "[section]" or a
 * comment, duplicate sections, a default_domain that is not a valid domain
 * name (whether it has a policy is the loader's check). Relative paths in
 * values are made absolute against the file's directory. Returns 0 and fills
 * *cfg when there is no error, -1 otherwise (*cfg is then freed and zeroed).
 * A line may hold CONFIG_MAX_LINE bytes, not counting "\n" or "\r\n". A
 * file that cannot be opened is one error "path: cannot open: <reason>" (one
 * that cannot be read: "path: cannot read: <reason>"). Warnings do not fail.
 */
int config_load(const char *path, struct config *cfg, struct diag *d);

/*
 * As config_load, for a file already in memory: buf[0..len) (NUL bytes are
 * errors, not terminators) read as if it were the file called name - name is
 * used in messages and its directory is the base of relative paths.
 */
int config_load_buffer(const char *name, const char *buf, size_t len,
    struct config *cfg, struct diag *d);

/* Free everything config_load allocated; safe on a zeroed config. */
void config_free(struct config *cfg);

/* Do two optional settings (NULL: not set) differ? Returns 1 or 0. */
int config_str_differs(const char *a, const char *b);

/* Find a [domain] section by lower-case name, or NULL. */
const struct domain_conf *config_find_domain(const struct config *cfg,
    const char *name);

/* The TLS-RPT report URIs of a domain ("uri,uri"): its section's tlsrpt,
 * else the [defaults] one, else NULL. */
const char *config_domain_tlsrpt(const struct config *cfg, const char *name);

#endif
