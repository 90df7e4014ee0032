/*
 * Gradients of the training backward against finite differences of a
 * double-precision twin.
 *
 * The twin (below) is a plain float64 forward of the same model over an
 * explicit edge list in library order (gat_graph_edges), textbook two-pass
 * softmax, with the trainer's dropout factors applied at the same places
 * (taken from the internal mask function, so dropout can be checked too).
 * The loss is L = sum(out * R) for a fixed random R, so the trainer's
 * backward starts from d_out = R. Every parameter and every input entry is
 * perturbed by +-h and the central difference (L+ - L-) / 2h compared with
 * the trainer's float32 analytic gradient.
 *
 * Tolerance: |analytic - fd| <= 2e-3 * |fd| + max(2e-4 * max|fd|, 1e-7) per
 * tensor.
 *  - fd is accurate to ~1e-9: h = 1e-5 on parameters of size ~0.5 makes the
 *    truncation error ~h^2 * L''' ~ 1e-10 and the float64 cancellation error
 *    ~1e-16 * |L| / h ~ 1e-10.
 *  - The analytic gradient is float32: every value is a sum of up to ~30
 *    products (F_in, degree, H*C), each step rounding at 2^-24 ~ 6e-8 of
 *    the terms, through two layers; gradients that come out of
 *    cancellation (softmax backward subtracts the row's weighted mean) keep
 *    an error on the scale of the terms, not of the result, hence the
 *    absolute part tied to the tensor's largest gradient. A tensor can have
 *    an exactly zero gradient (att_dst when every logit of every row has
 *    the same sign: the softmax is then blind to s_dst), where float32
 *    leaves ~1e-10 of noise; the 1e-7 floor is float32's resolution for
 *    sums of O(1) terms, as this loss's are. The worst ratio
 *    seen is printed; it stays far below 1 (~0.05), while a wrong term
 *    (e.g. a missing dropout factor or slope) gives ratios >> 1.
 *  - Points within 1e-4 of a LeakyReLU / ReLU kink would make the finite
 *    difference straddle it; the twin asserts no logit is that close. That
 *    includes exact zeros: a node whose input row is dropped out entirely
 *    has logit 0 on its self-loop, and perturbing one of its zero entries
 *    moves it off the kink in both directions.
 */
#include "dropout.h"
#include "support.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FD_STEP 1e-5
#define FD_RTOL 2e-3
#define FD_ATOL_SCALE 2e-4
#define FD_ATOL_FLOOR 1e-7
#define KINK_MARGIN 1e-4
#define MAX_LAYERS 3

typedef struct twin {
    const gat_model *model;
    gat_context *ctx;
    const gat_graph *graph;
    int64_t n;
    int layers;
    gat_activation activation;
    double *w[MAX_LAYERS], *att_src[MAX_LAYERS], *att_dst[MAX_LAYERS], *bias[MAX_LAYERS];
    gat_layer_config config[MAX_LAYERS];
    double *x;                 /* [N, F_0] */
    double *in_scale[MAX_LAYERS];  /* [N, F_l] input-dropout factors, NULL = 1 */
    double *att_scale[MAX_LAYERS]; /* [E'_l, H] attention-dropout factors */
    double *proj_scale[MAX_LAYERS]; /* [N, H*C] projected-feature dropout factors */
    double *r;                 /* [N, out] */
    double min_abs_kink;       /* smallest |logit| / |pre-activation| seen */
} twin;

static double *copy_double(const float *v, int64_t n)
{
    double *d = malloc((size_t)(n > 0 ? n : 1) * sizeof *d);
    for (int64_t k = 0; k < n; k++)
        d[k] = v[k];
    return d;
}

