/*
 * signmf.h - sign-loss matrix factorisation: the public C API.
 *
 * signmf learns user embeddings P (users x k) and item embeddings Q
 * (k x items) from a ratings matrix W by plain gradient descent on the
 * sign loss
 *
 *     L = sum_ij D_ij (P Q)_ij,   D_ij = -1 if W_ij is above user i's mean,
 *                                        +1 if below, 0 if unrated or equal,
 *
 * with the simultaneous update P <- P - a D Q^T, Q <- Q - a P^T D. The
 * initialisation reproduces numpy's legacy np.random.seed(s) +
 * np.random.normal draws bit for bit, so float64 runs match the original
 * numpy notebook to rounding.
 *
 * Conventions (zstd-like):
 *  - every function that can fail returns a signmf_status; SIGNMF_OK is 0.
 *    signmf_strerror() names a status. Functions that can fail for a reason
 *    worth telling a person also take an optional `signmf_error *` that
 *    receives a complete message ("ua.base:12:3: expected ..., found ...").
 *    Passing NULL is always allowed.
 *  - the library never prints, aborts or exits, and has no global mutable
 *    state except its kernel dispatch table, set once, thread-safely.
 *  - objects are opaque. Every *_free accepts NULL. Objects returned through
 *    an out-parameter are owned by the caller. Read-only objects (a loaded
 *    ratings set, a model) may be shared between threads; a trainer may not.
 *  - sizes are size_t; every size product is overflow-checked and fails with
 *    SIGNMF_EOVERFLOW or SIGNMF_ENOMEM instead of wrapping.
 *  - ids are the caller's original 64-bit ids everywhere in the API; the
 *    compact indices used internally never leak out.
 */
#ifndef SIGNMF_H
#define SIGNMF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SIGNMF_BUILDING) && defined(__GNUC__)
#define SIGNMF_API __attribute__((visibility("default")))
#else
#define SIGNMF_API
#endif

#define SIGNMF_VERSION_MAJOR  0
#define SIGNMF_VERSION_MINOR  1
#define SIGNMF_VERSION_PATCH  0
#define SIGNMF_VERSION_STRING "0.1.0"

SIGNMF_API const char *signmf_version(void);

/* ------------------------------------------------------------------ */
/* Status codes. Values are pinned: never renumber, only append.       */
/* ------------------------------------------------------------------ */
typedef enum signmf_status {
    SIGNMF_OK = 0,
    SIGNMF_EINVAL = 1,        /* an argument is out of its documented range */
    SIGNMF_ENOMEM = 2,        /* an allocation failed */
    SIGNMF_EOVERFLOW = 3,     /* a size computation would overflow */
    SIGNMF_EIO = 4,           /* open/read/write/rename failed (errno in message) */
    SIGNMF_EPARSE = 5,        /* a text file is malformed (file:line:col in message) */
    SIGNMF_EFORMAT = 6,       /* a binary file is malformed or truncated */
    SIGNMF_EDUPLICATE = 7,    /* a (user, item) pair occurs twice */
    SIGNMF_ERANGE = 8,        /* a value is outside its allowed range */
    SIGNMF_ENONFINITE = 9,    /* training produced a non-finite loss or value */
    SIGNMF_EVERSION = 10,     /* a model file from a newer signmf */
    SIGNMF_ECHECKSUM = 11,    /* a model file whose checksum does not match */
    SIGNMF_ENOTFOUND = 12,    /* an id the model or data set does not know */
    SIGNMF_EUNSUPPORTED = 13, /* a valid but unsupported feature (dtype, ...) */
    SIGNMF_EINTERRUPTED = 14, /* a callback asked to stop */
    SIGNMF_EEMPTY = 15,       /* a file or data set holds no ratings */
    SIGNMF_STATUS_COUNT_ = 16
} signmf_status;

/* A short static description of a status, never NULL. */
SIGNMF_API const char *signmf_strerror(signmf_status status);

/* Detailed error report. `message` is always NUL-terminated; it names the
 * file, line and column where they apply, what was expected and what was
 * found. `line`/`column` are 1-based, 0 when not applicable. */
typedef struct signmf_error {
    signmf_status status;
    uint64_t line;
    uint64_t column;
    char message[768];
} signmf_error;

/* ------------------------------------------------------------------ */
/* Ratings                                                             */
/* ------------------------------------------------------------------ */
typedef struct signmf_ratings signmf_ratings;

