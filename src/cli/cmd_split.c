/* signmf split: write the validation split of `train --holdout` as two
 * ratings files. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const cli_command split_cmd = {
    "split",
    "Usage: signmf split RATINGS --holdout F [--seed S] --train OUT1 --test OUT2\n"
    "\n"
    "Split RATINGS exactly as 'signmf train RATINGS --holdout F --seed S'\n"
    "does (signmf_ratings_split, docs/evaluation.md): for each user with n\n"
    "ratings, floor(F x n) of them, drawn from the seeded MT19937 stream, go\n"
    "to OUT2 and the rest to OUT1. Both are MovieLens TSV files\n"
    "(user<TAB>item<TAB>rating, original ids, sorted by user then item,\n"
    "ratings in the shortest form that reads back exactly), each written\n"
    "atomically (a temporary sibling, fsync, rename): neither is replaced\n"
    "unless both were written in full.\n"
    "\n"
    "Options:\n"
    "  --holdout F        fraction held out per user, 0 <= F < 1 (required)\n"
    "  --seed S           split seed, 0..4294967295 (default 1, as train)\n"
    "  --train OUT1       write the training part here (required)\n"
    "  --test OUT2        write the held-out part here (required)\n"
    "  --format F         auto, tsv, csv, mm, npy or npz (default auto)\n"
    "  --ids M            auto, direct or compact (default auto)\n"
    "  --npz-key NAME     array to read from an .npz file\n"
    "  --rating-range MIN:MAX  reject ratings outside [MIN, MAX]\n"
    "  --quiet            no summary on stderr\n"
    "  -h, --help         show this help\n"
    "\n"
    "A model trained on OUT1 (same --seed and options) is the one\n"
    "'train RATINGS --holdout F' trains, byte for byte, when OUT1 reads back\n"
    "with the input's dimensions: with direct ids, when the largest item id\n"
    "keeps a rating in OUT1; with compact ids, when every item does. OUT1 is\n"
    "read back to check, and the summary says when it does not hold.\n"
    "\n"
    "Exit status: 0 success, 1 bad input or runtime error, 2 wrong usage.\n",
};

/* One output file being written: a temporary sibling until committed. */
typedef struct out_file {
    const char *path;
    char *tmp;
    FILE *f;
} out_file;

static int out_open(out_file *o, const char *path)
{
    o->path = path;
    o->f = NULL;
    size_t plen = strlen(path);
    o->tmp = malloc(plen + 16);
    if (o->tmp == NULL)
        return cli_error("%s: out of memory", path);
    /* a sibling, so that the rename stays within one file system */
    memcpy(o->tmp, path, plen);
    memcpy(o->tmp + plen, ".tmp.XXXXXX", 12);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        int e = errno;
        free(o->tmp);
        o->tmp = NULL;
        return cli_error("%s: cannot create a temporary file: %s", path, strerror(e));
    }
    /* mkstemp creates 0600; a data file should get the usual mode */
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask);
    o->f = fdopen(fd, "w");
    if (o->f == NULL) {
        int e = errno;
        close(fd);
        unlink(o->tmp);
        free(o->tmp);
        o->tmp = NULL;
        return cli_error("%s: cannot write: %s", path, strerror(e));
    }
    (void)setvbuf(o->f, NULL, _IOFBF, (size_t)1 << 20);
    return -1;
}

/* Flush, fsync and close; the file is complete under its temporary name. */
static int out_finish(out_file *o)
{
    int e = 0;
    if (fflush(o->f) != 0 || ferror(o->f))
        e = errno ? errno : EIO;
    else if (fsync(fileno(o->f)) != 0)
        e = errno;
    if (fclose(o->f) != 0 && e == 0)
        e = errno;
    o->f = NULL;
    if (e != 0)
        return cli_error("%s: cannot write: %s", o->path, strerror(e));
    return -1;
}

/* Remove the temporary file, if any. */
static void out_discard(out_file *o)
{
    if (o->f != NULL)
        fclose(o->f);
    o->f = NULL;
    if (o->tmp != NULL)
        unlink(o->tmp);
    free(o->tmp);
    o->tmp = NULL;
}

