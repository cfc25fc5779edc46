/* Internal layout of a model and helpers shared by train, score and the
 * model file code. */
#ifndef SM_MODEL_H
#define SM_MODEL_H

#include "../io/ratings.h"

struct signmf_model {
    size_t users, items, dim;
    signmf_precision precision;
    signmf_params params; /* settings it was trained with */
    uint64_t epochs;      /* epochs done */
    double log_scale;     /* natural log of the accumulated --rescale factor */
    double last_loss;     /* loss of this P, Q (NaN if unknown) */
    double scale_ref;     /* what the next --rescale decision reads */
    /* Row-major, SM_ALIGN-aligned, element type by precision:
     *   P:  users x dim (the notebook's Usr)
     *   Qt: items x dim (the notebook's Itm, transposed: one row per item) */
    void *P;
    void *Qt;
    /* Qt packed for the scoring kernels (kernels.h), kept in step with Qt
     * by sm_model_pack; in a mapping when the file has it. */
    void *Qp;
    bool qp_owned; /* Qp allocated although the model is mapped */
    sm_idmap user_map, item_map;
    /* Items each user rated in training (any sign, including 0), as sorted
     * compressed rows: recommendations skip them. */
    size_t *rated_ptr; /* users + 1 */
    uint32_t *rated_idx;
    /* Fingerprint of the training ratings (CRC-32 of the triplets), so that
     * resume can refuse different data. */
    uint32_t data_crc;
    /* sigma (dim, owned unless it lies in a mapping): all 1 for the
     * notebook method. The orthonormal method also keeps the training
     * state (row-major, as P and Qt) and the items' training degrees; NULL
     * otherwise. */
    double *sigma;
    bool sigma_owned;
    /* The shrink's tau (signmf.h): the Ritz values are sigma + tau. */
    double sigma_tau;
    uint32_t *item_degree;
    void *Pst, *Qst;
    bool ortho_owned;
    /* Non-NULL when opened with SIGNMF_OPEN_MMAP: P, Qt and the maps point
     * into this read-only mapping and must not be freed. */
    void *map_base;
    size_t map_len;
};

/* Element size of a model's factors in a precision (a bf16 model's are
 * 2 bytes; a bf16 trainer's master is float32: its esize is 4). */
static inline size_t sm_elem_size(signmf_precision p)
{
    return p == SIGNMF_F64 ? 8 : p == SIGNMF_BF16 ? 2 : 4;
}
/* Bytes of one score: a bf16 model scores in float32. */
static inline size_t sm_score_size(signmf_precision p)
{
    return p == SIGNMF_F64 ? 8 : 4;
}

/* Allocate a model with P, Qt, Qp (uninitialised) and rated rows (rated_idx of
 * `rated_count` entries); maps empty. Fails with ENOMEM/EOVERFLOW. */
signmf_status sm_model_alloc(size_t users, size_t items, size_t dim, signmf_precision precision,
                             size_t rated_count, signmf_model **out);

/* Allocate the orthonormal method's state and degree arrays (owned). */
signmf_status sm_model_alloc_ortho(signmf_model *m);

/* Bytes of packed panels for items x dim (false on overflow). */
bool sm_packed_bytes(size_t items, size_t dim, size_t es, size_t *out);
/* Fill Qp from Qt times sigma (signmf.h, Scores): whoever writes Qt or
 * sigma calls it before the model scores. */
void sm_model_pack(signmf_model *m);

/* CRC-32 (zlib) of a ratings set's triplets and dimensions. */
uint32_t sm_ratings_crc(const signmf_ratings *r);

/* Write a 2-D C-order .npy (dtype <f4 or <f8) atomically (tmp, fsync,
 * rename). `data` is rows x cols with row stride `ld` elements. If
 * `transpose` is set the file holds the transpose: cols x rows. */
signmf_status sm_npy_write(const char *path, const void *data, signmf_precision precision,
                           size_t rows, size_t cols, size_t ld, bool transpose, signmf_error *err);

/* A 1-D float64 .npy of n values, atomically. */
signmf_status sm_npy_write_vector(const char *path, const double *data, size_t n,
                                  signmf_error *err);

/* Atomic file writing: open a temporary sibling of `path`; commit fsyncs,
 * renames over `path` and fsyncs the directory; abort removes it. */
typedef struct sm_atomic_file {
    void *fp; /* FILE* */
    char *path;
    char *tmp;
} sm_atomic_file;
signmf_status sm_atomic_open(sm_atomic_file *f, const char *path, signmf_error *err);
signmf_status sm_atomic_write(sm_atomic_file *f, const void *data, size_t bytes, signmf_error *err);
signmf_status sm_atomic_commit(sm_atomic_file *f, signmf_error *err);
void sm_atomic_abort(sm_atomic_file *f);

#endif
