/* A small strict option parser: --opt value, --opt=value, -x value, -x=value;
 * numbers must be complete decimal literals in range, so `12abc`, `-1` for a
 * count, `nan` or an overflowing value are usage errors, never silently
 * clamped. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("signmf: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_ERROR;
}

int cli_usage_error(const cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "signmf %s: ", cmd->name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fprintf(stderr, "Try 'signmf %s --help' for usage.\n", cmd->name);
    return CLI_USAGE;
}

/* A value that is present but not acceptable (--dim 0, --lr nan, an unknown
 * precision) is bad input, exit 1; wrong usage (an unknown option, a
 * missing value or argument) stays exit 2. */
int cli_value_error(const cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "signmf %s: ", cmd->name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_ERROR;
}

int cli_lib_error(signmf_status st, const signmf_error *err)
{
    if (err != NULL && err->message[0] != '\0')
        return cli_error("%s", err->message);
    return cli_error("%s", signmf_strerror(st));
}

/* strtoull/strtoll skip blanks and accept signs and hex; we want exactly
 * an optional '-' (signed only) then decimal digits. */
static bool plain_digits(const char *s, bool allow_minus)
{
    if (allow_minus && *s == '-')
        s++;
    if (!isdigit((unsigned char)*s))
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

bool cli_parse_u64(const char *s, uint64_t *out)
{
    if (!plain_digits(s, false))
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = (uint64_t)v;
    return true;
}

bool cli_parse_i64(const char *s, int64_t *out)
{
    if (!plain_digits(s, true))
        return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = (int64_t)v;
    return true;
}

bool cli_parse_double(const char *s, double *out)
{
    /* Reject what strtod accepts but a person almost never means: leading
     * blanks, hex floats, inf/nan spelled out. */
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (!(isdigit((unsigned char)*p) || (*p == '.' && isdigit((unsigned char)p[1]))))
        return false;
    for (const char *q = p; *q; q++)
        if (*q == 'x' || *q == 'X')
            return false;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (*end != '\0' || !isfinite(v))
        return false;
    /* ERANGE also flags underflow: only overflow (already caught by
     * isfinite) and a non-zero literal flushed to zero are errors. */
    if (errno == ERANGE && v == 0.0) {
        for (const char *q = p; *q && *q != 'e' && *q != 'E'; q++)
            if (*q >= '1' && *q <= '9')
                return false;
    }
    *out = v;
    return true;
}

static const cli_opt *find_long(const cli_opt *opts, const char *name, size_t len)
{
    for (const cli_opt *o = opts; o->name != NULL; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    return NULL;
}

static const cli_opt *find_short(const cli_opt *opts, char c)
{
    for (const cli_opt *o = opts; o->name != NULL; o++)
        if (o->short_name == c)
            return o;
    return NULL;
}

static int store(const cli_command *cmd, const cli_opt *o, const char *spelled, const char *v)
{
    switch (o->kind) {
    case CLI_FLAG:
        *(bool *)o->dst = true;
        break;
    case CLI_STR:
        if (*v == '\0')
            return cli_usage_error(cmd, "%s needs a non-empty value", spelled);
        *(const char **)o->dst = v;
        break;
    case CLI_UINT: {
        uint64_t x;
        if (!cli_parse_u64(v, &x))
            return cli_value_error(cmd, "%s expects a whole number, found '%s'", spelled, v);
        if (x < o->umin || x > o->umax)
            return cli_value_error(cmd, "%s must be between %" PRIu64 " and %" PRIu64 ", found %s",
                                   spelled, o->umin, o->umax, v);
        *(uint64_t *)o->dst = x;
        break;
    }
    case CLI_INT: {
        int64_t x;
        if (!cli_parse_i64(v, &x))
            return cli_value_error(cmd, "%s expects an integer, found '%s'", spelled, v);
        *(int64_t *)o->dst = x;
        break;
    }
    case CLI_DOUBLE: {
        double x;
        if (!cli_parse_double(v, &x))
            return cli_value_error(cmd, "%s expects a finite decimal number, found '%s'", spelled,
                                   v);
        if (x < o->dmin || x > o->dmax)
            return cli_value_error(cmd, "%s must be between %g and %g, found %s", spelled, o->dmin,
                                   o->dmax, v);
        *(double *)o->dst = x;
        break;
    }
    }
    if (o->seen != NULL)
        *o->seen = true;
    return -1;
}

int cli_parse(const cli_command *cmd, int argc, char **argv, const cli_opt *opts, const char **pos,
              size_t min_pos, size_t max_pos, size_t *npos)
{
    size_t n = 0;
    bool only_pos = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == '\0') {
            if (n == max_pos)
                return cli_usage_error(cmd, "unexpected argument '%s'", a);
            pos[n++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(cmd->usage, stdout);
            return fflush(stdout) == 0 ? CLI_OK : CLI_ERROR;
        }
        const cli_opt *o;
        const char *value = NULL;
        char spelled[64];
        if (a[1] == '-') {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            o = find_long(opts, name, len);
            snprintf(spelled, sizeof spelled, "--%.*s", (int)(len > 40 ? 40 : len), name);
            if (o == NULL)
                return cli_usage_error(cmd, "unknown option '%s'", spelled);
            if (eq != NULL)
                value = eq + 1;
        } else {
            o = find_short(opts, a[1]);
            snprintf(spelled, sizeof spelled, "-%c", a[1]);
            if (o == NULL)
                return cli_usage_error(cmd, "unknown option '%s'", spelled);
            if (a[2] == '=')
                value = a + 3;
            else if (a[2] != '\0')
                value = a + 2; /* -k10 */
        }
        if (o->kind == CLI_FLAG) {
            if (value != NULL)
                return cli_usage_error(cmd, "%s takes no value", spelled);
        } else if (value == NULL) {
            if (i + 1 >= argc)
                return cli_usage_error(cmd, "%s needs a value", spelled);
            value = argv[++i];
        }
        int rc = store(cmd, o, spelled, value);
        if (rc >= 0)
            return rc;
    }
    if (n < min_pos)
        return cli_usage_error(cmd, "missing argument (expected %zu, found %zu)", min_pos, n);
    *npos = n;
    return -1;
}

int cli_load_options(const cli_command *cmd, const cli_load_args *a, signmf_load_options *out)
{
    *out = signmf_load_options_default();
    if (a->format != NULL) {
        static const struct {
            const char *name;
            signmf_format f;
        } fmts[] = {{"auto", SIGNMF_FORMAT_AUTO}, {"tsv", SIGNMF_FORMAT_TSV},
                    {"csv", SIGNMF_FORMAT_CSV},   {"mm", SIGNMF_FORMAT_MM},
                    {"npy", SIGNMF_FORMAT_NPY},   {"npz", SIGNMF_FORMAT_NPZ}};
        size_t i;
        for (i = 0; i < sizeof fmts / sizeof fmts[0]; i++)
            if (strcmp(a->format, fmts[i].name) == 0)
                break;
        if (i == sizeof fmts / sizeof fmts[0])
            return cli_value_error(
                cmd, "--format expects auto, tsv, csv, mm, npy or npz, found '%s'", a->format);
        out->format = fmts[i].f;
    }
    if (a->ids != NULL) {
        if (strcmp(a->ids, "auto") == 0)
            out->ids = SIGNMF_IDS_AUTO;
        else if (strcmp(a->ids, "direct") == 0)
            out->ids = SIGNMF_IDS_DIRECT;
        else if (strcmp(a->ids, "compact") == 0)
            out->ids = SIGNMF_IDS_COMPACT;
        else
            return cli_value_error(cmd, "--ids expects auto, direct or compact, found '%s'",
                                   a->ids);
    }
    out->npz_key = a->npz_key;
    if (a->rating_range != NULL) {
        /* MIN:MAX, both finite; a guard against absurd values in a file
         * (a timestamp in the rating column, a sentinel like -999). */
        const char *colon = strchr(a->rating_range, ':');
        char lo[64];
        double mn, mx;
        size_t n = colon ? (size_t)(colon - a->rating_range) : 0;
        if (colon == NULL || n == 0 || n >= sizeof lo)
            return cli_value_error(cmd, "--rating-range expects MIN:MAX, found '%s'",
                                   a->rating_range);
        memcpy(lo, a->rating_range, n);
        lo[n] = '\0';
        if (!cli_parse_double(lo, &mn) || !cli_parse_double(colon + 1, &mx) || mn > mx)
            return cli_value_error(
                cmd, "--rating-range expects MIN:MAX with finite MIN <= MAX, found '%s'",
                a->rating_range);
        out->rating_min = mn;
        out->rating_max = mx;
    }
    return -1;
}

int cli_parse_precision(const cli_command *cmd, const char *s, signmf_precision *out)
{
    if (s == NULL)
        return -1;
    if (strcmp(s, "f32") == 0)
        *out = SIGNMF_F32;
    else if (strcmp(s, "f64") == 0)
        *out = SIGNMF_F64;
    else if (strcmp(s, "bf16") == 0)
        *out = SIGNMF_BF16;
    else
        return cli_value_error(cmd, "--precision expects f32, f64 or bf16, found '%s'", s);
    return -1;
}

int cli_parse_sign_rule(const cli_command *cmd, const char *s, signmf_params *p)
{
    if (s == NULL)
        return -1;
    if (strcmp(s, "mean") == 0) {
        p->sign_rule = SIGNMF_SIGN_MEAN;
    } else if (strcmp(s, "observed") == 0) {
        p->sign_rule = SIGNMF_SIGN_OBSERVED;
    } else if (strncmp(s, "threshold:", 10) == 0) {
        double t;
        if (!cli_parse_double(s + 10, &t))
            return cli_value_error(
                cmd, "--sign-rule threshold:T expects a finite number, found '%s'", s + 10);
        p->sign_rule = SIGNMF_SIGN_THRESHOLD;
        p->threshold = t;
    } else {
        return cli_value_error(cmd, "--sign-rule expects mean, threshold:T or observed, found '%s'",
                               s);
    }
    return -1;
}

int cli_train_method(const char *method, const bool seen[10], bool epochs_seen, bool rescale,
                     double rated_weight, double degree_exp, double shrink, uint64_t *dim,
                     double *lr, uint64_t *epochs, signmf_params *params)
{
    *params = signmf_params_for(SIGNMF_METHOD_NOTEBOOK);
    signmf_method meth = SIGNMF_METHOD_NOTEBOOK;
    if (method != NULL) {
        if (strcmp(method, "notebook") == 0)
            meth = SIGNMF_METHOD_NOTEBOOK;
        else if (strcmp(method, "orthonormal") == 0)
            meth = SIGNMF_METHOD_ORTHONORMAL;
        else
            return cli_error("--method: expected notebook or orthonormal, found '%s'", method);
    }
    *params = signmf_params_for(meth);
    if (meth == SIGNMF_METHOD_NOTEBOOK) {
        if (seen[7] || seen[8] || seen[9])
            return cli_error("%s applies to --method orthonormal only", seen[7]   ? "--rated-weight"
                                                                        : seen[8] ? "--degree-exp"
                                                                                  : "--shrink");
        return -1;
    }
    if (rescale)
        return cli_error("--rescale does not apply to --method orthonormal (its factors stay "
                         "orthonormal, so there is nothing to rescale)");
    if (!seen[0])
        *dim = params->dim;
    if (!seen[1])
        *lr = params->lr;
    if (!epochs_seen)
        *epochs = SIGNMF_ORTHONORMAL_EPOCHS;
    if (seen[7])
        params->rated_weight = rated_weight;
    if (seen[8])
        params->degree_exp = degree_exp;
    if (seen[9])
        params->shrink = shrink;
    return -1;
}

int cli_resume_fixed(const cli_command *cmd, const bool seen[10])
{
    static const char *const names[10] = {"--dim",        "--lr",      "--seed",   "--precision",
                                          "--sign-rule",  "--rescale", "--method", "--rated-weight",
                                          "--degree-exp", "--shrink"};
    for (size_t i = 0; i < 10; i++)
        if (seen[i])
            return cli_usage_error(cmd, "%s cannot be combined with --resume (the model fixes it)",
                                   names[i]);
    return -1;
}
