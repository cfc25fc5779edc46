/* Atomic file writing and .npy export. A crash or a full disk must never
 * leave a half-written model or array where a good one used to be, so every
 * file is written to a temporary sibling, fsynced and renamed into place. */
#include "model/model.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "signmf writes little-endian files straight from memory"
#endif

static char *sm_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static void sm_atomic_clear(sm_atomic_file *f)
{
    free(f->path);
    free(f->tmp);
    f->fp = NULL;
    f->path = NULL;
    f->tmp = NULL;
}

void sm_atomic_abort(sm_atomic_file *f)
{
    if (!f)
        return;
    if (f->fp)
        fclose(f->fp);
    if (f->tmp)
        unlink(f->tmp);
    sm_atomic_clear(f);
}

signmf_status sm_atomic_open(sm_atomic_file *f, const char *path, signmf_error *err)
{
    f->fp = NULL;
    f->path = NULL;
    f->tmp = NULL;
    if (!path || !*path)
        return sm_fail(err, SIGNMF_EINVAL, "output path: expected a file name, found nothing");
    size_t n = strlen(path);
    f->path = sm_strdup(path);
    f->tmp = malloc(n + sizeof ".tmp.XXXXXX");
    if (!f->path || !f->tmp) {
        sm_atomic_clear(f);
        return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory", path);
    }
    memcpy(f->tmp, path, n);
    memcpy(f->tmp + n, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    int fd = mkstemp(f->tmp);
    if (fd < 0) {
        int e = errno;
        free(f->tmp);
        f->tmp = NULL; /* nothing was created */
        sm_atomic_clear(f);
        return sm_fail(err, SIGNMF_EIO, "%s: cannot create a temporary file next to it: %s", path,
                       strerror(e));
    }
    /* mkstemp creates 0600; a replaced file keeps its mode, a new one gets
     * the usual 0644. */
    struct stat st;
    mode_t mode = stat(path, &st) == 0 ? (st.st_mode & 07777) : 0644;
    (void)fchmod(fd, mode);
    f->fp = fdopen(fd, "wb");
    if (!f->fp) {
        int e = errno;
        close(fd);
        sm_atomic_abort(f);
        return sm_fail(err, SIGNMF_EIO, "%s: %s", path, strerror(e));
    }
    return SIGNMF_OK;
}

signmf_status sm_atomic_write(sm_atomic_file *f, const void *data, size_t bytes, signmf_error *err)
{
    if (bytes == 0)
        return SIGNMF_OK;
    if (fwrite(data, 1, bytes, f->fp) != bytes) {
        int e = errno;
        signmf_status st = sm_fail(err, SIGNMF_EIO, "%s: write failed: %s", f->path, strerror(e));
        sm_atomic_abort(f);
        return st;
    }
    return SIGNMF_OK;
}

/* Directory part of `path` ("." when there is none). */
static char *sm_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return sm_strdup(".");
    if (slash == path)
        return sm_strdup("/");
    size_t n = (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

signmf_status sm_atomic_commit(sm_atomic_file *f, signmf_error *err)
{
    FILE *fp = f->fp;
    const char *what = NULL;
    int e = 0;
    if (fflush(fp) != 0)
        what = "write failed";
    else if (fsync(fileno(fp)) != 0)
        what = "fsync failed";
    if (what) {
        e = errno;
        signmf_status st = sm_fail(err, SIGNMF_EIO, "%s: %s: %s", f->path, what, strerror(e));
        sm_atomic_abort(f);
        return st;
    }
    f->fp = NULL;
    if (fclose(fp) != 0) {
        e = errno;
        signmf_status st = sm_fail(err, SIGNMF_EIO, "%s: close failed: %s", f->path, strerror(e));
        sm_atomic_abort(f);
        return st;
    }
    if (rename(f->tmp, f->path) != 0) {
        e = errno;
        signmf_status st = sm_fail(err, SIGNMF_EIO, "%s: cannot rename %s over it: %s", f->path,
                                   f->tmp, strerror(e));
        sm_atomic_abort(f);
        return st;
    }
    /* The rename is only durable once the directory entry is on disk. */
    signmf_status st = SIGNMF_OK;
    char *dir = sm_dirname(f->path);
    if (!dir) {
        st = sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory", f->path);
    } else {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) != 0) {
            e = errno;
            /* Some file systems cannot fsync a directory; the data itself
             * is already safe, so only a failure to open counts. */
            if (dfd < 0 || (e != EINVAL && e != EROFS && e != EBADF))
                st = sm_fail(err, SIGNMF_EIO, "%s: fsync of directory %s failed: %s", f->path, dir,
                             strerror(e));
        }
        if (dfd >= 0)
            close(dfd);
        free(dir);
    }
    sm_atomic_clear(f);
    return st;
}

