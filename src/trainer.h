/* The trainer object's layout, shared by its constructor, the training
 * forward / backward, the optimizers and the early-stopping loop. */
#ifndef GAT_TRAINER_H
#define GAT_TRAINER_H

#include "train_kernels.h"

/* One parameter tensor and what the optimizer keeps for it. */
typedef struct gat__param {
    float *value; /* in the model */
    float *grad;  /* the rest in the trainer's slabs */
    float *m, *v; /* Adam's moments */
    float *best;  /* kept copy for early stopping */
    int64_t count;
} gat__param;

/* What a training forward keeps of one layer for the backward. */
typedef struct gat__layer_state {
    const float *input;   /* [N, F_l]: x, or the previous layer's (activated) output */
    float *dropped;       /* [N, F_l] input after dropout (dense inputs, rate > 0) */
    uint8_t *input_keep;  /* [N, F_l] its mask */
    bool used_dropped;    /* the last forward projected `dropped`, not `input` */
    float *projected;     /* [N, H*C] */
    float *score_src;     /* [N, H] */
    float *score_dst;     /* [N, H] */
    float *alpha;         /* [E'_l, H] before dropout */
    uint8_t *attention_keep; /* [E'_l, H] attention-dropout mask (rate > 0) */
    bool used_attention_keep; /* the last forward applied it */
    float *output;        /* [N, W]: activated in place for hidden layers */
    const gat__transpose *transpose;
} gat__layer_state;

struct gat_trainer {
    gat_allocator allocator;
    gat_model *model;          /* borrowed */
    const gat_graph *graph;    /* borrowed */
    const float *x;            /* borrowed [N, F] */
    int64_t num_nodes, in_features;
    gat_trainer_options options;
    int64_t steps;          /* updates so far: keys the masks, Adam's bias correction */
    bool have_forward;      /* a training forward's state is kept */
    bool have_gradients;    /* a backward ran since the last update */
    bool sparse;
    gat__sparse_input sparse_x;
    int64_t *loops_before;  /* see gat__graph_loop_prefix; NULL without input loops */
    gat__transpose transpose[2]; /* by add_self_loops: [0] false, [1] true */
    gat__layer_state *layers;    /* [L] */
    gat__param *params;          /* [num_params], layer by layer: weight, att_src, att_dst, bias */
    int num_params;
    float *slab;                 /* grad, m, v, best of every parameter */
    float *logits;               /* [N, K] output of the last layer */
    float *d_logits;             /* [N, K] */
    /* Backward scratch, sized for the largest layer. */
    float *d_hidden[2];          /* [N, max width] ping-pong */
    float *d_projected;          /* [N, max H*C] */
    float *d_score_src, *d_score_dst; /* [N, max H] */
    float *edge_grad;            /* [max E', max H] */
    float *partials;             /* block partials of the reductions over nodes */
};

/* Parameters of layer l start at params[gat__first_param(t, l)]. */
int gat__first_param(const gat_trainer *t, int layer);

/* The training forward (training: dropout on, state kept) into t->logits. */
gat_status gat__trainer_forward(gat_context *ctx, gat_trainer *t, bool training);
/* Backward of sum(logits * d_logits) into the params' grads; d_x optional. */
gat_status gat__trainer_backward(gat_context *ctx, gat_trainer *t, const float *d_logits,
                                 float *d_x);
/* Weight decay + the optimizer step over every parameter. */
void gat__optimizer_update(gat_context *ctx, gat_trainer *t);

#endif
