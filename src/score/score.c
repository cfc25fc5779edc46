/* Serving: scores fused with top-k selection.
 *
 * Scores come from the kernel table's score_f32/score_f64 (canonical order
 * in kernels/kernels.h), so every ISA, thread count and blocking gives the
 * same bits and a user asked alone gets exactly the scores and ranking it
 * gets in a batch.
 *
 * Blocking: items go in blocks of `jb` rows sized to stay in L2
 * (SM_QBLOCK_BYTES), users in strips of SM_STRIP rows. The model keeps Q
 * packed in the kernels' panels (model.h), in the file too, so a block
 * is a slice of it, read in place. A thread walks its strips over a
 * block; the kernel writes the strip x block score tile (L1/L2) and the
 * selection consumes it at once, so no more than that tile of the users x
 * items matrix ever exists. */
#include "score.h"
#include "../kernels/bf16.h"
#include "../signs/signs_internal.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Users per parallel pass: bounds heap memory and the callback latency. */
#define SM_CHUNK 4096

/* A candidate as one 128-bit key whose unsigned order is the ranking:
 * high half the score mapped to an order-preserving integer (NaN lowest,
 * -0 as +0 so that zeros tie), low half the complement of the item index
 * (ties to the lower index). One compare, no branches on NaN. */
__extension__ typedef unsigned __int128 cand;

static inline cand make_cand(double score, size_t index)
{
    uint64_t b;
    if (score == 0)
        score = 0.0;
    memcpy(&b, &score, sizeof b);
    uint64_t key = isnan(score) ? 0 : (b >> 63) ? ~b : b | (UINT64_C(1) << 63);
    return (cand)key << 64 | (cand)(UINT64_MAX - (uint64_t)index);
}

