/* _signmf: the CPython binding of the signmf C library (the package's
 * private half; signmf/__init__.py is the public API and validates input).
 *
 * Written against the limited API of CPython 3.11, the first stable ABI
 * with the buffer protocol: numpy arrays are read in place through
 * PyObject_GetBuffer, and the factor matrices are exported as read-only
 * buffers of the model, so one abi3 wheel serves every CPython >= 3.11
 * and the extension needs neither numpy's headers nor its ABI.
 *
 * A Core owns one immutable signmf_model. Every call that works on it
 * keeps the Core alive (the bound method holds `self`), so the GIL can be
 * dropped while the library runs and any number of threads may score the
 * same model at once; a new fit makes a new Core instead of changing one
 * that readers may hold. */
#include <Python.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "signmf.h"

static PyObject *error_classes; /* tuple indexed by signmf_status */
static PyObject *np_empty;      /* numpy.empty */
static PyObject *CoreType, *FactorsType;

typedef struct {
    PyObject_HEAD signmf_model *m;
} Core;

/* ---- errors ------------------------------------------------------------ */

static PyObject *raise_status(signmf_status st, const signmf_error *err)
{
    const char *msg = err != NULL && err->message[0] ? err->message : signmf_strerror(st);
    PyObject *cls = NULL;
    if (error_classes != NULL && (Py_ssize_t)st < PyTuple_Size(error_classes))
        cls = PyTuple_GetItem(error_classes, (Py_ssize_t)st);
    if (cls == NULL) {
        PyErr_Clear();
        PyErr_Format(PyExc_RuntimeError, "signmf: %s (status %d)", msg, (int)st);
        return NULL;
    }
    PyObject *exc =
        PyObject_CallFunction(cls, "sKK", msg, (unsigned long long)(err != NULL ? err->line : 0),
                              (unsigned long long)(err != NULL ? err->column : 0));
    if (exc != NULL) {
        PyErr_SetObject(cls, exc);
        Py_DECREF(exc);
    }
    return NULL;
}

static PyObject *set_error_classes(PyObject *mod, PyObject *arg)
{
    (void)mod;
    if (!PyTuple_Check(arg) || PyTuple_Size(arg) != SIGNMF_STATUS_COUNT_) {
        PyErr_SetString(PyExc_TypeError, "expected a tuple of one class per status");
        return NULL;
    }
    Py_XDECREF(error_classes);
    Py_INCREF(arg);
    error_classes = arg;
    Py_RETURN_NONE;
}

/* ---- buffers ------------------------------------------------------------ */

/* The element type of a buffer from its struct format ("d", "<f", ...). */
static int buffer_dtype(const Py_buffer *b, signmf_dtype *t)
{
    const char *f = b->format != NULL ? b->format : "B";
    if (*f == '@' || *f == '=' || *f == '<')
        f++;
    if (f[0] != '\0' && f[1] == '\0') {
        switch (f[0]) {
        case 'd':
            *t = SIGNMF_DTYPE_F64;
            return b->itemsize == 8;
        case 'f':
            *t = SIGNMF_DTYPE_F32;
            return b->itemsize == 4;
        case 'i':
        case 'l':
        case 'q':
            if (b->itemsize == 4) {
                *t = SIGNMF_DTYPE_I32;
                return 1;
            }
            if (b->itemsize == 8) {
                *t = SIGNMF_DTYPE_I64;
                return 1;
            }
            return 0;
        default:
            return 0;
        }
    }
    return 0;
}

static int get_buffer(PyObject *o, Py_buffer *b, int ndim, bool contiguous, const char *what)
{
    int flags = contiguous ? PyBUF_C_CONTIGUOUS | PyBUF_FORMAT : PyBUF_RECORDS_RO;
    if (PyObject_GetBuffer(o, b, flags) != 0)
        return -1;
    if (b->ndim != ndim) {
        PyErr_Format(PyExc_ValueError, "%s: expected %d dimensions, found %d", what, ndim, b->ndim);
        PyBuffer_Release(b);
        return -1;
    }
    return 0;
}

/* numpy.empty(shape, dtype) and its writable buffer. */
static PyObject *new_array(PyObject *shape, const char *dtype, Py_buffer *b)
{
    PyObject *a = PyObject_CallFunction(np_empty, "Os", shape, dtype);
    if (a == NULL)
        return NULL;
    if (PyObject_GetBuffer(a, b, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) != 0) {
        Py_DECREF(a);
        return NULL;
    }
    return a;
}

/* (ids, scores) arrays of `rows` x `k` results (1-D when rows < 0),
 * short rows padded with id -1 and score NaN. */
