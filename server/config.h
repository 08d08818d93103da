/* config.h - the INI configuration file as plain structs (reads only that file) */
#ifndef MTA_STSD_CONFIG_H
#define MTA_STSD_CONFIG_H

#include <stddef.h>
#include <sys/socket.h>

#include "diag.h"
#include "loglevel.h"
#include "strmap.h"

#define CONFIG_MAX_LINE 200	/* bytes a line may hold (see config.c) */
#define CONFIG_DEFAULT_PORT 443
#define CONFIG_DEFAULT_PATH "/etc/mta-stsd/mta-stsd.conf"
#define CONFIG_KEYS_MAX 64	/* room for keys in struct config's values[] */

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
	int acme;			/* acme = yes (1) / no (0); -1: not given (yes) */
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
	unsigned max_requests_per_connection; /* default 1000 */
	unsigned workers;		/* event-loop threads, default 1 */
	int allow_root;			/* keep running as root without user =; default no */
	struct listen_addr admin;	/* admin_listen; admin.len 0: off (default) */
	int metrics_per_domain;		/* per-domain series in /metrics; default no */
	int log_json;			/* log_format json; default text */
	char *error_log;		/* "stderr" (default), "syslog", or an absolute path */
	int auto_reload;		/* watch files with inotify; default yes */
	unsigned poll_interval;		/* seconds between polls for changes; 0 (default): none */
	enum log_level log_level;	/* default info */
	char *access_log;		/* "stderr" (default), "off", or an absolute path */

	/* [acme]: automatic certificates; on when directory is set (the
	 * number keys: config_number(cfg, "orders_per_hour"), ...) */
	struct acme_conf {
		char *directory;	/* the CA's directory URL (https://) */
		char *email;		/* account contact, or NULL */
		char *storage;		/* absolute; default <dir>/acme */
		char *ca_file;		/* trust for the CA's HTTPS; NULL: system store */
		char *eab_kid;		/* External Account Binding key id, or NULL */
		char *eab_hmac_key;	/* its HMAC key (base64url); a secret */
		char *preferred_issuer;	/* CN of the preferred chain's top issuer */
		char *addresses;	/* "a, b": what mta-sts.<domain> must resolve to */
		struct listen_addr http_listen; /* HTTP-01 listener; len 0: off */
	} acme;

	/* [defaults] */
	struct cert_paths default_certs[2];
	char *default_tlsrpt;		/* TLS-RPT rua list "uri,uri" or NULL */

	/* one per [domain] section, in file order */
	struct domain_conf *domains;
	size_t ndomains;

	/* numbers of keys that have no field above, by their index in
	 * config_keys[] (read them with config_number) */
	unsigned values[CONFIG_KEYS_MAX];

	/* private to config.c: domain name -> index + 1 */
	struct strmap domain_index;
};

/*
 * The configuration keys: one table (config_keys[] in config.c) that drives
 * parsing, defaults, `mta-stsd --keys`, the reload's diff and the
 * documentation test. A key is a row there; a number, yes/no or choice key
 * needs no field in struct config (config_number reads it).
 */
enum config_section {
	CONFIG_SECTION_SERVER,
	CONFIG_SECTION_DEFAULTS,
	CONFIG_SECTION_DOMAIN,		/* each [example.com] */
	CONFIG_SECTION_ACME		/* [acme] */
};

/* What a changed value needs before the server uses it. */
enum config_apply {
	CONFIG_APPLY_LIVE,		/* a reload applies it to the running server */
	CONFIG_APPLY_REBUILD,		/* a reload applies it in the snapshot it builds */
	CONFIG_APPLY_RESTART		/* only a restart; a reload logs that it changed */
};

enum config_type {
	CONFIG_UINT,			/* decimal number in min..max */
	CONFIG_THREADS,			/* a number in min..max or "auto" (one per core) */
	CONFIG_BOOL,			/* yes or no */
	CONFIG_ENUM,			/* one of words[] (stored: its index) */
	CONFIG_NAME,			/* one word without blanks (a user or group) */
	CONFIG_PATH,			/* a file or directory, relative to the file's */
	CONFIG_DEST,			/* one of words[], else a path (a log) */
	CONFIG_DOMAIN,			/* a domain name, not the policy host */
	CONFIG_LISTEN,			/* addresses; the key may repeat */
	CONFIG_ADDRESS,			/* "off" or one address with a port */
	CONFIG_RUA,			/* TLS-RPT report URIs */
	CONFIG_POLICY_ID,		/* 1..32 letters and digits */
	CONFIG_URL,			/* an https:// URL without blanks */
	CONFIG_EMAIL,			/* one address: local@domain, no blanks */
	CONFIG_TEXT,			/* any text (blanks inside allowed) */
	CONFIG_SECRET,			/* a word without blanks, never printed */
	CONFIG_HOSTS			/* IP addresses or host names, comma or blank separated */
};

struct config_key {
	enum config_section section;
	const char *name;
	enum config_type type;
	unsigned long min, max;		/* CONFIG_UINT, CONFIG_THREADS */
	const char *unit;		/* of the range, in messages: " seconds" */
	const char *const *words;	/* CONFIG_ENUM, CONFIG_DEST */
	const char *def;		/* the default as a file would say it; NULL: none */
	enum config_apply apply;
	size_t offset;			/* of the field in struct config ([server],
					 * [defaults]) or struct domain_conf; 0:
					 * values[] (numbers only) */
};

extern const struct config_key config_keys[];
extern const size_t config_nkeys;

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

/* The key called name in section, or NULL. */
const struct config_key *config_key_find(enum config_section section,
    const char *name);

/* The value of a [server] or [acme] number, yes/no (1/0) or choice (its
 * index) key called name; 0 when there is no such key. */
unsigned config_number(const struct config *cfg, const char *name);

/* k's value in cfg as a file would give it ("none" when unset; a secret
 * as "(set)"), in buf. */
const char *config_key_format(const struct config_key *k,
    const struct config *cfg, char *buf, size_t size);

/* Does the value of the [server], [defaults] or [acme] key k differ between
 * a and b? Returns 1 or 0. ([domain] keys are compared by the snapshot
 * build.) */
int config_key_differs(const struct config_key *k, const struct config *a,
    const struct config *b);

/*
 * Call fn for every [server], [defaults] and [acme] key whose value differs between
 * old and new, in table order, with both values formatted. Returns how many
 * differ.
 */
size_t config_diff(const struct config *old, const struct config *new,
    void (*fn)(void *arg, const struct config_key *k, const char *was,
    const char *now), void *arg);

/* "uint 1..300", "enum error|warn|info|debug", ... (for --keys), in buf. */
const char *config_key_type(const struct config_key *k, char *buf,
    size_t size);

/* "live", "rebuild" or "restart"; "server", "defaults", "domain" or "acme". */
const char *config_apply_name(enum config_apply a);
const char *config_section_name(enum config_section s);

/* Do two optional settings (NULL: not set) differ? Returns 1 or 0. */
int config_str_differs(const char *a, const char *b);

/* Find a [domain] section by lower-case name, or NULL. */
const struct domain_conf *config_find_domain(const struct config *cfg,
    const char *name);

/* The TLS-RPT report URIs of a domain ("uri,uri"): its section's tlsrpt,
 * else the [defaults] one, else NULL. */
const char *config_domain_tlsrpt(const struct config *cfg, const char *name);

/* Is ACME on ([acme] directory set) and not turned off for the domain
 * called name ([name] acme = no, or a [name] section naming cert files)?
 * Returns 1 or 0. */
int config_domain_acme(const struct config *cfg, const char *name);

#endif