/* One GATConv in float64 over the library-order edges. */
static double *twin_layer(twin *tw, int l, const double *in)
{
    const gat_layer_config *c = &tw->config[l];
    const int64_t n = tw->n, f = c->in_features, heads = c->heads, ch = c->channels,
                  hc = heads * ch, width = c->concat ? hc : ch;
    const int64_t edges = gat_graph_num_attention_edges(tw->graph, c->add_self_loops);
    int64_t *src = malloc((size_t)(edges + 1) * sizeof *src);
    int64_t *dst = malloc((size_t)(edges + 1) * sizeof *dst);
    cr_assert_eq(gat_graph_edges(tw->ctx, tw->graph, c->add_self_loops, src, dst), GAT_OK);
    double *xd = malloc((size_t)(n * f) * sizeof *xd);
    for (int64_t k = 0; k < n * f; k++)
        xd[k] = in[k] * (tw->in_scale[l] ? tw->in_scale[l][k] : 1.0);
    double *h = calloc((size_t)(n * hc), sizeof *h);
    double *ss = calloc((size_t)(n * heads), sizeof *ss), *sd = calloc((size_t)(n * heads), sizeof *sd);
    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < hc; o++) {
            for (int64_t k = 0; k < f; k++)
                h[i * hc + o] += xd[i * f + k] * tw->w[l][o * f + k];
            ss[i * heads + o / ch] += h[i * hc + o] * tw->att_src[l][o];
            sd[i * heads + o / ch] += h[i * hc + o] * tw->att_dst[l][o];
        }
    double *e = malloc((size_t)(edges * heads + 1) * sizeof *e);
    double *mx = malloc((size_t)(n * heads) * sizeof *mx), *sum = calloc((size_t)(n * heads), sizeof *sum);
    for (int64_t k = 0; k < n * heads; k++)
        mx[k] = -INFINITY;
    for (int64_t p = 0; p < edges; p++)
        for (int64_t hh = 0; hh < heads; hh++) {
            double z = ss[src[p] * heads + hh] + sd[dst[p] * heads + hh];
            if (fabs(z) < tw->min_abs_kink)
                tw->min_abs_kink = fabs(z);
            z = z > 0 ? z : z * c->negative_slope;
            e[p * heads + hh] = z;
            if (z > mx[dst[p] * heads + hh])
                mx[dst[p] * heads + hh] = z;
        }
    for (int64_t p = 0; p < edges; p++)
        for (int64_t hh = 0; hh < heads; hh++) {
            e[p * heads + hh] = exp(e[p * heads + hh] - mx[dst[p] * heads + hh]);
            sum[dst[p] * heads + hh] += e[p * heads + hh];
        }
    double *out = calloc((size_t)(n * width), sizeof *out);
    for (int64_t p = 0; p < edges; p++)
        for (int64_t hh = 0; hh < heads; hh++) {
            double a = e[p * heads + hh] / sum[dst[p] * heads + hh];
            if (tw->att_scale[l])
                a *= tw->att_scale[l][p * heads + hh];
            for (int64_t q = 0; q < ch; q++) {
                /* The aggregation reads the projected features dropped out
                 * (the scores above read them as they are). */
                const int64_t o = src[p] * hc + hh * ch + q;
                double v = a * h[o] * (tw->proj_scale[l] ? tw->proj_scale[l][o] : 1.0);
                if (c->concat)
                    out[dst[p] * width + hh * ch + q] += v;
                else
                    out[dst[p] * width + q] += v / (double)heads;
            }
        }
    if (tw->bias[l] != NULL)
        for (int64_t i = 0; i < n; i++)
            for (int64_t o = 0; o < width; o++)
                out[i * width + o] += tw->bias[l][o];
    free(src), free(dst), free(xd), free(h), free(ss), free(sd), free(e), free(mx), free(sum);
    return out;
}

static double twin_loss(twin *tw)
{
    const gat_layer_config *c0 = &tw->config[0];
    double *in = malloc((size_t)(tw->n * c0->in_features) * sizeof *in);
    memcpy(in, tw->x, (size_t)(tw->n * c0->in_features) * sizeof *in);
    int64_t width = 0;
    for (int l = 0; l < tw->layers; l++) {
        double *out = twin_layer(tw, l, in);
        free(in);
        in = out;
        const gat_layer_config *c = &tw->config[l];
        width = c->concat ? c->heads * c->channels : c->channels;
        if (l + 1 < tw->layers)
            for (int64_t k = 0; k < tw->n * width; k++) {
                double v = in[k];
                if (tw->activation != GAT_ACT_NONE && fabs(v) < tw->min_abs_kink)
                    tw->min_abs_kink = fabs(v);
                if (v <= 0)
                    in[k] = tw->activation == GAT_ACT_ELU    ? expm1(v)
                            : tw->activation == GAT_ACT_RELU ? 0.0
                                                             : v;
            }
    }
    double loss = 0.0;
    for (int64_t k = 0; k < tw->n * width; k++)
        loss += in[k] * tw->r[k];
    free(in);
    return loss;
}

