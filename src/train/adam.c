/*
 * The optimizers' loop over parameter tensors, with torch.optim's
 * semantics so a run can be compared with PyTorch step by step (the
 * element update is in optimizer.h).
 */
#include "optimizer.h"
#include "parallel.h"

/* Elements per parallel chunk of the plain loop. */
#define UPDATE_CHUNK 4096

void gat__params_update(gat_context *ctx, gat__update_rule rule, const gat__param *params,
                        int count, int update_team)
{
    for (int k = 0; k < count; k++) {
        const gat__param *p = &params[k];
        const int64_t chunks = (p->count + UPDATE_CHUNK - 1) / UPDATE_CHUNK;
#ifdef _OPENMP
#pragma omp parallel for num_threads(gat__update_team(ctx, update_team, p->count)) \
    schedule(static)
#endif
        for (int64_t c = 0; c < chunks; c++) {
            const int64_t e = c * UPDATE_CHUNK;
            const int64_t n = p->count - e < UPDATE_CHUNK ? p->count - e : UPDATE_CHUNK;
            gat__update_elements(rule, p->grad + e, p->value + e, p->m + e, p->v + e, n);
        }
    }
}
