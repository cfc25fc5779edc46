/* signmf similar: the items closest to one item by cosine similarity of
 * their embeddings. */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const cli_command sim_cmd = {
    "similar",
    "Usage: signmf similar MODEL --item ID [options]\n"
    "\n"
    "Print the k items most similar to ITEM by cosine similarity of the item\n"
    "embeddings (columns of Q), highest first, ties to the lower item; the\n"
    "item itself is left out. Text output: rank<TAB>item<TAB>cosine[<TAB>title],\n"
    "cosines as the shortest decimal that reads back to the same double.\n"
    "\n"
    "Options:\n"
    "  --item ID          original item id (required)\n"
    "  -k, --top K        how many items (default 10, fewer than the item count)\n"
    "  --items FILE       MovieLens u.item (id|title|...) for titles\n"
    "  --json             print {\"item\": ID, \"items\": [...]} instead\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 1 for an unknown item or k beyond the other items, 2 for\n"
    "wrong usage.\n",
};

int cmd_similar(int argc, char **argv)
{
    int64_t item = 0;
    bool have_item = false, json = false, have_k = false;
    uint64_t k = 10;
    const char *items_path = NULL;
    const cli_opt opts[] = {
        {"item", 'i', CLI_INT, &item, 0, 0, 0, 0, &have_item},
        {"top", 'k', CLI_UINT, &k, 1, UINT64_MAX, 0, 0, &have_k},
        {"items", 0, CLI_STR, &items_path, 0, 0, 0, 0, NULL},
        {"json", 0, CLI_FLAG, &json, 0, 0, 0, 0, NULL},
        CLI_OPT_END,
    };
    const char *pos[1];
    size_t npos;
    int rc = cli_parse(&sim_cmd, argc, argv, opts, pos, 1, 1, &npos);
    if (rc >= 0)
        return rc;
    if (!have_item)
        return cli_usage_error(&sim_cmd, "--item ID is required");

    signmf_error err;
    memset(&err, 0, sizeof err);
    signmf_model *m = NULL;
    signmf_status st = signmf_model_open(pos[0], SIGNMF_OPEN_MMAP, &m, &err);
    if (st != SIGNMF_OK)
        return cli_lib_error(st, &err);
    cli_titles *titles = NULL;
    signmf_rec *recs = NULL;
    size_t items = signmf_model_items(m), index;
    if (signmf_model_item_index(m, item, &index) != SIGNMF_OK) {
        rc = cli_error("%s: item %" PRId64 " is not in the model (%zu items)", pos[0], item, items);
        goto done;
    }
    if (k >= items && !have_k && items > 1)
        k = items - 1;
    if (k >= items) {
        rc =
            cli_error("k exceeds the %zu other items of the model (k = %" PRIu64 ")", items - 1, k);
        goto done;
    }
    if (items_path != NULL && (rc = cli_titles_load(items_path, &titles)) != CLI_OK)
        goto done;
    if ((recs = malloc((size_t)k * sizeof *recs)) == NULL) {
        rc = cli_error("out of memory");
        goto done;
    }
    size_t n = 0;
    st = signmf_similar(m, item, (size_t)k, recs, &n, &err);
    if (st != SIGNMF_OK) {
        rc = cli_lib_error(st, &err);
        goto done;
    }
    char buf[16384];
    cli_out out;
    cli_out_init(&out, stdout, buf, sizeof buf);
    if (json) {
        cli_out_recs_json(&out, "item", &item, recs, n, titles);
        cli_out_write(&out, "\n", 1);
    } else {
        cli_out_recs_text(&out, NULL, recs, n, titles, true);
    }
    rc = cli_out_flush(&out) ? CLI_OK : cli_out_error(&out);
done:
    free(recs);
    cli_titles_free(titles);
    signmf_model_free(m);
    return rc;
}
