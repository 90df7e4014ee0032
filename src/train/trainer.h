/* The trainer object's layout, shared by its constructor, the training
 * forward / backward, the optimizers and the early-stopping loop. */
#ifndef GAT_TRAINER_H
#define GAT_TRAINER_H

#include "train_family.h"
#include "train_kernels.h"

/* What a training forward keeps of one layer for the backward. */
typedef struct gat__layer_state {
    const float *input;   /* [N, F_l]: x, or the previous layer's (activated) output */
    float *dropped;       /* [N, F_l] input after dropout (dense inputs, rate > 0) */
    uint8_t *input_keep;  /* [N, F_l] its mask */
    bool used_dropped;    /* the last forward projected `dropped`, not `input` */
    /* [N, H*C] channel-major: element (h, c) of row n at n*H*C + c*H + h, so
     * the per-edge work over a row's heads is lane-wise (a head's dot
     * product over its channels becomes C vector multiply-adds instead of
     * a horizontal sum). Gradients and outputs stay head-major. The
     * backward overwrites it with d projected (head-major). */
    float *projected;
    /* [N, H*C] channel-major: projected after the projected-feature
     * dropout (rate > 0), what the aggregation reads; the scores are taken
     * from projected itself. Its mask [N, H*C] head-major, one byte each. */
    float *proj_dropped;
    uint8_t *proj_keep;
    bool used_proj_dropped; /* the last forward aggregated proj_dropped */
    float *score_src;     /* [N, H] */
    float *score_dst;     /* [N, H] */
    float *shift;         /* [N, H] the softmax shift of each row (see train_attention.c) */
    float *inv_sum;       /* [N, H] 1 / the row's sum of exp(e - shift) */
    uint8_t *attention_keep; /* [E'_l, B] attention-dropout mask bits (rate > 0) */
    bool used_attention_keep; /* the last forward applied it */
    float *output;        /* [N, W]: activated in place for hidden layers */
    const gat__edge_views *views; /* the attention edges under this layer's loop policy */
} gat__layer_state;

/* The options' checks (ranges, known enums); the message names the option. */
gat_status gat__trainer_check_options(gat_context *ctx, const gat_trainer_options *o);

/* A plain layer's forward state over n nodes and `slots` attention slots,
 * the buffers the options need (dense_input: its input is held dense, so
 * input dropout keeps a dropped copy; hidden: a layer before the last,
 * which owns its output). On failure what was allocated stays for
 * gat__layer_state_free. Shared with the distributed trainer (src/dist). */
gat_status gat__layer_state_alloc(gat_context *ctx, gat__layer_state *st,
                                  const gat_layer_config *c, const gat_trainer_options *o,
                                  int64_t n, int64_t slots, bool dense_input, bool hidden);
void gat__layer_state_free(const gat_allocator *a, gat__layer_state *st, bool hidden);

/* The model's parameter tensors, layer by layer in gat__tensor_kind order,
 * with grad / m / v / best for each in one zeroed slab (Adam's moments
 * start at zero). On failure *params / *slab may hold allocations. */
gat_status gat__params_create(gat_context *ctx, gat_model *model, gat__param **params,
                              int *num_params, float **slab);
/* Update number `step` (1 for the first) of params with their gradients:
 * weight decay and the optimizer; with a sparse input (sparse not NULL),
 * layer 0's weight from its pending dW^T. */
void gat__optimizer_step(gat_context *ctx, const gat_trainer_options *o, int64_t step,
                         const gat__layer *layer0, gat__sparse_input *sparse,
                         const gat__param *params, int num_params, int update_team);

/* The early-stopping rule's running state (fit.c) and the rule, applied
 * after an epoch whose step and evaluation are done (report->train,
 * report->val): keeps the parameters (best) when both the validation
 * accuracy and loss are at their best, fills the rest of the report
 * (seconds: the epoch's), calls on_epoch; false when training stops. */
typedef struct gat__fit_rule {
    double best_accuracy, lowest_loss;
    int64_t waiting;
} gat__fit_rule;
bool gat__fit_end_of_epoch(const gat__param *params, int num_params, const gat_fit_options *o,
                           gat__fit_rule *rule, gat_fit_result *r, gat_epoch_report *report,
                           double seconds);
/* Checks a fit's options (options NULL: the defaults, written to defaults). */
gat_status gat__fit_options(gat_context *ctx, const gat_fit_options *options,
                            gat_fit_options *defaults);
/* value = best for every parameter. */
void gat__params_restore(const gat__param *params, int count);

/* The rows each layer computes for a set of target nodes (train_plan.c):
 * NULL lists mean all rows. */
typedef struct gat__layer_rows {
    const gat__rows *edge;  /* E_l: the rows whose output is read */
    const gat__rows *proj;  /* P_l: E_l and its rows' sources */
    gat__rows edge_list, proj_list;
    const gat__sources *sources; /* P_l's edges into E_l (NULL: all) */
    gat__sources sources_view;
} gat__layer_rows;

typedef struct gat__plan {
    int64_t *index;          /* the targets it was built for (NULL: unused) */
    int64_t count;
    int32_t *ids;            /* storage of the lists */
    uint8_t *member;
    int64_t *source_ptr;     /* storage of the restricted views */
    int32_t *source_edges;
    gat__layer_rows *layers; /* [L] */
} gat__plan;

