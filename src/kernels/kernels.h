/* Kernel signatures, defined once; the kernel table type; dispatch.
 *
 * Embeddings are stored in panels: the k (padded) columns are cut into
 * panels of width w (a multiple of SM_LANES_F32 / SM_LANES_F64), and a panel
 * holds its rows contiguously, row r at panel + r * w. A gather kernel reads
 * one panel of the "other" side (src) and one of its own side (self).
 *
 * Contract of sm_gather_*: for each row r in [r0, r1) of `s`,
 *   acc   = sum over idx[ptr[r]..mid[r]) of src rows  (in index order)
 *           then minus each src row of idx[mid[r]..ptr[r+1]) (in order),
 *           starting from +0, one rounding per add/sub: no multiplies by D;
 *   out_r = (self_r - a * acc) * sc  (a*acc rounded, then the subtraction,
 *           then the scaling, each rounded; no FMA). sc is a power of two
 *           (1 normally), so the scaling is exact: it implements --rescale;
 *           written only when out != NULL;
 *   dot[r] = self_r . acc in the canonical order below, when dot != NULL.
 * Returns 1 if any written out value is not finite, else 0.
 *
 * Canonical dot order (so that every ISA gives the same bits):
 *   float:  16 double lanes, lane l += (double)self[t] * (double)acc[t] for
 *           t = l, l+16, ... in increasing t; products and sums each rounded.
 *   double: 8 lanes, lane l += self[t] * acc[t] likewise.
 *   Then lanes fold pairwise: lane[l] += lane[l + h] for h = L/2, ..., 1,
 *   and dot = lane[0].
 * Every kernel variant must be bit-identical to the portable one. */
#ifndef SM_KERNELS_H
#define SM_KERNELS_H

#include "../signs/signs.h"

#define SM_LANES_F32 16
#define SM_LANES_F64 8

typedef int (*sm_gather_f32_fn)(const sm_signs *s, size_t r0, size_t r1, size_t w, const float *src,
                                const float *self, float *out, float a, float sc, double *dot);
typedef int (*sm_gather_f64_fn)(const sm_signs *s, size_t r0, size_t r1, size_t w,
                                const double *src, const double *self, double *out, double a,
                                double sc, double *dot);

/* Blocked gathers, for sources too big to stay in cache: the source rows
 * are cut into blocks of SM_BLOCK_ROWS and each block's part of a row's
 * sum is added to an accumulator in memory, block after block.
 *
 * sm_accum_*: for r in [r0, r1), with P = ptr[r], M = mid[r],
 *   acc_r = (first ? +0 : acc_r) + src rows idx[P + pb0[r] .. P + pb1[r])
 *           - src rows idx[M + mb0[r] .. M + mb1[r])   (in that order)
 * The per-element order over all blocks is therefore: block by block, each
 * block's +1 entries then its -1 entries. With one block this is the order
 * of sm_gather_*. acc rows are w apart.
 *
 * sm_update_*: out_r = (self_r - a * acc_r) * sc and dot[r] = self_r . acc_r
 * exactly as sm_gather_* finishes a row (same canonical dot). Returns 1 if
 * an out value is not finite. acc may be out itself (the trainer
 * accumulates in the spare state buffer): every element of acc is read
 * before the element of out at the same place is written. */
#define SM_BLOCK_ROWS 16384
typedef void (*sm_accum_f32_fn)(const sm_signs *s, const uint32_t *pb0, const uint32_t *pb1,
                                const uint32_t *mb0, const uint32_t *mb1, size_t r0, size_t r1,
                                size_t w, const float *src, float *acc, int first);
typedef void (*sm_accum_f64_fn)(const sm_signs *s, const uint32_t *pb0, const uint32_t *pb1,
                                const uint32_t *mb0, const uint32_t *mb1, size_t r0, size_t r1,
                                size_t w, const double *src, double *acc, int first);
/* For sm_accum_* kernels: every segment's sum starts from its accumulator
 * row, streamed from memory, so a miss there stalls the whole segment.
 * At row r of [r, r1) it fetches the accumulator row and the
 * starts of the index segments of row r + SM_ACC_AHEAD (a hint: no
 * arithmetic changes). 25M-shaped epoch, k = 128, Zen 3, AVX2: 1.04-1.30 s
 * without, 0.60-0.73 s with. A macro, not a function: GCC 12 finds a
 * function that only prefetches free of side effects and deletes the call
 * (seen: no prefetch left in the kernels). */
#define SM_ACC_AHEAD 4
#if defined(__GNUC__)
#define SM_PREFETCH_ACCUM_ROW(s, pb0, mb0, acc, w, r, r1)                                          \
    do {                                                                                           \
        if ((r) + SM_ACC_AHEAD < (r1)) {                                                           \
            size_t q_ = (r) + SM_ACC_AHEAD;                                                        \
            const char *na_ = (const char *)((acc) + q_ * (w));                                    \
            for (size_t l_ = 0; l_ < (w) * sizeof *(acc); l_ += 64)                                \
                __builtin_prefetch(na_ + l_);                                                      \
            __builtin_prefetch((s)->idx + (s)->ptr[q_] + (pb0)[q_]);                               \
            __builtin_prefetch((s)->idx + (s)->mid[q_] + (mb0)[q_]);                               \
        }                                                                                          \
    } while (0)
