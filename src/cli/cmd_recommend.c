/* signmf recommend: top-k unrated items for a user, as text or JSON, with
 * MovieLens titles when given u.item. */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const cli_command rec_cmd = {
    "recommend",
    "Usage: signmf recommend MODEL (--user ID | --users ID,ID,... | --all |\n"
    "                               --ratings ITEM:RATING,...) [options]\n"
    "\n"
    "Print the top-k items a user did not rate in training, by descending\n"
    "score (P Q)[user, item]; ties go to the lower item, ids are the original\n"
    "ones. Scores are the fused kernel's float sums (see signmf.h, Serving),\n"
    "printed as the shortest decimal that reads back to the same double: never\n"
    "longer than printf's %.17g, identical to it where all 17 digits are needed,\n"
    "in its layout (1.5, 0.00012, 1.2e-05, 3e+20); inf, -inf, nan (JSON null).\n"
    "\n"
    "  --user ID          one user: rank<TAB>item<TAB>score[<TAB>title] lines\n"
    "  --users LIST       several users (comma-separated ids), and\n"
    "  --all              every user, streamed as they are scored: both print\n"
    "                     user<TAB>rank<TAB>item<TAB>score[<TAB>title] lines\n"
    "  --ratings LIST     fold in a new user from ITEM:RATING pairs without\n"
    "                     retraining: the ratings are centred and signed as in\n"
    "                     training (mean rule: above the mean liked, D = -1;\n"
    "                     below disliked, D = +1; equal 0), the embedding is the\n"
    "                     gradient direction p = -(D row) Q^T, i.e. the sum of\n"
    "                     the liked items' embeddings minus the disliked ones',\n"
    "                     and every item not in the list is ranked by p . q\n"
    "\n"
    "Options:\n"
    "  -k, --top K        how many items (default 10, at most the item count)\n"
    "  --items FILE       MovieLens u.item (id|title|...) for titles\n"
    "  --json             JSON instead: {\"user\": ID, \"items\": [{\"rank\", \"item\",\n"
    "                     \"score\"[, \"title\"]}, ...]} for --user and --ratings\n"
    "                     (user null), a JSON array of such objects, one per\n"
    "                     line, for --users and --all\n"
    "  --threads N        threads for --users and --all (default: all cores)\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 1 for an unknown user or item id or k beyond the item count,\n"
    "2 for wrong usage, including a malformed --users or --ratings list.\n",
};

/* Comma-separated list of tokens; each token goes to `each`, which returns
 * false to reject it. Empty tokens are rejected. */
static int parse_list(const char *opt, const char *list, bool (*each)(const char *, void *),
                      void *ctx)
{
    size_t len = strlen(list);
    char *buf = malloc(len + 1);
    if (buf == NULL)
        return cli_error("out of memory");
    memcpy(buf, list, len + 1);
    int rc = CLI_OK;
    char *tok = buf;
    for (;;) {
        char *comma = strchr(tok, ',');
        if (comma != NULL)
            *comma = '\0';
        if (*tok == '\0' || !each(tok, ctx)) {
            rc = cli_value_error(&rec_cmd, "%s: malformed entry '%s' in '%s'", opt, tok, list);
            break;
        }
        if (comma == NULL)
            break;
        tok = comma + 1;
    }
    free(buf);
    return rc;
}

typedef struct id_list {
    int64_t *ids;
    double *ratings;
    size_t n, cap;
    bool oom;
} id_list;

static bool push(id_list *l, int64_t id, double r)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        int64_t *ids = realloc(l->ids, cap * sizeof *ids);
        if (ids != NULL)
            l->ids = ids;
        double *rs = realloc(l->ratings, cap * sizeof *rs);
        if (rs != NULL)
            l->ratings = rs;
        if (ids == NULL || rs == NULL) {
            l->oom = true;
            return false;
        }
        l->cap = cap;
    }
    l->ids[l->n] = id;
    l->ratings[l->n] = r;
    l->n++;
    return true;
}