static PyObject *rec_arrays(const signmf_rec *r, const size_t *counts, Py_ssize_t rows, size_t k)
{
    size_t n = rows < 0 ? counts[0] : (size_t)rows * k;
    PyObject *shape =
        rows < 0 ? Py_BuildValue("(n)", (Py_ssize_t)n) : Py_BuildValue("(nn)", rows, (Py_ssize_t)k);
    if (shape == NULL)
        return NULL;
    Py_buffer bi, bs;
    PyObject *ids = new_array(shape, "int64", &bi);
    PyObject *scores = ids != NULL ? new_array(shape, "float64", &bs) : NULL;
    Py_DECREF(shape);
    if (scores == NULL) {
        if (ids != NULL) {
            PyBuffer_Release(&bi);
            Py_DECREF(ids);
        }
        return NULL;
    }
    int64_t *pi = bi.buf;
    double *ps = bs.buf;
    size_t nrows = rows < 0 ? 1 : (size_t)rows, width = rows < 0 ? counts[0] : k;
    for (size_t u = 0; u < nrows; u++)
        for (size_t j = 0; j < width; j++) {
            bool have = j < counts[u];
            pi[u * width + j] = have ? r[u * k + j].item : -1;
            ps[u * width + j] = have ? r[u * k + j].score : NAN;
        }
    PyBuffer_Release(&bi);
    PyBuffer_Release(&bs);
    PyObject *t = PyTuple_Pack(2, ids, scores);
    Py_DECREF(ids);
    Py_DECREF(scores);
    return t;
}

/* ---- ratings from Python sources ----------------------------------------- */

/* `src` is what signmf/__init__.py makes of the caller's data:
 *   ("path", str)
 *   ("dense", 2-D float32/float64 buffer, id_base)
 *   ("csr", rows, cols, indptr, indices, values, id_base)   1-D buffers
 *   ("triplets", int64 users, int64 items, float64 ratings) contiguous
 * The library reads the buffers with the GIL released. */
static int ratings_from_source(PyObject *src, signmf_ratings **out)
{
    *out = NULL;
    const char *kind;
    if (!PyTuple_Check(src) || PyTuple_Size(src) < 2 ||
        (kind = PyUnicode_AsUTF8AndSize(PyTuple_GetItem(src, 0), NULL)) == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "bad ratings source");
        return -1;
    }
    signmf_error err;
    memset(&err, 0, sizeof err);
    signmf_status st;
    if (strcmp(kind, "path") == 0) {
        PyObject *bytes = NULL;
        if (!PyUnicode_FSConverter(PyTuple_GetItem(src, 1), &bytes))
            return -1;
        const char *path = PyBytes_AsString(bytes);
        signmf_load_options lo = signmf_load_options_default();
        PyThreadState *ts_ = PyEval_SaveThread();
        st = signmf_ratings_load(path, &lo, out, &err);
        PyEval_RestoreThread(ts_);
        Py_DECREF(bytes);
    } else if (strcmp(kind, "dense") == 0 && PyTuple_Size(src) == 3) {
        Py_buffer b;
        long long base = PyLong_AsLongLong(PyTuple_GetItem(src, 2));
        if (base == -1 && PyErr_Occurred())
            return -1;
        if (get_buffer(PyTuple_GetItem(src, 1), &b, 2, false, "ratings matrix") != 0)
            return -1;
        signmf_dtype t;
        if (!buffer_dtype(&b, &t) || (t != SIGNMF_DTYPE_F64 && t != SIGNMF_DTYPE_F32)) {
            PyBuffer_Release(&b);
            PyErr_SetString(PyExc_TypeError, "ratings matrix: expected float32 or float64");
            return -1;
        }
        PyThreadState *ts_ = PyEval_SaveThread();
        st = signmf_ratings_from_dense(b.buf, t, (size_t)b.shape[0], (size_t)b.shape[1],
                                       b.strides[0], b.strides[1], (int64_t)base, out, &err);
        PyEval_RestoreThread(ts_);
        PyBuffer_Release(&b);
    } else if (strcmp(kind, "csr") == 0 && PyTuple_Size(src) == 7) {
        Py_ssize_t rows = PyLong_AsSsize_t(PyTuple_GetItem(src, 1));
        Py_ssize_t cols = PyLong_AsSsize_t(PyTuple_GetItem(src, 2));
        long long base = PyLong_AsLongLong(PyTuple_GetItem(src, 6));
        if (PyErr_Occurred())
            return -1;
        Py_buffer b[3];
        static const char *const names[3] = {"indptr", "indices", "data"};
        signmf_dtype t[3];
        int got = 0;
        for (; got < 3; got++) {
            if (get_buffer(PyTuple_GetItem(src, 3 + got), &b[got], 1, true, names[got]) != 0)
                break;
            if (!buffer_dtype(&b[got], &t[got])) {
                PyErr_Format(PyExc_TypeError, "CSR %s: unsupported element type", names[got]);
                got++;
                break;
            }
        }
        if (got == 3 && !PyErr_Occurred() &&
            (b[0].shape[0] != rows + 1 || b[1].shape[0] != b[2].shape[0]))
            PyErr_Format(PyExc_ValueError,
                         "CSR: expected indptr of %zd entries and indices and data of equal "
                         "length, found %zd, %zd and %zd",
                         rows + 1, b[0].shape[0], b[1].shape[0], b[2].shape[0]);
        if (got < 3 || PyErr_Occurred()) {
            for (int i = 0; i < got; i++)
                PyBuffer_Release(&b[i]);
            return -1;
        }
        PyThreadState *ts_ = PyEval_SaveThread();
        st = signmf_ratings_from_csr((size_t)rows, (size_t)cols, b[0].buf, t[0], b[1].buf, t[1],
                                     b[2].buf, t[2], (int64_t)base, out, &err);
        PyEval_RestoreThread(ts_);
        for (int i = 0; i < 3; i++)
            PyBuffer_Release(&b[i]);
    } else if (strcmp(kind, "triplets") == 0 && PyTuple_Size(src) == 4) {
        Py_buffer b[3];
        int got = 0;
        for (; got < 3; got++)
            if (get_buffer(PyTuple_GetItem(src, 1 + got), &b[got], 1, true, "triplets") != 0)
                break;
        if (got < 3) {
            for (int i = 0; i < got; i++)
                PyBuffer_Release(&b[i]);
            return -1;
        }
        size_t n = (size_t)b[0].shape[0];
        PyThreadState *ts_ = PyEval_SaveThread();
        st = signmf_ratings_from_triplets(b[0].buf, b[1].buf, b[2].buf, n, SIGNMF_IDS_AUTO, out,
                                          &err);
        PyEval_RestoreThread(ts_);
        for (int i = 0; i < 3; i++)
            PyBuffer_Release(&b[i]);
    } else {
        PyErr_Format(PyExc_TypeError, "bad ratings source kind '%s'", kind);
        return -1;
    }
    if (st != SIGNMF_OK) {
        raise_status(st, &err);
        return -1;
    }
    return 0;
}

