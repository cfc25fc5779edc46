/* The scoring engine's blocking (score.c), shared with evaluation and the
 * serving benchmark so that all three score in the same shape. */
#ifndef SM_SCORE_H
#define SM_SCORE_H

#include "../kernels/kernels.h"
#include "../model/model.h"

/* Users per kernel call, and bytes of packed items per block (L2-sized). */
#define SM_STRIP        96
#define SM_QBLOCK_BYTES (384u * 1024u)

/* Items per block: an L2-sized slice of the packed panels, a multiple of
 * SM_PANEL (or all items). */
static inline size_t sm_item_block(const signmf_model *m)
{
    size_t row = m->dim * sm_elem_size(m->precision);
    size_t jb = row ? SM_QBLOCK_BYTES / row : m->items;
    jb -= jb % SM_PANEL;
    if (jb < SM_PANEL)
        jb = SM_PANEL;
    return jb < m->items ? jb : m->items;
}

/* Bytes of scores a strip's tile may hold. A tile row spans whole item
 * blocks, so each user's row is selected from in one go: the first
 * 2,048 items then give a floor from 128 groups rather than a block's 12,
 * and the per-visit costs (exclusion walk, floor, setup) come once per
 * user instead of once per block. ua.base k = 512, 1 thread: selection
 * 15 % of the time with 192-item rows. */
#define SM_TILE_BYTES (1024u * 1024u)

/* Items per tile row: a multiple of the item block `blk`, or all items. */
static inline size_t sm_tile_width(const signmf_model *m, size_t blk)
{
    size_t w = SM_TILE_BYTES / (SM_STRIP * sm_score_size(m->precision));
    w = blk ? w / blk * blk : w;
    if (w < blk)
        w = blk;
    return w < m->items ? w : m->items;
}

/* Every user's scores through the engine's strips, blocks and tiles, with
 * no selection: what top-k adds is the difference (bench_score). */
signmf_status sm_score_products_only(const signmf_model *m, int threads);

#endif