typedef enum signmf_format {
    SIGNMF_FORMAT_AUTO = 0, /* by extension, then by content */
    SIGNMF_FORMAT_TSV = 1,  /* MovieLens: user item rating [timestamp], tabs or spaces */
    SIGNMF_FORMAT_CSV = 2,  /* header line, then userId,movieId,rating[,timestamp] */
    SIGNMF_FORMAT_MM = 3,   /* Matrix Market coordinate real/integer general */
    SIGNMF_FORMAT_NPY = 4,  /* dense 2-D .npy, users x items, 0 = unrated */
    SIGNMF_FORMAT_NPZ = 5   /* .npz (stored or deflated) with a 2-D array */
} signmf_format;

typedef enum signmf_id_mode {
    /* direct when ids are positive and dense enough (largest id at most
     * 1.5 x the number of distinct ids + 16), compact otherwise; decided per
     * axis. */
    SIGNMF_IDS_AUTO = 0,
    SIGNMF_IDS_DIRECT = 1, /* index = id - 1, dimension = largest id */
    SIGNMF_IDS_COMPACT = 2 /* index = rank of id among the distinct ids */
} signmf_id_mode;

typedef struct signmf_load_options {
    signmf_format format;
    signmf_id_mode ids;
    /* ratings outside [rating_min, rating_max] are rejected with ERANGE.
     * Defaults -1e9..1e9; zero is always rejected in sparse formats
     * because 0 means unrated. */
    double rating_min;
    double rating_max;
    /* .npz: name of the array to read (NULL: "data", else the only one). */
    const char *npz_key;
    /* cap on inflated .npz member size in bytes (0: 4 GiB). */
    uint64_t max_inflated;
} signmf_load_options;

SIGNMF_API signmf_load_options signmf_load_options_default(void);

/* Load a ratings file. On failure *out is NULL and err (if given) holds a
 * message naming the file and, for text formats, the line and column. */
SIGNMF_API signmf_status signmf_ratings_load(const char *path, const signmf_load_options *opt,
                                             signmf_ratings **out, signmf_error *err);

/* Build a ratings set from triplets of original ids. The arrays are copied.
 * Zero, NaN and infinite ratings and duplicates are rejected. */
SIGNMF_API signmf_status signmf_ratings_from_triplets(const int64_t *users, const int64_t *items,
                                                      const double *ratings, size_t count,
                                                      signmf_id_mode ids, signmf_ratings **out,
                                                      signmf_error *err);

/* Element types of caller-owned arrays (signmf_ratings_from_dense, _csr). */
typedef enum signmf_dtype {
    SIGNMF_DTYPE_F64 = 0,
    SIGNMF_DTYPE_F32 = 1,
    SIGNMF_DTYPE_I32 = 2,
    SIGNMF_DTYPE_I64 = 3
} signmf_dtype;

/* Build a ratings set of exactly rows x cols from a dense matrix in the
 * caller's memory, read in place: element (r, c) is at
 * (const char *)data + r * row_stride + c * col_stride (bytes; either
 * order, any view). 0 means unrated; NaN and infinities are rejected with
 * ERANGE naming the element. Ids are index + id_base: id_base 1 gives the
 * direct maps that a dense .npy file gets (so the result equals
 * signmf_ratings_load of the same matrix saved as .npy), any other
 * id_base >= 0 gives explicit maps (id_base 0: ids are the 0-based
 * indices). Empty rows and columns keep their place. The set holds its
 * own copy of the nonzeros (16 bytes each). */
SIGNMF_API signmf_status signmf_ratings_from_dense(const void *data, signmf_dtype dtype,
                                                   size_t rows, size_t cols, ptrdiff_t row_stride,
                                                   ptrdiff_t col_stride, int64_t id_base,
                                                   signmf_ratings **out, signmf_error *err);

/* The same from compressed sparse rows (scipy.sparse CSR): row r holds
 * indices[indptr[r] .. indptr[r + 1]) and values likewise; indptr has
 * rows + 1 entries. indptr and indices are I32 or I64, values F64 or F32.
 * Stored zeros are skipped as in the dense form, so a CSR and its dense
 * matrix give the same set. Column indices need not be sorted within a
 * row; an index outside [0, cols) fails with ERANGE, a column given twice
 * in a row with EDUPLICATE. Only the nonzeros are copied, once. */
SIGNMF_API signmf_status signmf_ratings_from_csr(size_t rows, size_t cols, const void *indptr,
                                                 signmf_dtype indptr_type, const void *indices,
                                                 signmf_dtype index_type, const void *values,
                                                 signmf_dtype value_type, int64_t id_base,
                                                 signmf_ratings **out, signmf_error *err);

SIGNMF_API void signmf_ratings_free(signmf_ratings *r);
SIGNMF_API size_t signmf_ratings_users(const signmf_ratings *r); /* rows of W */
SIGNMF_API size_t signmf_ratings_items(const signmf_ratings *r); /* columns of W */
SIGNMF_API size_t signmf_ratings_count(const signmf_ratings *r); /* nonzero entries */

