/* fuzz_acme.c - libFuzzer harness for acme.c's parsers of what the CA sends:
 * the directory, orders, authorizations, problem documents, renewalInfo and
 * its RFC 3339 times, and certificate chains (the ARI identifier, the
 * choice of the preferred chain) */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <psa/crypto.h>

#include "fuzz.h"
#include "acme.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_error(const struct acme_error *e)
{
	fuzz_printable(e->type, sizeof(e->type));
	fuzz_printable(e->detail, sizeof(e->detail));
	if (e->kind < ACME_OK || e->kind > ACME_LOCAL)
		__builtin_trap();
}

static void
directory(const char *buf, size_t len)
{
	struct acme_directory d;
	char err[256];

	if (acme_parse_directory(buf, len, &d, err, sizeof(err)) == 0) {
		if (d.new_nonce == NULL || d.new_account == NULL || d.new_order == NULL)
			__builtin_trap();
		acme_directory_free(&d);
	} else if (d.new_nonce != NULL || err[0] == '\0') {
		__builtin_trap();
	}
}

static void
order(const char *buf, size_t len)
{
	struct acme_order_info o;
	char err[256];

	if (acme_parse_order(buf, len, &o, err, sizeof(err)) == 0) {
		if (o.status == ACME_ST_UNKNOWN || o.finalize == NULL || o.nauthz > ACME_MAX_AUTHZ)
			__builtin_trap();
		for (size_t i = 0; i < o.nauthz; i++)
			if (o.authorizations[i] == NULL)
				__builtin_trap();
		if (o.has_error)
			check_error(&o.error);
		acme_order_info_free(&o);
	} else if (o.authorizations != NULL) {
		__builtin_trap();
	}
}

static void
authz(const char *buf, size_t len)
{
	struct acme_authz_info a;
	char err[256];

	if (acme_parse_authz(buf, len, &a, err, sizeof(err)) != 0)
		return;
	if (a.identifier == NULL || a.nchallenges > ACME_MAX_CHALLENGES)
		__builtin_trap();
	for (size_t i = 0; i < a.nchallenges; i++) {
		if (a.challenges[i].type == NULL || a.challenges[i].url == NULL)
			__builtin_trap();
		if (a.challenges[i].has_error)
			check_error(&a.challenges[i].error);
		if (acme_authz_challenge(&a, a.challenges[i].type) == NULL)
			__builtin_trap();
	}
	acme_authz_info_free(&a);
}

static void
problem(const char *buf, size_t len)
{
	static const int statuses[] = { 400, 429, 503 };
	struct acme_error e;

	for (size_t i = 0; i < 3; i++) {
		acme_parse_problem(statuses[i], "application/problem+json", buf, len, 5, &e);
		check_error(&e);
		if (e.retry_after != 5 || e.kind == ACME_OK)
			__builtin_trap();
	}
}

static void
renewal(const char *buf, size_t len)
{
	time_t start, end;
	char err[256];

	if (acme_parse_renewal_info(buf, len, &start, &end, err, sizeof(err)) == 0 &&
	    end < start)
		__builtin_trap();
	if (acme_parse_time(buf, &start) == 0 && (buf[0] < '0' || buf[0] > '9'))
		__builtin_trap();
}

static void
chains(const char *buf, size_t len)
{
	/* two chains to choose from: the whole input and its second half */
	const char *list[2] = { buf, buf + len / 2 };
	char id[256], err[256];
	size_t pick;

	if (acme_cert_id(buf, len, id, sizeof(id), err, sizeof(err)) == 0)
		fuzz_printable(id, sizeof(id));
	pick = acme_chain_pick(list, 2, "Pebble Root CA");
	if (pick > 1)
		__builtin_trap();
}

/*
 * The input is one answer's body, as the CA sent it: every parser gets it
 * (any bytes: no crash, no leak, no read past it; what a parser returns
 * holds together, and what it quotes is printable).
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	char *buf = malloc(size + 1);

	if (!init) {
		if (psa_crypto_init() != PSA_SUCCESS)
			abort();
		init = 1;
	}
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	directory(buf, size);
	order(buf, size);
	authz(buf, size);
	problem(buf, size);
	renewal(buf, size);
	chains(buf, size);
	free(buf);
	return 0;
}
