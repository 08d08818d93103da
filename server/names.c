/* names.c - host name validation, normalisation and matching (pure, no I/O) */
#include "names.h"

#include <string.h>

#define LABEL_MAX_LEN 63

static int
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
to_lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

/* Lower-case in[0..len) into out; 0 only for a valid multi-label host name. */
int
name_normalise(const char *in, size_t len, char *out, size_t outsz)
{
	size_t i, label_start = 0, labels = 1;
	int numeric = 1;	/* current label is all digits so far */

	if (in == NULL || out == NULL || len == 0 || len > NAME_MAX_LEN ||
	    outsz < len + 1)
		return -1;

	for (i = 0; i < len; i++) {
		int c = (unsigned char)in[i];

		if (c == '.') {
			/* close the label in[label_start..i) */
			if (i == label_start ||
			    i - label_start > LABEL_MAX_LEN || in[i - 1] == '-')
				return -1;
			labels++;
			label_start = i + 1;
			numeric = 1;
			out[i] = '.';
			continue;
		}
		if (c == '-') {
			if (i == label_start)
				return -1;
			numeric = 0;
		} else if (is_alpha(c))
			numeric = 0;
		else if (!is_digit(c))
			return -1;
		out[i] = (char)to_lower(c);
	}

	/* the last label: not empty (no trailing dot), no trailing hyphen */
	if (label_start == len || len - label_start > LABEL_MAX_LEN ||
	    in[len - 1] == '-')
		return -1;
	/* an all-numeric last label is an IPv4 address, never a host name */
	if (numeric || labels < 2)
		return -1;
	out[len] = '\0';
	return 0;
}

/* Host header value, optional ":port" dropped, into a normalised name or -1. */
int
name_from_host_header(const char *host, char *out, size_t outsz)
{
	const char *colon;
	size_t len, i, ndigits;
	unsigned long port = 0;

	if (host == NULL)
		return -1;
	/* "[::1]:443" and other IP literals are never an MTA-STS host */
	if (strchr(host, '[') != NULL)
		return -1;

	colon = strchr(host, ':');
	if (colon == NULL)
		return name_normalise(host, strlen(host), out, outsz);

	/* the port: 1 to 5 digits up to 65535, nothing after it */
	len = (size_t)(colon - host);
	ndigits = strlen(colon + 1);
	if (ndigits == 0 || ndigits > 5)
		return -1;
	for (i = 1; i <= ndigits; i++) {
		if (!is_digit((unsigned char)colon[i]))
			return -1;
		port = port * 10 + (unsigned long)(colon[i] - '0');
	}
	if (port > 65535)
		return -1;
	return name_normalise(host, len, out, outsz);
}

/* 1 when pattern (exact, or "*." plus exactly one label) matches host. */
int
name_match(const char *pattern, const char *host)
{
	size_t plen, hlen, first;

	if (pattern == NULL || host == NULL || *pattern == '\0')
		return 0;
	if (pattern[0] != '*')
		return strcmp(pattern, host) == 0;

	/* "*.rest": host is one non-empty label followed by ".rest" */
	if (pattern[1] != '.' || pattern[2] == '\0')
		return 0;
	plen = strlen(pattern + 1);		/* ".rest" */
	hlen = strlen(host);
	if (hlen <= plen)
		return 0;
	first = hlen - plen;		/* length of host's first label */
	if (memchr(host, '.', first) != NULL ||
	    memchr(host, '*', first) != NULL)
		return 0;
	return strcmp(host + first, pattern + 1) == 0;
}

/* The domain after a leading "mta-sts." label, or NULL. */
const char *
name_policy_domain(const char *name)
{
	static const char prefix[] = "mta-sts.";

	if (name == NULL || strncmp(name, prefix, sizeof(prefix) - 1) != 0 ||
	    name[sizeof(prefix) - 1] == '\0')
		return NULL;
	return name + sizeof(prefix) - 1;
}
