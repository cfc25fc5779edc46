/* Internal helpers shared by every module: error reporting, checked sizes,
 * aligned allocation. Nothing here is part of the public API. */
#ifndef SM_COMMON_H
#define SM_COMMON_H

#include "signmf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define SM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define SM_LIKELY(x)    __builtin_expect(!!(x), 1)
#define SM_UNLIKELY(x)  __builtin_expect(!!(x), 0)
#else
#define SM_PRINTF(a, b)
#define SM_LIKELY(x)   (x)
#define SM_UNLIKELY(x) (x)
#endif

/* Alignment of every embedding array: one cache line, one zmm. */
#define SM_ALIGN 64

/* Fill `err` (if non-NULL) and return `status`, so callers can write
 * `return sm_fail(err, SIGNMF_EPARSE, "%s:%zu: ...", ...)`. */
signmf_status sm_fail(signmf_error *err, signmf_status status, const char *fmt, ...)
    SM_PRINTF(3, 4);
/* Same, also recording line and column (1-based) in `err`. */
signmf_status sm_fail_at(signmf_error *err, signmf_status status, uint64_t line, uint64_t column,
                         const char *fmt, ...) SM_PRINTF(5, 6);
/* Reset `err` to SIGNMF_OK with an empty message. */
void sm_error_clear(signmf_error *err);

static inline bool sm_mul_overflows(size_t a, size_t b, size_t *out)
{
    return __builtin_mul_overflow(a, b, out);
}
static inline bool sm_add_overflows(size_t a, size_t b, size_t *out)
{
    return __builtin_add_overflow(a, b, out);
}

/* 64-byte aligned allocation of count * size bytes; NULL on overflow or
 * failure. Memory from sm_alloc must be released with sm_free. */
void *sm_alloc(size_t count, size_t size);
/* Same, zero-filled. */
void *sm_calloc(size_t count, size_t size);
void sm_free(void *p);
/* Zero-filled allocation for large, randomly gathered arrays: aligned to
 * 2 MiB and advised as transparent huge pages where the OS has them, since
 * random row gathers over tens of MB otherwise miss the TLB on nearly every
 * row. Release with sm_free. */
void *sm_calloc_huge(size_t count, size_t size);

/* Monotonic wall clock in seconds. */
double sm_now(void);

#endif
