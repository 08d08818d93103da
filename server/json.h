/* json.h - the one JSON string writer: the logs, `check --json`, `dns --json` */
#ifndef MTA_STSD_JSON_H
#define MTA_STSD_JSON_H

#include <stddef.h>
#include <stdio.h>

/*
 * How a string becomes the inside of a JSON string. JSON text is UTF-8
 * (RFC 8259 section 8.1) and what we quote may hold any byte (a Host header,
 * a file name, a Content-Type from the network), so:
 *  - '"' and '\' get a backslash; \b \f \n \r \t are written by name;
 *  - the other control characters U+0000..U+001F, DEL (U+007F) and the C1
 *    controls U+0080..U+009F as \u00XX, and U+2028, U+2029 as \u2028,
 *    \u2029: no line of a log can be ended, or a terminal driven, by them;
 *  - any other well-formed UTF-8 character (shortest form, no surrogate, at
 *    most U+10FFFF) is copied as it is: "é" stays "é";
 *  - each byte that is not part of a well-formed character becomes \ufffd,
 *    the replacement character: the output stays valid JSON (and valid
 *    UTF-8) and never claims a character the input did not hold.
 */

/*
 * The well-formed UTF-8 character at s[0..len): its length (1 to 4) with its
 * code point in *cp, or 0 when s[0] starts none (len 0, a stray
 * continuation byte, an overlong form, a surrogate, beyond U+10FFFF, or a
 * sequence cut short).
 */
size_t json_utf8_char(const char *s, size_t len, unsigned long *cp);

/*
 * s[0..len) escaped by the rule above, without quotes, into out (outsz
 * bytes, NUL-terminated when outsz > 0). Output that does not fit is cut
 * between two characters, never inside an escape or a UTF-8 sequence, so
 * what was written is valid. Returns the length of the whole escape (as
 * snprintf does: a result >= outsz means it was cut).
 */
size_t json_escape(char *out, size_t outsz, const char *s, size_t len);

/* Write s to fp as a quoted JSON string, escaped by the rule above; NULL is
 * written as null. */
void json_fput_string(FILE *fp, const char *s);

/* Write sep, then "name": and value as by json_fput_string (one member of
 * an object; name is a literal of the caller's, written as it is). */
void json_fput_member(FILE *fp, const char *sep, const char *name,
    const char *value);

#endif
