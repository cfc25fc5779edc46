/* bf16: the narrowing against VCVTNEPS2BF16's definition (and the
 * instruction itself where the CPU has it) on all 2^32 inputs, and the
 * bf16 training kernels against the f32 ones on widened sources. */
#include "kernels/bf16.h"
#include "kernels/kernels.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static float from_bits(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* Hand-checked cases of the instruction's pseudo-code (Intel SDM,
 * VCVTNEPS2BF16: convert_fp32_to_bfloat16). */
Test(bf16, narrowing_follows_the_instruction)
{
    static const uint32_t in[][2] = {
        {0x3f800000u, 0x3f80u}, /* 1 */
        {0x3f808000u, 0x3f80u}, /* tie, even below: stays */
        {0x3f818000u, 0x3f82u}, /* tie, odd below: up */
        {0x3f808001u, 0x3f81u}, /* above the tie */
        {0x3f807fffu, 0x3f80u}, /* below the tie */
        {0xbf818000u, 0xbf82u}, /* sign does not change the rounding */
        {0x00000001u, 0x0000u}, /* denormal: zero (DAZ) */
        {0x807fffffu, 0x8000u}, /* negative denormal: -0 */
        {0x80000000u, 0x8000u}, /* -0 */
        {0x00800000u, 0x0080u}, /* smallest normal */
        {0x7f7fffffu, 0x7f80u}, /* largest finite rounds to infinity */
        {0x7f800000u, 0x7f80u}, /* infinity */
        {0xff800000u, 0xff80u}, /* -infinity */
        {0x7f800001u, 0x7fc0u}, /* signalling NaN, low payload: quietened */
        {0x7fbfffffu, 0x7fffu}, /* top payload bits kept, quiet bit set */
        {0xffc00000u, 0xffc0u}, /* negative quiet NaN */
        {0xffffffffu, 0xffffu},
    };
    for (size_t i = 0; i < sizeof in / sizeof *in; ++i)
        cr_assert_eq(sm_bf16_from_f32(from_bits(in[i][0])), in[i][1], "%08x -> %04x, expected %04x",
                     in[i][0], sm_bf16_from_f32(from_bits(in[i][0])), in[i][1]);
    /* widening is exact: every bf16 survives the round trip */
    for (uint32_t h = 0; h < 0x10000u; ++h) {
        uint32_t u = h << 16;
        bool denormal = (u & 0x7f800000u) == 0 && (u & 0x7fffffu) != 0;
        bool snan = (u & 0x7fffffffu) > 0x7f800000u && !(u & 0x400000u);
        if (!denormal && !snan)
            cr_assert_eq(sm_bf16_from_f32(sm_bf16_to_f32((uint16_t)h)), h);
    }
}

/* All 2^32 float bit patterns through `cvt`, against sm_bf16_from_bits.
 * The chunk is a multiple of 16; the tails are checked separately. */
static void sweep(sm_cvt_bf16_fn cvt)
{
    enum { N = 1 << 16 };
    uint32_t *x = malloc(N * sizeof *x);
    uint16_t *y = malloc(N * sizeof *y), *want = malloc(N * sizeof *want);
    cr_assert(x && y && want);
    for (uint64_t base = 0; base < (1ull << 32); base += N) {
        for (uint32_t i = 0; i < N; ++i) {
            x[i] = (uint32_t)base + i;
            want[i] = sm_bf16_from_bits(x[i]);
        }
        cvt((const float *)x, N, y);
        if (memcmp(y, want, sizeof *y * N) != 0)
            for (uint32_t i = 0; i < N; ++i)
                cr_assert_eq(y[i], want[i], "%08x -> %04x, expected %04x", x[i], y[i], want[i]);
    }
    /* every tail length, each element a hard case, and no write past n */
    static const uint32_t hard[] = {0x3f818000u, 0x00000001u, 0x7f800001u, 0x7f7fffffu,
                                    0x80400000u, 0xffc00001u, 0x3f808000u};
    for (size_t n = 0; n <= 40; ++n) {
        for (size_t i = 0; i < 48; ++i) {
            x[i] = hard[i % 7] + (uint32_t)(i / 7);
            y[i] = 0x1234;
        }
        cvt((const float *)x, n, y);
        for (size_t i = 0; i < 48; ++i)
            cr_assert_eq(y[i], i < n ? sm_bf16_from_bits(x[i]) : 0x1234, "n %zu, element %zu", n,
                         i);
    }
    free(x), free(y), free(want);
}

Test(bf16, portable_narrowing_all_inputs, .timeout = 120)
{
    sweep(sm_kernels_for(SM_ISA_PORTABLE)->cvt_bf16);
}

Test(bf16, avx2_narrowing_all_inputs, .timeout = 120)
{
    const sm_kernels *k = sm_kernels_for(SM_ISA_AVX2);
    if (!k)
        cr_skip_test("this CPU cannot run the avx2 kernels");
    sweep(k->cvt_bf16);
}

Test(bf16, avx512_narrowing_all_inputs, .timeout = 120)
{
    const sm_kernels *k = sm_kernels_for(SM_ISA_AVX512);
    if (!k)
        cr_skip_test("this CPU cannot run the avx512 kernels");
    sweep(k->cvt_bf16);
}

Test(bf16, vcvtneps2bf16_all_inputs, .timeout = 120)
{
    sm_cvt_bf16_fn f = sm_cvt_bf16_native();
    if (!f)
        cr_skip_test("this CPU has no AVX512-BF16 (VCVTNEPS2BF16)");
    sweep(f);
}