/* Read ratings back as triplets of original ids: entries first ..
 * first + n - 1 of the set's order (by user index, then item index; the
 * order signmf_ratings_split and training see), copied into caller-owned
 * arrays of at least n entries each. Any of users, items and ratings may be
 * NULL to skip that column; nothing is allocated or retained. Iterate a
 * whole set in chunks with first = 0, n, 2n, ... up to
 * signmf_ratings_count(r). SIGNMF_EINVAL when r is NULL, SIGNMF_ERANGE when
 * first + n exceeds the count (nothing is written then). */
SIGNMF_API signmf_status signmf_ratings_triplets(const signmf_ratings *r, size_t first, size_t n,
                                                 int64_t *users, int64_t *items, double *ratings,
                                                 signmf_error *err);

/* ------------------------------------------------------------------ */
/* Training                                                            */
/* ------------------------------------------------------------------ */
/* Training precision. Values are pinned.
 *
 * SIGNMF_BF16 trains with float32 P and Q (the master copy, which the
 * update, the loss and the model use) and reads the rows it gathers from
 * a bfloat16 shadow of them: half the bytes per gathered row, which is
 * where the notebook's epoch spends its time. The shadow is the master
 * narrowed as VCVTNEPS2BF16 does it (round to nearest even, denormals to
 * zero, NaNs quietened), written by the same pass that writes the master,
 * so it is a function of the master alone. Per element, an epoch computes
 *     acc   = the signed sum of the gathered rows, each widened exactly to
 *             float32, added in float32 in the f32 order (the +1 rows,
 *             then the -1 rows, by index; block by block on large sets)
 *     out   = (self - a * acc) * sc in float32, self the master row
 *     loss  = sum of self . acc, folded in double as for SIGNMF_F32
 * so a bf16 run is a f32 run whose gathered rows carry 8 significant bits
 * (AVX-512 CPUs gather them with the AVX2 kernels and narrow with AVX-512
 * or, where present, VCVTNEPS2BF16 itself):
 * its results differ from the f32 run's (the loss, the factors, the
 * rankings, slightly), but are bit-identical across ISAs (portable, AVX2,
 * AVX-512) and thread counts, and a resumed run continues bit for bit.
 * A model trained in bf16 stores float32 factors (signmf_model_precision
 * is SIGNMF_F32) and keeps SIGNMF_BF16 in its params, so resume trains on
 * in bf16. The orthonormal method takes it the same way: its class sums
 * gather the bf16 shadow of the scaled sources, while its state, step and
 * orthonormalisation stay in float32 and double. */
typedef enum signmf_precision { SIGNMF_F32 = 0, SIGNMF_F64 = 1, SIGNMF_BF16 = 2 } signmf_precision;

typedef enum signmf_sign_rule {
    SIGNMF_SIGN_MEAN = 0,      /* the notebook: above the user's mean = liked */
    SIGNMF_SIGN_THRESHOLD = 1, /* rating >= threshold = liked */
    SIGNMF_SIGN_OBSERVED = 2   /* every rating = liked */
} signmf_sign_rule;

/* How P and Q are learnt.
 *
 * SIGNMF_METHOD_NOTEBOOK: the notebook's plain step above, exactly.
 *
 * SIGNMF_METHOD_ORTHONORMAL: the same loss, constrained to P^T P = I and
 * Q Q^T = I (docs/quality.md). The sign matrix is weighted and degree
 * normalised,
 *     D~ = -diag(n_u^-g) (w O + S) diag(n_i^-g),
 * with O the rated entries (1 where rated), S = -D the sign rule's signs
 * (+1 liked, -1 disliked, 0 neutral), w = rated_weight, g = degree_exp and
 * n_u, n_i the rating counts of user u and item i (1 when 0). w = g = 0
 * gives the notebook's D. Each epoch takes the notebook's step on the
 * current (orthonormal) P, Q with D~, computed by the signed-sum kernels
 * (each rated entry gathered once, per class), then orthonormalises both
 * sides (CholeskyQR2 in double, src/linalg). The loss reported is
 * sum D~ (P Q) of the orthonormal P, Q: the notebook's L when w = g = 0.
 * A model of this method is the Rayleigh-Ritz step of the state: the SVD
 * of the k x k matrix B = P^T (-D~) Q^T = U diag(sigma) V^T gives
 *     model P  = diag(n_u^g) P U          (users x k)
 *     model Qt = diag(n_i^g) Q^T V        (items x k)
 * and the Ritz values s (descending). The scoring weights are the Ritz
 * values soft-thresholded by the shrink t (singular value thresholding,
 * the nuclear-norm proximal step):
 *     sigma = s - tau,   tau = t * s[k-1]   (the smallest Ritz value)
 * so that score(u, i) = P_u diag(sigma) Qt_i approximates w + S_ui with
 * the degree normalisation undone and the weaker directions damped;
 * t = 0 gives the plain Rayleigh-Ritz sigma = s, t = 1 zeroes the last
 * direction. The trainer's orthonormal state is kept in the model too,
 * for resume. */