static signmf_status npy_write(const char *path, const void *data, signmf_precision precision,
                               size_t rows, size_t cols, size_t ld, bool transpose, bool vector,
                               signmf_error *err)
{
    const size_t es = sm_elem_size(precision);
    const size_t out_rows = transpose ? cols : rows, out_cols = transpose ? rows : cols;
    size_t total;
    if (sm_mul_overflows(out_rows, out_cols, &total) || sm_mul_overflows(total, es, &total))
        return sm_fail(err, SIGNMF_EOVERFLOW, "%s: array of %zu x %zu is too large", path, out_rows,
                       out_cols);
    if (ld < cols)
        return sm_fail(err, SIGNMF_EINVAL, "%s: row stride %zu is below the %zu columns", path, ld,
                       cols);

    /* Version 1.0 header, padded with spaces so that the data starts at a
     * multiple of 64 bytes (numpy's own alignment) and ending in '\n'. */
    char header[256];
    const char *descr = precision == SIGNMF_F64 ? "<f8" : "<f4";
    int len = vector ? snprintf(header + 10, sizeof header - 10,
                                "{'descr': '%s', 'fortran_order': False, 'shape': (%zu,), }", descr,
                                out_cols)
                     : snprintf(header + 10, sizeof header - 10,
                                "{'descr': '%s', 'fortran_order': False, 'shape': (%zu, %zu), }",
                                descr, out_rows, out_cols);
    size_t hl = (size_t)len + 1; /* + '\n' */
    size_t full = (10 + hl + 63) / 64 * 64;
    memset(header + 10 + len, ' ', full - 10 - (size_t)len);
    header[full - 1] = '\n';
    memcpy(header, "\x93NUMPY\x01\x00", 8);
    size_t hlen = full - 10;
    header[8] = (char)(hlen & 0xff);
    header[9] = (char)(hlen >> 8);

    sm_atomic_file f;
    signmf_status st = sm_atomic_open(&f, path, err);
    if (st != SIGNMF_OK)
        return st;
    st = sm_atomic_write(&f, header, full, err);
    if (st != SIGNMF_OK)
        return st;

    const char *src = data;
    if (!transpose && ld == cols) {
        st = sm_atomic_write(&f, src, total, err);
        if (st != SIGNMF_OK)
            return st;
    } else if (!transpose) {
        for (size_t r = 0; r < rows; r++) {
            st = sm_atomic_write(&f, src + r * ld * es, cols * es, err);
            if (st != SIGNMF_OK)
                return st;
        }
    } else if (out_rows > 0 && out_cols > 0) {
        /* Gather a band of output rows (input columns) at a time so the
         * strided reads touch each input row once per band. */
        size_t row_bytes = out_cols * es;
        size_t band = ((size_t)8 << 20) / row_bytes;
        band = band < 1 ? 1 : (band > 32 ? 32 : band);
        band = band > out_rows ? out_rows : band;
        char *buf = malloc(band * row_bytes);
        if (!buf) {
            sm_atomic_abort(&f);
            return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory", path);
        }
        for (size_t c0 = 0; c0 < out_rows; c0 += band) {
            size_t nb = out_rows - c0 < band ? out_rows - c0 : band;
            for (size_t r = 0; r < rows; r++) {
                const char *in = src + (r * ld + c0) * es;
                for (size_t b = 0; b < nb; b++)
                    memcpy(buf + b * row_bytes + r * es, in + b * es, es);
            }
            st = sm_atomic_write(&f, buf, nb * row_bytes, err);
            if (st != SIGNMF_OK) {
                free(buf);
                return st;
            }
        }
        free(buf);
    }
    return sm_atomic_commit(&f, err);
}

signmf_status sm_npy_write(const char *path, const void *data, signmf_precision precision,
                           size_t rows, size_t cols, size_t ld, bool transpose, signmf_error *err)
{
    return npy_write(path, data, precision, rows, cols, ld, transpose, false, err);
}

signmf_status sm_npy_write_vector(const char *path, const double *data, size_t n, signmf_error *err)
{
    return npy_write(path, data, SIGNMF_F64, 1, n, n, false, true, err);
}