/* ---- Core ------------------------------------------------------------------ */

static PyObject *core_new(signmf_model *m)
{
    Core *c = PyObject_New(Core, (PyTypeObject *)CoreType);
    if (c == NULL) {
        signmf_model_free(m);
        return NULL;
    }
    c->m = m;
    return (PyObject *)c;
}

static void core_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    signmf_model_free(((Core *)self)->m);
    freefunc f = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    f(self);
    Py_DECREF(tp);
}

static const char *rule_name(signmf_sign_rule r)
{
    return r == SIGNMF_SIGN_THRESHOLD  ? "threshold"
           : r == SIGNMF_SIGN_OBSERVED ? "observed"
                                       : "mean";
}

/* The training precision (a bf16 run stores its f32 master). */
static const char *precision_name(signmf_precision p)
{
    return p == SIGNMF_F64 ? "f64" : p == SIGNMF_BF16 ? "bf16" : "f32";
}

static PyObject *core_info(PyObject *self, PyObject *unused)
{
    (void)unused;
    const signmf_model *m = ((Core *)self)->m;
    signmf_params p = signmf_model_params(m);
    return Py_BuildValue("{s:n,s:n,s:n,s:s,s:K,s:d,s:d,s:k,s:i,s:s,s:d,s:O,s:i,s:d,s:d,s:d}",
                         "users", (Py_ssize_t)signmf_model_users(m), "items",
                         (Py_ssize_t)signmf_model_items(m), "dim", (Py_ssize_t)signmf_model_dim(m),
                         "precision", precision_name(p.precision), "epochs",
                         (unsigned long long)signmf_model_epochs(m), "loss", signmf_model_loss(m),
                         "lr", p.lr, "seed", (unsigned long)p.seed, "threads", p.threads,
                         "sign_rule", rule_name(p.sign_rule), "threshold", p.threshold, "rescale",
                         p.rescale ? Py_True : Py_False, "method", (int)p.method, "rated_weight",
                         p.rated_weight, "degree_exp", p.degree_exp, "shrink", p.shrink);
}

/* sigma(): the model's sigma as a list of floats (signmf_model_sigma). */
static PyObject *core_sigma(PyObject *self, PyObject *unused)
{
    (void)unused;
    const signmf_model *m = ((Core *)self)->m;
    size_t k = signmf_model_dim(m);
    const double *sg = signmf_model_sigma(m);
    PyObject *list = PyList_New((Py_ssize_t)k);
    for (size_t t = 0; list && t < k; ++t) {
        PyObject *v = PyFloat_FromDouble(sg[t]);
        /* PyList_SetItem steals v, even when it fails */
        if (v == NULL || PyList_SetItem(list, (Py_ssize_t)t, v) != 0) {
            Py_DECREF(list);
            return NULL;
        }
    }
    return list;
}

