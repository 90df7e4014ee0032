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

void gat__params_restore(const gat__param *params, int count)
{
    for (int k = 0; k < count; k++)
        memcpy(params[k].value, params[k].best, (size_t)params[k].count * sizeof(float));
}

static void restore_parameters(gat_trainer *t)
{
    gat__params_restore(t->params, t->num_params);
    t->sparse_x.weight_t_version = -1; /* the weights changed outside an update */
    t->have_forward = false;
}

static bool end_of_epoch(gat_trainer *t, const gat_fit_options *o, gat__fit_rule *rule,
                         gat_fit_result *r, gat_epoch_report *report, double t0)
{
    return gat__fit_end_of_epoch(t->params, t->num_params, o, rule, r, report,
                                 seconds_now() - t0);
}

bool gat__fit_end_of_epoch(const gat__param *params, int num_params, const gat_fit_options *o,
                           gat__fit_rule *rule, gat_fit_result *r, gat_epoch_report *report,
                           double seconds)
{
    r->epochs = report->epoch;
    const bool better_accuracy = report->val.accuracy >= rule->best_accuracy;
    const bool better_loss = report->val.loss <= rule->lowest_loss;
    if (better_accuracy || better_loss) {
        if (better_accuracy && better_loss) {
            for (int k = 0; k < num_params; k++) /* kept */
                memcpy(params[k].best, params[k].value, (size_t)params[k].count * sizeof(float));
            r->best_epoch = report->epoch;
            r->best_val = report->val;
            report->saved = true;
        }
        rule->best_accuracy = fmax(rule->best_accuracy, report->val.accuracy);
        rule->lowest_loss = fmin(rule->lowest_loss, report->val.loss);
        rule->waiting = 0;
    } else {
        rule->waiting++;
    }
    report->patience_left = o->patience > 0 ? o->patience - rule->waiting : -1;
    report->seconds = seconds;
    if (o->on_epoch != NULL && !o->on_epoch(report, o->user))
        return false;
    if (o->patience > 0 && rule->waiting >= o->patience) {
        r->stopped_early = true;
        return false;
    }
    return true;
}

/* Whether the step's kernels run on one thread each (their work below
 * GAT_PARALLEL_MIN_WORK): the attention edges and rows of every layer
 * times its H*C. */
static bool serial_kernels(const gat_context *ctx, const gat_trainer *t)
{
    int64_t work = 0;
    for (int l = 0; l < t->model->num_layers; l++) {
        const gat_layer_config *c = &t->model->layers[l].config;
        const int64_t slots = t->family != NULL ? t->family->layers[l].edges->num_slots
                                                : t->layers[l].views->num_slots;
        work += (slots + t->num_nodes) * c->heads * c->channels;
    }
    return work < ctx->parallel_min_work;
}

/* Whether to overlap each epoch's evaluation with the next step (see
 * fit_overlapped): with a second thread, and only for problems whose
 * kernels run on one thread each; larger ones already use every thread
 * inside each kernel, and would pay for the evaluation's second set of
 * buffers. */
static bool overlapping(const gat_context *ctx, const gat_trainer *t)
{
#ifdef _OPENMP
    return ctx->num_threads >= 2 && t->family == NULL && serial_kernels(ctx, t);
#else
    (void)ctx;
    (void)t;
    return false;
#endif
}

/* Which schedule an epoch uses (see fit_overlapped). Overlapping pays only
 * while the second thread gets a core of its own: on a loaded machine it
 * waits for one at some epochs' barriers, a scheduler time slice each
 * (about 4 ms against an epoch of 1), and the serial order is faster. So
 * the fit measures: it runs SCHEDULE_PROBE epochs of each schedule first,
 * keeps the one with the lower mean epoch time (a mean, not a median: the
 * stalls are the cost), and later tries the other one again against the
 * mean of the epochs since the last choice: after SCHEDULE_INTERVAL
 * epochs, twice as long after each probe the other schedule loses (so a
 * lasting load costs a bounded fraction of probe epochs). The first epoch
 * of a run of one schedule carries the switch (a step more or less) and
 * is not counted. */
#define SCHEDULE_PROBE 8
#define SCHEDULE_INTERVAL 128
#define SCHEDULE_INTERVAL_MAX 2048