/* One layer's outputs of an evaluation kept apart (train_eval.c). */
typedef struct gat__layer_buffers {
    float *projected, *score_src, *score_dst, *output;
} gat__layer_buffers;

typedef struct gat__eval_buffers {
    gat__layer_buffers *layers; /* [L], NULL until first needed */
    float *storage;
    float *compact; /* gathered rows of a listed dense projection */
    int64_t compact_floats;
} gat__eval_buffers;

struct gat_trainer {
    gat_allocator allocator;
    gat_model *model;          /* borrowed */
    const gat_graph *graph;    /* borrowed */
    const float *x;            /* borrowed [N, F] */
    int64_t num_nodes, in_features;
    gat_trainer_options options;
    int64_t steps;          /* updates so far: keys the masks, Adam's bias correction */
    bool have_forward;      /* a training forward's state is kept */
    bool forward_spent;     /* a backward overwrote it (projected holds gradients) */
    bool have_gradients;    /* a backward ran since the last update */
    bool sparse;
    gat__sparse_input sparse_x;
    gat__edge_views views[2];    /* by add_self_loops: [0] false, [1] true */
    gat__layer_state *layers;    /* [L]; NULL with family */
    /* The state of a model with a layer that is not plain GATConv, or of
     * a bipartite input (train_family.h); NULL otherwise. */
    gat__trainfam *family;
    /* [num_params], layer by layer, each layer's tensors in the order of
     * gat__tensor_kind (weight, att_src, att_dst, bias for plain layers) */
    gat__param *params;
    int num_params;
    float *slab;                 /* grad, m, v, best of every parameter */
    /* [N, K] output of the last layer; as long as [N, max H*C], for the
     * backward's dyc (the logits are dead by then). */
    float *logits;
    float *d_logits;             /* [N, K] */
    /* Backward scratch, sized for the largest layer. */
    float *d_hidden[2];          /* [N, max width] ping-pong */
    float *dot, *d_score_dst;    /* [N, max H] */
    uint8_t *active;             /* [N] rows with a non-zero output gradient */
    gat__plan plans[2];          /* the last two target sets' */
    int next_plan;               /* the one to replace next */
    const gat__plan *plan;       /* the last forward's (NULL: all rows) */
    float *compact;              /* gathered rows of a listed dense projection */
    int64_t compact_floats;
    gat__eval_buffers eval;      /* a fit's evaluations beside its steps */
    float *partials;             /* block partials of the reductions over nodes */
    /* Threads of the optimizer's update, or 0 to size it by its work: a fit
     * sets it to what its measured schedule found the second thread worth. */
    int update_team;
};

/* Parameters of layer l start at params[gat__first_param(t, l)]. */
static inline int gat__layer_param_count(const gat__layer *layer)
{
    int k = 0;
    for (int kind = 0; kind < GAT__T_COUNT; kind++)
        k += *gat__layer_tensor_data((gat__layer *)layer, (gat__tensor_kind)kind) != NULL;
    return k;
}

static inline int gat__first_param(const gat_trainer *t, int layer)
{
    int k = 0;
    for (int l = 0; l < layer; l++)
        k += gat__layer_param_count(&t->model->layers[l]);
    return k;
}

/* The training forward (training: dropout on, state kept) into t->logits,
 * for the rows of t->plan (NULL: all). */
gat_status gat__trainer_forward(gat_context *ctx, gat_trainer *t, bool training);
/* Backward of sum(logits * d_logits) into the params' grads; d_x optional. */
gat_status gat__trainer_backward(gat_context *ctx, gat_trainer *t, const float *d_logits,
                                 float *d_x);
/* A training step up to its update: the training forward over plan's rows,
 * the loss over index [count] (metrics into train), its gradients.
 * GAT_ERR_NONFINITE for a non-finite loss. */
gat_status gat__step_gradients(gat_context *ctx, gat_trainer *t, const gat__plan *plan,
                               const int64_t *labels, const int64_t *index, int64_t count,
                               gat_metrics *train);

/* The first layer's sparse-input dropout of the step after the next
 * update, drawn over plan's rows ahead of time (gat__sparse_draw_ahead;
 * nothing for a dense input). */
void gat__trainer_draw_ahead(gat_trainer *t, const gat__plan *plan);

/* The plan for targets index [count] (cached, see train_plan.c). */
gat_status gat__plan_for(gat_context *ctx, gat_trainer *t, const int64_t *index, int64_t count,
                         const gat__plan **plan);
void gat__plan_free(const gat_allocator *allocator, gat__plan *plan);

/* The evaluation buffers (allocated once), and an evaluation into them
 * over plan's rows: no dropout, the training state untouched, so it may
 * run beside a training forward and backward (not beside an update). The
 * sparse input's weights must be current (gat__sparse_refresh_weights). */
gat_status gat__eval_buffers_make(gat_context *ctx, gat_trainer *t);
void gat__eval_buffers_free(const gat_allocator *allocator, gat__eval_buffers *b);
gat_status gat__evaluate_apart(gat_context *ctx, gat_trainer *t, const gat__plan *plan,
                               const int64_t *labels, const int64_t *index, int64_t count,
                               gat_metrics *metrics);

#endif