typedef enum signmf_method {
    SIGNMF_METHOD_NOTEBOOK = 0,
    SIGNMF_METHOD_ORTHONORMAL = 1
} signmf_method;

typedef struct signmf_params {
    size_t dim;                 /* k, >= 1. Default 512. */
    double lr;                  /* a, finite and >= 0. Default 1e-3. */
    uint32_t seed;              /* np.random.seed(seed). Default 1. */
    int threads;                /* >= 1, or 0 for all cores (one core when an
                                   epoch has at most 2^21 signed entries x dim
                                   adds, 2^22 for the orthonormal method: its
                                   barriers would cost more than a second
                                   thread saves). Results never depend on
                                   it. Default 0. */
    signmf_precision precision; /* default SIGNMF_F32 */
    signmf_sign_rule sign_rule; /* default SIGNMF_SIGN_MEAN */
    double threshold;           /* for SIGNMF_SIGN_THRESHOLD */
    int rescale;                /* rescale P and Q by a common scalar each epoch */
    signmf_method method;       /* default SIGNMF_METHOD_NOTEBOOK */
    double rated_weight;        /* orthonormal: w, finite and >= 0. Default 0 (notebook) */
    double degree_exp;          /* orthonormal: g, in [0, 1]. Default 0 (notebook) */
    double shrink;              /* orthonormal: t, in [0, 1]. Default 0 (notebook) */
} signmf_params;

/* The notebook's defaults (method SIGNMF_METHOD_NOTEBOOK). */
SIGNMF_API signmf_params signmf_params_default(void);
/* Defaults of a method: for SIGNMF_METHOD_ORTHONORMAL dim 32, lr 1,
 * rated_weight 3 (liked : neutral : disliked = 4 : 3 : 2), degree_exp 0.2,
 * shrink 0.75, chosen on 10 % per-user validation splits of MovieLens
 * ua.base (scripts/tune-ortho.sh, docs/quality.md); with 50 epochs
 * (SIGNMF_ORTHONORMAL_EPOCHS). The
 * other fields as signmf_params_default. */
SIGNMF_API signmf_params signmf_params_for(signmf_method method);
#define SIGNMF_ORTHONORMAL_EPOCHS 50
/* "notebook" / "orthonormal"; NULL for an unknown method. */
SIGNMF_API const char *signmf_method_name(signmf_method method);

typedef struct signmf_trainer signmf_trainer;

/* Build the sign structure from `ratings` and draw P and Q as numpy would.
 * The ratings set may be freed afterwards. */
SIGNMF_API signmf_status signmf_trainer_create(const signmf_ratings *ratings,
                                               const signmf_params *params, signmf_trainer **out,
                                               signmf_error *err);
/* The same trainer, but the ratings set is consumed: it is freed as soon
 * as the signs no longer need it, before the embeddings are allocated, so
 * that the ratings and the embeddings never take memory at the same time.
 * *ratings is NULL on return, whatever the outcome. */
SIGNMF_API signmf_status signmf_trainer_create_consume(signmf_ratings **ratings,
                                                       const signmf_params *params,
                                                       signmf_trainer **out, signmf_error *err);
SIGNMF_API void signmf_trainer_free(signmf_trainer *t);

/* The loss L of the current P and Q (the notebook's embed_loss). */
SIGNMF_API signmf_status signmf_trainer_loss(signmf_trainer *t, double *loss);

/* Called with the loss before every epoch (epoch = epochs done so far) and
 * once more after the last one; `seconds` is the wall time since
 * signmf_trainer_run started. Return non-zero to stop after this report;
 * the trainer then holds the model of `epoch` and run returns
 * SIGNMF_EINTERRUPTED. */
typedef int (*signmf_progress_fn)(void *user, uint64_t epoch, double loss, double log_scale,
                                  double seconds);

/* Run `epochs` gradient steps. A non-finite loss or embedding stops the run
 * with SIGNMF_ENONFINITE and the trainer keeps the last finite model.
 * With the orthonormal method the loss passed to `progress` is the
 * constrained loss of the orthonormal P, Q (see signmf_method). */
