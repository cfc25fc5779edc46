/* Number formatting for the CLI's bulk output, without printf: writers that
 * print millions of scores cannot afford a format-string parse and a
 * locale lookup per number. Every function writes to `dst` (no NUL) and
 * returns the number of bytes written; `dst` needs room for the matching
 * *_MAX bytes. */
#ifndef SIGNMF_CLI_FMT_H
#define SIGNMF_CLI_FMT_H

#include <stddef.h>
#include <stdint.h>

#define FMT_U64_MAX    20 /* 18446744073709551615 */
#define FMT_I64_MAX    20 /* -9223372036854775808 */
#define FMT_DOUBLE_MAX 24 /* -2.2250738585072014e-308 */

/* Decimal, as printf's "%" PRIu64 / "%" PRId64. */
size_t fmt_u64(char *dst, uint64_t v);
size_t fmt_i64(char *dst, int64_t v);

/* The shortest decimal that strtod reads back to exactly v (of several
 * that short, the nearest to v), laid out as printf's "%.17g" lays out its
 * own digits: plain notation while the decimal exponent X satisfies
 * -4 <= X < 17, else d.ddde+XX; no trailing zeros. With 17 digits the
 * two agree byte for byte; otherwise this is shorter, and reads back to
 * the same double as %.17g does. Non-finite
 * values print as printf does: inf, -inf, nan, -nan. */
size_t fmt_double(char *dst, double v);

#endif
