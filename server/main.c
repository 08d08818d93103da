/* main.c - command line, start-up order, privileges */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mbedtls/version.h>
#include <microhttpd.h>
#include <psa/crypto.h>

#include "acmed.h"
#include "challenge.h"
#include "log.h"
#include "reload.h"
#include "server.h"
#include "snapshot.h"
#include "tls.h"
#include "trim.h"
#include "tools/certstate.h"
#include "tools/check.h"
#include "tools/health.h"
#include "tools/publish.h"

#ifndef MTA_STSD_VERSION
#define MTA_STSD_VERSION "0.0.0"
#endif

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: mta-stsd [-t] [-c file]\n"
	    "       mta-stsd dns [-c file] [--json] [domain...]\n"
	    "       mta-stsd check [-c file] [--json] [--ca-file file] "
	    "[--timeout sec] [domain...]\n"
	    "       mta-stsd health [--ready] [--timeout sec] [addr]\n"
	    "       mta-stsd certs [-c file] [--json] [domain...]\n"
	    "       mta-stsd -h | --help | -V | --version | --keys\n"
	    "\n"
	    "Serve MTA-STS policies (RFC 8461) over HTTPS, one certificate per\n"
	    "domain chosen by SNI.\n"
	    "\n"
	    "  -c file  configuration file (default " CONFIG_DEFAULT_PATH ")\n"
	    "  -t       test the configuration, policies and certificates,\n"
	    "           print every problem, exit 1 if there is an error\n"
	    "  -h       show this help (also --help)\n"
	    "  -V       show the version and the library versions (also --version)\n"
	    "  --keys   list the configuration keys: section, key, type, default,\n"
	    "           what a change needs (live, rebuild or restart)\n"
	    "\n"
	    "  dns      print the DNS records each domain must publish\n"
	    "  check    check live what sending MTAs see; exit 0 clean,\n"
	    "           1 warnings, 2 errors (mta-stsd check -h)\n"
	    "  health   ask the admin listener's /healthz (--ready: /readyz);\n"
	    "           exit 0 healthy, 1 not (mta-stsd health -h)\n"
	    "  certs    each domain's certificate: source (acme, file, none),\n"
	    "           expiry, next renewal, last ACME error\n"
	    "\n"
	    "Signals: SIGTERM/SIGINT stop gracefully, SIGHUP reloads.\n"
	    "See mta-stsd(8) and README.md.\n");
}

static void
version(void)
{
	char tls[64];

	mbedtls_version_get_string_full(tls);
	printf("mta-stsd %s\n%s\nlibmicrohttpd %s\n", MTA_STSD_VERSION, tls,
	    MHD_get_version());
}

/* --keys: the key table, one tab-separated line per key ("-": no default) */
static void
print_keys(void)
{
	char type[160];

	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];

		printf("%s\t%s\t%s\t%s\t%s\n", config_section_name(k->section),
		    k->name, config_key_type(k, type, sizeof(type)),
		    k->def != NULL ? k->def : "-", config_apply_name(k->apply));
	}
}

/*
 * Each connection holds three descriptors (the client's socket and the two
 * ends of its socketpair to libmicrohttpd): raise the soft limit to the hard
 * one, and say so when max_connections cannot fit even then.
 */
static void
raise_nofile(const struct config *cfg)
{
	unsigned long long need = (unsigned long long)cfg->max_connections * 3 +
	    64;	/* listeners, epoll, logs, watches, certificate loading */
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur != rl.rlim_max) {
		struct rlimit up = { rl.rlim_max, rl.rlim_max };

		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl.rlim_cur = rl.rlim_max;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
		log_warn("%s: max_connections = %u needs about %llu file "
		    "descriptors (3 per connection, 64 more) but the limit is "
		    "%llu (the hard limit): raise it (ulimit -n, LimitNOFILE= in "
		    "a systemd unit, --ulimit nofile= for a container) or lower "
		    "max_connections to %llu", cfg->path, cfg->max_connections,
		    need, (unsigned long long)rl.rlim_cur,
		    rl.rlim_cur > 64 ? (unsigned long long)(rl.rlim_cur - 64) / 3 :
		    0ULL);
}