SIGNMF_API signmf_status signmf_trainer_run(signmf_trainer *t, uint64_t epochs,
                                            signmf_progress_fn progress, void *user,
                                            signmf_error *err);

SIGNMF_API uint64_t signmf_trainer_epochs_done(const signmf_trainer *t);
/* Orthonormal method: how many columns the last orthonormalisation had to
 * replace because the step left them (numerically) dependent, on both
 * sides together; 0 for the notebook method. Replaced columns are
 * completed deterministically (linalg.h), never NaN. */
SIGNMF_API size_t signmf_trainer_replaced_columns(const signmf_trainer *t);
/* Name of the kernel set in use: "portable", "avx2" or "avx512". */
SIGNMF_API const char *signmf_kernel_name(void);

/* ------------------------------------------------------------------ */
/* Models                                                              */
/* ------------------------------------------------------------------ */
typedef struct signmf_model signmf_model;

/* Snapshot the trainer's current state as a model (copies). */
SIGNMF_API signmf_status signmf_trainer_model(const signmf_trainer *t, signmf_model **out);
/* Continue training a saved model on the same ratings: the result is
 * bit-identical to an uninterrupted run. */
SIGNMF_API signmf_status signmf_trainer_resume(const signmf_ratings *ratings,
                                               const signmf_model *model, int threads,
                                               signmf_trainer **out, signmf_error *err);
/* signmf_trainer_resume consuming the ratings as signmf_trainer_create_consume
 * does; *ratings is NULL on return. */
SIGNMF_API signmf_status signmf_trainer_resume_consume(signmf_ratings **ratings,
                                                       const signmf_model *model, int threads,
                                                       signmf_trainer **out, signmf_error *err);
/* The trainer's final model, as signmf_trainer_model gives it, built while
 * the trainer's memory is given back, so the peak stays below that of
 * training instead of adding a model to it. The trainer is freed and *t
 * set to NULL whatever the outcome (SIGNMF_ENOMEM loses it). */
SIGNMF_API signmf_status signmf_trainer_into_model(signmf_trainer **t, signmf_model **out);

#define SIGNMF_OPEN_MMAP 1u /* map the file read-only instead of reading it */

/* Save atomically: a temporary file in the same directory, fsync, rename. */
SIGNMF_API signmf_status signmf_model_save(const signmf_model *m, const char *path,
                                           signmf_error *err);

/* A copy of `m` with its factors (P, Qt and the orthonormal state) in
 * precision `to`, for serving: SIGNMF_BF16 halves the factor bytes of an
 * f32 model (narrowed as VCVTNEPS2BF16 does, signmf_precision); f32 and
 * f64 convert by C casts, bf16 widens exactly. Everything else (ids,
 * rated rows, sigma, parameters, the training precision in its params) is
 * copied. A bf16 model serves, evaluates and exports (widened to f32) like
 * any other, but is not a training state: signmf_trainer_resume rejects it
 * (SIGNMF_EUNSUPPORTED); resume from the model it was converted from. */
SIGNMF_API signmf_status signmf_model_convert(const signmf_model *m, signmf_precision to,
                                              signmf_model **out, signmf_error *err);
SIGNMF_API signmf_status signmf_model_open(const char *path, unsigned flags, signmf_model **out,
                                           signmf_error *err);
SIGNMF_API void signmf_model_free(signmf_model *m);

SIGNMF_API size_t signmf_model_users(const signmf_model *m);
SIGNMF_API size_t signmf_model_items(const signmf_model *m);
SIGNMF_API size_t signmf_model_dim(const signmf_model *m);
/* The precision of the stored factors: SIGNMF_F32, SIGNMF_F64, or SIGNMF_BF16
 * for a converted model (signmf_model_convert). A model trained with
 * SIGNMF_BF16 stores its f32 master: SIGNMF_F32 here, SIGNMF_BF16 in its
 * params. */
SIGNMF_API signmf_precision signmf_model_precision(const signmf_model *m);
SIGNMF_API uint64_t signmf_model_epochs(const signmf_model *m);
SIGNMF_API signmf_params signmf_model_params(const signmf_model *m);
SIGNMF_API signmf_method signmf_model_method(const signmf_model *m);
/* The model's sigma (dim values, descending): for the orthonormal method
 * the Rayleigh-Ritz values less the shrink's tau (signmf_method), all 1
 * for the notebook method. Scores are P_u diag(sigma) Qt_i. */
SIGNMF_API const double *signmf_model_sigma(const signmf_model *m);
/* tau, what the shrink took from every Ritz value: the Ritz values are
 * sigma[t] + tau. 0 for the notebook method and for models without a
 * shrink (format 3 and earlier). */