/* d L / d v[k] for every k, by central differences on the twin. */
static double *finite_differences(twin *tw, double *v, int64_t count)
{
    double *g = malloc((size_t)(count > 0 ? count : 1) * sizeof *g);
    for (int64_t k = 0; k < count; k++) {
        double keep = v[k];
        v[k] = keep + FD_STEP;
        double up = twin_loss(tw);
        v[k] = keep - FD_STEP;
        double down = twin_loss(tw);
        v[k] = keep;
        g[k] = (up - down) / (2 * FD_STEP);
    }
    return g;
}

static double worst_ratio = 0.0;

/* scale: a magnitude the absolute tolerance must cover besides want's own
 * (0 for none). */
static void compare(const char *what, const char *tensor, int layer, const float *got,
                    const double *want, int64_t n, double scale)
{
    double atol = fmax(FD_ATOL_SCALE * fmax(test_max_abs(want, n), scale), FD_ATOL_FLOOR);
    for (int64_t k = 0; k < n; k++) {
        double tol = atol + FD_RTOL * fabs(want[k]);
        double err = fabs((double)got[k] - want[k]);
        if (err / tol > worst_ratio)
            worst_ratio = err / tol;
        cr_assert(err <= tol,
                  "%s: layer %d %s[%lld]: analytic %.9g, finite difference %.9g (|diff| %.3g, "
                  "allowed %.3g)",
                  what, layer, tensor, (long long)k, got[k], want[k], err, tol);
    }
}

typedef struct fd_case {
    const char *name;
    int layers;
    gat_layer_config config[MAX_LAYERS];
    gat_activation activation;
    double dropout, attention_dropout, projected_dropout;
    gat_input_format input_format;
    uint64_t seed;
} fd_case;

/* 8 nodes: duplicate edges (1->0 twice, 3->2 twice), input self-loops
 * (2->2, 5->5 twice), node 7 isolated (no edge at all), node 6 only sends. */
static const int64_t fd_src[] = {1, 1, 2, 3, 3, 0, 2, 4, 5, 5, 5, 4, 6, 3, 0, 6, 1};
static const int64_t fd_dst[] = {0, 0, 2, 2, 2, 1, 1, 3, 5, 5, 4, 5, 4, 4, 3, 0, 2};
#define FD_N 8
#define FD_E ((int64_t)(sizeof fd_src / sizeof fd_src[0]))