typedef struct schedule {
    bool overlap;        /* the schedule in use */
    bool probing;        /* trying the other one */
    int64_t phase_start; /* first epoch of the current run of one schedule */
    int64_t next_probe, interval;
    double kept_sum, tried_sum; /* epoch seconds counted in each */
    int64_t kept_count, tried_count;
} schedule;

/* Whether epoch overlaps. */
static bool schedule_overlap(schedule *s, int64_t epoch)
{
    if (!s->probing && epoch == s->next_probe) {
        s->probing = true;
        s->phase_start = epoch;
        s->tried_sum = 0.0;
        s->tried_count = 0;
    }
    return s->probing ? !s->overlap : s->overlap;
}

/* Records the seconds of an epoch; at the end of a probe, picks. */
static void schedule_record(schedule *s, int64_t epoch, double seconds)
{
    if (epoch == s->phase_start) /* carries the switch */
        return;
    if (!s->probing) {
        s->kept_sum += seconds;
        s->kept_count++;
        return;
    }
    s->tried_sum += seconds;
    if (++s->tried_count == SCHEDULE_PROBE - 1) {
        if (s->tried_sum / (double)s->tried_count < s->kept_sum / (double)s->kept_count) {
            s->overlap = !s->overlap;
            s->kept_sum = s->tried_sum;
            s->kept_count = s->tried_count;
            s->interval = SCHEDULE_INTERVAL;
        } else {
            s->kept_sum = 0.0; /* measured afresh until the next probe */
            s->kept_count = 0;
            if (s->interval < SCHEDULE_INTERVAL_MAX)
                s->interval *= 2;
        }
        s->probing = false;
        s->phase_start = epoch + 1;
        s->next_probe = epoch + s->interval;
    }
}

/* The same epochs as the serial loop, possibly in another order. After
 * the update of step e, the evaluation of epoch e and the forward and
 * backward of step e + 1 read the same parameters and write disjoint
 * buffers, so they can run side by side, one per thread (one parallel
 * region per epoch); the update of step e + 1 waits for both, and is not
 * made when epoch e ends the fit (its gradients are dropped, as if step
 * e + 1 had never run; an error of step e + 1 is reported only if the fit
 * goes on to it). Either way every epoch computes the same bits. */
static gat_status fit_overlapped(gat_context *ctx, gat_trainer *t, const int64_t *labels,
                                 const int64_t *train_index, int64_t train_count,
                                 const int64_t *val_index, int64_t val_count,
                                 const gat_fit_options *o, gat_fit_result *r, gat__fit_rule *rule)
{
    const gat__plan *train_plan, *val_plan;
    gat_status status;
    if ((status = gat__eval_buffers_make(ctx, t)) != GAT_OK ||
        (t->sparse && (status = gat__sparse_ahead_make(ctx, &t->sparse_x)) != GAT_OK) ||
        (status = gat__plan_for(ctx, t, train_index, train_count, &train_plan)) != GAT_OK ||
        (status = gat__plan_for(ctx, t, val_index, val_count, &val_plan)) != GAT_OK)
        return status;
    /* The first probe, serial, is measured against the first SCHEDULE_PROBE
     * epochs, overlapped. */
    schedule sched = {.overlap = true, .phase_start = 1, .next_probe = SCHEDULE_PROBE + 1,
                      .interval = SCHEDULE_INTERVAL / 2};
    gat_metrics next_train;
    gat_status next_status = GAT_OK;
    bool pending = false; /* the next step's gradients are computed */
    for (int64_t epoch = 1;; epoch++) {
        const double t0 = seconds_now();
        const bool overlap = schedule_overlap(&sched, epoch);
        /* The update, between the parallel regions, gets the second thread
         * when the schedule found it worth having. */
        t->update_team = overlap ? ctx->num_threads : 1;
        if (!pending)
            next_status = gat__step_gradients(ctx, t, train_plan, labels, train_index,
                                              train_count, &next_train);
        if ((status = next_status) != GAT_OK ||
            (status = gat_trainer_update(ctx, t)) != GAT_OK)
            break;
        gat_epoch_report report = {.epoch = epoch, .train = next_train};
        gat_status eval_status = GAT_OK;
        const bool more = epoch < o->max_epochs;
        pending = overlap && more;
        if (t->sparse) { /* read by both sections: taken once, before */
            gat__sparse_refresh_weights(ctx, &t->model->layers[0], &t->sparse_x, t->steps);
            gat__sparse_take_ahead(&t->sparse_x);
        }
        if (pending) {
#ifdef _OPENMP
#pragma omp parallel sections num_threads(2)
#endif
            {
#ifdef _OPENMP
#pragma omp section
#endif
                /* The longer section first, for the thread that is there first;
                 * sections are handed out dynamically. */
                next_status = gat__step_gradients(ctx, t, train_plan, labels, train_index,
                                                  train_count, &next_train);
#ifdef _OPENMP
#pragma omp section
#endif
                {
                    eval_status = gat__evaluate_apart(ctx, t, val_plan, labels, val_index,
                                                      val_count, &report.val);
                    /* This thread finishes first: it draws the input dropout
                     * of the step after, which the other one then need not. */
                    gat__trainer_draw_ahead(t, train_plan);
                }
            }
        } else {
            eval_status =
                gat__evaluate_apart(ctx, t, val_plan, labels, val_index, val_count, &report.val);
        }
        if ((status = eval_status) != GAT_OK)
            break;
        schedule_record(&sched, epoch, seconds_now() - t0);
        if (!end_of_epoch(t, o, rule, r, &report, t0) || !more)
            break;
    }
    t->update_team = 0;
    /* Gradients of a step the fit did not make. */
    t->have_forward = false;
    t->have_gradients = false;
    if (status == GAT_OK)
        gat__clear_message(ctx);
    return status;
}