/* The shortest %g form that strtod reads back as exactly v. */
static void format_rating(char *buf, size_t len, double v)
{
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, len, "%.*g", p, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

/* Write every triplet of r to o->f. */
static int write_tsv(const signmf_ratings *r, out_file *o)
{
    enum { CHUNK = 4096 };
    int64_t *u = malloc(CHUNK * sizeof *u), *it = malloc(CHUNK * sizeof *it);
    double *v = malloc(CHUNK * sizeof *v);
    int rc = -1;
    if (u == NULL || it == NULL || v == NULL)
        rc = cli_error("%s: out of memory", o->path);
    size_t count = signmf_ratings_count(r);
    for (size_t first = 0; rc < 0 && first < count; first += CHUNK) {
        size_t n = count - first < CHUNK ? count - first : CHUNK;
        signmf_error err;
        memset(&err, 0, sizeof err);
        signmf_status st = signmf_ratings_triplets(r, first, n, u, it, v, &err);
        if (st != SIGNMF_OK) {
            rc = cli_lib_error(st, &err);
            break;
        }
        for (size_t k = 0; k < n; k++) {
            char num[40];
            format_rating(num, sizeof num, v[k]);
            if (fprintf(o->f, "%lld\t%lld\t%s\n", (long long)u[k], (long long)it[k], num) < 0) {
                rc = cli_error("%s: cannot write: %s", o->path, strerror(errno));
                break;
            }
        }
    }
    free(u);
    free(it);
    free(v);
    return rc;
}

int cmd_split(int argc, char **argv)
{
    uint64_t seed = 1;
    double holdout = 0;
    bool holdout_seen = false, quiet = false;
    const char *train_path = NULL, *test_path = NULL;
    cli_load_args la = {0};
    const cli_opt opts[] = {
        {"holdout", 0, CLI_DOUBLE, &holdout, 0, 0, 0, 1, &holdout_seen},
        {"seed", 0, CLI_UINT, &seed, 0, UINT32_MAX, 0, 0, NULL},
        {"train", 0, CLI_STR, &train_path, 0, 0, 0, 0, NULL},
        {"test", 0, CLI_STR, &test_path, 0, 0, 0, 0, NULL},
        {"format", 0, CLI_STR, &la.format, 0, 0, 0, 0, NULL},
        {"ids", 0, CLI_STR, &la.ids, 0, 0, 0, 0, NULL},
        {"npz-key", 0, CLI_STR, &la.npz_key, 0, 0, 0, 0, NULL},
        {"rating-range", 0, CLI_STR, &la.rating_range, 0, 0, 0, 0, NULL},
        {"quiet", 'q', CLI_FLAG, &quiet, 0, 0, 0, 0, NULL},
        CLI_OPT_END,
    };
    const char *pos[1];
    size_t npos;
    int rc = cli_parse(&split_cmd, argc, argv, opts, pos, 1, 1, &npos);
    if (rc >= 0)
        return rc;
    if (!holdout_seen)
        return cli_usage_error(&split_cmd, "--holdout F is required");
    if (train_path == NULL || test_path == NULL)
        return cli_usage_error(&split_cmd, "--train OUT1 and --test OUT2 are both required");
    if (strcmp(train_path, test_path) == 0)
        return cli_usage_error(&split_cmd, "--train and --test name the same file '%s'",
                               train_path);
    if (!(holdout < 1.0))
        return cli_value_error(&split_cmd, "--holdout expects a fraction in [0, 1), found %g",
                               holdout);
    signmf_load_options lo;
    if ((rc = cli_load_options(&split_cmd, &la, &lo)) >= 0)
        return rc;
    if ((rc = cli_check_output(train_path)) >= 0 || (rc = cli_check_output(test_path)) >= 0)
        return rc;
    /* a rename onto a directory fails only after both files are written */
    for (int i = 0; i < 2; i++) {
        const char *p = i == 0 ? train_path : test_path;
        struct stat sb;
        if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            return cli_error("%s: is a directory, expected a file name", p);
    }

    signmf_error err;
    memset(&err, 0, sizeof err);
    signmf_ratings *r = NULL, *tr = NULL, *ho = NULL;
    signmf_status st = signmf_ratings_load(pos[0], &lo, &r, &err);
    if (st != SIGNMF_OK)
        return cli_lib_error(st, &err);
    st = signmf_ratings_split(r, holdout, (uint32_t)seed, &tr, &ho, &err);
    size_t n_all = signmf_ratings_count(r), n_users = signmf_ratings_users(r),
           n_items = signmf_ratings_items(r);
    signmf_ratings_free(r); /* the parts hold every rating */
    if (st != SIGNMF_OK)
        return cli_lib_error(st, &err);
    /* Both parts go to temporary files first; only when both are complete
     * are they renamed into place. */
    out_file o[2] = {{NULL, NULL, NULL}, {NULL, NULL, NULL}};
    const signmf_ratings *part[2] = {tr, ho};
    const char *paths[2] = {train_path, test_path};
    rc = -1;
    for (int i = 0; i < 2 && rc < 0; i++) {
        rc = out_open(&o[i], paths[i]);
        if (rc < 0)
            rc = write_tsv(part[i], &o[i]);
        if (rc < 0)
            rc = out_finish(&o[i]);
    }
    for (int i = 0; i < 2 && rc < 0; i++) {
        if (rename(o[i].tmp, o[i].path) != 0) {
            rc = cli_error("%s: cannot write: %s", o[i].path, strerror(errno));
            break;
        }
        free(o[i].tmp);
        o[i].tmp = NULL;
    }
    out_discard(&o[0]);
    out_discard(&o[1]);
    /* Read the training file back as train would: same dimensions as the
     * input mean the same id maps, hence the model of train --holdout.
     * They differ when every rating of the largest (direct ids) or of any
     * (compact ids) item was held out. */
    size_t back_users = 0, back_items = 0;
    if (rc < 0) {
        signmf_load_options blo = lo;
        blo.format = SIGNMF_FORMAT_TSV;
        blo.rating_min = -HUGE_VAL;
        blo.rating_max = HUGE_VAL;
        signmf_ratings *back = NULL;
        memset(&err, 0, sizeof err);
        st = signmf_ratings_load(train_path, &blo, &back, &err);
        if (st == SIGNMF_OK) {
            back_users = signmf_ratings_users(back);
            back_items = signmf_ratings_items(back);
        } else if (st != SIGNMF_EEMPTY) {
            rc = cli_lib_error(st, &err);
        }
        signmf_ratings_free(back);
    }
    if (rc < 0 && !quiet) {
        fprintf(stderr,
                "split %s (%zu ratings, %zu users): %zu to %s, %zu to %s (holdout %g, seed "
                "%llu)\n",
                pos[0], n_all, n_users, signmf_ratings_count(tr), train_path,
                signmf_ratings_count(ho), test_path, holdout, (unsigned long long)seed);
        if (back_users != n_users || back_items != n_items)
            fprintf(stderr,
                    "note: %s reads back as %zu x %zu, the input is %zu x %zu (every rating of "
                    "some item was held out): a model trained on it is not the one of 'train "
                    "--holdout'\n",
                    train_path, back_users, back_items, n_users, n_items);
    }
    signmf_ratings_free(tr);
    signmf_ratings_free(ho);
    return rc < 0 ? CLI_OK : rc;
}