static void run_fd_case(const fd_case *fc)
{
    gat_context_options o;
    gat_context_options_init(&o);
    o.num_threads = 2;
    gat_context *ctx = NULL;
    cr_assert_eq(gat_context_create(&ctx, &o), GAT_OK);
    test_parallel_always(ctx);
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_create(ctx, &g, FD_N, FD_E, fd_src, fd_dst), GAT_OK);
    gat_model *m = NULL;
    cr_assert_eq(gat_model_create(ctx, &m, fc->layers, fc->config, fc->activation), GAT_OK, "%s",
                 gat_context_message(ctx));
    test_randomize_model(m, 0.6f, fc->seed);
    const int64_t f0 = fc->config[0].in_features, out_w = gat_model_out_features(m);
    float *x = malloc((size_t)(FD_N * f0) * sizeof *x);
    test_fill_uniform(x, FD_N * f0, -1.0f, 1.0f, fc->seed + 100);
    if (fc->input_format == GAT_INPUT_SPARSE) /* a bag-of-words-like input: mostly zeros */
        for (int64_t k = 0; k < FD_N * f0; k++)
            if (k % 2 != 0)
                x[k] = 0.0f;
    float *r = malloc((size_t)(FD_N * out_w) * sizeof *r);
    test_fill_uniform(r, FD_N * out_w, -1.0f, 1.0f, fc->seed + 200);

    gat_trainer_options to;
    gat_trainer_options_init(&to);
    to.dropout = fc->dropout;
    to.attention_dropout = fc->attention_dropout;
    to.projected_dropout = fc->projected_dropout;
    to.seed = fc->seed;
    to.input_format = fc->input_format;
    gat_trainer *t = NULL;
    cr_assert_eq(gat_trainer_create(ctx, &t, m, g, x, FD_N, f0, &to), GAT_OK, "%s: %s", fc->name,
                 gat_context_message(ctx));
    cr_assert_eq(gat_trainer_sparse_input(t), fc->input_format == GAT_INPUT_SPARSE);
    float *out = malloc((size_t)(FD_N * out_w) * sizeof *out);
    float *dx = malloc((size_t)(FD_N * f0) * sizeof *dx);
    cr_assert_eq(gat_trainer_forward(ctx, t, true, out), GAT_OK, "%s", gat_context_message(ctx));
    cr_assert_eq(gat_trainer_backward(ctx, t, r, dx), GAT_OK, "%s", gat_context_message(ctx));

    twin tw = {.model = m, .ctx = ctx, .graph = g, .n = FD_N, .layers = fc->layers,
               .activation = fc->activation, .min_abs_kink = INFINITY};
    tw.x = copy_double(x, FD_N * f0);
    tw.r = copy_double(r, FD_N * out_w);
    for (int l = 0; l < fc->layers; l++) {
        gat_layer_params p;
        gat_model_layer_params(m, l, &p);
        gat_layer_config c = fc->config[l];
        tw.config[l] = c;
        const int64_t hc = c.heads * c.channels;
        tw.w[l] = copy_double(p.weight, hc * c.in_features);
        tw.att_src[l] = copy_double(p.att_src, hc);
        tw.att_dst[l] = copy_double(p.att_dst, hc);
        tw.bias[l] = p.bias ? copy_double(p.bias, c.concat ? hc : c.channels) : NULL;
        /* The trainer's masks at step 0 (the forward above ran before any update). */
        gat__dropout din = gat__dropout_make(fc->seed, 0, l, GAT__DROP_INPUT, (float)fc->dropout);
        gat__dropout datt = gat__dropout_make(fc->seed, 0, l, GAT__DROP_ATTENTION,
                                              (float)fc->attention_dropout);
        if (gat__dropout_active(&din)) {
            tw.in_scale[l] = malloc((size_t)(FD_N * c.in_features) * sizeof(double));
            for (int64_t k = 0; k < FD_N * c.in_features; k++)
                tw.in_scale[l][k] = gat__dropout_scale(&din, (uint64_t)k);
        }
        if (gat__dropout_active(&datt)) {
            int64_t ev = gat_graph_num_attention_edges(g, c.add_self_loops) * c.heads;
            tw.att_scale[l] = malloc((size_t)ev * sizeof(double));
            for (int64_t k = 0; k < ev; k++)
                tw.att_scale[l][k] = gat__dropout_scale(&datt, (uint64_t)k);
        }
        gat__dropout dproj = gat__dropout_make(fc->seed, 0, l, GAT__DROP_PROJECTED,
                                               (float)fc->projected_dropout);
        if (gat__dropout_active(&dproj)) {
            /* element = node * H*C + head * C + channel, PyG's layout */
            tw.proj_scale[l] = malloc((size_t)(FD_N * hc) * sizeof(double));
            for (int64_t k = 0; k < FD_N * hc; k++)
                tw.proj_scale[l][k] = gat__dropout_scale(&dproj, (uint64_t)k);
        }
    }
    /* The twin's output against the trainer's forward, as a sanity check
     * that both compute the same function (the same masks included). */
    {
        double loss = twin_loss(&tw), got = 0.0;
        for (int64_t k = 0; k < FD_N * out_w; k++)
            got += (double)out[k] * tw.r[k];
        cr_assert(fabs(got - loss) <= 1e-4 * (1.0 + fabs(loss)),
                  "%s: trainer forward gives loss %.9g, twin %.9g", fc->name, got, loss);
    }
    cr_assert(tw.min_abs_kink > KINK_MARGIN,
              "%s: a logit or activation input is %.3g from a kink: pick another seed",
              fc->name, tw.min_abs_kink);

    for (int l = 0; l < fc->layers; l++) {
        gat_layer_params grad;
        cr_assert_eq(gat_trainer_gradients(t, l, &grad), GAT_OK);
        const gat_layer_config *c = &tw.config[l];
        const int64_t hc = c->heads * c->channels;
        double *fd = finite_differences(&tw, tw.w[l], hc * c->in_features);
        compare(fc->name, "lin.weight", l, grad.weight, fd, hc * c->in_features, 0.0);
        free(fd);
        fd = finite_differences(&tw, tw.att_src[l], hc);
        compare(fc->name, "att_src", l, grad.att_src, fd, hc, 0.0);
        /* d/d att_dst sums per-edge terms of d/d att_src's size that cancel
         * exactly where a row's logits share a sign (s_dst then shifts the
         * whole row's softmax): the true value can be 0 while float32 keeps
         * rounding of those terms' size, so they set the tolerance's scale. */
        const double att_scale = test_max_abs(fd, hc);
        free(fd);
        fd = finite_differences(&tw, tw.att_dst[l], hc);
        compare(fc->name, "att_dst", l, grad.att_dst, fd, hc, att_scale);
        free(fd);
        if (tw.bias[l] != NULL) {
            int64_t w = c->concat ? hc : c->channels;
            fd = finite_differences(&tw, tw.bias[l], w);
            compare(fc->name, "bias", l, grad.bias, fd, w, 0.0);
            free(fd);
        } else {
            cr_assert_null(grad.bias);
        }
    }
    double *fdx = finite_differences(&tw, tw.x, FD_N * f0);
    compare(fc->name, "x", 0, dx, fdx, FD_N * f0, 0.0);
    free(fdx);
    cr_log_info("%s: worst |analytic - fd| / tolerance %.3f", fc->name, worst_ratio);

    for (int l = 0; l < fc->layers; l++) {
        free(tw.w[l]), free(tw.att_src[l]), free(tw.att_dst[l]), free(tw.bias[l]);
        free(tw.in_scale[l]), free(tw.att_scale[l]), free(tw.proj_scale[l]);
    }
    free(tw.x), free(tw.r), free(x), free(r), free(out), free(dx);
    gat_trainer_destroy(&t);
    cr_assert_null(t);
    gat_model_destroy(&m);
    gat_graph_destroy(&g);
    gat_context_destroy(&ctx);
}