#else
#define SM_PREFETCH_ACCUM_ROW(s, pb0, mb0, acc, w, r, r1) ((void)0)
#endif

/* bf16 training (kernels ending in _bf16; bf16.h for the format). The
 * state is float32 (self, out) and the gathered source is its bf16 shadow,
 * same panel layout, same element offsets. Each kernel is its float32
 * namesake with every src element widened exactly to float32 as it is
 * read: the same additions in the same order, the same update, the same
 * canonical dot; and where the f32 kernel writes out_r, the bf16 one also
 * writes outb_r = bf16(out_r) (sm_bf16_from_f32). The widened sums are
 * rounded to float32 as in the f32 kernels, so every ISA and every schedule
 * gives the same bits. The blocked accumulator acc is float32.
 *
 * sm_cvt_bf16: y[i] = sm_bf16_from_f32(x[i]) for i < n. */
typedef void (*sm_cvt_bf16_fn)(const float *x, size_t n, uint16_t *y);
typedef int (*sm_gather_bf16_fn)(const sm_signs *s, size_t r0, size_t r1, size_t w,
                                 const uint16_t *src, const float *self, float *out, uint16_t *outb,
                                 float a, float sc, double *dot);
typedef void (*sm_accum_bf16_fn)(const sm_signs *s, const uint32_t *pb0, const uint32_t *pb1,
                                 const uint32_t *mb0, const uint32_t *mb1, size_t r0, size_t r1,
                                 size_t w, const uint16_t *src, float *acc, int first);
typedef int (*sm_update_bf16_fn)(size_t r0, size_t r1, size_t w, const float *self,
                                 const float *acc, float *out, uint16_t *outb, float a, float sc,
                                 double *dot);

typedef int (*sm_update_f32_fn)(size_t r0, size_t r1, size_t w, const float *self, const float *acc,
                                float *out, float a, float sc, double *dot);
typedef int (*sm_update_f64_fn)(size_t r0, size_t r1, size_t w, const double *self,
                                const double *acc, double *out, double a, double sc, double *dot);

/* Scoring (score_*.c). Canonical score order, so that every ISA, every
 * blocking and every batch size gives the same bits: in the model's
 * precision, s = +0, then s = fma(p[t], q[t], s) for t = 0, 1, ..., dim - 1,
 * one rounding per fma. It is the order of a GEMM micro-kernel that keeps
 * one score per vector lane (one lane per item) and walks t, so the
 * kernels need no reduction at the end.
 *
 * sm_pack_*: item rows Qt (ni rows, `ldq` elements apart, dim long, any
 * alignment) into panels of SM_PANEL items: panel b holds, for t = 0 ..
 * dim - 1, the t-th element of items 16b .. 16b + 15 (zero past ni), so
 *   Qp[(j / 16) * dim * 16 + t * 16 + j % 16] = Qt[j * ldq + t].
 * Qp is SM_ALIGN-aligned with room for sm_packed_elems(ni, dim) elements.
 *
 * sm_score_*: S[u * lds + j] = score(P row u, item j) for u < nu, j < ni,
 * with P rows `ldp` elements apart (any alignment) and the items packed as
 * above; only those nu x ni entries of S are written. */
#define SM_PANEL 16
static inline size_t sm_packed_elems(size_t ni, size_t dim)
{
    return (ni + SM_PANEL - 1) / SM_PANEL * SM_PANEL * dim;
}
typedef void (*sm_pack_f32_fn)(const float *Qt, size_t ldq, size_t ni, size_t dim, float *Qp);
typedef void (*sm_pack_f64_fn)(const double *Qt, size_t ldq, size_t ni, size_t dim, double *Qp);
typedef void (*sm_score_f32_fn)(const float *P, size_t ldp, size_t nu, const float *Qp, size_t ni,
                                size_t dim, float *S, size_t lds);
/* bf16 models (bf16.h): P rows and packed items are bf16, the scores
 * float32, in the float32 canonical order on the widened values:
 *   s = +0, then s = fmaf(widen(p[t]), widen(q[t]), s) for t ascending.
 * (A product of two bf16 is exact in float32, so the one rounding per step
 * is the sum's.) Packing is the same layout with 2-byte elements. */
typedef void (*sm_pack_bf16_fn)(const uint16_t *Qt, size_t ldq, size_t ni, size_t dim,
                                uint16_t *Qp);
typedef void (*sm_score_bf16_fn)(const uint16_t *P, size_t ldp, size_t nu, const uint16_t *Qp,
                                 size_t ni, size_t dim, float *S, size_t lds);
typedef void (*sm_score_f64_fn)(const double *P, size_t ldp, size_t nu, const double *Qp, size_t ni,
                                size_t dim, double *S, size_t lds);

