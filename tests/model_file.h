/* Model files as bytes, for the tests that rewrite them: read a whole
 * file, write one, and reseal an edited one (its two CRC-32s, model.c's
 * header layout) so that only the checks past the checksums can refuse it. */
#ifndef SIGNMF_TESTS_MODEL_FILE_H
#define SIGNMF_TESTS_MODEL_FILE_H

#include <criterion/criterion.h>
#include <zlib.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp, "%s", path);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    void *buf = malloc((size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

static inline void spit(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    cr_assert_not_null(fp);
    cr_assert_eq(fwrite(data, 1, len, fp), len);
    fclose(fp);
}

/* The header's CRC of bytes [0, 248) at 248, then the file's CRC of all
 * but those 4 bytes at 252, for a file of len bytes. */
static inline void reseal(unsigned char *buf, size_t len)
{
    uint32_t hcrc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), buf, 248);
    memcpy(buf + 248, &hcrc, 4);
    uint32_t fcrc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), buf, 252);
    fcrc = (uint32_t)crc32(fcrc, buf + 256, (uInt)(len - 256));
    memcpy(buf + 252, &fcrc, 4);
}

#endif
