/* bfloat16: the top 16 bits of an IEEE float32 (sign, 8 exponent bits, 7
 * fraction bits), stored as uint16_t so that no compiler extension type
 * appears outside the kernels.
 *
 * Narrowing (sm_bf16_from_f32) is defined as the AVX512-BF16 instruction
 * VCVTNEPS2BF16 does it, so that the portable code, the AVX2 and AVX-512F
 * emulations and the instruction itself give the same bits for all 2^32
 * inputs (tests/test_kernels.c sweeps them):
 *   zero or denormal  -> sign-preserving zero (inputs are treated as zero,
 *                        whatever MXCSR says; DAZ)
 *   NaN               -> the top 16 bits with the quiet bit (bit 6) set:
 *                        sign and the top 6 payload bits kept
 *   otherwise         -> round to nearest even: add 0x7fff plus bit 16,
 *                        as an integer, and keep the top 16 bits (finite
 *                        values beyond the largest bf16 become infinity)
 * A normal float32 never rounds to a bf16 denormal (both formats share the
 * exponent range), so the instruction's output flush never applies.
 *
 * Widening is exact: the 16 bits shifted left by 16. */
#ifndef SM_BF16_H
#define SM_BF16_H

#include <stdint.h>
#include <string.h>

static inline uint16_t sm_bf16_from_bits(uint32_t u)
{
    if ((u & 0x7f800000u) == 0)
        return (uint16_t)((u >> 16) & 0x8000u);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static inline uint16_t sm_bf16_from_f32(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return sm_bf16_from_bits(u);
}

static inline float sm_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

#endif
