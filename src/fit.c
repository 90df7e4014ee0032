/*
 * Training to early stop, with the rule of the GAT authors' reference code
 * (PetarV-/GAT, execute_cora.py), so accuracy can be compared with the
 * paper's: patience counts epochs in which NEITHER the validation accuracy
 * reached its best (>=) NOR the validation loss its lowest (<=); the model
 * kept is that of the last epoch where BOTH did.
 */
#include "trainer.h"

#include <math.h>
#include <string.h>
#include <time.h>

void gat_fit_options_init(gat_fit_options *o)
{
    if (o == NULL)
        return;
    memset(o, 0, sizeof *o);
    o->max_epochs = 1000;
    o->patience = 100;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void keep_parameters(gat_trainer *t)
{
    for (int k = 0; k < t->num_params; k++)
        memcpy(t->params[k].best, t->params[k].value,
               (size_t)t->params[k].count * sizeof(float));
}

static void restore_parameters(gat_trainer *t)
{
    for (int k = 0; k < t->num_params; k++)
        memcpy(t->params[k].value, t->params[k].best,
               (size_t)t->params[k].count * sizeof(float));
    t->sparse_x.weight_t_version = -1; /* the weights changed outside an update */
    t->have_forward = false;
}

gat_status gat_trainer_fit(gat_context *ctx, gat_trainer *t, const int64_t *labels,
                           const int64_t *train_index, int64_t train_count,
                           const int64_t *val_index, int64_t val_count,
                           const gat_fit_options *options, gat_fit_result *result)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (t == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "fit: NULL trainer");
    gat_fit_options defaults;
    gat_fit_options_init(&defaults);
    const gat_fit_options *o = options != NULL ? options : &defaults;
    if (o->max_epochs < 0 || o->patience < 0)
        return gat__fail(ctx, GAT_ERR_INVALID, "fit: max_epochs %lld and patience %lld must be >= 0",
                         (long long)o->max_epochs, (long long)o->patience);
    const int64_t classes = gat_model_out_features(t->model);
    gat_status status =
        gat__check_targets(ctx, labels, train_index, train_count, t->num_nodes, classes);
    if (status == GAT_OK)
        status = gat__check_targets(ctx, labels, val_index, val_count, t->num_nodes, classes);
    if (status != GAT_OK)
        return status;

    gat_fit_result r = {0, 0, {INFINITY, 0.0}, false};
    double best_accuracy = 0.0, lowest_loss = INFINITY;
    int64_t waiting = 0;
    for (int64_t epoch = 1; epoch <= o->max_epochs; epoch++) {
        const double t0 = seconds_now();
        gat_epoch_report report = {.epoch = epoch};
        if ((status = gat_trainer_step(ctx, t, labels, train_index, train_count,
                                       &report.train)) != GAT_OK ||
            (status = gat_trainer_evaluate(ctx, t, labels, val_index, val_count,
                                           &report.val)) != GAT_OK)
            break;
        r.epochs = epoch;
        const bool better_accuracy = report.val.accuracy >= best_accuracy;
        const bool better_loss = report.val.loss <= lowest_loss;
        if (better_accuracy || better_loss) {
            if (better_accuracy && better_loss) {
                keep_parameters(t);
                r.best_epoch = epoch;
                r.best_val = report.val;
                report.saved = true;
            }
            best_accuracy = fmax(best_accuracy, report.val.accuracy);
            lowest_loss = fmin(lowest_loss, report.val.loss);
            waiting = 0;
        } else {
            waiting++;
        }
        report.patience_left = o->patience > 0 ? o->patience - waiting : -1;
        report.seconds = seconds_now() - t0;
        if (o->on_epoch != NULL && !o->on_epoch(&report, o->user))
            break;
        if (o->patience > 0 && waiting >= o->patience) {
            r.stopped_early = true;
            break;
        }
    }
    if (r.best_epoch > 0)
        restore_parameters(t);
    if (result != NULL)
        *result = r;
    return status;
}
