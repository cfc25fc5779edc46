/* libFuzzer target: the model file reader, both read and mmap modes, and
 * the first things a caller does with a model that opened. */
#include "fuzz_common.h"

static void use(signmf_model *m)
{
    size_t users = signmf_model_users(m), items = signmf_model_items(m);
    if (users == 0 || items == 0)
        return;
    signmf_rec recs[4];
    size_t n;
    size_t k = items < 4 ? items : 4;
    (void)signmf_recommend(m, signmf_model_user_id(m, 0), k, recs, &n, NULL);
    (void)signmf_recommend(m, signmf_model_user_id(m, users - 1), k, recs, &n, NULL);
    (void)signmf_similar(m, signmf_model_item_id(m, 0), items > 1 ? 1 : 0, recs, &n, NULL);
    size_t index;
    (void)signmf_model_item_index(m, signmf_model_item_id(m, items - 1), &index);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_path(data, size);
    for (unsigned flags = 0; flags <= SIGNMF_OPEN_MMAP; flags += SIGNMF_OPEN_MMAP) {
        signmf_model *m = NULL;
        signmf_error err = {0};
        signmf_status st = signmf_model_open(path, flags, &m, &err);
        if (st == SIGNMF_OK)
            use(m);
        else if (m != NULL || err.message[0] == '\0')
            abort();
        signmf_model_free(m);
    }
    return 0;
}
