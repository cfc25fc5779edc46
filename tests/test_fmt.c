/* The CLI's printf-free formatting (src/cli/fmt.c) against the C library:
 * integers must match printf exactly; doubles must read back through
 * strtod to the same bits, be no longer than %.17g, be at least as short
 * as the shortest %.Ng that reads back, and equal %.17g byte for byte
 * when they have 17 digits. */
#include "cli/fmt.h"

#include <criterion/criterion.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Criterion's --full-stats reports every passing assertion to the runner,
 * which would dominate millions of checks: test first, assert on failure. */
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            cr_assert_fail(__VA_ARGS__);                                                           \
    } while (0)

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

/* splitmix64: fixed seed, so a failure names a reproducible input */
static uint64_t next_u64(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static double from_bits(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static uint64_t to_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

static void check_i64(int64_t v)
{
    char got[FMT_I64_MAX + 1], want[32];
    size_t n = fmt_i64(got, v);
    CHECK(n <= FMT_I64_MAX, "fmt_i64(%" PRId64 "): %zu bytes", v, n);
    got[n] = '\0';
    snprintf(want, sizeof want, "%" PRId64, v);
    CHECK(strcmp(got, want) == 0, "fmt_i64(%" PRId64 ") = '%s'", v, got);
}

static void check_u64(uint64_t v)
{
    char got[FMT_U64_MAX + 1], want[32];
    size_t n = fmt_u64(got, v);
    CHECK(n <= FMT_U64_MAX, "fmt_u64(%" PRIu64 "): %zu bytes", v, n);
    got[n] = '\0';
    snprintf(want, sizeof want, "%" PRIu64, v);
    CHECK(strcmp(got, want) == 0, "fmt_u64(%" PRIu64 ") = '%s'", v, got);
}

Test(fmt, integers_edges)
{
    const int64_t s[] = {0,
                         1,
                         -1,
                         9,
                         10,
                         -10,
                         99,
                         100,
                         999,
                         1000,
                         9999,
                         10000,
                         -99999,
                         INT32_MAX,
                         INT32_MIN,
                         (int64_t)INT32_MAX + 1,
                         INT64_MAX,
                         INT64_MIN,
                         INT64_MAX - 1,
                         INT64_MIN + 1};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        check_i64(s[i]);
    check_u64(0);
    check_u64(UINT64_MAX);
    check_u64(UINT64_MAX - 1);
    /* every length boundary: 10^k - 1, 10^k, and their negatives */
    uint64_t p = 1;
    for (int k = 0; k < 20; k++) {
        check_u64(p);
        check_u64(p - 1);
        check_u64(p + 1);
        if (p <= (uint64_t)INT64_MAX) {
            check_i64((int64_t)p);
            check_i64(-(int64_t)p);
            check_i64(-(int64_t)(p - 1));
        }
        if (k < 19)
            p *= 10;
    }
}

Test(fmt, integers_random)
{
    for (int i = 0; i < 1000000; i++) {
        uint64_t r = next_u64();
        /* random bit lengths, so that short numbers are as common as long */
        unsigned len = (unsigned)(next_u64() % 64) + 1;
        uint64_t v = len == 64 ? r : r & ((UINT64_C(1) << len) - 1);
        check_u64(v);
        check_i64((int64_t)v);
    }
}

/* significant digits of a formatted finite value: leading and trailing
 * zeros of the mantissa are not counted */
static int sig_digits(const char *s)
{
    const char *end = strchr(s, 'e');
    if (end == NULL)
        end = s + strlen(s);
    const char *a = s;
    while (a < end && (*a == '-' || *a == '0' || *a == '.'))
        a++;
    const char *b = end;
    while (b > a && (b[-1] == '0' || b[-1] == '.'))
        b--;
    int n = 0;
    for (const char *c = a; c < b; c++)
        n += *c != '.';
    return n;
}

/* the fewest %.Ng digits that read back to v; reading back is monotone in
 * N (more correctly rounded digits are never farther), hence the bisection */
static int printf_shortest(double v)
{
    int lo = 1, hi = 17;
    char buf[40];
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        snprintf(buf, sizeof buf, "%.*g", mid, v);
        if (strtod(buf, NULL) == v)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* The whole contract for one double; `thorough` adds the shortest-ness
 * comparison, which costs a few printf calls. */
static void check_double(double v, bool thorough)
{
    char got[FMT_DOUBLE_MAX + 8], want[40];
    memset(got, '#', sizeof got);
    size_t n = fmt_double(got, v);
    CHECK(n <= FMT_DOUBLE_MAX, "fmt_double(%a): %zu bytes", v, n);
    CHECK(got[n] == '#', "fmt_double(%a) wrote past its length", v);
    got[n] = '\0';
    int wn = snprintf(want, sizeof want, "%.17g", v);
    if (!isfinite(v)) {
        CHECK(strcmp(got, want) == 0, "fmt_double(%a) = '%s', printf '%s'", v, got, want);
        return;
    }
    char *end;
    double back = strtod(got, &end);
    CHECK(*end == '\0', "fmt_double(%a) = '%s' is not all number", v, got);
    CHECK(to_bits(back) == to_bits(v), "fmt_double(%a) = '%s' reads back as %a", v, got, back);
    CHECK(n <= (size_t)wn, "fmt_double(%a) = '%s' is longer than %%.17g '%s'", v, got, want);
    if (thorough) {
        int p = printf_shortest(v);
        CHECK(sig_digits(got) <= p, "fmt_double(%a) = '%s' has more digits than %%.%dg", v, got, p);
    }
    /* with all 17 digits, these are the correctly rounded ones; fewer can
     * round-trip where %.Ng's cannot (above v at a power of two, where
     * the interval is wider than below) */
    if (sig_digits(got) == 17)
        CHECK(strcmp(got, want) == 0, "fmt_double(%a) = '%s' has 17 digits, %%.17g '%s'", v, got,
              want);
}

Test(fmt, double_specials)
{
    const double s[] = {0.0,
                        -0.0,
                        INFINITY,
                        -INFINITY,
                        NAN,
                        -NAN,
                        DBL_MIN,
                        -DBL_MIN,
                        DBL_MAX,
                        -DBL_MAX,
                        DBL_TRUE_MIN,
                        -DBL_TRUE_MIN,
                        DBL_MIN - DBL_TRUE_MIN, /* the largest denormal */
                        DBL_EPSILON,
                        1.0,
                        -1.0,
                        0.1,
                        0.2,
                        0.3,
                        1.0 / 3.0,
                        2.0 / 3.0,
                        123456.0,
                        1e16,
                        1e17,
                        9007199254740991.0,
                        9007199254740992.0,
                        9007199254740993.0,
                        5e-324,
                        1e-5,
                        1e-4,
                        0.0001234,
                        99999999999999984.0,
                        FLT_MAX,
                        FLT_MIN,
                        FLT_TRUE_MIN,
                        (double)0.1f,
                        (double)(1.0f / 3.0f)};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        check_double(s[i], true);
    char buf[FMT_DOUBLE_MAX];
    size_t n = fmt_double(buf, 0.5);
    cr_assert(n == 3 && memcmp(buf, "0.5", 3) == 0, "0.5 as '%.*s'", (int)n, buf);
    n = fmt_double(buf, 1e100);
    cr_assert(n == 6 && memcmp(buf, "1e+100", 6) == 0, "1e100 as '%.*s'", (int)n, buf);
    n = fmt_double(buf, -0.0);
    cr_assert(n == 2 && memcmp(buf, "-0", 2) == 0, "-0 as '%.*s'", (int)n, buf);
}

Test(fmt, double_powers)
{
    /* powers of two: the lower neighbour is half as far, the asymmetric
     * interval; every binary exponent, denormal ones included */
    for (int e = -1074; e <= 1023; e++) {
        double v = ldexp(1.0, e);
        check_double(v, true);
        check_double(nextafter(v, 0), true);
        check_double(nextafter(v, INFINITY), true);
    }
    /* powers of ten and their neighbours: the digit loops' edges */
    char buf[16];
    for (int e = -323; e <= 308; e++) {
        snprintf(buf, sizeof buf, "1e%d", e);
        double v = strtod(buf, NULL);
        check_double(v, true);
        check_double(-v, true);
        check_double(nextafter(v, 0), true);
        check_double(nextafter(v, INFINITY), true);
    }
    /* integers where doubles stop being exact */
    for (int64_t i = -100; i <= 100; i++) {
        check_double((double)((INT64_C(1) << 53) + i), true);
        check_double((double)i, true);
    }
}

Test(fmt, double_random_bits, .timeout = 120)
{
    /* every finite and non-finite bit pattern is fair game */
    for (int i = 0; i < 1000000; i++)
        check_double(from_bits(next_u64()), i % 16 == 0);
}

Test(fmt, double_denormals)
{
    for (int i = 0; i < 200000; i++) {
        uint64_t frac = next_u64() & ((UINT64_C(1) << 52) - 1);
        /* exponent field 0 (denormal) or 1 (the smallest normals), either sign */
        uint64_t exp = (uint64_t)(i & 1) << 52;
        uint64_t sign = (uint64_t)((i >> 1) & 1) << 63;
        check_double(from_bits(sign | exp | frac), i % 4 == 0);
    }
}

Test(fmt, float_valued_random_bits, .timeout = 120)
{
    /* a float32 model's scores are floats widened to double: random float
     * bit patterns, denormals and non-finite ones included */
    for (int i = 0; i < 1000000; i++) {
        uint32_t b = (uint32_t)next_u64();
        float f;
        memcpy(&f, &b, sizeof f);
        check_double((double)f, i % 16 == 0);
    }
}

Test(fmt, scores_range)
{
    /* the magnitudes scores take, densely: uniform over [-1000, 1000] */
    for (int i = 0; i < 200000; i++) {
        double u = (double)(next_u64() >> 11) * 0x1p-53;
        check_double((u - 0.5) * 2000.0, true);
        check_double((double)(float)((u - 0.5) * 20.0), true);
    }
}
