/* The pieces a partitioned run (src/mpi, train/part.h) is built from, in
 * one process: byte ranges of a text file parse to the whole file's
 * triplets with the whole file's line numbers, and Gram products with
 * their blocks shared out among parts add up to sm_xty's bits. */
#include "io/load.h"
#include "linalg/linalg.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[256];

static void write_file(const char *text)
{
    snprintf(path, sizeof path, "%s/signmf-part-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static signmf_status parse(uint64_t a, uint64_t b, uint64_t line0, int fields, signmf_format fmt,
                           sm_tbuf *tb, sm_range_info *info, signmf_error *err)
{
    signmf_load_options lo = signmf_load_options_default();
    memset(err, 0, sizeof *err);
    return sm_text_parse_range(path, fmt, a, b, line0, fields, &lo, tb, info, err);
}

Test(part, ranges_give_the_whole_files_triplets)
{
    const char *text = "1\t2\t3\n1\t5\t4.5\n2\t2\t1\n3\t7\t2\n";
    write_file(text);
    /* line starts: 0, 6, 14, 20 */
    const uint64_t cut[][3] = {{0, 14, 0}, {14, 26, 2}};
    int64_t u[4], it[4];
    double v[4];
    size_t n = 0;
    for (int r = 0; r < 2; ++r) {
        sm_tbuf tb = {0};
        sm_range_info info;
        signmf_error err;
        cr_assert_eq(
            parse(cut[r][0], cut[r][1], cut[r][2], r ? 0 : -1, SIGNMF_FORMAT_TSV, &tb, &info, &err),
            SIGNMF_OK, "%s", err.message);
        cr_assert(info.content);
        for (size_t k = 0; k < tb.count; ++k, ++n) {
            u[n] = ((uint32_t *)tb.user)[k];
            it[n] = ((uint32_t *)tb.item)[k];
            v[n] = tb.value[k];
        }
        sm_tbuf_release(&tb);
    }
    cr_assert_eq(n, 4);
    cr_assert(u[0] == 1 && it[1] == 5 && v[1] == 4.5 && u[2] == 2 && it[3] == 7 && v[3] == 2);
    unlink(path);
}

Test(part, errors_name_the_files_line)
{
    write_file("1\t2\t3\n1\t5\t4\n2\tx\t1\n3\t7\t2\n");
    sm_tbuf tb = {0};
    sm_range_info info;
    signmf_error err;
    cr_assert_eq(parse(12, 24, 2, 0, SIGNMF_FORMAT_TSV, &tb, &info, &err), SIGNMF_EPARSE);
    cr_assert_eq(err.line, 3);
    cr_assert(strstr(err.message, ":3:3: expected item id"), "%s", err.message);
    sm_tbuf_release(&tb);
    unlink(path);
}

Test(part, trailing_blank_lines_are_noted_not_rejected)
{
    write_file("1\t2\t3\n\n\n");
    sm_tbuf tb = {0};
    sm_range_info info;
    signmf_error err;
    cr_assert_eq(parse(0, 8, 0, -1, SIGNMF_FORMAT_TSV, &tb, &info, &err), SIGNMF_OK);
    cr_assert_eq(info.blank_line, 2);
    cr_assert_eq(tb.count, 1);
    sm_tbuf_release(&tb);
    unlink(path);
}

Test(part, a_csv_header_is_found_and_its_field_count_applies_later)
{
    write_file("userId,movieId,rating\n1,2,3\n4,5,6,7\n");
    sm_tbuf tb = {0};
    sm_range_info info;
    signmf_error err;
    cr_assert_eq(parse(0, 22, 0, -1, SIGNMF_FORMAT_CSV, &tb, &info, &err), SIGNMF_OK);
    cr_assert_eq(info.fields, 3);
    sm_tbuf_release(&tb);
    memset(&tb, 0, sizeof tb);
    cr_assert_eq(parse(28, 36, 2, 3, SIGNMF_FORMAT_CSV, &tb, &info, &err), SIGNMF_EPARSE);
    cr_assert(strstr(err.message, ":3:7: expected end of line after 3 fields"), "%s", err.message);
    sm_tbuf_release(&tb);
    unlink(path);
}

/* The parts' gather, done in one process: each part's blocks are copied
 * from the buffer it filled into the shared one. */
typedef struct fake {
    double *bufs[5];
    size_t parts;
} fake;

static int fake_gather(void *ctx, void *base, size_t count, size_t elem_bytes)
{
    fake *f = ctx;
    for (size_t p = 0; p < f->parts; ++p) {
        size_t a = count * p / f->parts, b = count * (p + 1) / f->parts;
        if (f->bufs[p] && f->bufs[p] != base)
            memcpy((char *)base + a * elem_bytes, (char *)f->bufs[p] + a * elem_bytes,
                   (b - a) * elem_bytes);
    }
    return 0;
}

Test(part, shared_gram_blocks_sum_to_the_whole_bits)
{
    const size_t n = 5000, k = 7;
    double *X = malloc(n * k * sizeof *X), C0[49], C[49];
    srand(5);
    for (size_t i = 0; i < n * k; ++i)
        X[i] = (double)rand() / RAND_MAX - 0.5;
    cr_assert_gt(n / sm_xty_block_rows(n, k, k), 2, "the test needs several blocks");
    cr_assert_eq(sm_xty(NULL, X, k, X, k, n, k, k, 1, C0), SIGNMF_OK);
    for (size_t parts = 2; parts <= 5; ++parts) {
        /* each part's own blocks, then all of them gathered by the last */
        size_t br = sm_xty_block_rows(n, k, k), nb = (n + br - 1) / br;
        fake f = {.parts = parts};
        /* the last part computes its own blocks inside sm_xty_split, into
         * the buffer it gathers the others' into */
        for (size_t p = 0; p + 1 < parts; ++p) {
            f.bufs[p] = calloc(nb * k * k, sizeof(double));
            size_t b0 = nb * p / parts, b1 = nb * (p + 1) / parts;
            for (size_t b = b0; b < b1; ++b) {
                size_t r0 = b * br, r1 = r0 + br < n ? r0 + br : n;
                sm_kernels_active()->xty_f64(X + r0 * k, k, X + r0 * k, k, r1 - r0, k, k,
                                             f.bufs[p] + b * k * k, k);
            }
        }
        sm_split sp = {parts - 1, parts, &f, fake_gather};
        memset(C, 0, sizeof C);
        cr_assert_eq(sm_xty_split(NULL, X, k, X, k, n, k, k, 2, &sp, C), SIGNMF_OK);
        cr_assert_eq(memcmp(C, C0, sizeof C), 0, "%zu parts", parts);
        for (size_t p = 0; p < parts; ++p)
            free(f.bufs[p]);
    }
    free(X);
}
