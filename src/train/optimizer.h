/*
 * One optimizer step for one element, shared by the plain loop over a
 * parameter (adam.c) and the first layer's weight when its input is
 * sparse, which is updated block by block beside its transposes
 * (projection_sparse.c). Elementwise, so any order and thread split gives
 * the same bits.
 */
#ifndef GAT_OPTIMIZER_H
#define GAT_OPTIMIZER_H

#include "internal.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

/* An element's update in the units of GAT_PARALLEL_MIN_WORK (about one
 * multiply-add): a vector division and square root and seven memory
 * accesses, measured at about 1 ns an element (Cora's first-layer weight,
 * 92k elements, ~0.1 ms on one thread), where a vectorized multiply-add
 * takes a hundredth of that. So Cora's update gets both threads, which
 * measured 10% off an epoch. */
#define GAT_UPDATE_WORK 100

/* The scalars of one step (computed in double, as torch does in Python,
 * then used in float). */
typedef struct gat__update_rule {
    bool adam;
    float wd, b1, b2, one_minus_b1, one_minus_b2, step_size, inv_bc2_sqrt, eps, lr;
} gat__update_rule;

/* The rule of update number `step` (1 for the first). */
static inline gat__update_rule gat__update_rule_make(const gat_trainer_options *o, int64_t step)
{
    gat__update_rule r;
    r.adam = o->optimizer == GAT_OPT_ADAM;
    r.wd = (float)o->weight_decay;
    r.b1 = (float)o->beta1;
    r.b2 = (float)o->beta2;
    r.one_minus_b1 = (float)(1.0 - o->beta1);
    r.one_minus_b2 = (float)(1.0 - o->beta2);
    r.step_size = (float)(o->learning_rate / (1.0 - pow(o->beta1, (double)step)));
    /* torch divides sqrt(v) by sqrt(1 - b2^t); multiplying by the inverse
     * differs by an ulp of the denominator and saves a vector division
     * per element (the loop is bound by its divisions and square root). */
    r.inv_bc2_sqrt = (float)(1.0 / sqrt(1.0 - pow(o->beta2, (double)step)));
    r.eps = (float)o->eps;
    r.lr = (float)o->learning_rate;
    return r;
}

/* Adam:  g += wd * p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
 *        p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * SGD:   p -= lr * (g + wd * p) */
static inline void gat__update_element(const gat__update_rule r, float grad, float *restrict value,
                                       float *restrict m, float *restrict v)
{
    const float g = r.wd != 0.0f ? grad + r.wd * *value : grad;
    if (r.adam) {
        *m = *m * r.b1 + r.one_minus_b1 * g;
        *v = *v * r.b2 + r.one_minus_b2 * g * g;
        *value -= r.step_size * (*m / (sqrtf(*v) * r.inv_bc2_sqrt + r.eps));
    } else {
        *value -= r.lr * g;
    }
}

/* value, m, v [n] updated with grad [n]. */
static inline void gat__update_elements(const gat__update_rule r, const float *restrict grad,
                                        float *restrict value, float *restrict m,
                                        float *restrict v, int64_t n)
{
    for (int64_t e = 0; e < n; e++)
        gat__update_element(r, grad[e], &value[e], &m[e], &v[e]);
}

/* One parameter tensor and what the optimizer keeps for it. */
typedef struct gat__param {
    float *value; /* in the model */
    float *grad;  /* the rest in the trainer's slabs */
    float *m, *v; /* Adam's moments */
    float *best;  /* kept copy for early stopping */
    int64_t count;
} gat__param;

/* Threads for an update of count elements: sized by its work, or
 * update_team (a fit's measured choice, 0 = none) where the work warrants
 * more than one. */
static inline int gat__update_team(const gat_context *ctx, int update_team, int64_t count)
{
    const int by_work = gat__team(ctx, GAT_UPDATE_WORK * count);
    return update_team > 0 && by_work > 1 ? update_team : by_work;
}

/* One optimizer step over params [count] with their current gradients
 * (adam.c). */
void gat__params_update(gat_context *ctx, gat__update_rule rule, const gat__param *params,
                        int count, int update_team);

#endif