gat_status gat__fit_options(gat_context *ctx, const gat_fit_options *options,
                            gat_fit_options *defaults)
{
    gat_fit_options_init(defaults);
    const gat_fit_options *o = options != NULL ? options : defaults;
    if (o->max_epochs < 0 || o->patience < 0)
        return gat__fail(ctx, GAT_ERR_INVALID, "fit: max_epochs %lld and patience %lld must be >= 0",
                         (long long)o->max_epochs, (long long)o->patience);
    return GAT_OK;
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
    gat_status status = gat__fit_options(ctx, options, &defaults);
    if (status != GAT_OK)
        return status;
    const gat_fit_options *o = options != NULL ? options : &defaults;
    const int64_t classes = gat_model_out_features(t->model);
    status = gat__check_targets(ctx, labels, train_index, train_count, t->num_nodes, classes);
    if (status == GAT_OK)
        status = gat__check_targets(ctx, labels, val_index, val_count, t->num_nodes, classes);
    if (status != GAT_OK)
        return status;

    gat_fit_result r = {0, 0, {INFINITY, 0.0}, false};
    gat__fit_rule rule = {0.0, INFINITY, 0};
    if (overlapping(ctx, t) && o->max_epochs > 0) {
        status = fit_overlapped(ctx, t, labels, train_index, train_count, val_index, val_count, o,
                                &r, &rule);
    } else {
        /* Where every kernel of the step runs on one thread, the update
         * does too (as in fit_overlapped's serial epochs): a second thread
         * woken for it alone each epoch waits for a core on a loaded
         * machine and then spins beside the step (Citeseer GATv2 on two
         * busy cores: 59 ms an epoch against 15). The same bits either way. */
        t->update_team = serial_kernels(ctx, t) ? 1 : 0;
        for (int64_t epoch = 1; epoch <= o->max_epochs; epoch++) {
            const double t0 = seconds_now();
            gat_epoch_report report = {.epoch = epoch};
            if ((status = gat_trainer_step(ctx, t, labels, train_index, train_count,
                                           &report.train)) != GAT_OK ||
                (status = gat_trainer_evaluate(ctx, t, labels, val_index, val_count,
                                               &report.val)) != GAT_OK)
                break;
            if (!end_of_epoch(t, o, &rule, &r, &report, t0))
                break;
        }
        t->update_team = 0;
    }
    if (r.best_epoch > 0)
        restore_parameters(t);
    if (result != NULL)
        *result = r;
    return status;
}