static gat_layer_config layer(int64_t f, int64_t heads, int64_t channels, bool concat)
{
    gat_layer_config c;
    gat_layer_config_init(&c, f, heads, channels);
    c.concat = concat;
    return c;
}

Test(backward, one_layer_concat_with_duplicates_loops_and_isolated_nodes)
{
    fd_case fc = {"one layer concat", 1, {layer(5, 2, 3, true)}, GAT_ACT_ELU, 0, 0, 0,
                  GAT_INPUT_DENSE, 20};
    run_fd_case(&fc);
}

Test(backward, one_layer_mean_over_heads)
{
    fd_case fc = {"one layer mean", 1, {layer(5, 3, 2, false)}, GAT_ACT_ELU, 0, 0, 0,
                  GAT_INPUT_DENSE, 12};
    run_fd_case(&fc);
}

Test(backward, two_layers_elu_concat_then_mean)
{
    fd_case fc = {"two layers ELU", 2, {layer(4, 2, 3, true), layer(6, 2, 3, false)},
                  GAT_ACT_ELU, 0, 0, 0, GAT_INPUT_DENSE, 13};
    run_fd_case(&fc);
}

Test(backward, without_added_self_loops_empty_rows_and_no_bias)
{
    fd_case fc = {"loops as given, no bias", 2, {layer(4, 2, 2, true), layer(4, 1, 3, true)},
                  GAT_ACT_RELU, 0, 0, 0, GAT_INPUT_DENSE, 14};
    fc.config[0].add_self_loops = false;
    fc.config[1].add_self_loops = false;
    fc.config[1].bias = false;
    fc.config[0].negative_slope = 0.1f;
    run_fd_case(&fc);
}

Test(backward, mixed_self_loop_policies_three_layers)
{
    fd_case fc = {"three layers, mixed loops", 3,
                  {layer(3, 2, 2, true), layer(4, 3, 2, false), layer(2, 2, 2, true)},
                  GAT_ACT_ELU, 0, 0, 0, GAT_INPUT_DENSE, 28};
    fc.config[1].add_self_loops = false;
    run_fd_case(&fc);
}

Test(backward, through_input_and_attention_dropout)
{
    fd_case fc = {"dropout", 2, {layer(5, 2, 3, true), layer(6, 2, 2, false)}, GAT_ACT_ELU,
                  0.3, 0.4, 0, GAT_INPUT_DENSE, 30};
    run_fd_case(&fc);
}

