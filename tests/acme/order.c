/* order.c - build/acme-order: acme.c's protocol driven from the command line,
 * for tests/acme/order_test.py (against Pebble) and by hand:
 *
 *   acme-order --directory URL --ca-file F --storage DIR
 *       [--challenge tls-alpn-01|http-01] [--email E] [--no-agree]
 *       [--eab-kid K --eab-hmac-key H] [--preferred-issuer CN]
 *       [--key-type ecdsa|rsa] [--key-out FILE] [--replaces OLD.pem] [-v] NAME...
 *   acme-order --directory URL --ca-file F --storage DIR --ari CERT.pem
 *
 * The first places one order for NAME... and writes the chain PEM to
 * stdout (the certificate key to --key-out; --replaces: a renewal of
 * OLD.pem, acme_order_replacing). The second asks for the
 * certificate's renewal window (ARI): "window <start> <end> retry-after <n>"
 * or "no renewalInfo". Exit 0; 1 with "acme-order: <kind>: <detail>" on
 * stderr when the CA or our side failed; 2 for a usage error. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <psa/crypto.h>

#include "acme.h"
#include "challenge.h"
#include "log.h"
#include "x509gen.h"

static const char *const kinds[] = {
	"ok", "network", "server", "rate-limited", "rejected", "invalid", "local"
};

static int
usage(void)
{
	fprintf(stderr, "usage: acme-order --directory URL [--ca-file F] --storage DIR "
	    "[--challenge tls-alpn-01|http-01] [--email E] [--no-agree] [--eab-kid K "
	    "--eab-hmac-key H] [--preferred-issuer CN] [--key-type ecdsa|rsa] "
	    "[--key-out FILE] [--replaces OLD.pem] [-v] NAME...\n"
	    "       acme-order --directory URL [--ca-file F] --storage DIR --ari CERT.pem\n");
	return 2;
}

static int
report(const struct acme_error *e)
{
	fprintf(stderr, "acme-order: %s: %s", e->kind >= 0 && e->kind <= ACME_LOCAL ?
	    kinds[e->kind] : "?", e->detail);
	if (e->type[0] != '\0')
		fprintf(stderr, " (%s)", e->type);
	if (e->retry_after >= 0)
		fprintf(stderr, " (retry after %ld s)", e->retry_after);
	fputc('\n', stderr);
	return 1;
}

static char *
slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf;
	size_t n;

	if (fp == NULL)
		return NULL;
	buf = calloc(1, 1 << 20);
	if (buf != NULL) {
		n = fread(buf, 1, (1 << 20) - 1, fp);
		buf[n] = '\0';
	}
	fclose(fp);
	return buf;
}

static int
ari(struct acme_client *c, const char *path)
{
	struct acme_error e;
	time_t start, end;
	char *pem = slurp(path);
	int rc;

	if (pem == NULL) {
		fprintf(stderr, "acme-order: cannot read %s\n", path);
		return 1;
	}
	rc = acme_renewal_info(c, pem, &start, &end, &e);
	free(pem);
	if (rc < 0)
		return report(&e);
	if (rc == 1)
		printf("no renewalInfo\n");
	else
		printf("window %lld %lld retry-after %ld\n", (long long)start, (long long)end,
		    e.retry_after);
	return 0;
}

static int
order(struct acme_client *c, const char *const *names, size_t n, int rsa, const char *key_out,
    const char *replaces)
{
	mbedtls_pk_context key;
	struct acme_error e;
	char *chain = NULL, *old = NULL;
	int rc;

	mbedtls_pk_init(&key);
	if (x509gen_key(&key, rsa ? X509GEN_RSA2048 : X509GEN_P256) < 0) {
		fprintf(stderr, "acme-order: cannot make a certificate key\n");
		return 1;
	}
	if (replaces != NULL && (old = slurp(replaces)) == NULL) {
		fprintf(stderr, "acme-order: cannot read %s\n", replaces);
		mbedtls_pk_free(&key);
		return 1;
	}
	rc = acme_order_replacing(c, names, n, &key, old, &chain, &e);
	free(old);
	if (rc < 0) {
		mbedtls_pk_free(&key);
		return report(&e);
	}
	fputs(chain, stdout);
	free(chain);
	rc = 0;
	if (key_out != NULL) {
		char *pem = x509gen_key_pem(&key);
		FILE *fp = fopen(key_out, "w");

		if (pem == NULL || fp == NULL || fputs(pem, fp) < 0) {
			fprintf(stderr, "acme-order: cannot write %s\n", key_out);
			rc = 1;
		}
		if (fp != NULL)
			fclose(fp);
		if (pem != NULL) {
			mbedtls_platform_zeroize(pem, strlen(pem));
			free(pem);
		}
	}
	mbedtls_pk_free(&key);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "directory", required_argument, NULL, 'd' },
		{ "ca-file", required_argument, NULL, 'c' },
		{ "storage", required_argument, NULL, 's' },
		{ "challenge", required_argument, NULL, 't' },
		{ "email", required_argument, NULL, 'e' },
		{ "no-agree", no_argument, NULL, 'n' },
		{ "eab-kid", required_argument, NULL, 'k' },
		{ "eab-hmac-key", required_argument, NULL, 'h' },
		{ "preferred-issuer", required_argument, NULL, 'p' },
		{ "key-type", required_argument, NULL, 'y' },
		{ "key-out", required_argument, NULL, 'o' },
		{ "ari", required_argument, NULL, 'a' },
		{ "replaces", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	struct acme_settings s;
	struct acme_client *c;
	const char *ari_cert = NULL, *key_out = NULL, *replaces = NULL;
	char err[512];
	int opt, rsa = 0, rc;

	memset(&s, 0, sizeof(s));
	s.agree_terms = 1;
	while ((opt = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
		switch (opt) {
		case 'd': s.directory = optarg; break;
		case 'c': s.ca_file = optarg; break;
		case 's': s.storage = optarg; break;
		case 'e': s.email = optarg; break;
		case 'n': s.agree_terms = 0; break;
		case 'k': s.eab_kid = optarg; break;
		case 'h': s.eab_hmac_key = optarg; break;
		case 'p': s.preferred_issuer = optarg; break;
		case 'o': key_out = optarg; break;
		case 'a': ari_cert = optarg; break;
		case 'r': replaces = optarg; break;
		case 'v': log_set_level(LOG_LEVEL_DEBUG); break;
		case 't':
			if (strcmp(optarg, "http-01") == 0)
				s.challenge = ACME_HTTP_01;
			else if (strcmp(optarg, "tls-alpn-01") == 0)
				s.challenge = ACME_TLS_ALPN_01;
			else
				return usage();
			break;
		case 'y':
			if (strcmp(optarg, "rsa") != 0 && strcmp(optarg, "ecdsa") != 0)
				return usage();
			rsa = strcmp(optarg, "rsa") == 0;
			break;
		default:
			return usage();
		}
	}
	if (s.directory == NULL || s.storage == NULL || (ari_cert == NULL && optind == argc))
		return usage();
	if (psa_crypto_init() != PSA_SUCCESS) {
		fprintf(stderr, "acme-order: psa_crypto_init failed\n");
		return 1;
	}
	if (challenge_init(s.storage) < 0) {
		fprintf(stderr, "acme-order: cannot make the challenge directories in %s\n",
		    s.storage);
		return 1;
	}
	c = acme_client_new(&s, err, sizeof(err));
	if (c == NULL) {
		fprintf(stderr, "acme-order: %s\n", err);
		return 1;
	}
	if (ari_cert != NULL)
		rc = ari(c, ari_cert);
	else
		rc = order(c, (const char *const *)argv + optind, (size_t)(argc - optind), rsa,
		    key_out, replaces);
	acme_client_free(c);
	return rc;
}
