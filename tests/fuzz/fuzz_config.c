/* fuzz_config.c - libFuzzer harness for config_load_buffer (the INI reader) */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Load any bytes as a configuration: it must either fail with at least one
 * error and a zeroed config, or succeed with a usable one; never crash or leak. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct config zero;
	struct config cfg;
	struct diag d = { 0 };
	int r;

	r = config_load_buffer("fuzz/mta-stsd.conf", (const char *)data, size,
	    &cfg, &d);
	if (r == 0) {
		if (d.nerrors != 0 || cfg.nlisten == 0 || cfg.policy_dir == NULL ||
		    cfg.access_log == NULL)
			__builtin_trap();
		/* every domain is found by its own name */
		for (size_t i = 0; i < cfg.ndomains; i++)
			if (config_find_domain(&cfg, cfg.domains[i].name) !=
			    &cfg.domains[i])
				__builtin_trap();
		config_free(&cfg);
	} else if (d.nerrors == 0 || memcmp(&cfg, &zero, sizeof(zero)) != 0) {
		__builtin_trap();
	}
	diag_clear(&d);
	return 0;
}
