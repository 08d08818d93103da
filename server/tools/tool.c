/* tool.c - what the command-line tools (`check`, `dns`) share: their command
 * line, and loading everything as the server would */
#include "tool.h"

#include <string.h>

#include <psa/crypto.h>

#include "config.h"
#include "log.h"
#include "names.h"

struct snapshot *
tool_load(const char *config_path, size_t *nerrors)
{
	struct snapshot *snap = NULL;
	struct diag d = { 0 };
	int rc;

	rc = snapshot_build(config_path, 1, NULL, NULL, &snap, &d);
	log_diagnostics(&d, 0);
	*nerrors = d.nerrors;
	diag_clear(&d);
	if (rc == -1) {
		fprintf(stderr, "mta-stsd: %s: nothing could be loaded (see "
		    "above; mta-stsd -t -c %s lists every problem)\n",
		    config_path, config_path);
		return NULL;
	}
	return snap;
}

int
tool_domain_arg(const char *arg, char *out, size_t outsz)
{
	size_t len = strlen(arg);
	const char *inner;

	if (len > 1 && arg[len - 1] == '.')
		len--;
	if (name_normalise(arg, len, out, outsz) == -1) {
		fprintf(stderr, "mta-stsd: \"%s\" is not a domain name; name one "
		    "like example.com\n", arg);
		return -1;
	}
	if ((inner = name_policy_domain(out)) != NULL) {
		fprintf(stderr, "mta-stsd: \"%s\" is the policy host; name the "
		    "domain: %s\n", arg, inner);
		return -1;
	}
	return 0;
}

int
tool_args_parse(int argc, char **argv, const struct option *extra,
    int (*on_extra)(void *ctx, int val, const char *arg), void *ctx,
    void (*usage)(FILE *fp), struct tool_args *a)
{
	static const struct option common[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
	};
	struct option longopts[3 + 4 + 1];
	size_t n = 0;
	int ch;

	for (size_t i = 0; i < 3; i++)
		longopts[n++] = common[i];
	for (size_t i = 0; extra != NULL && extra[i].name != NULL && i < 4; i++)
		longopts[n++] = extra[i];
	memset(&longopts[n], 0, sizeof(longopts[n]));
	a->config_path = CONFIG_DEFAULT_PATH;
	a->json = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			a->config_path = optarg;
			break;
		case 'j':
			a->json = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case '?':
			usage(stderr);
			return 2;
		default:
			if (on_extra(ctx, ch, optarg) == -1)
				return 2;
		}
	}
	a->first_domain = optind;
	for (int i = optind; i < argc; i++) {
		char name[NAME_MAX_LEN + 1];

		if (tool_domain_arg(argv[i], name, sizeof(name)) == -1)
			return 2;
	}
	return -1;
}

int
tool_start(int argc, char **argv, void (*usage)(FILE *fp),
    struct tool_args *a, struct snapshot **snap)
{
	size_t nerrors;
	int rc;

	if ((rc = tool_args_parse(argc, argv, NULL, NULL, NULL, usage,
	    a)) != -1)
		return rc;
	if (psa_crypto_init() != PSA_SUCCESS) {
		fprintf(stderr, "mta-stsd: cannot initialise the crypto library\n");
		return 1;
	}
	if ((*snap = tool_load(a->config_path, &nerrors)) == NULL) {
		mbedtls_psa_crypto_free();
		return 1;
	}
	return -1;
}

void
tool_end(struct snapshot *snap)
{
	snapshot_unref(snap);
	mbedtls_psa_crypto_free();
}