/* ids(which): int64 array of the original ids of the rows (0 users, 1 items). */
static PyObject *core_ids(PyObject *self, PyObject *arg)
{
    const signmf_model *m = ((Core *)self)->m;
    long which = PyLong_AsLong(arg);
    if (which == -1 && PyErr_Occurred())
        return NULL;
    size_t n = which ? signmf_model_items(m) : signmf_model_users(m);
    PyObject *shape = Py_BuildValue("(n)", (Py_ssize_t)n);
    if (shape == NULL)
        return NULL;
    Py_buffer b;
    PyObject *a = new_array(shape, "int64", &b);
    Py_DECREF(shape);
    if (a == NULL)
        return NULL;
    int64_t *p = b.buf;
    for (size_t i = 0; i < n; i++)
        p[i] = which ? signmf_model_item_id(m, i) : signmf_model_user_id(m, i);
    PyBuffer_Release(&b);
    return a;
}

typedef struct {
    PyObject_HEAD PyObject *core;
    int which;
    Py_ssize_t shape[2], strides[2];
} Factors;

static PyObject *core_factors(PyObject *self, PyObject *arg)
{
    long which = PyLong_AsLong(arg);
    if (which == -1 && PyErr_Occurred())
        return NULL;
    const signmf_model *m = ((Core *)self)->m;
    Factors *f = PyObject_New(Factors, (PyTypeObject *)FactorsType);
    if (f == NULL)
        return NULL;
    Py_INCREF(self);
    f->core = self;
    f->which = which != 0;
    signmf_precision fp = signmf_model_precision(m);
    Py_ssize_t es = fp == SIGNMF_F64 ? 8 : fp == SIGNMF_BF16 ? 2 : 4;
    f->shape[0] = (Py_ssize_t)(f->which ? signmf_model_items(m) : signmf_model_users(m));
    f->shape[1] = (Py_ssize_t)signmf_model_dim(m);
    f->strides[0] = f->shape[1] * es;
    f->strides[1] = es;
    return (PyObject *)f;
}

static void factors_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    Py_XDECREF(((Factors *)self)->core);
    freefunc f = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    f(self);
    Py_DECREF(tp);
}

/* The model's own memory, read-only: a mapped model's pages are the
 * file's, and the scorer's packed copy of Q must stay in step with it. */
static int factors_getbuffer(PyObject *self, Py_buffer *view, int flags)
{
    Factors *f = (Factors *)self;
    if (flags & PyBUF_WRITABLE) {
        PyErr_SetString(PyExc_BufferError, "signmf factors are read-only; copy them to modify");
        return -1;
    }
    const signmf_model *m = ((Core *)f->core)->m;
    signmf_precision fp = signmf_model_precision(m);
    view->buf = (void *)(f->which ? signmf_model_item_factors(m) : signmf_model_user_factors(m));
    view->obj = self;
    Py_INCREF(self);
    /* bf16 factors (a converted model) are their uint16 bit patterns:
     * buffers have no bf16 format */
    view->itemsize = fp == SIGNMF_F64 ? 8 : fp == SIGNMF_BF16 ? 2 : 4;
    view->len = f->shape[0] * f->shape[1] * view->itemsize;
    view->readonly = 1;
    view->format = (flags & PyBUF_FORMAT) ? (fp == SIGNMF_F64    ? "d"
                                             : fp == SIGNMF_BF16 ? "H"
                                                                 : "f")
                                          : NULL;
    view->ndim = 2;
    view->shape = (flags & PyBUF_ND) ? f->shape : NULL;
    view->strides = (flags & PyBUF_STRIDES) == PyBUF_STRIDES ? f->strides : NULL;
    view->suboffsets = NULL;
    view->internal = NULL;
    if (!(flags & PyBUF_ND) && f->shape[0] > 1) {
        /* a 1-D view of a C-contiguous block is still exact */
        view->ndim = 1;
    }
    return 0;
}

static int parse_threads(PyObject *o, int *threads)
{
    long t = PyLong_AsLong(o);
    if (t == -1 && PyErr_Occurred())
        return -1;
    if (t < 0 || t > 1 << 20) {
        PyErr_Format(PyExc_ValueError,
                     "threads: expected 0 (all cores) or a positive count, "
                     "found %ld",
                     t);
        return -1;
    }
    *threads = (int)t;
    return 0;
}

/* recommend(users, N, include_rated, threads): users is an int (1-D
 * result) or a contiguous int64 buffer (2-D result). */
