#include "ratings.h"

#include <string.h>

int64_t sm_idmap_id(const sm_idmap *map, size_t index)
{
    if (map->direct)
        return (int64_t)index + 1;
    return map->ids[index];
}

signmf_status sm_idmap_index(const sm_idmap *map, int64_t id, size_t *index)
{
    if (map->direct) {
        if (id < 1 || (uint64_t)id > map->count)
            return SIGNMF_ENOTFOUND;
        *index = (size_t)id - 1;
        return SIGNMF_OK;
    }
    size_t lo = 0, hi = map->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (map->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == map->count || map->ids[lo] != id)
        return SIGNMF_ENOTFOUND;
    *index = lo;
    return SIGNMF_OK;
}

signmf_status sm_idmap_copy(const sm_idmap *src, sm_idmap *dst)
{
    sm_idmap m = {.direct = src->direct, .count = src->count, .ids = NULL};
    if (!src->direct) {
        m.ids = sm_alloc(src->count, sizeof *m.ids);
        if (!m.ids)
            return SIGNMF_ENOMEM;
        if (src->count)
            memcpy(m.ids, src->ids, src->count * sizeof *m.ids);
    }
    *dst = m;
    return SIGNMF_OK;
}

void sm_idmap_release(sm_idmap *map)
{
    if (!map)
        return;
    sm_free(map->ids);
    map->ids = NULL;
    map->count = 0;
    map->direct = true;
}
