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

#endif