static PyObject *core_recommend(PyObject *self, PyObject *args)
{
    PyObject *users, *tobj;
    Py_ssize_t k;
    int include_rated;
    if (!PyArg_ParseTuple(args, "OnpO", &users, &k, &include_rated, &tobj))
        return NULL;
    int threads;
    if (parse_threads(tobj, &threads) != 0)
        return NULL;
    if (k < 0) {
        PyErr_Format(PyExc_ValueError, "N: expected a count >= 0, found %zd", k);
        return NULL;
    }
    const signmf_model *m = ((Core *)self)->m;
    size_t cap = (size_t)k < signmf_model_items(m) ? (size_t)k : signmf_model_items(m);
    unsigned flags = include_rated ? SIGNMF_REC_INCLUDE_RATED : 0;
    signmf_error err;
    memset(&err, 0, sizeof err);
    signmf_status st;
    if (PyLong_Check(users)) {
        long long id = PyLong_AsLongLong(users);
        if (id == -1 && PyErr_Occurred())
            return NULL;
        int64_t uid = (int64_t)id;
        signmf_rec small[64], *out = cap <= 64 ? small : PyMem_Malloc(cap * sizeof *out);
        if (out == NULL)
            return PyErr_NoMemory();
        size_t count = 0;
        PyThreadState *ts_ = PyEval_SaveThread();
        st = signmf_recommend_many_ex(m, &uid, 1, cap, threads, flags, out, &count, &err);
        PyEval_RestoreThread(ts_);
        PyObject *r = st == SIGNMF_OK ? rec_arrays(out, &count, -1, cap) : raise_status(st, &err);
        if (out != small)
            PyMem_Free(out);
        return r;
    }
    Py_buffer b;
    PyObject *r = NULL;
    bool all = users == Py_None;
    if (!all && get_buffer(users, &b, 1, true, "users") != 0)
        return NULL;
    signmf_dtype t = SIGNMF_DTYPE_I64;
    if (!all && (!buffer_dtype(&b, &t) || t != SIGNMF_DTYPE_I64)) {
        PyBuffer_Release(&b);
        PyErr_SetString(PyExc_TypeError, "users: expected an int64 array");
        return NULL;
    }
    size_t n = all ? signmf_model_users(m) : (size_t)b.shape[0];
    if (cap != 0 && n > (size_t)PY_SSIZE_T_MAX / sizeof(signmf_rec) / cap) {
        if (!all)
            PyBuffer_Release(&b);
        return PyErr_NoMemory();
    }
    signmf_rec *out = PyMem_Malloc((n != 0 && cap != 0 ? n * cap : 1) * sizeof *out);
    size_t *counts = PyMem_Malloc((n ? n : 1) * sizeof *counts);
    if (out == NULL || counts == NULL) {
        PyErr_NoMemory();
    } else {
        PyThreadState *ts_ = PyEval_SaveThread();
        st = signmf_recommend_many_ex(m, all ? NULL : b.buf, n, cap, threads, flags, out, counts,
                                      &err);
        PyEval_RestoreThread(ts_);
        r = st == SIGNMF_OK ? rec_arrays(out, counts, (Py_ssize_t)n, cap) : raise_status(st, &err);
    }
    PyMem_Free(out);
    PyMem_Free(counts);
    if (!all)
        PyBuffer_Release(&b);
    return r;
}

/* recommend_new(items int64, ratings float64, N) */
static PyObject *core_recommend_new(PyObject *self, PyObject *args)
{
    PyObject *io, *ro;
    Py_ssize_t k;
    if (!PyArg_ParseTuple(args, "OOn", &io, &ro, &k))
        return NULL;
    if (k < 0) {
        PyErr_Format(PyExc_ValueError, "N: expected a count >= 0, found %zd", k);
        return NULL;
    }
    const signmf_model *m = ((Core *)self)->m;
    size_t cap = (size_t)k < signmf_model_items(m) ? (size_t)k : signmf_model_items(m);
    Py_buffer bi, br;
    if (get_buffer(io, &bi, 1, true, "items") != 0)
        return NULL;
    if (get_buffer(ro, &br, 1, true, "ratings") != 0) {
        PyBuffer_Release(&bi);
        return NULL;
    }
    PyObject *r = NULL;
    signmf_rec *out = PyMem_Malloc((cap ? cap : 1) * sizeof *out);
    if (out == NULL) {
        PyErr_NoMemory();
    } else {
        signmf_error err;
        memset(&err, 0, sizeof err);
        size_t count = 0;
        signmf_status st;
        PyThreadState *ts_ = PyEval_SaveThread();
        st =
            signmf_recommend_foldin(m, bi.buf, br.buf, (size_t)bi.shape[0], cap, out, &count, &err);
        PyEval_RestoreThread(ts_);
        r = st == SIGNMF_OK ? rec_arrays(out, &count, -1, cap) : raise_status(st, &err);
        PyMem_Free(out);
    }
    PyBuffer_Release(&bi);
    PyBuffer_Release(&br);
    return r;
}

