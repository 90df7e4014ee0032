/*
 * The optimizers, with torch.optim's semantics so a run can be compared
 * with PyTorch step by step (the element update is in optimizer.h).
 */
#include "optimizer.h"
#include "parallel.h"
#include "trainer.h"

/* Elements per parallel chunk of the plain loop. */
#define UPDATE_CHUNK 4096

static int team_for(const gat_context *ctx, const gat_trainer *t, int64_t count)
{
    const int by_work = gat__team(ctx, GAT_UPDATE_WORK * count);
    return t->update_team > 0 && by_work > 1 ? t->update_team : by_work;
}

void gat__optimizer_update(gat_context *ctx, gat_trainer *t)
{
    const gat__update_rule rule = gat__update_rule_make(&t->options, t->steps + 1);
    for (int k = 0; k < t->num_params; k++) {
        const gat__param *p = &t->params[k];
        if (k == 0 && t->sparse) {
            /* Its gradient is still dW^T, and W^T is wanted next. */
            gat__sparse_update_weight(&t->model->layers[0], &t->sparse_x, rule, p->value,
                                      p->m, p->v, t->steps + 1, team_for(ctx, t, p->count));
            continue;
        }
        const int64_t chunks = (p->count + UPDATE_CHUNK - 1) / UPDATE_CHUNK;
#ifdef _OPENMP
#pragma omp parallel for num_threads(team_for(ctx, t, p->count)) schedule(static)
#endif
        for (int64_t c = 0; c < chunks; c++) {
            const int64_t e = c * UPDATE_CHUNK;
            const int64_t n = p->count - e < UPDATE_CHUNK ? p->count - e : UPDATE_CHUNK;
            gat__update_elements(rule, p->grad + e, p->value + e, p->m + e, p->v + e, n);
        }
    }
}