static bool user_token(const char *tok, void *ctx)
{
    int64_t id;
    return cli_parse_i64(tok, &id) && push(ctx, id, 0);
}

static bool rating_token(const char *tok, void *ctx)
{
    const char *colon = strchr(tok, ':');
    if (colon == NULL || colon == tok || colon[1] == '\0')
        return false;
    char id_part[32];
    size_t n = (size_t)(colon - tok);
    if (n >= sizeof id_part)
        return false;
    memcpy(id_part, tok, n);
    id_part[n] = '\0';
    int64_t id;
    double r;
    if (!cli_parse_i64(id_part, &id) || !cli_parse_double(colon + 1, &r) || r == 0)
        return false;
    return push(ctx, id, r);
}

int cmd_recommend(int argc, char **argv)
{
    int64_t user = 0;
    bool have_user = false, all = false, json = false, have_k = false;
    uint64_t k = 10, threads = 0;
    const char *items_path = NULL, *users_arg = NULL, *ratings_arg = NULL;
    const cli_opt opts[] = {
        {"user", 'u', CLI_INT, &user, 0, 0, 0, 0, &have_user},
        {"users", 0, CLI_STR, &users_arg, 0, 0, 0, 0, NULL},
        {"all", 0, CLI_FLAG, &all, 0, 0, 0, 0, NULL},
        {"ratings", 0, CLI_STR, &ratings_arg, 0, 0, 0, 0, NULL},
        {"top", 'k', CLI_UINT, &k, 1, UINT64_MAX, 0, 0, &have_k},
        {"items", 0, CLI_STR, &items_path, 0, 0, 0, 0, NULL},
        {"json", 0, CLI_FLAG, &json, 0, 0, 0, 0, NULL},
        {"threads", 0, CLI_UINT, &threads, 0, 4096, 0, 0, NULL},
        CLI_OPT_END,
    };
    const char *pos[1];
    size_t npos;
    int rc = cli_parse(&rec_cmd, argc, argv, opts, pos, 1, 1, &npos);
    if (rc >= 0)
        return rc;
    int modes = (int)have_user + (users_arg != NULL) + (int)all + (ratings_arg != NULL);
    if (modes != 1)
        return cli_usage_error(&rec_cmd,
                               "give exactly one of --user, --users, --all and --ratings");
    id_list list = {0};
    if (users_arg != NULL && (rc = parse_list("--users", users_arg, user_token, &list)) != CLI_OK)
        goto out_list;
    if (ratings_arg != NULL &&
        (rc = parse_list("--ratings", ratings_arg, rating_token, &list)) != CLI_OK)
        goto out_list;
    if (list.oom) {
        rc = cli_error("out of memory");
        goto out_list;
    }

    signmf_error err;
    memset(&err, 0, sizeof err);
    signmf_model *m = NULL;
    signmf_status st = signmf_model_open(pos[0], SIGNMF_OPEN_MMAP, &m, &err);
    if (st != SIGNMF_OK) {
        rc = cli_lib_error(st, &err);
        goto out_list;
    }
    cli_titles *titles = NULL;
    signmf_rec *recs = NULL;
    size_t *counts = NULL;
    char *outbuf = NULL;
    size_t items = signmf_model_items(m), index;
    /* ids first, so a typo fails before any output */
    if (have_user && signmf_model_user_index(m, user, &index) != SIGNMF_OK) {
        rc = cli_error("%s: user %" PRId64 " is not in the model (%zu users)", pos[0], user,
                       signmf_model_users(m));
        goto done;
    }
    /* the default top 10 shrinks to a small catalogue; an explicit -k
     * beyond it is an error */
    if (k > items && !have_k)
        k = items;
    if (k > items) {
        rc = cli_error("k exceeds the %zu items of the model (k = %" PRIu64 ")", items, k);
        goto done;
    }
    for (size_t i = 0; users_arg != NULL && i < list.n; i++)
        if (signmf_model_user_index(m, list.ids[i], &index) != SIGNMF_OK) {
            rc = cli_error("%s: user %" PRId64 " is not in the model (%zu users)", pos[0],
                           list.ids[i], signmf_model_users(m));
            goto done;
        }
    for (size_t i = 0; ratings_arg != NULL && i < list.n; i++)
        if (signmf_model_item_index(m, list.ids[i], &index) != SIGNMF_OK) {
            rc = cli_error("%s: item %" PRId64 " is not in the model (%zu items)", pos[0],
                           list.ids[i], items);
            goto done;
        }
    if (items_path != NULL && (rc = cli_titles_load(items_path, &titles)) != CLI_OK)
        goto done;

    /* 256 KiB: large enough that write(2) calls stop mattering, small
     * enough that a pipe reader sees output while scoring goes on */
    enum { OUT_CAP = 256 * 1024 };
    if ((outbuf = malloc(OUT_CAP)) == NULL) {
        rc = cli_error("out of memory");
        goto done;
    }
    cli_out out;
    cli_out_init(&out, stdout, outbuf, OUT_CAP);
    if (all) {
        cli_rec_stream sc = {&out, titles, json, true};
        st = signmf_recommend_all(m, (size_t)k, (int)threads, cli_rec_stream_fn, &sc, &err);
        if (st == SIGNMF_EINTERRUPTED && out.err != 0) {
            rc = cli_out_error(&out);
            goto done;
        }
        if (st != SIGNMF_OK) {
            rc = cli_lib_error(st, &err);
            goto done;
        }
        if (json)
            cli_out_write(&out, sc.first ? "[]\n" : "\n]\n", 3);
    } else if (users_arg != NULL) {
        size_t total;
        if (__builtin_mul_overflow(list.n, (size_t)k, &total) ||
            (recs = malloc((total ? total : 1) * sizeof *recs)) == NULL ||
            (counts = malloc(list.n * sizeof *counts)) == NULL) {
            rc = cli_error("out of memory for %zu x %" PRIu64 " results", list.n, k);
            goto done;
        }
        st =
            signmf_recommend_many(m, list.ids, list.n, (size_t)k, (int)threads, recs, counts, &err);
        if (st != SIGNMF_OK) {
            rc = cli_lib_error(st, &err);
            goto done;
        }
        if (json)
            cli_out_write(&out, "[\n", 2);
        for (size_t i = 0; i < list.n; i++) {
            if (json) {
                cli_out_recs_json(&out, "user", &list.ids[i], recs + i * k, counts[i], titles);
                cli_out_write(&out, i + 1 < list.n ? ",\n" : "\n", i + 1 < list.n ? 2 : 1);
            } else {
                cli_out_recs_text(&out, &list.ids[i], recs + i * k, counts[i], titles, true);
            }
        }
        if (json)
            cli_out_write(&out, "]\n", 2);
    } else {
        if ((recs = malloc((size_t)k * sizeof *recs)) == NULL) {
            rc = cli_error("out of memory");
            goto done;
        }
        size_t n = 0;
        if (ratings_arg != NULL)
            st = signmf_recommend_foldin(m, list.ids, list.ratings, list.n, (size_t)k, recs, &n,
                                         &err);
        else
            st = signmf_recommend(m, user, (size_t)k, recs, &n, &err);
        if (st != SIGNMF_OK) {
            rc = cli_lib_error(st, &err);
            goto done;
        }
        if (json) {
            cli_out_recs_json(&out, "user", ratings_arg ? NULL : &user, recs, n, titles);
            cli_out_write(&out, "\n", 1);
        } else {
            cli_out_recs_text(&out, NULL, recs, n, titles, true);
        }
    }
    rc = cli_out_flush(&out) ? CLI_OK : cli_out_error(&out);
done:
    free(recs);
    free(counts);
    free(outbuf);
    cli_titles_free(titles);
    signmf_model_free(m);
out_list:
    free(list.ids);
    free(list.ratings);
    return rc;
}
