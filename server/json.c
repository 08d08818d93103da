/* json.c - the one JSON string writer: the logs, `check --json`, `dns --json` */
#include "json.h"

#include <string.h>

size_t
json_utf8_char(const char *s, size_t len, unsigned long *cp)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned long c;
	size_t n;

	if (len == 0)
		return 0;
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {	/* 0xc0, 0xc1: overlong */
		n = 2;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		c = p[0] & 0x07;
	} else
		return 0;
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) ||
	    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return 0;
	*cp = c;
	return n;
}

/*
 * The escape of the character at s[0..len) (len > 0) by the rule in json.h:
 * sets *out to what to write (buf, or s itself when it is copied) and *outlen
 * to its length. Returns the number of input bytes it stands for.
 */
static size_t
escape_one(const char *s, size_t len, char buf[8], const char **out,
    size_t *outlen)
{
	static const char hex[] = "0123456789abcdef";
	static const char named[] = "\b\f\n\r\t", names[] = "bfnrt";
	unsigned long cp;
	size_t n = json_utf8_char(s, len, &cp);
	const char *nm;

	*out = buf;
	*outlen = 2;
	buf[0] = '\\';
	if (n == 0) {
		memcpy(buf, "\\ufffd", 6);
		*outlen = 6;
		return 1;
	}
	if (cp == '"' || cp == '\\')
		buf[1] = (char)cp;
	else if (cp > 0 && cp < 0x20 &&
	    (nm = strchr(named, (int)cp)) != NULL)
		buf[1] = names[nm - named];
	else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 ||
	    cp == 0x2029) {
		buf[1] = 'u';
		buf[2] = hex[cp >> 12 & 15];
		buf[3] = hex[cp >> 8 & 15];
		buf[4] = hex[cp >> 4 & 15];
		buf[5] = hex[cp & 15];
		*outlen = 6;
	} else {
		*out = s;
		*outlen = n;
	}
	return n;
}

size_t
json_escape(char *out, size_t outsz, const char *s, size_t len)
{
	size_t total = 0, written = 0;
	int full = outsz == 0;

	for (size_t i = 0; i < len;) {
		char buf[8];
		const char *e;
		size_t elen;

		i += escape_one(s + i, len - i, buf, &e, &elen);
		if (!full && written + elen < outsz) {
			memcpy(out + written, e, elen);
			written += elen;
		} else
			full = 1;
		total += elen;
	}
	if (outsz > 0)
		out[written] = '\0';
	return total;
}

void
json_fput_string(FILE *fp, const char *s)
{
	size_t len;

	if (s == NULL) {
		fputs("null", fp);
		return;
	}
	len = strlen(s);
	fputc('"', fp);
	for (size_t i = 0; i < len;) {
		char buf[8];
		const char *e;
		size_t elen;

		i += escape_one(s + i, len - i, buf, &e, &elen);
		fwrite(e, 1, elen, fp);
	}
	fputc('"', fp);
}

void
json_fput_member(FILE *fp, const char *sep, const char *name,
    const char *value)
{
	fprintf(fp, "%s\"%s\": ", sep, name);
	json_fput_string(fp, value);
}
