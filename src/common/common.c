#define _POSIX_C_SOURCE 200809L
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

static const char *const sm_status_names[SIGNMF_STATUS_COUNT_] = {
    [SIGNMF_OK] = "success",
    [SIGNMF_EINVAL] = "invalid argument",
    [SIGNMF_ENOMEM] = "out of memory",
    [SIGNMF_EOVERFLOW] = "size overflow",
    [SIGNMF_EIO] = "input/output error",
    [SIGNMF_EPARSE] = "malformed text input",
    [SIGNMF_EFORMAT] = "malformed or truncated binary input",
    [SIGNMF_EDUPLICATE] = "duplicate (user, item) rating",
    [SIGNMF_ERANGE] = "value out of range",
    [SIGNMF_ENONFINITE] = "non-finite loss or embedding",
    [SIGNMF_EVERSION] = "file from a newer version",
    [SIGNMF_ECHECKSUM] = "checksum mismatch",
    [SIGNMF_ENOTFOUND] = "unknown id",
    [SIGNMF_EUNSUPPORTED] = "unsupported feature",
    [SIGNMF_EINTERRUPTED] = "interrupted",
    [SIGNMF_EEMPTY] = "no ratings",
};

const char *signmf_strerror(signmf_status status)
{
    if ((unsigned)status >= SIGNMF_STATUS_COUNT_)
        return "unknown status";
    return sm_status_names[status];
}

const char *signmf_version(void)
{
    return SIGNMF_VERSION_STRING;
}

static signmf_status sm_vfail(signmf_error *err, signmf_status status, uint64_t line,
                              uint64_t column, const char *fmt, va_list ap)
{
    if (err) {
        err->status = status;
        err->line = line;
        err->column = column;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
    }
    return status;
}

signmf_status sm_fail(signmf_error *err, signmf_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sm_vfail(err, status, 0, 0, fmt, ap);
    va_end(ap);
    return status;
}

signmf_status sm_fail_at(signmf_error *err, signmf_status status, uint64_t line, uint64_t column,
                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sm_vfail(err, status, line, column, fmt, ap);
    va_end(ap);
    return status;
}

void sm_error_clear(signmf_error *err)
{
    if (err) {
        err->status = SIGNMF_OK;
        err->line = err->column = 0;
        err->message[0] = '\0';
    }
}

void *sm_alloc(size_t count, size_t size)
{
    size_t bytes;
    if (sm_mul_overflows(count, size, &bytes))
        return NULL;
    /* aligned_alloc wants a multiple of the alignment; round up, and never
     * ask for 0 bytes so that a NULL return always means failure. */
    if (bytes > SIZE_MAX - SM_ALIGN)
        return NULL;
    bytes = (bytes + SM_ALIGN - 1) / SM_ALIGN * SM_ALIGN;
    if (bytes == 0)
        bytes = SM_ALIGN;
    return aligned_alloc(SM_ALIGN, bytes);
}

void *sm_calloc(size_t count, size_t size)
{
    void *p = sm_alloc(count, size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

void sm_free(void *p)
{
    free(p);
}

double sm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void *sm_calloc_huge(size_t count, size_t size)
{
    const size_t huge = (size_t)2 << 20;
    size_t bytes;
    if (sm_mul_overflows(count, size, &bytes))
        return NULL;
    if (bytes < 2 * huge)
        return sm_calloc(count, size);
    if (bytes > SIZE_MAX - huge)
        return NULL;
    bytes = (bytes + huge - 1) / huge * huge;
    void *p = aligned_alloc(huge, bytes);
    if (!p)
        return NULL;
#if defined(MADV_HUGEPAGE)
    madvise(p, bytes, MADV_HUGEPAGE); /* advice only: failure is harmless */
#endif
    memset(p, 0, bytes);
    return p;
}