static PyObject *core_similar(PyObject *self, PyObject *args)
{
    long long item;
    Py_ssize_t k;
    if (!PyArg_ParseTuple(args, "Ln", &item, &k))
        return NULL;
    if (k < 0) {
        PyErr_Format(PyExc_ValueError, "N: expected a count >= 0, found %zd", k);
        return NULL;
    }
    const signmf_model *m = ((Core *)self)->m;
    size_t cap = (size_t)k < signmf_model_items(m) ? (size_t)k : signmf_model_items(m);
    signmf_rec *out = PyMem_Malloc((cap ? cap : 1) * sizeof *out);
    if (out == NULL)
        return PyErr_NoMemory();
    signmf_error err;
    memset(&err, 0, sizeof err);
    size_t count = 0;
    signmf_status st;
    PyThreadState *ts_ = PyEval_SaveThread();
    st = signmf_similar(m, (int64_t)item, cap, out, &count, &err);
    PyEval_RestoreThread(ts_);
    PyObject *r = st == SIGNMF_OK ? rec_arrays(out, &count, -1, cap) : raise_status(st, &err);
    PyMem_Free(out);
    return r;
}

static PyObject *metrics_dict(const signmf_metrics *v)
{
    PyObject *d = PyDict_New();
    for (int i = 0; d != NULL && i < SIGNMF_METRIC_COUNT_; i++) {
        PyObject *x = PyFloat_FromDouble(signmf_metric_value(v, (signmf_metric)i));
        if (x == NULL || PyDict_SetItemString(d, signmf_metric_name((signmf_metric)i), x) != 0) {
            Py_XDECREF(x);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(x);
    }
    return d;
}

/* evaluate(source, k, relevant, threads) -> dict */
static PyObject *core_evaluate(PyObject *self, PyObject *args)
{
    PyObject *src, *tobj;
    Py_ssize_t k;
    double relevant;
    if (!PyArg_ParseTuple(args, "OndO", &src, &k, &relevant, &tobj))
        return NULL;
    signmf_eval_options o = signmf_eval_options_default();
    if (parse_threads(tobj, &o.threads) != 0)
        return NULL;
    if (k < 1) {
        PyErr_Format(PyExc_ValueError, "k: expected a list length >= 1, found %zd", k);
        return NULL;
    }
    o.k = (size_t)k;
    o.relevant = relevant;
    signmf_ratings *test;
    if (ratings_from_source(src, &test) != 0)
        return NULL;
    signmf_eval_result res;
    signmf_error err;
    memset(&err, 0, sizeof err);
    signmf_status st;
    const signmf_model *m = ((Core *)self)->m;
    PyThreadState *ts_ = PyEval_SaveThread();
    st = signmf_evaluate(m, test, &o, &res, &err);
    PyEval_RestoreThread(ts_);
    signmf_ratings_free(test);
    if (st != SIGNMF_OK)
        return raise_status(st, &err);
    PyObject *mm = metrics_dict(&res.model), *pm = mm ? metrics_dict(&res.popularity) : NULL;
    if (pm == NULL) {
        Py_XDECREF(mm);
        return NULL;
    }
    return Py_BuildValue(
        "{s:n,s:d,s:N,s:N,s:n,s:n,s:n,s:n,s:n,s:n,s:n,s:n}", "k", (Py_ssize_t)res.k, "relevant",
        res.relevant, "model", mm, "popularity", pm, "test_pairs", (Py_ssize_t)res.test_pairs,
        "unknown_user_pairs", (Py_ssize_t)res.unknown_user_pairs, "unknown_item_pairs",
        (Py_ssize_t)res.unknown_item_pairs, "train_pairs", (Py_ssize_t)res.train_pairs,
        "relevant_pairs", (Py_ssize_t)res.relevant_pairs, "test_users", (Py_ssize_t)res.test_users,
        "users", (Py_ssize_t)res.users, "auc_users", (Py_ssize_t)res.auc_users);
}

/* save and export: a path, the GIL released, one library call that
 * writes files. */
typedef signmf_status (*model_writer)(const signmf_model *, const char *, signmf_error *);
static PyObject *write_files(PyObject *self, PyObject *arg, model_writer fn)
{
    PyObject *bytes = NULL;
    if (!PyUnicode_FSConverter(arg, &bytes))
        return NULL;
    signmf_error err;
    memset(&err, 0, sizeof err);
    const char *path = PyBytes_AsString(bytes);
    const signmf_model *m = ((Core *)self)->m;
    PyThreadState *ts_ = PyEval_SaveThread();
    signmf_status st = fn(m, path, &err);
    PyEval_RestoreThread(ts_);
    Py_DECREF(bytes);
    if (st != SIGNMF_OK)
        return raise_status(st, &err);
    Py_RETURN_NONE;
}

static PyObject *core_save(PyObject *self, PyObject *arg)
{
    return write_files(self, arg, signmf_model_save);
}

static PyObject *core_export(PyObject *self, PyObject *arg)
{
    return write_files(self, arg, signmf_model_export_npy);
}

static PyMethodDef core_methods[] = {
    {"info", core_info, METH_NOARGS, "dict of the model's sizes, settings, epochs and loss"},
    {"sigma", core_sigma, METH_NOARGS, "sigma() -> list of the model's dim sigma values"},
    {"ids", core_ids, METH_O, "ids(0 users | 1 items) -> int64 array of original ids"},
    {"factors", core_factors, METH_O, "factors(0 P | 1 Q^T) -> read-only buffer of the model"},
    {"recommend", core_recommend, METH_VARARGS, "recommend(users, N, include_rated, threads)"},
    {"recommend_new", core_recommend_new, METH_VARARGS, "recommend_new(items, ratings, N)"},
    {"similar", core_similar, METH_VARARGS, "similar(item, N)"},
    {"evaluate", core_evaluate, METH_VARARGS, "evaluate(source, k, relevant, threads)"},
    {"save", core_save, METH_O, "save(path)"},
    {"export_npy", core_export, METH_O, "export_npy(dir): DIR/P.npy and DIR/Q.npy"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot core_slots[] = {
    {Py_tp_dealloc, (void *)core_dealloc},
    {Py_tp_methods, core_methods},
    {Py_tp_doc, "An immutable trained signmf model (internal; use signmf.Model)."},
    {0, NULL},
};

static PyType_Spec core_spec = {"signmf._signmf.Core", sizeof(Core), 0, Py_TPFLAGS_DEFAULT,
                                core_slots};

static PyType_Slot factors_slots[] = {
    {Py_tp_dealloc, (void *)factors_dealloc},
    {Py_bf_getbuffer, (void *)factors_getbuffer},
    {Py_tp_doc, "A read-only buffer over a model's P or Q^T (internal)."},
    {0, NULL},
};

static PyType_Spec factors_spec = {"signmf._signmf.Factors", sizeof(Factors), 0, Py_TPFLAGS_DEFAULT,
                                   factors_slots};

/* ---- fit -------------------------------------------------------------------- */

typedef struct fit_ctx {
    PyObject *callback; /* callable(epoch, loss, seconds) or None */
    PyObject *exc;      /* the exception that stopped the run */
} fit_ctx;

/* Runs between epochs with the GIL released: take it for a moment to
 * deliver signals (Ctrl-C) and to call the caller's progress function.
 * Returning 1 makes the trainer stop with the last finished epoch. */
static int fit_progress(void *user, uint64_t epoch, double loss, double log_scale, double seconds)
{
    (void)log_scale;
    fit_ctx *c = user;
    PyGILState_STATE g = PyGILState_Ensure();
    int stop = 0;
    if (PyErr_CheckSignals() != 0) {
        stop = 1;
    } else if (c->callback != Py_None) {
        PyObject *r =
            PyObject_CallFunction(c->callback, "Kdd", (unsigned long long)epoch, loss, seconds);
        if (r == NULL)
            stop = 1;
        else
            Py_DECREF(r);
    }
    if (stop && c->exc == NULL) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        if (tb != NULL && value != NULL)
            PyException_SetTraceback(value, tb);
        Py_XDECREF(type);
        Py_XDECREF(tb);
        c->exc = value;
    }
    PyGILState_Release(g);
    return stop;
}

/* fit(source, dim, lr, seed, threads, precision, sign_rule, threshold,
 *     rescale, method, rated_weight, degree_exp, shrink, epochs, callback)
 *     -> (Core, exception or None)
 * The exception (KeyboardInterrupt, one raised by the callback, or a
 * NonFiniteError) comes back beside the model of the last finished epoch,
 * which the caller keeps before raising it. */
static PyObject *mod_fit(PyObject *mod, PyObject *args)
{
    (void)mod;
    PyObject *src, *callback;
    Py_ssize_t dim;
    double lr, threshold;
    unsigned long seed;
    int threads, precision, rule, rescale, method;
    double rated_weight, degree_exp, shrink;
    unsigned long long epochs;
    if (!PyArg_ParseTuple(args,
                          "Ondkiiidp"
                          "iddd"
                          "KO",
                          &src, &dim, &lr, &seed, &threads, &precision, &rule, &threshold, &rescale,
                          &method, &rated_weight, &degree_exp, &shrink, &epochs, &callback))
        return NULL;
    signmf_params p = signmf_params_for((signmf_method)method);
    p.method = (signmf_method)method;
    p.rated_weight = rated_weight;
    p.degree_exp = degree_exp;
    p.shrink = shrink;
    p.dim = (size_t)dim;
    p.lr = lr;
    p.seed = (uint32_t)seed;
    p.threads = threads;
    p.precision = precision == 1 ? SIGNMF_F64 : precision == 2 ? SIGNMF_BF16 : SIGNMF_F32;
    p.sign_rule = (signmf_sign_rule)rule;
    p.threshold = threshold;
    p.rescale = rescale;
    signmf_ratings *r;
    if (ratings_from_source(src, &r) != 0)
        return NULL;
    signmf_error err;
    memset(&err, 0, sizeof err);
    signmf_trainer *t = NULL;
    signmf_model *m = NULL;
    fit_ctx ctx = {callback, NULL};
    signmf_status st, run = SIGNMF_OK;
    signmf_error run_err;
    memset(&run_err, 0, sizeof run_err);
    PyThreadState *ts = PyEval_SaveThread();
    st = signmf_trainer_create_consume(&r, &p, &t, &err);
    if (st == SIGNMF_OK) {
        run = signmf_trainer_run(t, (uint64_t)epochs, fit_progress, &ctx, &run_err);
        st = signmf_trainer_into_model(&t, &m);
        if (st != SIGNMF_OK)
            snprintf(err.message, sizeof err.message, "out of memory for the trained model");
    }
    PyEval_RestoreThread(ts);
    if (st != SIGNMF_OK) {
        Py_XDECREF(ctx.exc);
        return raise_status(st, &err);
    }
    PyObject *core = core_new(m);
    if (core == NULL) {
        Py_XDECREF(ctx.exc);
        return NULL;
    }
    PyObject *exc = ctx.exc;
    if (exc == NULL && run != SIGNMF_OK && run != SIGNMF_EINTERRUPTED) {
        raise_status(run, &run_err);
        PyObject *type, *tb;
        PyErr_Fetch(&type, &exc, &tb);
        PyErr_NormalizeException(&type, &exc, &tb);
        Py_XDECREF(type);
        Py_XDECREF(tb);
    }
    PyObject *res = Py_BuildValue("(NO)", core, exc != NULL ? exc : Py_None);
    Py_XDECREF(exc);
    return res;
}

static PyObject *mod_load(PyObject *mod, PyObject *args)
{
    (void)mod;
    PyObject *path;
    int mmap;
    if (!PyArg_ParseTuple(args, "Op", &path, &mmap))
        return NULL;
    PyObject *bytes = NULL;
    if (!PyUnicode_FSConverter(path, &bytes))
        return NULL;
    signmf_error err;
    memset(&err, 0, sizeof err);
    signmf_model *m = NULL;
    signmf_status st;
    const char *p = PyBytes_AsString(bytes);
    PyThreadState *ts_ = PyEval_SaveThread();
    st = signmf_model_open(p, mmap ? SIGNMF_OPEN_MMAP : 0, &m, &err);
    PyEval_RestoreThread(ts_);
    Py_DECREF(bytes);
    if (st != SIGNMF_OK)
        return raise_status(st, &err);
    return core_new(m);
}

/* ratings_info(source) -> (users, items, count): what a source loads as. */
static PyObject *mod_ratings_info(PyObject *mod, PyObject *src)
{
    (void)mod;
    signmf_ratings *r;
    if (ratings_from_source(src, &r) != 0)
        return NULL;
    PyObject *t =
        Py_BuildValue("(nnn)", (Py_ssize_t)signmf_ratings_users(r),
                      (Py_ssize_t)signmf_ratings_items(r), (Py_ssize_t)signmf_ratings_count(r));
    signmf_ratings_free(r);
    return t;
}

static PyObject *mod_kernel_name(PyObject *mod, PyObject *unused)
{
    (void)mod;
    (void)unused;
    return PyUnicode_FromString(signmf_kernel_name());
}

static PyMethodDef mod_methods[] = {
    {"fit", mod_fit, METH_VARARGS,
     "fit(source, dim, lr, seed, threads, precision, sign_rule, "
     "threshold, rescale, method, rated_weight, degree_exp, shrink, epochs, callback) -> (Core, "
     "exc)"},
    {"load", mod_load, METH_VARARGS, "load(path, mmap) -> Core"},
    {"ratings_info", mod_ratings_info, METH_O, "ratings_info(source) -> (users, items, count)"},
    {"kernel_name", mod_kernel_name, METH_NOARGS, "the kernel set in use"},
    {"_set_error_classes", set_error_classes, METH_O, "tuple of classes indexed by status"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT,
    "_signmf",
    "The signmf C library (internal; use the signmf package).",
    -1,
    mod_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__signmf(void)
{
    PyObject *np = PyImport_ImportModule("numpy");
    if (np == NULL)
        return NULL;
    np_empty = PyObject_GetAttrString(np, "empty");
    Py_DECREF(np);
    if (np_empty == NULL)
        return NULL;
    CoreType = PyType_FromSpec(&core_spec);
    FactorsType = CoreType ? PyType_FromSpec(&factors_spec) : NULL;
    if (FactorsType == NULL)
        return NULL;
    PyObject *m = PyModule_Create(&moddef);
    if (m == NULL)
        return NULL;
    if (PyModule_AddStringConstant(m, "version", signmf_version()) != 0 ||
        PyModule_AddIntConstant(m, "STATUS_COUNT", SIGNMF_STATUS_COUNT_) != 0) {
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(CoreType);
    if (PyModule_AddObject(m, "Core", CoreType) != 0) {
        Py_DECREF(CoreType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