/* bound sockets are ours: now become the configured user for good */
static int
drop_privileges(const struct config *cfg)
{
	struct passwd *pw;
	struct group *gr;
	gid_t gid;

	if (getuid() != 0 && geteuid() != 0)
		return 0;
	if (cfg->user == NULL) {
		if (cfg->allow_root) {
			log_warn("running as root (allow_root = yes); set user = "
			    "in [server] to drop privileges after binding");
			return 0;
		}
		log_err("%s: refusing to keep running as root: set user = "
		    "(e.g. user = mta-stsd) in [server] to drop privileges after "
		    "binding, or allow_root = yes to run as root anyway",
		    cfg->path);
		return -1;
	}
	if ((pw = getpwnam(cfg->user)) == NULL) {
		log_err("%s: user %s does not exist; create it or change user =",
		    cfg->path, cfg->user);
		return -1;
	}
	gid = pw->pw_gid;
	if (cfg->group != NULL) {
		if ((gr = getgrnam(cfg->group)) == NULL) {
			log_err("%s: group %s does not exist; create it or change "
			    "group =", cfg->path, cfg->group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (initgroups(pw->pw_name, gid) == -1 || setgid(gid) == -1 ||
	    setuid(pw->pw_uid) == -1) {
		log_err("cannot drop privileges to %s: %s", cfg->user,
		    strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		log_err("privileges could be regained after dropping them");
		return -1;
	}
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	return 0;
}

/* -t: load everything as serving would, print every problem; 0 or 1 */
static int
test_config(const char *config_path, const char *as_user)
{
	struct snapshot *snap = NULL;
	struct diag d = { 0 };
	char who[160] = "";
	int rc;

	if (as_user != NULL)
		snprintf(who, sizeof(who), " (files read as user %s)", as_user);
	rc = snapshot_build(config_path, 1, NULL, NULL, &snap, &d);
	if (snap != NULL)
		acmed_check(&snap->cfg, &d);
	log_diagnostics(&d, 0);
	if (rc == 0 && d.nerrors == 0)
		fprintf(stderr, "mta-stsd: %s: test is successful: %zu "
		    "domain(s), %zu warning(s)%s\n", config_path,
		    snap->ndomains, d.nwarnings, who);
	else
		fprintf(stderr, "mta-stsd: %s: test failed: %zu error(s), %zu "
		    "warning(s)%s\n", config_path, d.nerrors, d.nwarnings, who);
	rc = rc == 0 && d.nerrors == 0 ? 0 : 1;
	snapshot_unref(snap);
	diag_clear(&d);
	return rc;
}

/*
 * -t started as root with user = set: the server reads the policies, the
 * certificates and the keys (and the configuration again) only after
 * dropping privileges, so test as that user, in a child that drops them
 * the same way; a file only root can read then fails the test as it would
 * fail the start. Otherwise test as we are. Returns the exit status.
 */
static int
test_as_server_user(const char *config_path)
{
	struct config cfg = { 0 };
	struct diag d = { 0 };
	pid_t pid;
	int status, rc;

	if ((getuid() != 0 && geteuid() != 0) ||
	    config_load(config_path, &cfg, &d) == -1 || cfg.user == NULL) {
		/* a configuration that does not load: reported below */
		config_free(&cfg);
		diag_clear(&d);
		return test_config(config_path, NULL);
	}
	diag_clear(&d);
	fflush(stderr);
	if ((pid = fork()) == -1) {
		fprintf(stderr, "mta-stsd: cannot fork to test as user %s: %s\n",
		    cfg.user, strerror(errno));
		config_free(&cfg);
		return 1;
	}
	if (pid == 0) {
		rc = drop_privileges(&cfg) == -1 ? 1 :
		    test_config(config_path, cfg.user);
		fflush(stderr);
		_exit(rc);
	}
	config_free(&cfg);
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = CONFIG_DEFAULT_PATH;
	struct config cfg = { 0 };
	struct diag d = { 0 };
	int test_only = 0, ch, rc;

	if (argc > 1 && strcmp(argv[1], "dns") == 0)
		return publish_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "check") == 0)
		return check_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "health") == 0)
		return health_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "certs") == 0)
		return certstate_main(argc - 1, argv + 1);
	if (argc == 2 && strcmp(argv[1], "--keys") == 0) {
		print_keys();
		return 0;
	}
	/* an unknown option: getopt_long's message names it, then the usage */
	while ((ch = getopt_long(argc, argv, "c:htV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 't':
			test_only = 1;
			break;
		case 'V':
			version();
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "mta-stsd: unexpected argument \"%s\"\n",
		    argv[optind]);
		usage(stderr);
		return 2;
	}
	if (psa_crypto_init() != PSA_SUCCESS) {
		fprintf(stderr, "mta-stsd: cannot initialise the crypto library\n");
		return 1;
	}

	if (test_only) {
		rc = test_as_server_user(config_path);
		mbedtls_psa_crypto_free();
		return rc;
	}
	/* serving: the configuration now (listen addresses, user), the
	 * domains in the background once the event loop runs */
	if (config_load(config_path, &cfg, &d) == -1) {
		log_diagnostics(&d, 1);
		log_err("%s: not started: %zu error(s)", config_path, d.nerrors);
		diag_clear(&d);
		return 1;
	}
	diag_clear(&d);
	rc = 1;
	log_set_level(cfg.log_level);
	log_set_json(cfg.log_json);
	if (log_error_open(cfg.error_log) == -1) {
		log_err("error_log %s: %s", cfg.error_log, strerror(errno));
		goto out;
	}
	if (log_access_open(cfg.access_log) == -1) {
		log_err("access_log %s: %s", cfg.access_log, strerror(errno));
		goto out;
	}
	raise_nofile(&cfg);
	if (server_bind(&cfg) == -1)
		goto out;
	/* while still allowed to (root): see trim.h */
	log_debug("gave back the pages of %d library mappings never called",
	    trim_unused_libraries());
	/* the ACME storage, made while we may still give it to user */
	{
		struct passwd *pw = cfg.user != NULL && geteuid() == 0 ?
		    getpwnam(cfg.user) : NULL;
		struct group *gr = pw != NULL && cfg.group != NULL ?
		    getgrnam(cfg.group) : NULL;

		if (acmed_prepare(&cfg, pw != NULL ? (long)pw->pw_uid : -1,
		    gr != NULL ? (long)gr->gr_gid : pw != NULL ?
		    (long)pw->pw_gid : -1) == -1)
			goto out;
	}
	if (drop_privileges(&cfg) == -1 || tls_init() == -1)
		goto out;
	/* ACME on: the challenge store the listeners answer from (as the user) */
	if (cfg.acme.directory != NULL && challenge_init(cfg.acme.storage) == -1) {
		log_err("[acme] storage %s: cannot make challenges/ in it: %s; it "
		    "must be a directory the server's user can write",
		    cfg.acme.storage, strerror(errno));
		goto out;
	}
	log_check_reopen();	/* as the user that will reopen the logs */
	reload_init(config_path, &cfg);
	{
		char addrs[512] = "";
		size_t used = 0;

		for (size_t i = 0; i < cfg.nlisten && used < sizeof(addrs); i++)
			used += (size_t)snprintf(addrs + used, sizeof(addrs) - used,
			    "%s%s", i ? ", " : "", cfg.listen[i].text);
		log_info("mta-stsd %s starting: listening on %s%s%s", MTA_STSD_VERSION,
		    addrs, cfg.admin.len ? ", admin on " : "",
		    cfg.admin.len ? cfg.admin.text : "");
	}
	rc = server_run(&cfg) == 0 ? 0 : 1;
out:
	server_release();
	config_free(&cfg);
	tls_free();
	mbedtls_psa_crypto_free();
	return rc;
}