Test(backward, sparse_input_with_dropout)
{
    fd_case fc = {"sparse input", 2, {layer(6, 2, 3, true), layer(6, 1, 3, true)}, GAT_ACT_ELU,
                  0.3, 0.4, 0, GAT_INPUT_SPARSE, 18};
    run_fd_case(&fc);
}

/* The shapes the training kernels are compiled for with constant heads and
 * channels (src/train_shapes.h), each instantiation checked on its own:
 * the paper's 8 x 8 hidden layer with the Cora, Citeseer and Pubmed output
 * layers, and the other listed shapes, with and without dropout. */
Test(backward, fixed_shapes_paper_presets)
{
    fd_case cora = {"8x8 -> 1x7", 2, {layer(5, 8, 8, true), layer(64, 1, 7, false)},
                    GAT_ACT_ELU, 0.3, 0.4, 0, GAT_INPUT_SPARSE, 49};
    run_fd_case(&cora);
    fd_case citeseer = {"8x8 -> 1x6", 2, {layer(4, 8, 8, true), layer(64, 1, 6, false)},
                        GAT_ACT_ELU, 0, 0, 0, GAT_INPUT_DENSE, 41};
    run_fd_case(&citeseer);
    fd_case pubmed = {"8x8 -> 8x3 mean", 2, {layer(4, 8, 8, true), layer(64, 8, 3, false)},
                      GAT_ACT_ELU, 0.3, 0.4, 0, GAT_INPUT_DENSE, 42};
    run_fd_case(&pubmed);
}

Test(backward, fixed_shapes_others)
{
    fd_case a = {"8x16 -> 1x8", 2, {layer(3, 8, 16, true), layer(128, 1, 8, true)},
                 GAT_ACT_ELU, 0.3, 0.4, 0, GAT_INPUT_DENSE, 43};
    run_fd_case(&a);
    fd_case b = {"4x16 -> 1x16 -> 1x3", 3,
                 {layer(3, 4, 16, true), layer(64, 1, 16, false), layer(16, 1, 3, true)},
                 GAT_ACT_ELU, 0, 0.4, 0, GAT_INPUT_DENSE, 44};
    run_fd_case(&b);
}

/* The GAT authors' dropout of the projected features (trainer option
 * projected_dropout): the aggregation reads them dropped out, the scores
 * as they are, so d projected has a masked path and an unmasked one. With
 * the other two dropouts, alone, through a sparse input, and at the
 * paper's Citeseer and Pubmed shapes (fixed-shape kernels). */
Test(backward, through_projected_feature_dropout)
{
    fd_case all = {"projected dropout, all three", 2,
                   {layer(5, 2, 3, true), layer(6, 2, 2, false)}, GAT_ACT_ELU, 0.3, 0.4, 0.5,
                   GAT_INPUT_DENSE, 30};
    run_fd_case(&all);
    fd_case alone = {"projected dropout alone, three layers", 3,
                     {layer(3, 2, 2, true), layer(4, 3, 2, false), layer(2, 2, 2, true)},
                     GAT_ACT_ELU, 0, 0, 0.6, GAT_INPUT_DENSE, 28};
    alone.config[1].add_self_loops = false;
    run_fd_case(&alone);
    fd_case sparse = {"projected dropout, sparse input", 2,
                      {layer(6, 2, 3, true), layer(6, 1, 3, true)}, GAT_ACT_ELU, 0.3, 0.4, 0.4,
                      GAT_INPUT_SPARSE, 18};
    run_fd_case(&sparse);
}

Test(backward, projected_feature_dropout_fixed_shapes)
{
    fd_case citeseer = {"projected dropout 8x8 -> 1x6", 2,
                        {layer(4, 8, 8, true), layer(64, 1, 6, false)}, GAT_ACT_ELU, 0.3,
                        0.4, 0.6, GAT_INPUT_SPARSE, 48};
    run_fd_case(&citeseer);
    fd_case pubmed = {"projected dropout 8x8 -> 8x3 mean", 2,
                      {layer(4, 8, 8, true), layer(64, 8, 3, false)}, GAT_ACT_ELU, 0.3, 0.4,
                      0.6, GAT_INPUT_DENSE, 42};
    run_fd_case(&pubmed);
}
