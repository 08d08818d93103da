/* fuzz_records.c - libFuzzer harness for the DNS record parsers in records.c */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The input is a TXT record's text as a resolver hands it over: parsed as an
 * _mta-sts record, as a TLS-RPT record and as a rua list. Checks: a parsed
 * id is valid by records_id_valid; a parsed rua list parses again to itself.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *txt = (const char *)data;
	char id[RECORDS_ID_MAX + 1], err[256], rua[2048], rua2[2048];

	(void)records_is_sts(txt, size);
	(void)records_is_tlsrpt(txt, size);
	if (records_sts_parse(txt, size, id, err, sizeof(err)) == 0 &&
	    !records_id_valid(id, strlen(id)))
		abort();
	if (records_tlsrpt_parse(txt, size, rua, sizeof(rua), err,
	    sizeof(err)) == 0) {
		if (records_rua_list(rua, strlen(rua), rua2, sizeof(rua2), err,
		    sizeof(err)) != 0 || strcmp(rua, rua2) != 0)
			abort();
	}
	(void)records_rua_list(txt, size, rua, sizeof(rua), err, sizeof(err));
	return 0;
}
