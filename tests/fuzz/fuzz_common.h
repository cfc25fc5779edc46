/* Shared plumbing for the libFuzzer targets: the loaders take a path, so
 * each input is written to one memfd per process and opened through
 * /proc/self/fd, which exercises the real open/read/mmap code. */
#ifndef SIGNMF_FUZZ_COMMON_H
#define SIGNMF_FUZZ_COMMON_H

#include "signmf.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *fuzz_path(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("signmf-fuzz", 0);
        if (fd < 0)
            abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
        abort();
    while (size > 0) {
        ssize_t w = write(fd, data, size);
        if (w <= 0)
            abort();
        data += w;
        size -= (size_t)w;
    }
    return path;
}

/* Load with `fmt` in every id mode and, on success, touch what a caller
 * would: the sizes. Any crash, leak or UB is the finding. */
static void fuzz_load(const uint8_t *data, size_t size, signmf_format fmt)
{
    const char *path = fuzz_path(data, size);
    static const signmf_id_mode modes[] = {SIGNMF_IDS_AUTO, SIGNMF_IDS_DIRECT, SIGNMF_IDS_COMPACT};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        signmf_load_options o = signmf_load_options_default();
        o.format = fmt;
        o.ids = modes[i];
        /* keep a deflate bomb from exhausting the fuzzer's memory */
        o.max_inflated = 64u << 20;
        signmf_error err = {0};
        signmf_ratings *r = NULL;
        signmf_status st = signmf_ratings_load(path, &o, &r, &err);
        if (st == SIGNMF_OK) {
            if (r == NULL || signmf_ratings_count(r) == 0)
                abort();
            (void)signmf_ratings_users(r);
            (void)signmf_ratings_items(r);
        } else if (r != NULL || err.message[0] == '\0') {
            abort(); /* failure must leave *out NULL and say why */
        }
        signmf_ratings_free(r);
    }
}

#endif
