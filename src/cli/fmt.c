/* printf-free number formatting (fmt.h). The double conversion follows Ulf
 * Adams's Ryu ("Ryu: fast float-to-string conversion", PLDI 2018): scale
 * the binary interval of values that round to v by a 125-bit power of five
 * (fmt_pow5.h), then drop decimal digits while the interval still holds a
 * shorter number. Everything is exact integer arithmetic, so the result
 * does not depend on the FPU, the locale or the C library. */
#include "fmt.h"

#include "fmt_pow5.h"

#include <stdbool.h>
#include <string.h>

static const char digit_pairs[201] = "00010203040506070809"
                                     "10111213141516171819"
                                     "20212223242526272829"
                                     "30313233343536373839"
                                     "40414243444546474849"
                                     "50515253545556575859"
                                     "60616263646566676869"
                                     "70717273747576777879"
                                     "80818283848586878889"
                                     "90919293949596979899";

static unsigned decimal_length(uint64_t v)
{
    unsigned n = 1;
    while (v >= 10000) {
        v /= 10000;
        n += 4;
    }
    return n + (v >= 10) + (v >= 100) + (v >= 1000);
}

/* The n digits of v, most significant first; n must be v's length. Pairs
 * halve the divisions. */
static void write_digits(char *dst, uint64_t v, unsigned n)
{
    char *p = dst + n;
    while (v >= 100) {
        unsigned pair = (unsigned)(v % 100) * 2;
        v /= 100;
        p -= 2;
        memcpy(p, digit_pairs + pair, 2);
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, digit_pairs + v * 2, 2);
    } else {
        *--p = (char)('0' + v);
    }
}

size_t fmt_u64(char *dst, uint64_t v)
{
    unsigned n = decimal_length(v);
    write_digits(dst, v, n);
    return n;
}

size_t fmt_i64(char *dst, int64_t v)
{
    if (v >= 0)
        return fmt_u64(dst, (uint64_t)v);
    /* unsigned negation: -INT64_MIN does not exist as an int64_t */
    dst[0] = '-';
    return 1 + fmt_u64(dst + 1, 0 - (uint64_t)v);
}

/* ---- shortest round-trip doubles ---------------------------------------- */

/* ceil(log2(5^e)) for e > 0, 1 for e = 0: the bit length of 5^e. The
 * multiplier is exact for 0 <= e <= 3528. */
static int pow5_bits(int e)
{
    return (int)(((uint32_t)e * 1217359u) >> 19) + 1;
}

/* floor(log10(2^e)) and floor(log10(5^e)), exact for 0 <= e <= 1650. */
static int log10_pow2(int e)
{
    return (int)(((uint32_t)e * 78913u) >> 18);
}

static int log10_pow5(int e)
{
    return (int)(((uint32_t)e * 732923u) >> 20);
}

static bool multiple_of_pow5(uint64_t v, int p)
{
    int count = 0;
    while (v % 5 == 0 && count < p) {
        v /= 5;
        count++;
    }
    return count >= p;
}

static bool multiple_of_pow2(uint64_t v, int p)
{
    return (v & ((UINT64_C(1) << p) - 1)) == 0;
}

/* (m * mul) >> shift for a 55-bit m and a 125-bit mul, shift > 64: only the
 * top 64 bits of the 180-bit product are kept. */
static uint64_t mul_shift(uint64_t m, const uint64_t mul[2], int shift)
{
    unsigned __int128 lo = (unsigned __int128)m * mul[0];
    unsigned __int128 hi = (unsigned __int128)m * mul[1];
    return (uint64_t)(((lo >> 64) + hi) >> (shift - 64));
}

typedef struct decimal {
    uint64_t digits; /* at most 17 decimal digits */
    int exp10;       /* value = digits * 10^exp10 */
} decimal;

/* The shortest decimal in the rounding interval of the finite, non-zero
 * double with these fields, the nearest to it among equally short ones
 * (ties to an even last digit). */
