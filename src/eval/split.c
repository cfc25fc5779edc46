/* Deterministic per-user validation split (signmf_ratings_split). */
#include "eval.h"

#include "../rng/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* An empty set with r's id maps and dimensions, room for `count` pairs. */
static signmf_status like(const signmf_ratings *r, size_t count, signmf_ratings **out)
{
    signmf_ratings *s = calloc(1, sizeof *s);
    if (s == NULL)
        return SIGNMF_ENOMEM;
    s->users = r->users;
    s->items = r->items;
    s->count = count;
    size_t n = count ? count : 1;
    s->user = malloc(n * sizeof *s->user);
    s->item = malloc(n * sizeof *s->item);
    s->value = malloc(n * sizeof *s->value);
    signmf_status st = SIGNMF_OK;
    if (s->user == NULL || s->item == NULL || s->value == NULL)
        st = SIGNMF_ENOMEM;
    if (st == SIGNMF_OK)
        st = sm_idmap_copy(&r->user_map, &s->user_map);
    if (st == SIGNMF_OK)
        st = sm_idmap_copy(&r->item_map, &s->item_map);
    if (st != SIGNMF_OK) {
        signmf_ratings_free(s);
        return st;
    }
    *out = s;
    return SIGNMF_OK;
}

uint64_t sm_split_draws(const signmf_ratings *r, double fraction)
{
    uint64_t nh = 0;
    for (size_t i = 0; i < r->count;) {
        size_t e = i;
        while (e < r->count && r->user[e] == r->user[i])
            e++;
        nh += (uint64_t)floor(fraction * (double)(e - i));
        i = e;
    }
    return nh;
}

signmf_status sm_ratings_split_rng(const signmf_ratings *r, double fraction, sm_rng *rng,
                                   signmf_ratings **train, signmf_ratings **holdout,
                                   signmf_error *err)
{
    static const char fn[] = "signmf_ratings_split";
    /* Pass 1: how many each user gives; pairs are sorted by (user, item). */
    size_t nh = (size_t)sm_split_draws(r, fraction);
    signmf_ratings *tr = NULL, *ho = NULL;
    signmf_status st = like(r, r->count - nh, &tr);
    if (st == SIGNMF_OK)
        st = like(r, nh, &ho);
    char *pick = calloc(r->count ? r->count : 1, 1);
    size_t *perm = NULL;
    size_t maxrow = 0;
    for (size_t i = 0; i < r->count;) {
        size_t e = i;
        while (e < r->count && r->user[e] == r->user[i])
            e++;
        if (e - i > maxrow)
            maxrow = e - i;
        i = e;
    }
    perm = malloc((maxrow ? maxrow : 1) * sizeof *perm);
    if (st == SIGNMF_OK && (pick == NULL || perm == NULL))
        st = SIGNMF_ENOMEM;
    if (st != SIGNMF_OK) {
        signmf_ratings_free(tr);
        signmf_ratings_free(ho);
        free(pick);
        free(perm);
        return sm_fail(err, st, "%s: out of memory for %zu ratings", fn, r->count);
    }
    for (size_t i = 0; i < r->count;) {
        size_t e = i;
        while (e < r->count && r->user[e] == r->user[i])
            e++;
        size_t n = e - i, h = (size_t)floor(fraction * (double)n);
        for (size_t a = 0; a < n; ++a)
            perm[a] = a;
        for (size_t a = 0; a < h; ++a) {
            size_t b = a + (size_t)(sm_rng_u32(rng) % (uint32_t)(n - a));
            size_t t = perm[a];
            perm[a] = perm[b];
            perm[b] = t;
            pick[i + perm[a]] = 1;
        }
        i = e;
    }
    size_t a = 0, b = 0;
    for (size_t i = 0; i < r->count; ++i) {
        signmf_ratings *d = pick[i] ? ho : tr;
        size_t *c = pick[i] ? &b : &a;
        d->user[*c] = r->user[i];
        d->item[*c] = r->item[i];
        d->value[*c] = r->value[i];
        (*c)++;
    }
    free(pick);
    free(perm);
    *train = tr;
    *holdout = ho;
    return SIGNMF_OK;
}

SIGNMF_API signmf_status signmf_ratings_split(const signmf_ratings *r, double fraction,
                                              uint32_t seed, signmf_ratings **train,
                                              signmf_ratings **holdout, signmf_error *err)
{
    static const char fn[] = "signmf_ratings_split";
    if (train)
        *train = NULL;
    if (holdout)
        *holdout = NULL;
    if (r == NULL || train == NULL || holdout == NULL)
        return sm_fail(err, SIGNMF_EINVAL, "%s: ratings, train and holdout must be set", fn);
    if (!(fraction >= 0.0 && fraction < 1.0))
        return sm_fail(err, SIGNMF_ERANGE, "%s: expected a fraction in [0, 1), found %g", fn,
                       fraction);
    sm_rng *rng = malloc(sizeof *rng);
    if (rng == NULL)
        return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory for %zu ratings", fn, r->count);
    sm_rng_seed(rng, seed);
    signmf_status st = sm_ratings_split_rng(r, fraction, rng, train, holdout, err);
    free(rng);
    return st;
}