SIGNMF_API double signmf_model_shrink_tau(const signmf_model *m);
/* The loss L of the model's P and Q as training last computed it (the
 * notebook's embed_loss); NaN when not known. */
SIGNMF_API double signmf_model_loss(const signmf_model *m);
/* The embeddings in place, row-major without padding, in the model's
 * precision (float, double, or for SIGNMF_BF16 uint16_t bf16 bit
 * patterns: the top half of a float): P is users x dim (the notebook's Usr),
 * Qt items x dim (one row per item: the notebook's Itm transposed). They
 * live as long as the model and are read-only (a mapped model's point into
 * its file). */
SIGNMF_API const void *signmf_model_user_factors(const signmf_model *m);
SIGNMF_API const void *signmf_model_item_factors(const signmf_model *m);
/* Original id of a row/column, and back. */
SIGNMF_API int64_t signmf_model_user_id(const signmf_model *m, size_t index);
SIGNMF_API int64_t signmf_model_item_id(const signmf_model *m, size_t index);
SIGNMF_API signmf_status signmf_model_user_index(const signmf_model *m, int64_t id, size_t *index);
SIGNMF_API signmf_status signmf_model_item_index(const signmf_model *m, int64_t id, size_t *index);

/* Write DIR/P.npy (users x k), DIR/Q.npy (k x items) in the model's
 * precision, the notebook's orientation, and DIR/sigma.npy (k, float64),
 * so that scores are P @ diag(sigma) @ Q; each file written atomically. */
SIGNMF_API signmf_status signmf_model_export_npy(const signmf_model *m, const char *dir,
                                                 signmf_error *err);

/* ------------------------------------------------------------------ */
/* Recommendations                                                     */
/* ------------------------------------------------------------------ */
typedef struct signmf_rec {
    int64_t item; /* original item id */
    double score; /* (P Q)[user, item] */
} signmf_rec;

/* Top `k` items the user did not rate in training, by descending score,
 * ties to the lower item index. `out` has room for k entries; *count
 * receives how many were written (fewer when the user rated nearly all). */
SIGNMF_API signmf_status signmf_recommend(const signmf_model *m, int64_t user, size_t k,
                                          signmf_rec *out, size_t *count, signmf_error *err);

/* ------------------------------------------------------------------ */
/* Serving: batch recommendations, fold-in, similar items              */
/* ------------------------------------------------------------------ */
/* Scores. Every serving function scores with the same fused kernel (chosen
 * at run time: portable, AVX2+FMA or AVX-512), whose sum order is fixed:
 * in the model's precision, s = +0, then s = fma(p[t], q[t], s) for t = 0,
 * 1, ..., dim - 1, where q[t] is the item's Qt[t] times sigma[t] (computed
 * in double and rounded once to the model's precision; exactly Qt[t] for
 * the notebook method) (one rounding per step; numpy's float32 `@` sums in a
 * different order, so its scores can differ in the last bits). The
 * `score` of a signmf_rec is that value, so results are
 * bit-identical across ISAs, thread counts and single/batch calls, and
 * equal to the exact dot product up to float rounding (items whose exact
 * scores differ by less than about dim * 2^-24 * |p| |q| for float32 may
 * swap against a double-precision ranking). Ranking: descending score,
 * ties to the lower item index, NaN last (a -0 score is reported as +0).
 * signmf_recommend (above) uses it too.
 *
 * bf16 models (signmf_model_convert) score in float32 in the same order,
 * on the bf16 values widened exactly: s = +0, then s = fmaf(p[t], q[t], s),
 * where q[t] is Qt[t] times sigma[t] rounded to float32 and then narrowed
 * to bf16 (exactly Qt[t] for the notebook method). Every kernel gives the
 * same bits (portable, and AVX2 widening in registers and using FMA, which
 * AVX-512 CPUs run too: there is no wider bf16 score kernel yet). The AVX512-BF16
 * dot product VDPBF16PS is not used: it adds each lane's pair of products
 * odd element first, flushes denormal results and inputs to zero, and would
 * need the items interleaved in pairs, so its sums differ from this order
 * in the last bits (and in underflow); one order on every machine is kept
 * over its speed. Fold-in on a bf16 model sums the widened rows in float32
 * and narrows p once before scoring.
 *
 * Threads. A single query row (signmf_recommend, fold-in, similar) is
 * split by item ranges over the OpenMP threads (OMP_NUM_THREADS, default
 * all cores) once the model has 2^17 or more item x dim values; the
 * result does not depend on the split. For one thread per query in a
 * server that parallelises across requests, call signmf_recommend_many
 * with n = 1 and threads = 1. The split pays off while OpenMP's workers
 * are awake; after an idle spell libgomp has parked them and the call
 * waits for one to wake, which on a busy virtual machine can take
 * milliseconds (bench_score's "after 20 ms idle" lines). Sporadic
 * latency-bound queries are better served by threads = 1, or with the
 * workers kept spinning (GOMP_SPINCOUNT, OMP_WAIT_POLICY=active) at the
 * cost of the cores they spin on. */