static inline double cand_score(cand c)
{
    uint64_t key = (uint64_t)(c >> 64), b = (key >> 63) ? key & ~(UINT64_C(1) << 63) : ~key;
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static inline size_t cand_index(cand c)
{
    return (size_t)(UINT64_MAX - (uint64_t)c);
}

/* "a ranks before b": higher score first, NaN last, ties to the lower item
 * index. */
static inline bool ranks_before(cand a, cand b)
{
    return a > b;
}

/* Min-heap on rank: the root is the worst kept candidate. */
static void sift_down(cand *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && ranks_before(h[w], h[l]))
            w = l;
        if (r < n && ranks_before(h[w], h[r]))
            w = r;
        if (w == i)
            return;
        cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static void sift_up(cand *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ranks_before(h[p], h[i]))
            return;
        cand t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

/* One query row: its embedding (model precision), the items it must not
 * get (sorted indices) and its heap. */
typedef struct slot {
    const void *vec;
    const uint32_t *ex, *ex_end;
    cand *heap;
    size_t n;
    double worst; /* score of the worst kept candidate once full */
} slot;

typedef struct job {
    const signmf_model *m;
    const sm_kernels *kern;
    size_t cap; /* min(k, items) */
    /* similar: score = dot / (vec_norm * norm[j]), 0 when either is 0 */
    const double *norm;
    double vec_norm;
    bool select; /* false: the products alone, for the benchmark */
} job;

/* Up to this many results are kept as an array sorted best first
 * (insertion costs a few predictable moves); more go in the heap. */
#define SM_SORTED_MAX 32

static inline void insert(slot *s, size_t cap, cand c)
{
    if (cap <= SM_SORTED_MAX) {
        size_t i = s->n;
        if (i == cap) {
            if (!ranks_before(c, s->heap[i - 1]))
                return;
            i--;
        } else {
            s->n++;
        }
        for (; i > 0 && ranks_before(c, s->heap[i - 1]); i--)
            s->heap[i] = s->heap[i - 1];
        s->heap[i] = c;
        if (s->n == cap)
            s->worst = cand_score(s->heap[cap - 1]);
    } else if (s->n < cap) {
        s->heap[s->n] = c;
        sift_up(s->heap, s->n);
        if (++s->n == cap)
            s->worst = cand_score(s->heap[0]);
    } else if (ranks_before(c, s->heap[0])) {
        s->heap[0] = c;
        sift_down(s->heap, s->n, 0);
        s->worst = cand_score(s->heap[0]);
    }
}

/* Item j with this score, unless the slot excludes it. Items reach a slot
 * in increasing j, so the exclusion list is walked once. */
static inline void offer(slot *s, size_t cap, double score, size_t j)
{
    while (s->ex < s->ex_end && *s->ex < j)
        s->ex++;
    if (s->ex < s->ex_end && *s->ex == j)
        return;
    insert(s, cap, make_cand(score, j));
}

/* Items per exclusion chunk (see consume). The first chunk's floor comes
 * from all of it, so a longer one gives a tighter floor: ua.base top-10
 * takes 20 inserts a user with 2,048 items (all 1,682 in one chunk)
 * against 25.5 with 1,024, and selection 10.7-11.1 % of a call's cycles
 * against 11.9-12.4 % (1 thread, rdtsc, 16-group screens). */
#define SM_XCHUNK 2048
/* Groups screened against one threshold: the k-th best score only
 * rises, so a fresh one every few groups lets fewer candidates through,
 * but each screen is a kernel call. Candidates that a fresher threshold
 * would have stopped meet it in the exact path. ua.base top-10, selection
 * cycles as a share of the call's (1 thread, rdtsc): 16 groups 6.8-6.9 %,
 * 32 groups 6.5-6.7 %, 128 groups 6.5-6.8 % (loop and inserts only). */
#define SM_SCREEN_GROUPS 32

/* A floor for the first chunk a slot sees, so that the heap does not
 * fill with whatever comes first and churn. The chunk's groups of 16 are
 * cut into cap runs of consecutive groups; the floor is the least of the
 * runs' maxima over items the slot may get (`ex` marks the others). Each
 * run's maximum is the score of a distinct eligible item, so at least cap
 * items score at or above the floor and anything strictly below it cannot
 * be in the top cap. (A run with no eligible number has maximum -inf,
 * which only lowers the floor.) -inf when there are fewer groups than cap.
 * It replaces the cap-th largest of the group maxima by counting ranks,
 * whose cost grew with the square of the groups. */
#define SM_GROUP_FLOOR(NAME, T, EMAX)                                                              \
    static double NAME(const sm_kernels *k, size_t cap, const T *S, size_t ng, const uint16_t *ex) \
    {                                                                                              \
        if (cap == 0 || ng < cap)                                                                  \
            return -INFINITY;                                                                      \
        T floor = (T)INFINITY;                                                                     \
        for (size_t r = 0; r < cap; ++r) {                                                         \
            size_t g0 = ng * r / cap, g1 = ng * (r + 1) / cap;                                     \
            T mx = k->EMAX(S + 16 * g0, g1 - g0, ex + g0);                                         \
            floor = mx < floor ? mx : floor;                                                       \
        }                                                                                          \
        return (double)floor;                                                                      \
    }
SM_GROUP_FLOOR(group_floor_f32, float, emax_f32)
SM_GROUP_FLOOR(group_floor_f64, double, emax_f64)

/* Feed one row of a score tile (items j0 .. j0 + nj) to a slot's heap. The
 * row goes in chunks of up to SM_XCHUNK items. A chunk's excluded items
 * become a bitmap first, in one walk of the slot's sorted list, so that no
 * candidate needs a walk of its own. Most scores fall below the current
 * k-th: groups of 16 are screened by the SIMD kernel against it (or, until
 * the heap is full, against the chunk's floor), and only scores not below
 * it (or NaN) go through the exact path. The screen compares in the
 * tile's own precision, in which the k-th score is exact, so it never
 * drops a candidate. */
#define SM_CONSUME(NAME, T, SCREEN, GROUP_FLOOR)                                                   \
    static void NAME(const job *jb, slot *s, const T *S, size_t j0, size_t nj)                     \
    {                                                                                              \
        size_t cap = jb->cap;                                                                      \
        if (jb->norm != NULL) {                                                                    \
            for (size_t c = 0; c < nj; ++c) {                                                      \
                double v = (double)S[c], d = jb->vec_norm * jb->norm[j0 + c];                      \
                v = d > 0 ? v / d : 0.0;                                                           \
                if (s->n == cap && v < s->worst)                                                   \
                    continue;                                                                      \
                offer(s, cap, v, j0 + c);                                                          \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        const sm_kernels *k = jb->kern;                                                            \
        /* a local copy lets the compiler keep the cursor, count and worst                         \
         * score in registers across the loop */                                                   \
        slot l = *s;                                                                               \
        for (size_t c0 = 0; c0 < nj; c0 += SM_XCHUNK) {                                            \
            const T *x = S + c0;                                                                   \
            size_t cn = nj - c0 < SM_XCHUNK ? nj - c0 : SM_XCHUNK, ng = cn / 16;                   \
            size_t ngt = (cn + 15) / 16, ja = j0 + c0;                                             \
            uint16_t ex[SM_XCHUNK / 16];                                                           \
            memset(ex, 0, ngt * sizeof *ex);                                                       \
            while (l.ex < l.ex_end && *l.ex < ja)                                                  \
                l.ex++;                                                                            \
            for (; l.ex < l.ex_end && *l.ex < ja + cn; l.ex++)                                     \
                ex[(*l.ex - ja) / 16] |= (uint16_t)(1u << ((*l.ex - ja) % 16));                    \
            /* Below `floor` nothing can make the top k (see group_floor).                         \
             * Until the heap is full it is the screen; then the worst kept                        \
             * score, which is not below it, takes over. */                                        \
            double floor = l.n == 0 ? GROUP_FLOOR(k, cap, x, ng, ex) : -INFINITY;                  \
            for (size_t g0 = 0; g0 < ngt; g0 += SM_SCREEN_GROUPS) {                                \
                size_t g1 = ngt - g0 < SM_SCREEN_GROUPS ? ngt : g0 + SM_SCREEN_GROUPS;             \
                size_t gf = g1 < ng ? g1 : ng; /* full groups end here */                          \
                double thr = l.n == cap ? l.worst : floor;                                         \
                uint16_t pos[16 * SM_SCREEN_GROUPS];                                               \
                const T *y = x + 16 * g0;                                                          \
                size_t np = gf > g0 ? k->SCREEN(y, gf - g0, (T)thr, ex + g0, pos) : 0;             \
                for (size_t i = 16 * gf; i < cn && gf < g1; ++i) /* last, partial group */         \
                    if (!((ex[gf] >> (i % 16)) & 1u) && !((double)x[i] < thr))                     \
                        pos[np++] = (uint16_t)(i - 16 * g0);                                       \
                for (size_t c = 0; c < np; ++c) {                                                  \
                    size_t i = pos[c];                                                             \
                    if (!((double)y[i] < (l.n == cap ? l.worst : floor)))                          \
                        insert(&l, cap, make_cand((double)y[i], ja + 16 * g0 + i));                \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        *s = l;                                                                                    \
    }
SM_CONSUME(consume_f32, float, screen_f32, group_floor_f32)
SM_CONSUME(consume_f64, double, screen_f64, group_floor_f64)

/* Scratch per thread: the score tile and a strip of packed query rows. */
static size_t scratch_elems(const signmf_model *m, size_t wide)
{
    return SM_STRIP * wide + SM_STRIP * m->dim + SM_PANEL;
}

/* Score and select for strips [s0, s1) of `slots` (n of them) against
 * items [ja, jz); ja is a multiple of SM_PANEL. A strip's tile row is
 * `wide` items (sm_tile_width), filled one L2 item block of `blk` at a
 * time, so that the kernel's micro-rows share a block from L2 while each
 * user's row is selected from in one pass. */
static void run_strips(const job *jb, slot *slots, size_t n, size_t s0, size_t s1, size_t ja,
                       size_t jz, size_t blk, size_t wide, void *scratch)
{
    const signmf_model *m = jb->m;
    const size_t dim = m->dim, es = sm_elem_size(m->precision), ss = sm_score_size(m->precision);
    char *tile = scratch;
    char *pack = tile + SM_STRIP * wide * ss;
    for (size_t w0 = ja; w0 < jz; w0 += wide) {
        size_t nw = jz - w0 < wide ? jz - w0 : wide;
        for (size_t st = s0; st < s1; ++st) {
            size_t u0 = st * SM_STRIP, nu = n - u0 < SM_STRIP ? n - u0 : SM_STRIP;
            /* rows adjacent in memory (a range of model users) go as they
             * are; others are copied next to each other once per visit */
            const char *rows = slots[u0].vec;
            for (size_t r = 1; r < nu; ++r)
                if ((const char *)slots[u0 + r].vec != rows + r * dim * es) {
                    rows = NULL;
                    break;
                }
            if (rows == NULL) {
                for (size_t r = 0; r < nu; ++r)
                    memcpy(pack + r * dim * es, slots[u0 + r].vec, dim * es);
                rows = pack;
            }
            for (size_t j0 = w0; j0 < w0 + nw; j0 += blk) {
                size_t nj = w0 + nw - j0 < blk ? w0 + nw - j0 : blk;
                const char *qp = (const char *)m->Qp + j0 * dim * es; /* panel j0 / 16 */
                if (m->precision == SIGNMF_F64)
                    jb->kern->score_f64((const double *)rows, dim, nu, (const double *)qp, nj, dim,
                                        (double *)tile + (j0 - w0), wide);
                else if (m->precision == SIGNMF_BF16)
                    jb->kern->score_bf16((const uint16_t *)rows, dim, nu, (const uint16_t *)qp, nj,
                                         dim, (float *)tile + (j0 - w0), wide);
                else
                    jb->kern->score_f32((const float *)rows, dim, nu, (const float *)qp, nj, dim,
                                        (float *)tile + (j0 - w0), wide);
            }
            for (size_t r = 0; r < nu && jb->select; ++r) {
                if (m->precision == SIGNMF_F64)
                    consume_f64(jb, &slots[u0 + r], (const double *)tile + r * wide, w0, nw);
                else
                    consume_f32(jb, &slots[u0 + r], (const float *)tile + r * wide, w0, nw);
            }
        }
    }
}

static int thread_count(int threads)
{
    int t = threads > 0 ? threads : omp_get_max_threads();
    return t < 1 ? 1 : t;
}

/* One query row over many items: threads take item ranges (multiples of
 * 16) with their own heaps, merged at the end. The merged ranking is the
 * same whatever the split, as the order is total. Below this many
 * multiply-adds the fork is not worth it. */
#define SM_SPLIT_MIN ((size_t)1 << 17)

static signmf_status run_one(const job *jb, slot *s, int threads, size_t blk, size_t wide,
                             size_t per)
{
    const signmf_model *m = jb->m;
    const size_t es = sm_score_size(m->precision); /* scratch is counted in scores */
    size_t nt = (size_t)thread_count(threads), work;
    size_t chunks = (m->items + 15) / 16;
    if (nt > chunks)
        nt = chunks;
    if (sm_mul_overflows(m->items, m->dim, &work) || work < SM_SPLIT_MIN)
        nt = 1;
    size_t cap = jb->cap ? jb->cap : 1, total, hn;
    if (sm_mul_overflows(per, nt, &total) || sm_mul_overflows(cap, nt, &hn))
        return SIGNMF_EOVERFLOW;
    char *scratch = sm_alloc(total, es);
    slot *part = sm_alloc(nt, sizeof *part);
    cand *heaps = sm_alloc(hn, sizeof *heaps);
    if (scratch == NULL || part == NULL || heaps == NULL) {
        sm_free(scratch);
        sm_free(part);
        sm_free(heaps);
        return SIGNMF_ENOMEM;
    }
    if (nt == 1) {
        run_strips(jb, s, 1, 0, 1, 0, m->items, blk, wide, scratch);
    } else {
        for (size_t t = 0; t < nt; ++t) {
            part[t] = *s;
            part[t].heap = heaps + t * cap;
            part[t].n = 0;
        }
#pragma omp parallel num_threads((int)nt)
        {
            size_t t = (size_t)omp_get_thread_num(), T = (size_t)omp_get_num_threads();
            size_t ja = chunks * t / T * 16, jz = chunks * (t + 1) / T * 16;
            if (jz > m->items)
                jz = m->items;
            if (ja < jz)
                run_strips(jb, &part[t], 1, 0, 1, ja, jz, blk, wide, scratch + t * per * es);
        }
        for (size_t t = 0; t < nt; ++t)
            for (size_t i = 0; i < part[t].n; ++i)
                insert(s, jb->cap, part[t].heap[i]);
    }
    sm_free(scratch);
    sm_free(part);
    sm_free(heaps);
    return SIGNMF_OK;
}

/* Run every slot to completion, with up to `threads` threads. */
static signmf_status run_slots(const job *jb, slot *slots, size_t n, int threads)
{
    if (n == 0 || jb->m->items == 0)
        return SIGNMF_OK;
    const signmf_model *m = jb->m;
    size_t blk = sm_item_block(m), wide = sm_tile_width(m, blk);
    size_t per = scratch_elems(m, wide);
    if (n == 1)
        return run_one(jb, slots, threads, blk, wide, per);
    size_t strips = (n + SM_STRIP - 1) / SM_STRIP;
    size_t nt = (size_t)thread_count(threads);
    if (nt > strips)
        nt = strips;
    size_t total;
    if (sm_mul_overflows(per, nt, &total))
        return SIGNMF_EOVERFLOW;
    char *scratch = sm_alloc(total, sm_score_size(m->precision));
    if (scratch == NULL)
        return SIGNMF_ENOMEM;
    size_t stride = per * sm_score_size(m->precision);
    if (nt == 1 || m->items == 0) {
        run_strips(jb, slots, n, 0, strips, 0, m->items, blk, wide, scratch);
    } else {
        /* strips are handed out as threads come free: a shared machine's
         * cores do not run at one speed, and a static split leaves one
         * waiting at the end. Each user's result depends only on its own
         * row, so any split gives the same bits. */
#pragma omp parallel num_threads((int)nt)
        {
            char *mine = scratch + (size_t)omp_get_thread_num() * stride;
#pragma omp for schedule(dynamic, 1)
            for (size_t st = 0; st < strips; ++st)
                run_strips(jb, slots, n, st, st + 1, 0, m->items, blk, wide, mine);
        }
    }
    sm_free(scratch);
    return SIGNMF_OK;
}

/* Heap to ranked output, best first. */
static size_t drain(const signmf_model *m, slot *s, size_t cap, signmf_rec *out)
{
    size_t n = s->n;
    if (cap <= SM_SORTED_MAX) {
        for (size_t i = 0; i < n; i++) {
            out[i].item = sm_idmap_id(&m->item_map, cand_index(s->heap[i]));
            out[i].score = cand_score(s->heap[i]);
        }
    } else {
        for (size_t i = n; i > 0; i--) {
            out[i - 1].item = sm_idmap_id(&m->item_map, cand_index(s->heap[0]));
            out[i - 1].score = cand_score(s->heap[0]);
            s->heap[0] = s->heap[i - 1];
            sift_down(s->heap, i - 1, 0);
        }
    }
    s->n = 0;
    return n;
}

static signmf_status user_index(const signmf_model *m, int64_t user, size_t *u, signmf_error *err,
                                const char *fn)
{
    if (sm_idmap_index(&m->user_map, user, u) != SIGNMF_OK || *u >= m->users)
        return sm_fail(err, SIGNMF_ENOTFOUND, "%s: expected a user id of the model, found %lld", fn,
                       (long long)user);
    return SIGNMF_OK;
}

static void user_slot(const signmf_model *m, size_t u, slot *s)
{
    s->vec = (const char *)m->P + u * m->dim * sm_elem_size(m->precision);
    s->ex = m->rated_idx + m->rated_ptr[u];
    s->ex_end = m->rated_idx + m->rated_ptr[u + 1];
    s->n = 0;
}

static job make_job(const signmf_model *m, size_t k)
{
    job jb = {m, sm_kernels_active(), k < m->items ? k : m->items, NULL, 0, true};
    return jb;
}

signmf_status sm_score_products_only(const signmf_model *m, int threads)
{
    job jb = make_job(m, 1);
    jb.select = false;
    slot *slots = sm_alloc(m->users ? m->users : 1, sizeof *slots);
    if (slots == NULL)
        return SIGNMF_ENOMEM;
    for (size_t u = 0; u < m->users; ++u)
        user_slot(m, u, &slots[u]);
    signmf_status st = run_slots(&jb, slots, m->users, threads);
    sm_free(slots);
    return st;
}

SIGNMF_API signmf_status signmf_recommend(const signmf_model *m, int64_t user, size_t k,
                                          signmf_rec *out, size_t *count, signmf_error *err)
{
    if (count != NULL)
        *count = 0;
    if (m == NULL || count == NULL || (k > 0 && out == NULL))
        return sm_fail(err, SIGNMF_EINVAL, "signmf_recommend: model, out and count must be set");
    size_t u;
    signmf_status st = user_index(m, user, &u, err, "signmf_recommend");
    if (st != SIGNMF_OK || k == 0)
        return st;
    job jb = make_job(m, k);
    slot s;
    user_slot(m, u, &s);
    s.heap = sm_alloc(jb.cap ? jb.cap : 1, sizeof *s.heap);
    if (s.heap == NULL)
        return sm_fail(err, SIGNMF_ENOMEM, "signmf_recommend: out of memory for %zu results", k);
    st = run_slots(&jb, &s, 1, 0);
    if (st == SIGNMF_OK)
        *count = drain(m, &s, jb.cap, out);
    else
        sm_fail(err, st, "signmf_recommend: out of memory for the score tile");
    sm_free(s.heap);
    return st;
}

/* Users [first, first + n) of `idx` (model rows) through the engine, results
 * into out (k per user) and counts. */
static signmf_status run_users(const signmf_model *m, const size_t *idx, size_t n, size_t k,
                               int threads, unsigned flags, signmf_rec *out, size_t *counts,
                               signmf_error *err, const char *fn)
{
    job jb = make_job(m, k);
    size_t chunk = n < SM_CHUNK ? n : SM_CHUNK;
    size_t cap = jb.cap ? jb.cap : 1, hn;
    if (sm_mul_overflows(cap, chunk, &hn))
        return sm_fail(err, SIGNMF_EOVERFLOW, "%s: %zu x %zu results overflow", fn, chunk, cap);
    slot *slots = sm_alloc(chunk ? chunk : 1, sizeof *slots);
    cand *heaps = sm_alloc(hn ? hn : 1, sizeof *heaps);
    signmf_status st = SIGNMF_OK;
    if (slots == NULL || heaps == NULL)
        st = sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory for %zu heaps of %zu", fn, chunk, cap);
    for (size_t c0 = 0; st == SIGNMF_OK && c0 < n; c0 += chunk) {
        size_t cn = n - c0 < chunk ? n - c0 : chunk;
        for (size_t i = 0; i < cn; ++i) {
            user_slot(m, idx[c0 + i], &slots[i]);
            if (flags & SIGNMF_REC_INCLUDE_RATED)
                slots[i].ex = slots[i].ex_end = NULL;
            slots[i].heap = heaps + i * cap;
        }
        st = run_slots(&jb, slots, cn, threads);
        if (st != SIGNMF_OK) {
            sm_fail(err, st, "%s: out of memory for the score tiles", fn);
            break;
        }
        for (size_t i = 0; i < cn; ++i)
            counts[c0 + i] = drain(m, &slots[i], jb.cap, out + (c0 + i) * k);
    }
    sm_free(slots);
    sm_free(heaps);
    return st;
}

SIGNMF_API signmf_status signmf_recommend_many(const signmf_model *m, const int64_t *users,
                                               size_t n, size_t k, int threads, signmf_rec *out,
                                               size_t *counts, signmf_error *err)
{
    return signmf_recommend_many_ex(m, users, n, k, threads, 0, out, counts, err);
}

SIGNMF_API signmf_status signmf_recommend_many_ex(const signmf_model *m, const int64_t *users,
                                                  size_t n, size_t k, int threads, unsigned flags,
                                                  signmf_rec *out, size_t *counts,
                                                  signmf_error *err)
{
    static const char fn[] = "signmf_recommend_many";
    if (flags & ~SIGNMF_REC_INCLUDE_RATED)
        return sm_fail(err, SIGNMF_EINVAL, "%s: unknown flags 0x%x", fn, flags);
    if (m == NULL || (n > 0 && (counts == NULL || (k > 0 && out == NULL))) || threads < 0)
        return sm_fail(err, SIGNMF_EINVAL, "%s: model, out and counts must be set, threads >= 0",
                       fn);
    if (users == NULL && n != m->users)
        return sm_fail(err, SIGNMF_EINVAL,
                       "%s: without a user list n must be the %zu users, found %zu", fn, m->users,
                       n);
    size_t tmp;
    if (sm_mul_overflows(n, k, &tmp))
        return sm_fail(err, SIGNMF_EOVERFLOW, "%s: %zu users x %zu results overflow", fn, n, k);
    for (size_t i = 0; i < n; ++i)
        counts[i] = 0;
    if (n == 0 || k == 0)
        return SIGNMF_OK;
    size_t *idx = sm_alloc(n, sizeof *idx);
    if (idx == NULL)
        return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory for %zu users", fn, n);
    signmf_status st = SIGNMF_OK;
    for (size_t i = 0; i < n && st == SIGNMF_OK; ++i) {
        if (users == NULL)
            idx[i] = i;
        else
            st = user_index(m, users[i], &idx[i], err, fn);
    }
    if (st == SIGNMF_OK)
        st = run_users(m, idx, n, k, threads, flags, out, counts, err, fn);
    sm_free(idx);
    return st;
}

SIGNMF_API signmf_status signmf_recommend_all(const signmf_model *m, size_t k, int threads,
                                              signmf_recs_fn fn, void *ctx, signmf_error *err)
{
    static const char name[] = "signmf_recommend_all";
    if (m == NULL || fn == NULL || threads < 0)
        return sm_fail(err, SIGNMF_EINVAL, "%s: model and callback must be set, threads >= 0",
                       name);
    size_t cap = k < m->items ? k : m->items;
    size_t chunk = m->users < SM_CHUNK ? m->users : SM_CHUNK, tmp;
    if (sm_mul_overflows(chunk, cap ? cap : 1, &tmp))
        return sm_fail(err, SIGNMF_EOVERFLOW, "%s: %zu x %zu results overflow", name, chunk, cap);
    size_t *idx = sm_alloc(chunk ? chunk : 1, sizeof *idx);
    size_t *counts = sm_alloc(chunk ? chunk : 1, sizeof *counts);
    signmf_rec *out = sm_alloc(tmp ? tmp : 1, sizeof *out);
    signmf_status st = SIGNMF_OK;
    if (idx == NULL || counts == NULL || out == NULL)
        st = sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory for %zu x %zu results", name, chunk,
                     cap);
    for (size_t c0 = 0; st == SIGNMF_OK && c0 < m->users; c0 += chunk) {
        size_t cn = m->users - c0 < chunk ? m->users - c0 : chunk;
        for (size_t i = 0; i < cn; ++i) {
            idx[i] = c0 + i;
            counts[i] = 0;
        }
        if (cap > 0)
            st = run_users(m, idx, cn, cap, threads, 0, out, counts, err, name);
        for (size_t i = 0; st == SIGNMF_OK && i < cn; ++i)
            if (fn(ctx, sm_idmap_id(&m->user_map, c0 + i), out + i * cap, counts[i]) != 0)
                st =
                    sm_fail(err, SIGNMF_EINTERRUPTED, "%s: the callback asked to stop at user %lld",
                            name, (long long)sm_idmap_id(&m->user_map, c0 + i));
    }
    sm_free(idx);
    sm_free(counts);
    sm_free(out);
    return st;
}

/* ---- fold-in ----------------------------------------------------------- */

typedef struct rated {
    uint32_t index;
    double value;
} rated;

static int cmp_rated(const void *a, const void *b)
{
    uint32_t x = ((const rated *)a)->index, y = ((const rated *)b)->index;
    return (x > y) - (x < y);
}

/* Map, validate and sort a new user's ratings; on success *out (sm_alloc)
 * holds n entries by ascending item index. */
static signmf_status foldin_ratings(const signmf_model *m, const int64_t *items,
                                    const double *ratings, size_t n, rated **out, signmf_error *err,
                                    const char *fn)
{
    *out = NULL;
    if (n > 0 && (items == NULL || ratings == NULL))
        return sm_fail(err, SIGNMF_EINVAL, "%s: items and ratings must be set", fn);
    rated *r = sm_alloc(n ? n : 1, sizeof *r);
    if (r == NULL)
        return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory for %zu ratings", fn, n);
    for (size_t i = 0; i < n; ++i) {
        size_t j;
        if (sm_idmap_index(&m->item_map, items[i], &j) != SIGNMF_OK || j >= m->items) {
            sm_free(r);
            return sm_fail(err, SIGNMF_ENOTFOUND,
                           "%s: expected an item id of the model, found %lld", fn,
                           (long long)items[i]);
        }
        if (!isfinite(ratings[i]) || ratings[i] == 0) {
            sm_free(r);
            return sm_fail(err, SIGNMF_ERANGE,
                           "%s: item %lld: expected a finite nonzero rating, found %g", fn,
                           (long long)items[i], ratings[i]);
        }
        r[i].index = (uint32_t)j;
        r[i].value = ratings[i];
    }
    qsort(r, n, sizeof *r, cmp_rated);
    for (size_t i = 1; i < n; ++i)
        if (r[i].index == r[i - 1].index) {
            /* read the id before freeing r (a use after free found by the
             * ASan build, scripts/sanitize.sh) */
            long long dup = (long long)sm_idmap_id(&m->item_map, r[i].index);
            sm_free(r);
            return sm_fail(err, SIGNMF_EDUPLICATE, "%s: item %lld is rated twice", fn, dup);
        }
    *out = r;
    return SIGNMF_OK;
}

/* The sign of a fold-in rating as training gives it (D: -1 liked, +1
 * disliked, 0 neutral). */
static int foldin_sign(const signmf_params *prm, double v, double ref)
{
    if (prm->sign_rule == SIGNMF_SIGN_OBSERVED)
        return -1;
    if (prm->sign_rule == SIGNMF_SIGN_THRESHOLD)
        return v >= ref ? -1 : 1;
    return v > ref ? -1 : (v < ref ? 1 : 0);
}

/* The orthonormal method's fold-in (signmf.h): the weighted signed row
 * projected on the item factors, over the Ritz values, in double by
 * ascending item. */
static signmf_status foldin_ortho(const signmf_model *m, const rated *r, size_t n, double ref,
                                  void *p, signmf_error *err, const char *fn)
{
    const size_t dim = m->dim;
    const bool f64 = m->precision == SIGNMF_F64, bf16 = m->precision == SIGNMF_BF16;
    const signmf_params *prm = &m->params;
    double *acc = sm_calloc(dim ? dim : 1, sizeof *acc);
    if (acc == NULL)
        return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory", fn);
    for (size_t i = 0; i < n; ++i) {
        size_t j = r[i].index;
        double wgt = prm->rated_weight - foldin_sign(prm, r[i].value, ref);
        uint32_t deg = m->item_degree[j];
        double c2 =
            prm->degree_exp == 0.0 ? 1.0 : pow(deg ? (double)deg : 1.0, -2.0 * prm->degree_exp);
        double f = wgt * c2;
        for (size_t t = 0; t < dim; ++t) {
            double q = f64    ? ((const double *)m->Qt)[j * dim + t]
                       : bf16 ? (double)sm_bf16_to_f32(((const uint16_t *)m->Qt)[j * dim + t])
                              : (double)((const float *)m->Qt)[j * dim + t];
            acc[t] += f * q;
        }
    }
    for (size_t t = 0; t < dim; ++t) {
        const double ritz = m->sigma[t] + m->sigma_tau;
        double v = ritz > 0 ? acc[t] / ritz : 0.0;
        if (f64)
            ((double *)p)[t] = v;
        else if (bf16)
            ((uint16_t *)p)[t] = sm_bf16_from_f32((float)v);
        else
            ((float *)p)[t] = (float)v;
    }
    sm_free(acc);
    return SIGNMF_OK;
}

/* Signs as training makes them (signs.c), then acc = D row . Qt in the
 * gather kernels' order (+1 rows added, then -1 rows subtracted, each by
 * ascending item, in the model's precision), and p = -acc. */
static signmf_status foldin_vector(const signmf_model *m, const rated *r, size_t n, void *p,
                                   signmf_error *err, const char *fn)
{
    signmf_params prm = m->params;
    double ref = prm.sign_rule == SIGNMF_SIGN_THRESHOLD ? prm.threshold : 0.0;
    if (prm.sign_rule == SIGNMF_SIGN_MEAN && n > 0) {
        uint32_t *pos = sm_alloc(n, sizeof *pos);
        double *val = sm_alloc(n, sizeof *val);
        if (pos == NULL || val == NULL) {
            sm_free(pos);
            sm_free(val);
            return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory for %zu ratings", fn, n);
        }
        for (size_t i = 0; i < n; ++i) {
            pos[i] = r[i].index;
            val[i] = r[i].value;
        }
        signmf_ratings row;
        memset(&row, 0, sizeof row);
        row.users = 1;
        row.items = m->items;
        row.count = n;
        row.item = pos;
        row.value = val;
        ref = sm_signs_row_mean(&row, 0, n);
        sm_free(pos);
        sm_free(val);
    }
    const size_t dim = m->dim;
    const bool f64 = m->precision == SIGNMF_F64;
    if (prm.method == SIGNMF_METHOD_ORTHONORMAL)
        return foldin_ortho(m, r, n, ref, p, err, fn);
    if (m->precision == SIGNMF_BF16) {
        /* float32 sums of the widened rows, as for a float32 model, then
         * narrowed once for the bf16 score kernel */
        float *a = sm_calloc(dim ? dim : 1, sizeof *a);
        if (a == NULL)
            return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory", fn);
        for (int pass = 0; pass < 2; ++pass)
            for (size_t i = 0; i < n; ++i) {
                int d = foldin_sign(&prm, r[i].value, ref);
                if ((pass == 0 && d != 1) || (pass == 1 && d != -1))
                    continue;
                const uint16_t *q = (const uint16_t *)m->Qt + (size_t)r[i].index * dim;
                for (size_t t = 0; t < dim; ++t)
                    a[t] = pass == 0 ? a[t] + sm_bf16_to_f32(q[t]) : a[t] - sm_bf16_to_f32(q[t]);
            }
        for (size_t t = 0; t < dim; ++t)
            ((uint16_t *)p)[t] = sm_bf16_from_f32(-a[t]);
        sm_free(a);
        return SIGNMF_OK;
    }
    if (f64)
        memset(p, 0, dim * sizeof(double));
    else
        memset(p, 0, dim * sizeof(float));
    for (int pass = 0; pass < 2; ++pass) {
        for (size_t i = 0; i < n; ++i) {
            int d = foldin_sign(&prm, r[i].value, ref);
            if ((pass == 0 && d != 1) || (pass == 1 && d != -1))
                continue;
            size_t off = (size_t)r[i].index * dim;
            if (f64) {
                double *a = p;
                const double *q = (const double *)m->Qt + off;
                for (size_t t = 0; t < dim; ++t)
                    a[t] = pass == 0 ? a[t] + q[t] : a[t] - q[t];
            } else {
                float *a = p;
                const float *q = (const float *)m->Qt + off;
                for (size_t t = 0; t < dim; ++t)
                    a[t] = pass == 0 ? a[t] + q[t] : a[t] - q[t];
            }
        }
    }
    for (size_t t = 0; t < dim; ++t) {
        if (f64)
            ((double *)p)[t] = -((double *)p)[t];
        else
            ((float *)p)[t] = -((float *)p)[t];
    }
    return SIGNMF_OK;
}

SIGNMF_API signmf_status signmf_foldin_embedding(const signmf_model *m, const int64_t *items,
                                                 const double *ratings, size_t n, double *p,
                                                 signmf_error *err)
{
    static const char fn[] = "signmf_foldin_embedding";
    if (m == NULL || p == NULL)
        return sm_fail(err, SIGNMF_EINVAL, "%s: model and p must be set", fn);
    rated *r;
    signmf_status st = foldin_ratings(m, items, ratings, n, &r, err, fn);
    if (st != SIGNMF_OK)
        return st;
    void *v = sm_alloc(m->dim ? m->dim : 1, sm_elem_size(m->precision));
    if (v == NULL)
        st = sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory", fn);
    else
        st = foldin_vector(m, r, n, v, err, fn);
    for (size_t t = 0; st == SIGNMF_OK && t < m->dim; ++t)
        p[t] = m->precision == SIGNMF_F64    ? ((double *)v)[t]
               : m->precision == SIGNMF_BF16 ? (double)sm_bf16_to_f32(((uint16_t *)v)[t])
                                             : (double)((float *)v)[t];
    sm_free(v);
    sm_free(r);
    return st;
}

SIGNMF_API signmf_status signmf_recommend_foldin(const signmf_model *m, const int64_t *items,
                                                 const double *ratings, size_t n, size_t k,
                                                 signmf_rec *out, size_t *count, signmf_error *err)
{
    static const char fn[] = "signmf_recommend_foldin";
    if (count != NULL)
        *count = 0;
    if (m == NULL || count == NULL || (k > 0 && out == NULL))
        return sm_fail(err, SIGNMF_EINVAL, "%s: model, out and count must be set", fn);
    rated *r;
    signmf_status st = foldin_ratings(m, items, ratings, n, &r, err, fn);
    if (st != SIGNMF_OK)
        return st;
    job jb = make_job(m, k);
    void *v = sm_alloc(m->dim ? m->dim : 1, sm_elem_size(m->precision));
    uint32_t *ex = sm_alloc(n ? n : 1, sizeof *ex);
    cand *heap = sm_alloc(jb.cap ? jb.cap : 1, sizeof *heap);
    if (v == NULL || ex == NULL || heap == NULL)
        st = sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory", fn);
    if (st == SIGNMF_OK)
        st = foldin_vector(m, r, n, v, err, fn);
    if (st == SIGNMF_OK && k > 0) {
        for (size_t i = 0; i < n; ++i)
            ex[i] = r[i].index;
        slot s = {v, ex, ex + n, heap, 0, 0};
        st = run_slots(&jb, &s, 1, 0);
        if (st != SIGNMF_OK)
            sm_fail(err, st, "%s: out of memory for the score tile", fn);
        else
            *count = drain(m, &s, jb.cap, out);
    }
    sm_free(v);
    sm_free(ex);
    sm_free(heap);
    sm_free(r);
    return st;
}

/* ---- similar items ------------------------------------------------------ */

SIGNMF_API signmf_status signmf_similar(const signmf_model *m, int64_t item, size_t k,
                                        signmf_rec *out, size_t *count, signmf_error *err)
{
    static const char fn[] = "signmf_similar";
    if (count != NULL)
        *count = 0;
    if (m == NULL || count == NULL || (k > 0 && out == NULL))
        return sm_fail(err, SIGNMF_EINVAL, "%s: model, out and count must be set", fn);
    size_t i;
    if (sm_idmap_index(&m->item_map, item, &i) != SIGNMF_OK || i >= m->items)
        return sm_fail(err, SIGNMF_ENOTFOUND, "%s: expected an item id of the model, found %lld",
                       fn, (long long)item);
    if (k == 0)
        return SIGNMF_OK;
    job jb = make_job(m, k);
    const size_t dim = m->dim, es = sm_elem_size(m->precision);
    double *norm = sm_alloc(m->items, sizeof *norm);
    cand *heap = sm_alloc(jb.cap ? jb.cap : 1, sizeof *heap);
    uint32_t self = (uint32_t)i;
    signmf_status st = SIGNMF_OK;
    if (norm == NULL || heap == NULL)
        st = sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory for %zu items", fn, m->items);
    /* |q_j| = sqrt of the kernel's own q_j . q_j (the diagonal of a panel's
     * scores against itself), so that an item's cosine with itself would
     * be 1 to rounding. The rows are the packed ones unpacked: Qt times
     * sigma as the scores use it (Qt itself for the notebook method). */
    union {
        double d[SM_PANEL * SM_PANEL];
        float f[SM_PANEL * SM_PANEL];
    } sq;
    char *rows = sm_alloc(SM_PANEL * (dim ? dim : 1), es), *qi = sm_alloc(dim ? dim : 1, es);
    if (st == SIGNMF_OK && (rows == NULL || qi == NULL))
        st = sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory", fn);
    for (size_t j0 = 0; st == SIGNMF_OK && j0 < m->items; j0 += SM_PANEL) {
        size_t nr = m->items - j0 < SM_PANEL ? m->items - j0 : SM_PANEL;
        const char *qp = (const char *)m->Qp + j0 * dim * es;
        for (size_t r = 0; r < nr; ++r)
            for (size_t t = 0; t < dim; ++t)
                memcpy(rows + (r * dim + t) * es, qp + (t * SM_PANEL + r) * es, es);
        const char *q = rows;
        if (m->precision == SIGNMF_F64) {
            double *s = sq.d;
            jb.kern->score_f64((const double *)q, dim, nr, (const double *)qp, nr, dim, s,
                               SM_PANEL);
            for (size_t r = 0; r < nr; ++r)
                norm[j0 + r] = sqrt(s[r * SM_PANEL + r]);
        } else {
            float *s = sq.f;
            if (m->precision == SIGNMF_BF16)
                jb.kern->score_bf16((const uint16_t *)q, dim, nr, (const uint16_t *)qp, nr, dim, s,
                                    SM_PANEL);
            else
                jb.kern->score_f32((const float *)q, dim, nr, (const float *)qp, nr, dim, s,
                                   SM_PANEL);
            for (size_t r = 0; r < nr; ++r)
                norm[j0 + r] = sqrt((double)s[r * SM_PANEL + r]);
        }
    }
    if (st == SIGNMF_OK) {
        jb.norm = norm;
        jb.vec_norm = norm[i];
        const char *qp = (const char *)m->Qp + (i - i % SM_PANEL) * dim * es;
        for (size_t t = 0; t < dim; ++t)
            memcpy(qi + t * es, qp + (t * SM_PANEL + i % SM_PANEL) * es, es);
        slot s = {qi, &self, &self + 1, heap, 0, 0};
        st = run_slots(&jb, &s, 1, 0);
        if (st != SIGNMF_OK)
            sm_fail(err, st, "%s: out of memory for the score tile", fn);
        else
            *count = drain(m, &s, jb.cap, out);
    }
    sm_free(rows);
    sm_free(qi);
    sm_free(norm);
    sm_free(heap);
    return st;
}
