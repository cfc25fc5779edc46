/* Model file: round trips, corruption of every kind, .npy export, and
 * atomic saves. */
#include <criterion/criterion.h>
#include <zlib.h>

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/bf16.h"
#include "kernels/kernels.h"
#include "model/model.h"
#include "model_file.h"

static char tmpdir[] = "/tmp/signmf_model_XXXXXX";

static void setup(void)
{
    cr_assert_not_null(mkdtemp(tmpdir));
}
static void teardown(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "chmod -R u+w '%s'; rm -rf '%s'", tmpdir, tmpdir);
    (void)system(cmd);
}

TestSuite(model, .init = setup, .fini = teardown);

static char *tpath(const char *name)
{
    static char buf[8][512];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

/* A model with recognisable contents: P[i][d] = i*1000 + d,
 * Qt[j][d] = -(j*1000 + d) / 4, user j rated items j, j+2, ... */
static signmf_model *make_model(size_t users, size_t items, size_t dim, signmf_precision prec,
                                bool compact)
{
    size_t rated = 0;
    for (size_t u = 0; u < users; u++)
        rated += u < items ? (items - u + 1) / 2 : 0;
    signmf_model *m;
    cr_assert_eq(sm_model_alloc(users, items, dim, prec, rated, &m), SIGNMF_OK);
    for (size_t i = 0; i < users; i++)
        for (size_t d = 0; d < dim; d++) {
            double v = (double)(i * 1000 + d);
            if (prec == SIGNMF_F64)
                ((double *)m->P)[i * dim + d] = v;
            else if (prec == SIGNMF_BF16)
                ((uint16_t *)m->P)[i * dim + d] = sm_bf16_from_f32((float)v);
            else
                ((float *)m->P)[i * dim + d] = (float)v;
        }
    for (size_t j = 0; j < items; j++)
        for (size_t d = 0; d < dim; d++) {
            double v = -(double)(j * 1000 + d) / 4;
            if (prec == SIGNMF_F64)
                ((double *)m->Qt)[j * dim + d] = v;
            else if (prec == SIGNMF_BF16)
                ((uint16_t *)m->Qt)[j * dim + d] = sm_bf16_from_f32((float)v);
            else
                ((float *)m->Qt)[j * dim + d] = (float)v;
        }
    size_t k = 0;
    m->rated_ptr[0] = 0;
    for (size_t u = 0; u < users; u++) {
        for (size_t j = u; j < items; j += 2)
            m->rated_idx[k++] = (uint32_t)j;
        m->rated_ptr[u + 1] = k;
    }
    cr_assert_eq(k, rated);
    sm_model_pack(m);
    m->params.dim = dim;
    m->params.lr = 0.00125;
    m->params.seed = 77;
    m->params.threads = 3;
    m->params.precision = prec;
    m->params.sign_rule = SIGNMF_SIGN_THRESHOLD;
    m->params.threshold = 3.5;
    m->params.rescale = 1;
    m->epochs = 123456789012ull;
    m->log_scale = -0.6931471805599453;
    m->last_loss = -4792.202913091733;
    m->data_crc = 0xdeadbeef;
    m->user_map = (sm_idmap){.direct = true, .count = users, .ids = NULL};
    m->item_map = (sm_idmap){.direct = true, .count = items, .ids = NULL};
    if (compact) {
        m->user_map.direct = m->item_map.direct = false;
        m->user_map.ids = sm_alloc(users, sizeof(int64_t));
        m->item_map.ids = sm_alloc(items, sizeof(int64_t));
        for (size_t i = 0; i < users; i++)
            m->user_map.ids[i] = (int64_t)i * 10 - 5;
        for (size_t j = 0; j < items; j++)
            m->item_map.ids[j] = (int64_t)j * 7 + 1000000000000ll;
    }
    return m;
}

static void assert_same(const signmf_model *a, const signmf_model *b)
{
    cr_assert_eq(a->users, b->users);
    cr_assert_eq(a->items, b->items);
    cr_assert_eq(a->dim, b->dim);
    cr_assert_eq(a->precision, b->precision);
    cr_assert_eq(a->epochs, b->epochs);
    cr_assert(memcmp(&a->log_scale, &b->log_scale, 8) == 0);
    cr_assert(memcmp(&a->last_loss, &b->last_loss, 8) == 0);
    cr_assert_eq(a->data_crc, b->data_crc);
    cr_assert_eq(a->params.dim, b->params.dim);
    cr_assert_eq(a->params.lr, b->params.lr);
    cr_assert_eq(a->params.seed, b->params.seed);
    cr_assert_eq(a->params.threads, b->params.threads);
    cr_assert_eq(a->params.precision, b->params.precision);
    cr_assert_eq(a->params.sign_rule, b->params.sign_rule);
    cr_assert_eq(a->params.threshold, b->params.threshold);
    cr_assert_eq(a->params.rescale, b->params.rescale);
    size_t es = sm_elem_size(a->precision);
    cr_assert(memcmp(a->P, b->P, a->users * a->dim * es) == 0);
    cr_assert(memcmp(a->Qt, b->Qt, a->items * a->dim * es) == 0);
    cr_assert(memcmp(a->rated_ptr, b->rated_ptr, (a->users + 1) * sizeof(size_t)) == 0);
    cr_assert(memcmp(a->rated_idx, b->rated_idx, a->rated_ptr[a->users] * 4) == 0);
    cr_assert_eq(a->user_map.direct, b->user_map.direct);
    cr_assert_eq(a->item_map.direct, b->item_map.direct);
    for (size_t i = 0; i < a->users; i++)
        cr_assert_eq(signmf_model_user_id(a, i), signmf_model_user_id(b, i));
    for (size_t j = 0; j < a->items; j++)
        cr_assert_eq(signmf_model_item_id(a, j), signmf_model_item_id(b, j));
}

static void save_ok(const signmf_model *m, const char *path)
{
    signmf_error err;
    signmf_status st = signmf_model_save(m, path, &err);
    cr_assert_eq(st, SIGNMF_OK, "%s", err.message);
}

Test(model, round_trip)
{
    /* f32, f64 and bf16 (a converted model) */
    for (int prec = 0; prec < 3; prec++)
        for (int compact = 0; compact < 2; compact++) {
            signmf_model *m = make_model(37, 53, 11, (signmf_precision)prec, compact);
            char *path = tpath("rt.smf");
            save_ok(m, path);
            for (unsigned flags = 0; flags <= SIGNMF_OPEN_MMAP; flags++) {
                signmf_model *o;
                signmf_error err;
                signmf_status st = signmf_model_open(path, flags, &o, &err);
                cr_assert_eq(st, SIGNMF_OK, "%s", err.message);
                assert_same(m, o);
                cr_assert_eq(o->map_base != NULL, flags == SIGNMF_OPEN_MMAP);
                cr_assert_eq((uintptr_t)o->P % SM_ALIGN, 0);
                cr_assert_eq((uintptr_t)o->Qt % SM_ALIGN, 0);
                cr_assert_eq((uintptr_t)o->Qp % SM_ALIGN, 0);
                /* a mapped model scores from the panels in the file */
                if (o->map_base != NULL)
                    cr_assert((char *)o->Qp > (char *)o->map_base &&
                              (char *)o->Qp < (char *)o->map_base + o->map_len && !o->qp_owned);
                cr_assert_eq(signmf_model_users(o), 37);
                cr_assert_eq(signmf_model_items(o), 53);
                cr_assert_eq(signmf_model_dim(o), 11);
                cr_assert_eq(signmf_model_precision(o), (signmf_precision)prec);
                cr_assert_eq(signmf_model_epochs(o), 123456789012ull);
                cr_assert_eq(signmf_model_params(o).seed, 77);
                size_t idx;
                int64_t uid = compact ? 36 * 10 - 5 : 37;
                cr_assert_eq(signmf_model_user_index(o, uid, &idx), SIGNMF_OK);
                cr_assert_eq(idx, 36);
                int64_t iid = compact ? 1000000000000ll + 7 * 4 : 5;
                cr_assert_eq(signmf_model_item_index(o, iid, &idx), SIGNMF_OK);
                cr_assert_eq(idx, 4);
                cr_assert_eq(signmf_model_item_index(o, compact ? 3 : 54, &idx), SIGNMF_ENOTFOUND);
                cr_assert_eq(signmf_model_user_id(o, 0), compact ? -5 : 1);
                signmf_model_free(o);
            }
            signmf_model_free(m);
        }
}

Test(model, resave_is_byte_identical)
{
    for (int compact = 0; compact < 2; compact++)
        for (unsigned flags = 0; flags <= SIGNMF_OPEN_MMAP; flags++) {
            signmf_model *m = make_model(20, 30, 8, SIGNMF_F32, compact);
            m->last_loss = NAN;
            save_ok(m, tpath("a.smf"));
            signmf_model *o;
            cr_assert_eq(signmf_model_open(tpath("a.smf"), flags, &o, NULL), SIGNMF_OK);
            save_ok(o, tpath("b.smf"));
            size_t la, lb;
            void *a = slurp(tpath("a.smf"), &la), *b = slurp(tpath("b.smf"), &lb);
            cr_assert_eq(la, lb);
            cr_assert(memcmp(a, b, la) == 0);
            cr_assert(isnan(o->last_loss));
            free(a);
            free(b);
            signmf_model_free(o);
            signmf_model_free(m);
        }
}

Test(model, empty_rated_and_zero_users)
{
    signmf_model *m = make_model(0, 5, 3, SIGNMF_F64, false);
    save_ok(m, tpath("z.smf"));
    for (unsigned flags = 0; flags <= SIGNMF_OPEN_MMAP; flags++) {
        signmf_model *o;
        signmf_error err;
        cr_assert_eq(signmf_model_open(tpath("z.smf"), flags, &o, &err), SIGNMF_OK, "%s",
                     err.message);
        assert_same(m, o);
        signmf_model_free(o);
    }
    signmf_model_free(m);
}

static signmf_status open_both(const char *path, signmf_error *err)
{
    signmf_model *o = (signmf_model *)1;
    signmf_error e2;
    signmf_status a = signmf_model_open(path, 0, &o, err);
    cr_assert_null(o);
    signmf_status b = signmf_model_open(path, SIGNMF_OPEN_MMAP, &o, &e2);
    cr_assert_null(o);
    cr_assert_eq(a, b, "read: %s / mmap: %s", err->message, e2.message);
    cr_assert_str_eq(err->message, e2.message);
    return a;
}

Test(model, truncated)
{
    signmf_model *m = make_model(10, 12, 5, SIGNMF_F64, true);
    save_ok(m, tpath("t.smf"));
    size_t len;
    unsigned char *buf = slurp(tpath("t.smf"), &len);
    size_t cuts[] = {0, 5, 8, 100, 255, 256, 300, len / 2, len - 1};
    for (size_t c = 0; c < sizeof cuts / sizeof *cuts; c++) {
        spit(tpath("cut.smf"), buf, cuts[c]);
        signmf_error err;
        cr_assert_eq(open_both(tpath("cut.smf"), &err), SIGNMF_EFORMAT, "cut at %zu: %s", cuts[c],
                     err.message);
        cr_assert(strstr(err.message, "truncated"), "%s", err.message);
        cr_assert(strstr(err.message, "cut.smf"), "%s", err.message);
        if (cuts[c] >= 256) {
            char want[128];
            snprintf(want, sizeof want, "expected %zu bytes, found %zu bytes", len, cuts[c]);
            cr_assert(strstr(err.message, want), "%s", err.message);
        }
    }
    /* Trailing garbage is not silently accepted either. */
    unsigned char *longer = malloc(len + 10);
    memcpy(longer, buf, len);
    memset(longer + len, 0, 10);
    spit(tpath("long.smf"), longer, len + 10);
    signmf_error err;
    cr_assert_eq(open_both(tpath("long.smf"), &err), SIGNMF_EFORMAT);
    free(longer);
    free(buf);
    signmf_model_free(m);
}

Test(model, flipped_bits)
{
    signmf_model *m = make_model(10, 12, 5, SIGNMF_F32, true);
    save_ok(m, tpath("f.smf"));
    size_t len;
    unsigned char *buf = slurp(tpath("f.smf"), &len);
    /* Header fields (users, file length, a section offset, both CRCs), the
     * start of P, inside Qt, padding, ids, and the last byte. */
    size_t where[] = {12,  26,  60,  137,           150, 240,       249,
                      254, 256, 257, 256 + 200 + 3, 600, len - 100, len - 1};
    for (size_t w = 0; w < sizeof where / sizeof *where; w++) {
        for (int bit = 0; bit < 8; bit += 7) {
            buf[where[w]] ^= (unsigned char)(1u << bit);
            spit(tpath("flip.smf"), buf, len);
            buf[where[w]] ^= (unsigned char)(1u << bit);
            signmf_error err;
            cr_assert_eq(open_both(tpath("flip.smf"), &err), SIGNMF_ECHECKSUM,
                         "byte %zu bit %d: %s", where[w], bit, err.message);
            cr_assert(strstr(err.message, "flip.smf"), "%s", err.message);
        }
    }
    free(buf);
    signmf_model_free(m);
}

/* A format 1 file (no item panels) still opens, either way, with the
 * panels built at open: the same model and the same recommendations. */
Test(model, version_1_still_opens)
{
    for (int prec = 0; prec < 2; prec++) {
        signmf_model *m = make_model(9, 21, 5, (signmf_precision)prec, false);
        save_ok(m, tpath("v2.smf"));
        size_t len;
        unsigned char *buf = slurp(tpath("v2.smf"), &len);
        /* drop the seventh section (it starts at the 64-byte boundary after
         * rated_idx) and rewrite what version 1 has: version, length and
         * both checksums */
        uint64_t ridx_off, ridx_len;
        memcpy(&ridx_off, buf + 144 + 16 * 5, 8);
        memcpy(&ridx_len, buf + 152 + 16 * 5, 8);
        uint64_t v1len = ridx_off + ridx_len;
        cr_assert(v1len < len);
        uint32_t v = 1;
        memcpy(buf + 8, &v, 4);
        memcpy(buf + 136, &v1len, 8);
        reseal(buf, (size_t)v1len);
        spit(tpath("v1.smf"), buf, (size_t)v1len);
        for (unsigned flags = 0; flags <= SIGNMF_OPEN_MMAP; flags++) {
            signmf_model *o;
            signmf_error err;
            cr_assert_eq(signmf_model_open(tpath("v1.smf"), flags, &o, &err), SIGNMF_OK, "%s",
                         err.message);
            assert_same(m, o);
            size_t es = sm_elem_size(o->precision);
            cr_assert(memcmp(o->Qp, m->Qp, sm_packed_elems(o->items, o->dim) * es) == 0);
            cr_assert_eq(o->qp_owned, flags == SIGNMF_OPEN_MMAP);
            signmf_rec a[5], b[5];
            size_t na, nb;
            cr_assert_eq(signmf_recommend(m, 3, 5, a, &na, NULL), SIGNMF_OK);
            cr_assert_eq(signmf_recommend(o, 3, 5, b, &nb, NULL), SIGNMF_OK);
            cr_assert(na == nb && memcmp(a, b, na * sizeof *a) == 0);
            signmf_model_free(o);
        }
        free(buf);
        signmf_model_free(m);
    }
}

Test(model, newer_version)
{
    signmf_model *m = make_model(4, 4, 2, SIGNMF_F32, false);
    save_ok(m, tpath("v.smf"));
    size_t len;
    unsigned char *buf = slurp(tpath("v.smf"), &len);
    uint32_t v = 7;
    memcpy(buf + 8, &v, 4);
    spit(tpath("v.smf"), buf, len);
    signmf_error err;
    cr_assert_eq(open_both(tpath("v.smf"), &err), SIGNMF_EVERSION);
    cr_assert(strstr(err.message, "version 7"), "%s", err.message);
    cr_assert(strstr(err.message, "version 4"), "%s", err.message);
    free(buf);
    signmf_model_free(m);
}

Test(model, foreign_files)
{
    const char *texts[] = {"user\titem\trating\n1\t2\t3\n", "\x93NUMPY\x01\x00garbage", "S", ""};
    for (size_t t = 0; t < 3; t++) {
        spit(tpath("x.smf"), texts[t], strlen(texts[t]));
        signmf_error err;
        cr_assert_eq(open_both(tpath("x.smf"), &err), SIGNMF_EFORMAT);
        cr_assert(strstr(err.message, "not a signmf model"), "%s", err.message);
    }
    signmf_model *o;
    signmf_error err;
    cr_assert_eq(signmf_model_open(tpath("missing.smf"), 0, &o, &err), SIGNMF_EIO);
    cr_assert(strstr(err.message, "missing.smf"), "%s", err.message);
    cr_assert_eq(signmf_model_open(tmpdir, SIGNMF_OPEN_MMAP, &o, &err), SIGNMF_EIO);
}

/* A file with a valid checksum but impossible contents (a buggy writer)
 * must be refused, not trusted. */
Test(model, structural_checks)
{
    signmf_error err;
    signmf_model *m = make_model(6, 9, 3, SIGNMF_F32, true);
    m->rated_idx[2] = 9; /* == items */
    save_ok(m, tpath("s1.smf"));
    cr_assert_eq(open_both(tpath("s1.smf"), &err), SIGNMF_EFORMAT);
    cr_assert(strstr(err.message, "rated_idx"), "%s", err.message);
    m->rated_idx[2] = m->rated_idx[1]; /* not ascending */
    save_ok(m, tpath("s2.smf"));
    cr_assert_eq(open_both(tpath("s2.smf"), &err), SIGNMF_EFORMAT);
    m->rated_idx[2] = m->rated_idx[1] + 2;
    m->item_map.ids[3] = m->item_map.ids[2];
    save_ok(m, tpath("s3.smf"));
    cr_assert_eq(open_both(tpath("s3.smf"), &err), SIGNMF_EFORMAT);
    cr_assert(strstr(err.message, "item ids"), "%s", err.message);
    m->item_map.ids[3] = m->item_map.ids[2] + 1;
    m->rated_ptr[2] = m->rated_ptr[3] + 1; /* not monotone */
    save_ok(m, tpath("s4.smf"));
    cr_assert_eq(open_both(tpath("s4.smf"), &err), SIGNMF_EFORMAT);
    cr_assert(strstr(err.message, "rated_ptr"), "%s", err.message);
    signmf_model_free(m);
}

static bool numpy_available(void)
{
    return access("/usr/bin/python3", X_OK) == 0 &&
           system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

Test(model, export_npy, .timeout = 60)
{
    if (!numpy_available())
        cr_skip_test("numpy not available in /usr/bin/python3");
    for (int prec = 0; prec < 2; prec++) {
        const size_t users = 13, items = 29, dim = 7;
        signmf_model *m = make_model(users, items, dim, (signmf_precision)prec, false);
        char *dir = tpath(prec ? "exp64/sub" : "exp32");
        if (prec)
            mkdir(tpath("exp64"), 0777);
        signmf_error err;
        cr_assert_eq(signmf_model_export_npy(m, dir, &err), SIGNMF_OK, "%s", err.message);
        char cmd[2048];
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c \"\n"
                 "import numpy as np, sys\n"
                 "d = '%s'\n"
                 "P = np.load(d + '/P.npy'); Q = np.load(d + '/Q.npy')\n"
                 "want = np.dtype('%s')\n"
                 "assert P.dtype == want and Q.dtype == want, (P.dtype, Q.dtype)\n"
                 "assert P.shape == (%zu, %zu) and Q.shape == (%zu, %zu), (P.shape, Q.shape)\n"
                 "i = np.arange(P.shape[0]).reshape(-1, 1); k = np.arange(P.shape[1])\n"
                 "assert (P == i * 1000 + k).all()\n"
                 "j = np.arange(Q.shape[1]); k = k.reshape(-1, 1)\n"
                 "assert (Q == -(j * 1000 + k) / 4).all()\n"
                 "for f in ('/P.npy', '/Q.npy'):\n"
                 "    with open(d + f, 'rb') as fh:\n"
                 "        np.lib.format.read_magic(fh); np.lib.format.read_array_header_1_0(fh)\n"
                 "        assert fh.tell() %% 64 == 0, fh.tell()\n"
                 "\"",
                 dir, prec ? "<f8" : "<f4", users, dim, dim, items);
        cr_assert_eq(system(cmd), 0, "numpy rejected the export in %s", dir);
        signmf_model_free(m);
    }
}

Test(model, export_into_a_file_fails)
{
    signmf_model *m = make_model(3, 3, 2, SIGNMF_F32, false);
    spit(tpath("plain"), "x", 1);
    signmf_error err;
    cr_assert_eq(signmf_model_export_npy(m, tpath("plain"), &err), SIGNMF_EIO);
    cr_assert(strstr(err.message, "plain"), "%s", err.message);
    signmf_model_free(m);
}

static size_t count_temps(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

/* A save that fails part-way leaves the previous file untouched and no
 * temporary behind. A file-size limit makes the write itself fail, which
 * works even as root. */
Test(model, failed_save_keeps_old_file)
{
    signmf_model *small = make_model(3, 4, 2, SIGNMF_F32, false);
    signmf_model *big = make_model(200, 300, 64, SIGNMF_F64, false);
    save_ok(small, tpath("keep.smf"));
    size_t l0;
    void *before = slurp(tpath("keep.smf"), &l0);

    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {.rlim_cur = 65536, .rlim_max = RLIM_INFINITY};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    signmf_error err;
    cr_assert_eq(signmf_model_save(big, tpath("keep.smf"), &err), SIGNMF_EIO);
    cr_assert(strstr(err.message, "keep.smf"), "%s", err.message);
    cr_assert_eq(sm_npy_write(tpath("keep.smf"), big->P, big->precision, big->users, big->dim,
                              big->dim, true, &err),
                 SIGNMF_EIO);
    rl.rlim_cur = RLIM_INFINITY;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);

    size_t l1;
    void *after = slurp(tpath("keep.smf"), &l1);
    cr_assert_eq(l0, l1);
    cr_assert(memcmp(before, after, l0) == 0);
    cr_assert_eq(count_temps(tmpdir), 0);
    free(before);
    free(after);

    /* The target is a directory: the rename fails after the write. */
    mkdir(tpath("adir"), 0777);
    cr_assert_eq(signmf_model_save(small, tpath("adir"), &err), SIGNMF_EIO);
    cr_assert(strstr(err.message, "adir"), "%s", err.message);
    cr_assert_eq(count_temps(tmpdir), 0);

    /* No such directory: nothing is created at all. */
    cr_assert_eq(signmf_model_save(small, tpath("nodir/m.smf"), &err), SIGNMF_EIO);
    cr_assert(strstr(err.message, "nodir/m.smf"), "%s", err.message);
    cr_assert(strstr(err.message, "No such file"), "%s", err.message);

    /* A read-only directory (only meaningful without root's override). */
    if (geteuid() != 0) {
        mkdir(tpath("ro"), 0777);
        save_ok(small, tpath("ro/m.smf"));
        chmod(tpath("ro"), 0555);
        cr_assert_eq(signmf_model_save(big, tpath("ro/m.smf"), &err), SIGNMF_EIO);
        chmod(tpath("ro"), 0777);
        signmf_model *o;
        cr_assert_eq(signmf_model_open(tpath("ro/m.smf"), 0, &o, NULL), SIGNMF_OK);
        assert_same(small, o);
        signmf_model_free(o);
    }
    signmf_model_free(small);
    signmf_model_free(big);
}

Test(model, save_keeps_mode_and_replaces)
{
    signmf_model *a = make_model(3, 4, 2, SIGNMF_F32, false);
    signmf_model *b = make_model(5, 6, 3, SIGNMF_F64, true);
    save_ok(a, tpath("r.smf"));
    struct stat st;
    cr_assert_eq(stat(tpath("r.smf"), &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0644);
    chmod(tpath("r.smf"), 0640);
    save_ok(b, tpath("r.smf"));
    cr_assert_eq(stat(tpath("r.smf"), &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0640);
    signmf_model *o;
    cr_assert_eq(signmf_model_open(tpath("r.smf"), SIGNMF_OPEN_MMAP, &o, NULL), SIGNMF_OK);
    assert_same(b, o);
    signmf_model_free(o);
    signmf_model_free(a);
    signmf_model_free(b);
}

Test(model, ratings_crc)
{
    uint32_t u[3] = {0, 0, 1}, i[3] = {0, 2, 1};
    double v[3] = {1, 2, 3};
    signmf_ratings r = {.users = 2, .items = 3, .count = 3, .user = u, .item = i, .value = v};
    uint32_t c0 = sm_ratings_crc(&r);
    cr_assert_eq(c0, sm_ratings_crc(&r));
    v[2] = 3.5;
    cr_assert_neq(c0, sm_ratings_crc(&r));
    v[2] = 3;
    r.items = 4;
    cr_assert_neq(c0, sm_ratings_crc(&r));
}

Test(model, null_safety)
{
    signmf_model_free(NULL);
    cr_assert_eq(signmf_model_users(NULL), 0);
    signmf_model *o;
    cr_assert_eq(signmf_model_open(NULL, 0, &o, NULL), SIGNMF_EINVAL);
    cr_assert_eq(signmf_model_save(NULL, "x", NULL), SIGNMF_EINVAL);
    signmf_model *m = make_model(2, 2, 1, SIGNMF_F32, false);
    cr_assert_eq(signmf_model_user_id(m, 2), 0);
    cr_assert_eq(signmf_model_open(tpath("x"), 4, &o, NULL), SIGNMF_EINVAL);
    signmf_model_free(m);
}

/* A format 2 file (the panels, no method, sigma or state) opens as a
 * notebook model with sigma = 1 and serves the same recommendations. */
Test(model, version_2_still_opens)
{
    for (int prec = 0; prec < 2; prec++) {
        signmf_model *m = make_model(9, 21, 5, (signmf_precision)prec, false);
        save_ok(m, tpath("v3.smf"));
        size_t len;
        unsigned char *buf = slurp(tpath("v3.smf"), &len);
        uint64_t ridx_off, ridx_len;
        memcpy(&ridx_off, buf + 144 + 16 * 5, 8);
        memcpy(&ridx_len, buf + 152 + 16 * 5, 8);
        size_t es = sm_elem_size(m->precision);
        uint64_t v2len = (ridx_off + ridx_len + 63) / 64 * 64 + sm_packed_elems(21, 5) * es;
        cr_assert(v2len < len);
        uint32_t v = 2;
        memcpy(buf + 8, &v, 4);
        memcpy(buf + 136, &v2len, 8);
        reseal(buf, (size_t)v2len);
        spit(tpath("v2.smf"), buf, (size_t)v2len);
        for (unsigned flags = 0; flags <= SIGNMF_OPEN_MMAP; flags++) {
            signmf_model *o;
            signmf_error err;
            cr_assert_eq(signmf_model_open(tpath("v2.smf"), flags, &o, &err), SIGNMF_OK, "%s",
                         err.message);
            assert_same(m, o);
            cr_assert_eq(signmf_model_method(o), SIGNMF_METHOD_NOTEBOOK);
            for (size_t t = 0; t < 5; ++t)
                cr_assert_eq(signmf_model_sigma(o)[t], 1.0);
            signmf_rec a[5], b[5];
            size_t na, nb;
            cr_assert_eq(signmf_recommend(m, 3, 5, a, &na, NULL), SIGNMF_OK);
            cr_assert_eq(signmf_recommend(o, 3, 5, b, &nb, NULL), SIGNMF_OK);
            cr_assert(na == nb && memcmp(a, b, na * sizeof *a) == 0);
            /* saving it again writes format 3 */
            cr_assert_eq(signmf_model_save(o, tpath("again.smf"), &err), SIGNMF_OK, "%s",
                         err.message);
            signmf_model_free(o);
        }
        size_t l2;
        unsigned char *b2 = slurp(tpath("again.smf"), &l2), *b3;
        cr_assert_eq(l2, len);
        b3 = slurp(tpath("v3.smf"), &l2);
        cr_assert(memcmp(b2, b3, len) == 0);
        free(b2);
        free(b3);
        free(buf);
        signmf_model_free(m);
    }
}
