/*
 * The optimizers, with torch.optim's semantics so a run can be compared
 * with PyTorch step by step:
 *   Adam:  g += wd * p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
 *          p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 *   SGD:   p -= lr * (g + wd * p)
 * The step-dependent scalars are computed in double, as torch does in
 * Python, then used in float. Elementwise, so any thread split gives the
 * same bits.
 */
#include "parallel.h"
#include "trainer.h"

#include <math.h>

void gat__optimizer_update(gat_context *ctx, gat_trainer *t)
{
    const gat_trainer_options *o = &t->options;
    const float wd = (float)o->weight_decay;
    const double step = (double)(t->steps + 1);
    const float b1 = (float)o->beta1, b2 = (float)o->beta2;
    const float one_minus_b1 = (float)(1.0 - o->beta1), one_minus_b2 = (float)(1.0 - o->beta2);
    const float step_size = (float)(o->learning_rate / (1.0 - pow(o->beta1, step)));
    /* torch divides sqrt(v) by sqrt(1 - b2^t); multiplying by the inverse
     * differs by an ulp of the denominator and saves a vector division
     * per element (the loop is bound by its divisions and square root). */
    const float inv_bc2_sqrt = (float)(1.0 / sqrt(1.0 - pow(o->beta2, step)));
    const float eps = (float)o->eps, lr = (float)o->learning_rate;
    const bool adam = o->optimizer == GAT_OPT_ADAM;
    for (int k = 0; k < t->num_params; k++) {
        const gat__param *p = &t->params[k];
        float *restrict value = p->value, *restrict m = p->m, *restrict v = p->v;
        const float *restrict grad = p->grad;
#ifdef _OPENMP
#pragma omp parallel for num_threads(gat__team(ctx, 16 * p->count)) schedule(static)
#endif
        for (int64_t e = 0; e < p->count; e++) {
            float g = wd != 0.0f ? grad[e] + wd * value[e] : grad[e];
            if (adam) {
                m[e] = m[e] * b1 + one_minus_b1 * g;
                v[e] = v[e] * b2 + one_minus_b2 * g * g;
                value[e] -= step_size * (m[e] / (sqrtf(v[e]) * inv_bc2_sqrt + eps));
            } else {
                value[e] -= lr * g;
            }
        }
    }
}