/* Receives one user's ranked results; return non-zero to stop. */
typedef int (*signmf_recs_fn)(void *ctx, int64_t user, const signmf_rec *recs, size_t count);

/* Top `k` for each of `n` users (original ids; NULL with n equal to
 * signmf_model_users() means every user in index order). Results for user
 * users[i] go to out[i * k ..], their number to counts[i]. `threads` is the
 * OpenMP thread count (0: all cores); the output does not depend on it.
 * An unknown id fails the whole call with SIGNMF_ENOTFOUND naming it. */
SIGNMF_API signmf_status signmf_recommend_many(const signmf_model *m, const int64_t *users,
                                               size_t n, size_t k, int threads, signmf_rec *out,
                                               size_t *counts, signmf_error *err);

/* Flags of signmf_recommend_many_ex. */
#define SIGNMF_REC_INCLUDE_RATED 1u /* rank the items the user rated in training too */

/* signmf_recommend_many with flags (0: the same call). */
SIGNMF_API signmf_status signmf_recommend_many_ex(const signmf_model *m, const int64_t *users,
                                                  size_t n, size_t k, int threads, unsigned flags,
                                                  signmf_rec *out, size_t *counts,
                                                  signmf_error *err);

/* Top `k` for every user, streamed: `fn` is called once per user in index
 * order (the order of signmf_model_user_id), from the calling thread, while
 * batches of users are scored in parallel. A non-zero return from `fn`
 * stops the run with SIGNMF_EINTERRUPTED. */
SIGNMF_API signmf_status signmf_recommend_all(const signmf_model *m, size_t k, int threads,
                                              signmf_recs_fn fn, void *ctx, signmf_error *err);

/* Fold-in: recommendations for a user the model was not trained on, from
 * (item id, rating) pairs, without retraining. The ratings are centred and
 * signed exactly as training does with the model's sign rule (mean rule:
 * the numpy mean of the given ratings; above it D = -1, below D = +1,
 * equal 0), and the user's embedding is the gradient direction
 *     p = -(D row) Q^T = sum over liked j of Q_j - sum over disliked j of Q_j,
 * accumulated in the model's precision as the training kernels do (the
 * D = +1 rows added first, then the D = -1 rows subtracted, each by
 * ascending item index, then negated). Items are then scored with p like
 * any user, and the given items are never recommended.
 * Orthonormal method: the signed row is weighted as in training
 * (w + S_uj) and projected on the item factors, then divided by the Ritz
 * value, so that a trained user's own ratings fold in to about its row of P:
 *     p[t] = (sum over given j, ascending, of (w + S_j) c_j^2 Qt_j[t]) / s[t]
 * in double (s[t] = sigma[t] + tau, c_j = n_j^-g, n_j the item's training
 * ratings; p[t] = 0 where s[t] = 0), rounded to the model's precision. Unknown items fail
 * with SIGNMF_ENOTFOUND, an item given twice with SIGNMF_EDUPLICATE, a zero
 * or non-finite rating with SIGNMF_ERANGE. n = 0 gives p = 0. */
SIGNMF_API signmf_status signmf_recommend_foldin(const signmf_model *m, const int64_t *items,
                                                 const double *ratings, size_t n, size_t k,
                                                 signmf_rec *out, size_t *count, signmf_error *err);
/* The fold-in embedding p itself (dim values, widened to double). */
SIGNMF_API signmf_status signmf_foldin_embedding(const signmf_model *m, const int64_t *items,
                                                 const double *ratings, size_t n, double *p,
                                                 signmf_error *err);

/* Items most similar to `item` by cosine of the sigma-scaled item
 * embeddings (rows of Q^T times sigma, rounded as the scores use them):
 * score = s_ij / (sqrt(s_ii) sqrt(s_jj)) in double, where s is the kernel
 * score of the two scaled rows; 0 when either norm is 0. The item itself
 * is left out; ties to the lower index. */
SIGNMF_API signmf_status signmf_similar(const signmf_model *m, int64_t item, size_t k,
                                        signmf_rec *out, size_t *count, signmf_error *err);