/* Selection helpers for top-k over a row of scores in groups of 16
 * (score.c):
 * sm_emax_*: the largest S[16g + i] over g < ng, i < 16, whose bit i of
 * ex[g] is clear; -inf when there is none. A NaN never wins.
 * sm_screen_*: the candidates among S[0 .. 16 ng): writes to pos, in
 * increasing order, every i whose bit i % 16 of ex[i / 16] is clear and
 * whose S[i] is not below thr (a NaN counts), and returns how many. pos
 * has room for 16 ng entries, all of which it may write. The list rather
 * than per-group masks spares the caller a data-dependent branch per
 * group: in ua.base's top-10 about 20 of a user's 1,682 scores pass.
 * Comparisons only, so every ISA gives the same bits. */
typedef float (*sm_emax_f32_fn)(const float *S, size_t ng, const uint16_t *ex);
typedef double (*sm_emax_f64_fn)(const double *S, size_t ng, const uint16_t *ex);
typedef size_t (*sm_screen_f32_fn)(const float *S, size_t ng, float thr, const uint16_t *ex,
                                   uint16_t *pos);
typedef size_t (*sm_screen_f64_fn)(const double *S, size_t ng, double thr, const uint16_t *ex,
                                   uint16_t *pos);

/* Dense kernels of src/linalg (dense.h), all double, row-major:
 * sm_xty_f64: C (k1 x k2, row stride ldc) += X^T Y over rows [0, n) of X
 *   (n x k1, ldx) and Y (n x k2, ldy): each C[a][b] adds the product
 *   X[r][a] * Y[r][b] (rounded) for r ascending, one rounding per add.
 * sm_mul_small_f64: Y (n x k2, ldy) = X (n x k1, ldx) T (k1 x k2, dense):
 *   Y[r][b] = +0, then += X[r][a] * T[a][b] for a ascending. Y must not
 *   overlap X or T.
 * No FMA (-ffp-contract=off), so every ISA gives the same bits. */
typedef void (*sm_xty_f64_fn)(const double *X, size_t ldx, const double *Y, size_t ldy, size_t n,
                              size_t k1, size_t k2, double *C, size_t ldc);
typedef void (*sm_mul_small_f64_fn)(const double *X, size_t ldx, size_t n, size_t k1,
                                    const double *T, size_t k2, double *Y, size_t ldy);

typedef enum sm_isa {
    SM_ISA_PORTABLE = 0,
    SM_ISA_AVX2 = 1,
    SM_ISA_AVX512 = 2,
    SM_ISA_COUNT
} sm_isa;

typedef struct sm_kernels {
    const char *name;
    sm_isa isa;
    sm_gather_f32_fn gather_f32;
    sm_gather_f64_fn gather_f64;
    /* Same results; also prefetch rows ahead, for src panels beyond L2. */
    sm_gather_f32_fn gather_pf_f32;
    sm_gather_f64_fn gather_pf_f64;
    sm_accum_f32_fn accum_f32;
    sm_accum_f64_fn accum_f64;
    sm_update_f32_fn update_f32;
    sm_update_f64_fn update_f64;
    sm_cvt_bf16_fn cvt_bf16;
    sm_gather_bf16_fn gather_bf16;
    sm_gather_bf16_fn gather_pf_bf16;
    sm_accum_bf16_fn accum_bf16;
    sm_update_bf16_fn update_bf16;
    sm_pack_f32_fn pack_f32;
    sm_pack_f64_fn pack_f64;
    sm_score_f32_fn score_f32;
    sm_score_f64_fn score_f64;
    sm_pack_bf16_fn pack_bf16;
    sm_score_bf16_fn score_bf16;
    sm_emax_f32_fn emax_f32;
    sm_emax_f64_fn emax_f64;
    sm_screen_f32_fn screen_f32;
    sm_screen_f64_fn screen_f64;
    sm_xty_f64_fn xty_f64;
    sm_mul_small_f64_fn mul_small_f64;
} sm_kernels;

/* Per-ISA registration: each fills the slots it implements. The portable
 * one fills every slot. */
void sm_kernels_init_portable(sm_kernels *k);
void sm_kernels_init_avx2(sm_kernels *k);
void sm_kernels_init_avx512(sm_kernels *k);
/* VCVTNEPS2BF16 itself (avx512.c), or NULL when this build or CPU lacks
 * AVX512-BF16. The avx512 table's cvt_bf16 is this one where it exists. */
sm_cvt_bf16_fn sm_cvt_bf16_native(void);
void sm_cvt_bf16_avx512bf16(const float *x, size_t n, uint16_t *y);
/* The score slots, called from the matching sm_kernels_init_*. */
void sm_score_init_portable(sm_kernels *k);
void sm_score_init_avx2(sm_kernels *k);
void sm_score_init_avx512(sm_kernels *k);

/* The table in use: chosen once (pthread_once) from CPUID, unless the
 * environment variable SIGNMF_ISA=portable|avx2|avx512 forces one that the
 * CPU supports; one it lacks is ignored. The library never prints it:
 * signmf_kernel_name() tells, and the CLI logs it under SIGNMF_ISA_DEBUG. */
const sm_kernels *sm_kernels_active(void);
/* A specific table, or NULL if this build or CPU cannot run it. */
const sm_kernels *sm_kernels_for(sm_isa isa);
const char *sm_isa_name(sm_isa isa);

#endif
