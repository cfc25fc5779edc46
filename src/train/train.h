/* Internal trainer layout, shared with tests and benchmarks. */
#ifndef SM_TRAIN_H
#define SM_TRAIN_H

#include "../kernels/kernels.h"
#include "../model/model.h"

/* Source panels larger than this are gathered with prefetching kernels:
 * about the L2 of one core on current x86-64. */
#define SM_PF_BYTES ((size_t)1536 * 1024)
/* Rows per task on a blocked side: their gradient rows stay in L2 next
 * to a source block. */
#define SM_TASK_ROWS 2048

/* One unit of parallel work: rows [r0, r1) of one side on one panel. */
typedef struct sm_task {
    uint32_t side; /* 0: users (P), 1: items (Q) */
    uint32_t panel;
    size_t r0, r1;
} sm_task;

struct sm_ortho;

/* Hooks of a trainer that owns a share of the rows (train/part.h). */
typedef struct sm_part_hooks {
    void *ctx;
    /* `base` holds rows of `row_bytes` bytes each, one per row of `side`
     * (0: users, 1: items); this process wrote its own rows of them: make
     * every row hold what its owner wrote. 0, or -1 on failure. */
    int (*gather)(void *ctx, int side, void *base, size_t row_bytes);
    /* The bitwise or of `v` over all processes. */
    int (*any)(void *ctx, int v);
    /* This is process `part` of `parts`; `base` holds `count` elements of
     * `elem_bytes`, process p having written [count p / parts, count (p +
     * 1) / parts): make every element hold what its writer wrote (the
     * orthonormal method's Gram blocks, linalg.h sm_split). */
    size_t part, parts;
    int (*gather_even)(void *ctx, void *base, size_t count, size_t elem_bytes);
} sm_part_hooks;

struct signmf_trainer {
    signmf_params params;
    size_t users, items, dim;
    size_t kpad;  /* dim rounded up to the lane count */
    size_t panel; /* panel width (elements) */
    size_t npanels;
    size_t esize; /* 4 or 8 */
    sm_signs by_user, by_item;
    /* Embeddings in panel layout, double-buffered: cur holds the state,
     * the other buffer receives the next epoch. */
    void *P[2], *Q[2];
    /* SIGNMF_BF16: the bf16 shadows of P and Q (same layout, same element
     * offsets), which the gathers read; NULL otherwise. Pb[i] is always
     * the narrowing of P[i] once written. */
    uint16_t *Pb[2], *Qb[2];
    int cur;
    double *dots; /* npanels x users: per-row loss partials */
    /* Sides whose source is cut into blocks of SM_BLOCK_ROWS (side 0: the
     * items gathered for P; side 1: the users gathered for Q): block
     * offsets within each row's segments, (nblocks + 1) x rows each.
     * nblocks[side] <= 1: fused path. Their gradient rows accumulate in
     * the spare state buffer (P or Q [1 - cur]), which each update then
     * overwrites row by row, so blocking costs no gradient memory. */
    size_t block_rows; /* SM_BLOCK_ROWS; SIGNMF_BLOCK_ROWS overrides it for tests */
    size_t nblocks[2];
    uint32_t *pofs[2], *mofs[2];
    sm_task *tasks;
    size_t ntasks;
    int threads;
    const sm_kernels *kern;
    int prefetch; /* -1: by panel size; SIGNMF_PREFETCH=0/1 forces it */
    uint64_t epochs;
    double log_scale;
    double last_loss;
    double scale_ref; /* loss estimate the next rescale shift is taken from */
    /* Carried into models; the rated rows are D's rows plus `zero`. */
    sm_idmap user_map, item_map;
    sm_zeros zero;
    uint32_t data_crc;
    struct sm_ortho *orth; /* the orthonormal method's part, NULL for the notebook's */
    /* Rows [own[side][0], own[side][1]) of each side are computed here,
     * all of them unless the trainer is one share of a partitioned run
     * (hooks.gather set), whose passes end by gathering the rest. */
    size_t own[2][2];
    sm_part_hooks hooks;
    sm_zeros part_zero; /* partitioned: the owned items' neutral entries by user, until setup */
    int hook_failed;    /* a gather failed: the state is not usable */
    /* sm_degree_order: row r of side s (0 users, 1 items) is stored at
     * slot[s][r] of P or Q and of that side's sign rows; NULL: at r. */
    uint32_t *slot[2];
};

/* Panel c of an embedding with `rows` rows: start offset (elements) and
 * width. */
static inline size_t sm_panel_offset(const signmf_trainer *t, size_t rows, size_t c)
{
    return c * t->panel * rows;
}
static inline size_t sm_panel_width(const signmf_trainer *t, size_t c)
{
    size_t rest = t->kpad - c * t->panel;
    return rest < t->panel ? rest : t->panel;
}

/* One fused pass: loss of the current state into *loss; when `a` is not
 * NULL, also the next state, times sc, into the spare buffers. Returns 1 if a
 * written value is non-finite. Kernels may be overridden (tests, bench). */
int sm_train_pass(signmf_trainer *t, const sm_kernels *k, const double *a, double sc, double *loss);

/* Block tables of a sign structure with `nb` source blocks of
 * t->block_rows (signs.h, kernels.h: per row, each block's first entry
 * within the +1 and the -1 segment; (nb + 1) x rows each). */
signmf_status sm_build_block_tables(const signmf_trainer *t, const sm_signs *s, size_t nb,
                                    uint32_t **po, uint32_t **mo, signmf_error *err);

/* Partitioned runs: gather rows of a side (a no-op for a whole trainer). */
int sm_part_gather(signmf_trainer *t, int side, void *base, size_t row_bytes);
int sm_part_any(signmf_trainer *t, int v);

/* Copy row-major (rows x dim, stride dim) to/from panel layout. */
void sm_to_panels(const signmf_trainer *t, const void *rowmajor, void *panels, size_t rows);
void sm_from_panels(const signmf_trainer *t, const void *panels, void *rowmajor, size_t rows);
/* Benchmark probe (bench_epoch --degree-order): store the rows of the
 * sides in `sides` (bit 0 users, bit 1 items) in descending order of their
 * sign count, ties by index: P/Q rows, shadows, sign rows and block tables
 * move to their slots and the other side's sign indices name slots, in
 * their old order. Every row's sum then adds the same values in the same
 * order, so the next state is the same bits at permuted places, and the
 * loss adds its parts in user order as before. Only for a whole notebook
 * trainer before its first pass (the model, resume and the orthonormal
 * method know nothing of slots). With bit 2 set as well, each row's
 * segments are sorted by slot instead and the blocks cut in slot order:
 * another sum order (so other bits), measured, not used. */
signmf_status sm_degree_order(signmf_trainer *t, int sides, signmf_error *err);
/* SIGNMF_BF16: the shadows of the current state, from its master. */
void sm_refresh_shadows(signmf_trainer *t);

#endif