/* ------------------------------------------------------------------ */
/* Evaluation                                                          */
/* ------------------------------------------------------------------ */
/* Ranking metrics of a model on held-out ratings (see docs/evaluation.md).
 *
 * Test pairs are mapped to the model by original id. Pairs whose user or
 * item the model does not know, and pairs the user already rated in
 * training (they can never be recommended), are counted and left out. A
 * used pair is relevant when its rating is >= `relevant`. A user is
 * evaluated when it has at least one relevant pair; every metric is the
 * mean over evaluated users (AUC: over those that also have a non-relevant
 * unrated item). For user u, with R its relevant items, U the items it did
 * not rate in training, N = U \ R, and L its top-k list over U (the
 * signmf_recommend_many ranking: descending kernel score, ties to the
 * lower item index, NaN last; c = |L| = min(k, |U|)):
 *   hits      = |L & R|
 *   precision = hits / k
 *   recall    = hits / |R|
 *   ndcg      = sum over ranks i < c with L[i] in R of 1 / log2(i + 2),
 *               divided by sum over i < min(k, |R|) of 1 / log2(i + 2)
 *   map       = sum over ranks i < c with L[i] in R of
 *               (hits in L[0..i]) / (i + 1), divided by min(k, |R|)
 *   hit       = 1 if hits > 0 else 0
 *   auc       = #{(r, n) in R x N : r ranks before n} / (|R| |N|), the
 *               probability that a relevant item outranks a non-relevant
 *               unrated one in the full ranking of U
 *   coverage  = |union of L over evaluated users| / items (not a mean).
 * The popularity baseline ranks U by the number of training ratings of each
 * item (the model's rated rows), ties to the lower index, and is judged
 * the same way. */
typedef enum signmf_metric {
    SIGNMF_METRIC_PRECISION = 0,
    SIGNMF_METRIC_RECALL = 1,
    SIGNMF_METRIC_NDCG = 2,
    SIGNMF_METRIC_MAP = 3,
    SIGNMF_METRIC_HIT = 4,
    SIGNMF_METRIC_AUC = 5,
    SIGNMF_METRIC_COVERAGE = 6,
    SIGNMF_METRIC_COUNT_ = 7
} signmf_metric;

typedef struct signmf_metrics {
    double precision, recall, ndcg, map, hit, auc, coverage;
} signmf_metrics;

typedef struct signmf_eval_options {
    size_t k;        /* list length, >= 1. Default 10. */
    double relevant; /* a rating >= this is relevant. Default 4. */
    int threads;     /* >= 1, or 0 for all cores; figures do not depend on it */
} signmf_eval_options;

SIGNMF_API signmf_eval_options signmf_eval_options_default(void);

typedef struct signmf_eval_result {
    size_t k;
    double relevant;
    signmf_metrics model;      /* the model's ranking */
    signmf_metrics popularity; /* the popularity ranking */
    size_t test_pairs;         /* pairs in the test set */
    size_t unknown_user_pairs; /* user not in the model */
    size_t unknown_item_pairs; /* user known, item not */
    size_t train_pairs;        /* rated by the user in training: left out */
    size_t relevant_pairs;     /* pairs used as relevant */
    size_t test_users;         /* known users with at least one used pair */
    size_t users;              /* evaluated users (>= 1 relevant pair) */
    size_t auc_users;          /* evaluated users with N non-empty */
} signmf_eval_result;

/* Evaluate `m` on `test` (any ratings set; ids are original ids). NaN
 * figures when no user is evaluated. */
SIGNMF_API signmf_status signmf_evaluate(const signmf_model *m, const signmf_ratings *test,
                                         const signmf_eval_options *opt, signmf_eval_result *out,
                                         signmf_error *err);

/* One figure of a metrics struct; NaN for an unknown metric. */
SIGNMF_API double signmf_metric_value(const signmf_metrics *v, signmf_metric which);
/* "precision", "recall", "ndcg", "map", "hit", "auc", "coverage"; NULL if
 * unknown. */
SIGNMF_API const char *signmf_metric_name(signmf_metric which);

/* Deterministic per-user validation split. For each user (by index) with n
 * ratings, h = floor(fraction * n) of them go to *holdout, the rest to
 * *train: a partial Fisher-Yates shuffle of the user's ratings (in item
 * order) draws position i + (u32 mod (n - i)) for i = 0 .. h-1 from one
 * MT19937 stream seeded with `seed` (numpy's RandomState(seed) words),
 * users taken in index order. Both sets keep the input's id maps and
 * dimensions, so a model trained on *train knows every id of *holdout.
 * fraction must be in [0, 1). */
SIGNMF_API signmf_status signmf_ratings_split(const signmf_ratings *r, double fraction,
                                              uint32_t seed, signmf_ratings **train,
                                              signmf_ratings **holdout, signmf_error *err);

#ifdef __cplusplus
}
#endif
#endif /* SIGNMF_H */