static decimal shortest(uint64_t frac, unsigned bexp)
{
    /* value = m2 * 2^e2 with two spare bits below, so that the interval
     * ends (halfway to the neighbours) are integers too */
    int e2;
    uint64_t m2;
    if (bexp == 0) {
        e2 = 1 - 1023 - 52 - 2;
        m2 = frac;
    } else {
        e2 = (int)bexp - 1023 - 52 - 2;
        m2 = (UINT64_C(1) << 52) | frac;
    }
    /* round-to-nearest-even: an even mantissa owns its interval ends */
    bool accept_ends = (m2 & 1) == 0;
    uint64_t mv = 4 * m2;
    /* at a power of two the lower neighbour is half as far */
    unsigned mm_shift = frac != 0 || bexp <= 1;

    uint64_t vr, vp, vm;
    int e10;
    bool vm_zeros = false, vr_zeros = false;
    if (e2 >= 0) {
        int q = log10_pow2(e2) - (e2 > 3);
        e10 = q;
        int k = FMT_POW5_BITS + pow5_bits(q) - 1;
        int i = -e2 + q + k;
        vr = mul_shift(mv, fmt_pow5_inv[q], i);
        vp = mul_shift(mv + 2, fmt_pow5_inv[q], i);
        vm = mul_shift(mv - 1 - mm_shift, fmt_pow5_inv[q], i);
        /* Whether the q digits divided away were all zero matters only
         * where 10^q can divide the ends; at most one of mv - 1 - mm_shift,
         * mv and mv + 2 is a multiple of 5. */
        if (q <= 21) {
            if (mv % 5 == 0)
                vr_zeros = multiple_of_pow5(mv, q);
            else if (accept_ends)
                vm_zeros = multiple_of_pow5(mv - 1 - mm_shift, q);
            else
                vp -= multiple_of_pow5(mv + 2, q);
        }
    } else {
        int q = log10_pow5(-e2) - (-e2 > 1);
        e10 = q + e2;
        int i = -e2 - q;
        int k = pow5_bits(i) - FMT_POW5_BITS;
        int j = q - k;
        vr = mul_shift(mv, fmt_pow5[i], j);
        vp = mul_shift(mv + 2, fmt_pow5[i], j);
        vm = mul_shift(mv - 1 - mm_shift, fmt_pow5[i], j);
        if (q <= 1) {
            /* mv is a multiple of 4, mv + 2 of 2; mv - 1 - mm_shift is even
             * exactly when mm_shift is 1 */
            vr_zeros = true;
            if (accept_ends)
                vm_zeros = mm_shift == 1;
            else
                vp--;
        } else if (q < 63) {
            /* -e2 >= q, so only the power of two can fall short */
            vr_zeros = multiple_of_pow2(mv, q);
        }
    }

    int removed = 0;
    unsigned last = 0;
    uint64_t out;
    if (vm_zeros || vr_zeros) {
        /* exact trailing zeros: the lower end may be taken as it is, and a
         * removed ...5000 is a true tie */
        while (vp / 10 > vm / 10) {
            vm_zeros &= vm % 10 == 0;
            vr_zeros &= last == 0;
            last = (unsigned)(vr % 10);
            vr /= 10;
            vp /= 10;
            vm /= 10;
            removed++;
        }
        if (vm_zeros) {
            while (vm % 10 == 0) {
                vr_zeros &= last == 0;
                last = (unsigned)(vr % 10);
                vr /= 10;
                vp /= 10;
                vm /= 10;
                removed++;
            }
        }
        if (vr_zeros && last == 5 && vr % 2 == 0)
            last = 4;
        out = vr + ((vr == vm && (!accept_ends || !vm_zeros)) || last >= 5);
    } else {
        bool round_up = false;
        if (vp / 100 > vm / 100) {
            round_up = vr % 100 >= 50;
            vr /= 100;
            vp /= 100;
            vm /= 100;
            removed += 2;
        }
        while (vp / 10 > vm / 10) {
            round_up = vr % 10 >= 5;
            vr /= 10;
            vp /= 10;
            vm /= 10;
            removed++;
        }
        out = vr + (vr == vm || round_up);
    }
    return (decimal){out, e10 + removed};
}

size_t fmt_double(char *dst, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    bool neg = bits >> 63;
    uint64_t frac = bits & ((UINT64_C(1) << 52) - 1);
    unsigned bexp = (unsigned)(bits >> 52) & 0x7FF;
    char *p = dst;
    if (neg)
        *p++ = '-';
    if (bexp == 0x7FF) {
        memcpy(p, frac ? "nan" : "inf", 3);
        return (size_t)(p - dst) + 3;
    }
    if (bexp == 0 && frac == 0) {
        *p = '0';
        return (size_t)(p - dst) + 1;
    }
    decimal d = shortest(frac, bexp);
    /* the digit loops can leave zeros when the interval is wide (integers,
     * exact short decimals); %g prints none */
    while (d.digits % 10 == 0) {
        d.digits /= 10;
        d.exp10++;
    }
    unsigned n = decimal_length(d.digits);
    int x = d.exp10 + (int)n - 1; /* exponent of the leading digit */
    if (x >= -4 && x < 17) {
        if (x < 0) {
            /* 0.000ddd */
            memcpy(p, "0.0000", (size_t)(1 - x));
            p += 1 - x;
            write_digits(p, d.digits, n);
            p += n;
        } else if ((unsigned)x + 1 >= n) {
            /* an integer: ddd000 */
            write_digits(p, d.digits, n);
            p += n;
            memset(p, '0', (size_t)x + 1 - n);
            p += (size_t)x + 1 - n;
        } else {
            /* ddd.ddd: the digits, then the point moved in */
            write_digits(p, d.digits, n);
            memmove(p + x + 2, p + x + 1, n - (size_t)x - 1);
            p[x + 1] = '.';
            p += n + 1;
        }
        return (size_t)(p - dst);
    }
    /* d.ddde+XX */
    write_digits(p + 1, d.digits, n);
    p[0] = p[1];
    if (n > 1) {
        p[1] = '.';
        p += n + 1;
    } else {
        p += 1;
    }
    *p++ = 'e';
    *p++ = x < 0 ? '-' : '+';
    unsigned ax = (unsigned)(x < 0 ? -x : x);
    if (ax >= 100) {
        *p++ = (char)('0' + ax / 100);
        ax %= 100;
    }
    memcpy(p, digit_pairs + ax * 2, 2);
    p += 2;
    return (size_t)(p - dst);
}
