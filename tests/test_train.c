/*
 * Training: gradients and Adam against PyTorch autograd (stored references),
 * bitwise reproducibility across thread counts, dropout masks, the
 * early-stopping rule, option and argument errors, allocation failures.
 */
#include "support.h"
#include "train_kernels.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRAIN_DIR GAT_TEST_DATA "/train"

static gat_context *make_ctx(int threads)
{
    gat_context *ctx = test_context(threads, NULL);
    test_parallel_always(ctx);
    return ctx;
}

/* ---------------------------------------------------------------------- */
/* Against PyTorch (tools/make_train_reference.py)                         */
/* ---------------------------------------------------------------------- */

/* Gradient tolerance: |got - want| <= 1e-3 |want| + max(1e-4 max|want|, 1e-7)
 * per tensor. The reference is float64 autograd on the same float32 inputs;
 * the library is float32 throughout, with sums of up to ~40 terms per value
 * (F_in, degrees, H*C, training nodes) through 2-3 layers: ~1e-6 relative
 * error of the terms, which cancellation (softmax and log-softmax subtract
 * means) turns into absolute error on the tensor's scale. 1e-3 / 1e-4 keeps
 * a wide margin (the worst seen ratio is logged) while a wrong term is off
 * by O(1). The floor covers exactly-zero gradients (weight columns of
 * all-zero features). */
#define REF_RTOL 1e-3
#define REF_ATOL_SCALE 1e-4
#define REF_ATOL_FLOOR 1e-7

static void path_of(char *buf, size_t size, const char *name, const char *file)
{
    int len = snprintf(buf, size, "%s/%s/%s", TRAIN_DIR, name, file);
    cr_assert(len > 0 && (size_t)len < size);
}

static gat_array *load_npy(gat_context *ctx, const char *name, const char *file, gat_dtype dt)
{
    char path[1024];
    path_of(path, sizeof path, name, file);
    gat_array *a = NULL;
    cr_assert_eq(gat_npy_read(ctx, path, dt, &a), GAT_OK, "%s", gat_context_message(ctx));
    return a;
}

static gat_model *load_model(gat_context *ctx, const char *name, const char *file)
{
    char path[1024];
    path_of(path, sizeof path, name, file);
    gat_model *m = NULL;
    cr_assert_eq(gat_model_load(ctx, &m, path), GAT_OK, "%s", gat_context_message(ctx));
    return m;
}

static double compare_tensor(const char *what, const float *got, const float *want, int64_t n)
{
    double scale = 0.0, worst = 0.0;
    for (int64_t k = 0; k < n; k++)
        scale = fmax(scale, fabs((double)want[k]));
    double atol = fmax(REF_ATOL_SCALE * scale, REF_ATOL_FLOOR);
    for (int64_t k = 0; k < n; k++) {
        double tol = atol + REF_RTOL * fabs((double)want[k]);
        double err = fabs((double)got[k] - (double)want[k]);
        worst = fmax(worst, err / tol);
        cr_assert(err <= tol, "%s[%lld]: got %.9g, PyTorch %.9g (|diff| %.3g, allowed %.3g)",
                  what, (long long)k, got[k], want[k], err, tol);
    }
    return worst;
}

typedef struct ref_case {
    char name[64];
} ref_case;

static int read_cases(ref_case *cases, int max)
{
    FILE *fh = fopen(TRAIN_DIR "/cases.txt", "r");
    cr_assert_not_null(fh, "cannot open %s/cases.txt", TRAIN_DIR);
    int n = 0;
    char line[128];
    while (n < max && fgets(line, sizeof line, fh) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] != '\0' && line[0] != '#')
            snprintf(cases[n++].name, sizeof cases[0].name, "%.63s", line);
    }
    fclose(fh);
    return n;
}

static void run_reference_case(const char *name, gat_input_format format)
{
    gat_context *ctx = make_ctx(2);
    char path[1024];
    path_of(path, sizeof path, name, "hyper.txt");
    FILE *fh = fopen(path, "r");
    cr_assert_not_null(fh);
    /* "lr wd", then "projected_dropout seed" for the case with the authors'
     * projected-feature dropout (the script draws libgat's masks). */
    double lr = 0, wd = 0, projected = 0;
    unsigned long long seed = 0;
    const int fields = fscanf(fh, "%lf %lf %lf %llu", &lr, &wd, &projected, &seed);
    cr_assert(fields == 2 || fields == 4, "%s: hyper.txt has %d fields", name, fields);
    fclose(fh);
    gat_array *x = load_npy(ctx, name, "x.npy", GAT_FLOAT32);
    gat_array *labels = load_npy(ctx, name, "labels.npy", GAT_INT64);
    gat_array *train = load_npy(ctx, name, "train.npy", GAT_INT64);
    gat_array *losses = load_npy(ctx, name, "loss.npy", GAT_FLOAT32);
    gat_array *want_dx = load_npy(ctx, name, "dx.npy", GAT_FLOAT32);
    const int64_t n = x->shape[0], f = x->shape[1], count = train->shape[0];
    path_of(path, sizeof path, name, "edges.txt");
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_read_edgelist(ctx, &g, path, n), GAT_OK, "%s", gat_context_message(ctx));
    gat_model *m = load_model(ctx, name, "model.safetensors");
    gat_model *want_grad = load_model(ctx, name, "grads.safetensors");
    gat_model *want_after = load_model(ctx, name, "adam1.safetensors");
    gat_model *before = load_model(ctx, name, "model.safetensors");

    gat_trainer_options o;
    gat_trainer_options_init(&o);
    o.learning_rate = lr;
    o.weight_decay = wd;
    o.projected_dropout = projected;
    o.seed = seed;
    o.input_format = format;
    gat_trainer *t = NULL;
    cr_assert_eq(gat_trainer_create(ctx, &t, m, g, x->data, n, f, &o), GAT_OK, "%s",
                 gat_context_message(ctx));
    const int64_t classes = gat_model_out_features(m);
    float *out = malloc((size_t)(n * classes) * sizeof *out);
    float *d_out = malloc((size_t)(n * classes) * sizeof *d_out);
    float *dx = malloc((size_t)(n * f) * sizeof *dx);
    const int64_t *y = labels->data, *idx = train->data;

    /* Step 1 piece by piece, to see the gradients before the update. */
    cr_assert_eq(gat_trainer_forward(ctx, t, true, out), GAT_OK);
    gat_metrics metrics;
    gat__nll_forward_backward(out, classes, y, idx, count, &metrics, d_out, n);
    const float *want_loss = losses->data;
    cr_assert(fabs(metrics.loss - want_loss[0]) <= 1e-5 * fabs(want_loss[0]),
              "%s: loss %.9g, PyTorch %.9g", name, metrics.loss, want_loss[0]);
    cr_assert_eq(gat_trainer_backward(ctx, t, d_out, dx), GAT_OK, "%s", gat_context_message(ctx));
    double worst = compare_tensor("dx", dx, want_dx->data, n * f);
    char what[128];
    for (int l = 0; l < gat_model_num_layers(m); l++) {
        gat_layer_params got, want;
        gat_layer_config c;
        gat_model_layer_config(m, l, &c);
        gat_trainer_gradients(t, l, &got);
        gat_model_layer_params(want_grad, l, &want);
        const int64_t hc = c.heads * c.channels;
        snprintf(what, sizeof what, "%s: layer %d d lin.weight", name, l);
        worst = fmax(worst, compare_tensor(what, got.weight, want.weight, hc * c.in_features));
        snprintf(what, sizeof what, "%s: layer %d d att_src", name, l);
        worst = fmax(worst, compare_tensor(what, got.att_src, want.att_src, hc));
        snprintf(what, sizeof what, "%s: layer %d d att_dst", name, l);
        worst = fmax(worst, compare_tensor(what, got.att_dst, want.att_dst, hc));
        if (c.bias) {
            snprintf(what, sizeof what, "%s: layer %d d bias", name, l);
            worst = fmax(worst, compare_tensor(what, got.bias, want.bias,
                                               c.concat ? hc : c.channels));
        }
    }
    cr_log_info("%s (%s input): worst |diff| / tolerance of the gradients %.3f", name,
                format == GAT_INPUT_SPARSE ? "sparse" : "dense", worst);

    /* One Adam step. After one step Adam moves every parameter by about
     * lr * g / (|g| + eps), i.e. lr * sign(g): where the gradient (weight
     * decay included) is well away from zero, float32 must match to
     * rounding (1e-6 relative + 1e-4 lr); where |g| < 1e-4 a float32 error
     * of ~1e-7 in g can move the step anywhere in [-lr, lr], so only that
     * bound is checked. Most parameters are of the first kind (asserted). */
    cr_assert_eq(gat_trainer_update(ctx, t), GAT_OK);
    int64_t checked = 0, total = 0;
    for (int l = 0; l < gat_model_num_layers(m); l++) {
        gat_layer_params p, p0, pw, g;
        gat_layer_config c;
        gat_model_layer_config(m, l, &c);
        gat_model_layer_params(m, l, &p);
        gat_model_layer_params(before, l, &p0);
        gat_model_layer_params(want_after, l, &pw);
        gat_model_layer_params(want_grad, l, &g);
        const int64_t hc = c.heads * c.channels;
        const float *got[4] = {p.weight, p.att_src, p.att_dst, p.bias};
        const float *start[4] = {p0.weight, p0.att_src, p0.att_dst, p0.bias};
        const float *want[4] = {pw.weight, pw.att_src, pw.att_dst, pw.bias};
        const float *grad[4] = {g.weight, g.att_src, g.att_dst, g.bias};
        const int64_t counts[4] = {hc * c.in_features, hc, hc, c.concat ? hc : c.channels};
        for (int k = 0; k < (c.bias ? 4 : 3); k++)
            for (int64_t e = 0; e < counts[k]; e++) {
                double gt = (double)grad[k][e] + wd * (double)start[k][e];
                double err = fabs((double)got[k][e] - (double)want[k][e]);
                total++;
                if (fabs(gt) >= 1e-4) {
                    checked++;
                    cr_assert(err <= 1e-6 * fabs((double)want[k][e]) + 1e-4 * lr,
                              "%s: layer %d tensor %d [%lld] after Adam: %.9g, PyTorch %.9g", name,
                              l, k, (long long)e, got[k][e], want[k][e]);
                } else {
                    cr_assert(err <= 2 * lr + 1e-6);
                }
            }
    }
    cr_assert(checked >= total * 8 / 10, "%s: only %lld of %lld parameters well conditioned",
              name, (long long)checked, (long long)total);

    /* Two more full steps: the losses follow PyTorch's (Adam's moments and
     * bias corrections accumulate right). */
    for (int s = 1; s < 3; s++) {
        cr_assert_eq(gat_trainer_step(ctx, t, y, idx, count, &metrics), GAT_OK);
        cr_assert(fabs(metrics.loss - want_loss[s]) <= 1e-4 * fabs(want_loss[s]),
                  "%s: loss at step %d %.9g, PyTorch %.9g", name, s + 1, metrics.loss,
                  want_loss[s]);
    }
    cr_assert_eq(gat_trainer_steps(t), 3);

    free(out), free(d_out), free(dx);
    gat_trainer_destroy(&t);
    gat_model_destroy(&m);
    gat_model_destroy(&want_grad);
    gat_model_destroy(&want_after);
    gat_model_destroy(&before);
    gat_graph_destroy(&g);
    gat_array_destroy(&x);
    gat_array_destroy(&labels);
    gat_array_destroy(&train);
    gat_array_destroy(&losses);
    gat_array_destroy(&want_dx);
    gat_context_destroy(&ctx);
}

Test(train, pytorch_reference_dense_input)
{
    ref_case cases[16];
    int n = read_cases(cases, 16);
    cr_assert(n >= 4, "expected the reference cases in %s", TRAIN_DIR);
    for (int k = 0; k < n; k++)
        run_reference_case(cases[k].name, GAT_INPUT_DENSE);
}

Test(train, pytorch_reference_sparse_input)
{
    ref_case cases[16];
    int n = read_cases(cases, 16);
    cr_assert(n >= 4);
    for (int k = 0; k < n; k++)
        run_reference_case(cases[k].name, GAT_INPUT_SPARSE);
}

/* ---------------------------------------------------------------------- */
/* A synthetic classification task                                         */
/* ---------------------------------------------------------------------- */

/* N nodes in K communities; edges mostly inside a community; bag-of-words
 * features: a few words typical of the community plus noise words. */
typedef struct task {
    int64_t n, f, k, edges;
    int64_t *src, *dst, *labels, *train, *val;
    int64_t num_train, num_val;
    float *x;
} task;

static task make_task(int64_t n, int64_t f, int64_t k, uint64_t seed)
{
    task t = {.n = n, .f = f, .k = k, .edges = 4 * n};
    uint64_t s = seed;
    t.src = malloc((size_t)t.edges * sizeof(int64_t));
    t.dst = malloc((size_t)t.edges * sizeof(int64_t));
    t.labels = malloc((size_t)n * sizeof(int64_t));
    t.x = calloc((size_t)(n * f), sizeof(float));
    for (int64_t i = 0; i < n; i++)
        t.labels[i] = (int64_t)(test_next(&s) % (uint64_t)k);
    for (int64_t e = 0; e < t.edges; e++) {
        int64_t a = (int64_t)(test_next(&s) % (uint64_t)n), b;
        do
            b = (int64_t)(test_next(&s) % (uint64_t)n);
        while ((test_next(&s) % 5 != 0) && t.labels[b] != t.labels[a]);
        t.src[e] = a;
        t.dst[e] = b;
    }
    for (int64_t i = 0; i < n; i++)
        for (int w = 0; w < 4; w++) {
            uint64_t r = test_next(&s);
            /* 3 in 4 words point at the community (which owns f/k words), the rest are noise */
            int64_t word = r % 4 ? (t.labels[i] * (f / k) + (int64_t)((r >> 8) % (uint64_t)(f / k)))
                                 : (int64_t)((r >> 8) % (uint64_t)f);
            t.x[i * f + word] = 1.0f;
        }
    t.num_train = n / 5;
    t.num_val = n / 5;
    t.train = malloc((size_t)t.num_train * sizeof(int64_t));
    t.val = malloc((size_t)t.num_val * sizeof(int64_t));
    for (int64_t i = 0; i < t.num_train; i++)
        t.train[i] = i;
    for (int64_t i = 0; i < t.num_val; i++)
        t.val[i] = t.num_train + i;
    return t;
}

static void free_task(task *t)
{
    free(t->src), free(t->dst), free(t->labels), free(t->x), free(t->train), free(t->val);
}

static gat_model *paper_model(gat_context *ctx, int64_t f, int64_t classes, uint64_t seed)
{
    gat_layer_config c[2];
    gat_layer_config_init(&c[0], f, 4, 4);
    gat_layer_config_init(&c[1], 16, 1, classes);
    c[1].concat = false;
    gat_model *m = NULL;
    cr_assert_eq(gat_model_create(ctx, &m, 2, c, GAT_ACT_ELU), GAT_OK);
    cr_assert_eq(gat_model_init_glorot(ctx, m, seed), GAT_OK);
    return m;
}

/* Trains for `epochs` steps with dropout (projected: the projected-feature
 * rate) at `threads` threads; returns the losses and the final parameters
 * of layer 0's weight and layer 1's bias. */
static void train_run(const task *tk, int threads, gat_input_format format, double projected,
                      int epochs, double *losses, float *weight, float *bias)
{
    gat_context *ctx = make_ctx(threads);
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_create(ctx, &g, tk->n, tk->edges, tk->src, tk->dst), GAT_OK);
    gat_model *m = paper_model(ctx, tk->f, tk->k, 5);
    gat_trainer_options o;
    gat_trainer_options_init(&o);
    o.dropout = 0.6;
    o.attention_dropout = 0.6;
    o.projected_dropout = projected;
    o.weight_decay = 5e-4;
    o.seed = 99;
    o.input_format = format;
    gat_trainer *t = NULL;
    cr_assert_eq(gat_trainer_create(ctx, &t, m, g, tk->x, tk->n, tk->f, &o), GAT_OK, "%s",
                 gat_context_message(ctx));
    for (int e = 0; e < epochs; e++) {
        gat_metrics mt;
        cr_assert_eq(gat_trainer_step(ctx, t, tk->labels, tk->train, tk->num_train, &mt), GAT_OK,
                     "%s", gat_context_message(ctx));
        losses[e] = mt.loss;
    }
    gat_layer_params p0, p1;
    gat_model_layer_params(m, 0, &p0);
    gat_model_layer_params(m, 1, &p1);
    memcpy(weight, p0.weight, (size_t)(16 * tk->f) * sizeof *weight);
    memcpy(bias, p1.bias, (size_t)tk->k * sizeof *bias);
    gat_trainer_destroy(&t);
    gat_model_destroy(&m);
    gat_graph_destroy(&g);
    gat_context_destroy(&ctx);
}

static void same_bits_at_any_thread_count(double projected)
{
    /* 700 nodes: several reduction blocks and dW chunks, so a
     * thread-dependent summation order would show. */
    task tk = make_task(700, 60, 4, 3);
    enum { EPOCHS = 15 };
    for (int fmt = 0; fmt < 2; fmt++) {
        gat_input_format format = fmt ? GAT_INPUT_SPARSE : GAT_INPUT_DENSE;
        double ref_loss[EPOCHS], loss[EPOCHS];
        float *ref_w = malloc((size_t)(16 * tk.f) * sizeof(float)), ref_b[4];
        float *w = malloc((size_t)(16 * tk.f) * sizeof(float)), b[4];
        train_run(&tk, 1, format, projected, EPOCHS, ref_loss, ref_w, ref_b);
        for (int threads = 2; threads <= 3; threads++) {
            train_run(&tk, threads, format, projected, EPOCHS, loss, w, b);
            for (int e = 0; e < EPOCHS; e++)
                cr_assert(memcmp(&loss[e], &ref_loss[e], sizeof(double)) == 0,
                          "%s input, %d threads: loss at epoch %d is %.17g, 1 thread %.17g",
                          fmt ? "sparse" : "dense", threads, e + 1, loss[e], ref_loss[e]);
            cr_assert(memcmp(w, ref_w, (size_t)(16 * tk.f) * sizeof(float)) == 0,
                      "%d threads: layer 0 weights differ from 1 thread", threads);
            cr_assert(memcmp(b, ref_b, sizeof b) == 0);
        }
        cr_assert(ref_loss[EPOCHS - 1] < ref_loss[0], "the loss did not go down: %g -> %g",
                  ref_loss[0], ref_loss[EPOCHS - 1]);
        free(ref_w), free(w);
    }
    free_task(&tk);
}

Test(train, same_loss_curve_bits_at_any_thread_count) { same_bits_at_any_thread_count(0.0); }

/* The projected-feature dropout's masks are keyed by element, not by
 * thread: the same loss curve and parameters at 1, 2 and 3 threads. */
Test(train, same_loss_curve_bits_at_any_thread_count_with_projected_dropout)
{
    same_bits_at_any_thread_count(0.6);
}

/* A step computes only the receptive field of its nodes (train_plan.c);
 * that must be the step a full forward and backward make. The logits the
 * loss reads are the same bits (the built-in GEMM sums each row the same
 * way for any set of rows); the gradients agree to rounding (dW of the
 * dense layer goes through BLAS over fewer rows). */
Test(train, a_step_on_few_nodes_is_the_full_step)
{
    task tk = make_task(600, 50, 4, 17);
    for (int run = 0; run < 4; run++) {
        const int fmt = run % 2;
        const double projected = run < 2 ? 0.0 : 0.5; /* the listed rows' masks too */
        gat_context_options co;
        gat_context_options_init(&co);
        co.num_threads = 2;
        co.gemm = GAT_GEMM_BUILTIN;
        gat_context *ctx = NULL;
        cr_assert_eq(gat_context_create(&ctx, &co), GAT_OK);
        test_parallel_always(ctx);
        gat_graph *g = NULL;
        cr_assert_eq(gat_graph_create(ctx, &g, tk.n, tk.edges, tk.src, tk.dst), GAT_OK);
        gat_model *full_m = paper_model(ctx, tk.f, tk.k, 9), *few_m = paper_model(ctx, tk.f, tk.k, 9);
        gat_trainer_options o;
        gat_trainer_options_init(&o);
        o.dropout = 0.5;
        o.attention_dropout = 0.5;
        o.projected_dropout = projected;
        o.seed = 3;
        o.input_format = fmt ? GAT_INPUT_SPARSE : GAT_INPUT_DENSE;
        gat_trainer *full = NULL, *few = NULL;
        cr_assert_eq(gat_trainer_create(ctx, &full, full_m, g, tk.x, tk.n, tk.f, &o), GAT_OK);
        cr_assert_eq(gat_trainer_create(ctx, &few, few_m, g, tk.x, tk.n, tk.f, &o), GAT_OK);
        /* 40 training nodes: a receptive field well short of every node. */
        const int64_t count = 40;
        /* The full step by hand: every logit, then the loss's gradient. */
        float *out = malloc((size_t)(tk.n * tk.k) * sizeof *out);
        float *d_out = calloc((size_t)(tk.n * tk.k), sizeof *d_out);
        cr_assert_eq(gat_trainer_forward(ctx, full, true, out), GAT_OK);
        gat_metrics by_hand;
        gat__nll_forward_backward(out, tk.k, tk.labels, tk.train, count, &by_hand, d_out, tk.n);
        cr_assert_eq(gat_trainer_backward(ctx, full, d_out, NULL), GAT_OK);
        gat_metrics step;
        cr_assert_eq(gat_trainer_step(ctx, few, tk.labels, tk.train, count, &step), GAT_OK, "%s",
                     gat_context_message(ctx));
        cr_assert(memcmp(&step.loss, &by_hand.loss, sizeof step.loss) == 0,
                  "%s input, projected dropout %g: step loss %.17g, full forward %.17g",
                  fmt ? "sparse" : "dense", projected, step.loss, by_hand.loss);
        for (int l = 0; l < 2; l++) {
            gat_layer_params a, b;
            gat_layer_config c;
            gat_model_layer_config(full_m, l, &c);
            cr_assert_eq(gat_trainer_gradients(full, l, &a), GAT_OK);
            cr_assert_eq(gat_trainer_gradients(few, l, &b), GAT_OK);
            const int64_t hc = c.heads * c.channels;
            const struct { const char *name; const float *want, *got; int64_t n; } t[] = {
                {"weight", a.weight, b.weight, hc * c.in_features},
                {"att_src", a.att_src, b.att_src, hc},
                {"att_dst", a.att_dst, b.att_dst, hc},
                {"bias", a.bias, b.bias, c.concat ? hc : c.channels}};
            for (int k = 0; k < 4; k++) {
                double scale = 0.0;
                for (int64_t e = 0; e < t[k].n; e++)
                    scale = fmax(scale, fabs((double)t[k].want[e]));
                for (int64_t e = 0; e < t[k].n; e++)
                    cr_assert(fabs((double)t[k].got[e] - t[k].want[e]) <=
                                  1e-5 * fabs((double)t[k].want[e]) + 1e-6 * scale,
                              "%s input, projected dropout %g, layer %d %s[%lld]: step %.9g, "
                              "full %.9g", fmt ? "sparse" : "dense", projected, l, t[k].name,
                              (long long)e, t[k].got[e], t[k].want[e]);
            }
        }
        free(out), free(d_out);
        gat_trainer_destroy(&full);
        gat_trainer_destroy(&few);
        gat_model_destroy(&full_m);
        gat_model_destroy(&few_m);
        gat_graph_destroy(&g);
        gat_context_destroy(&ctx);
    }
    free_task(&tk);
}

Test(train, dense_and_sparse_inputs_get_the_same_masks)
{
    /* Same model, same seed, dropout on: the two input paths must draw the
     * same masks, so their outputs agree to float rounding. */
    task tk = make_task(300, 40, 4, 8);
    gat_context *ctx = make_ctx(2);
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_create(ctx, &g, tk.n, tk.edges, tk.src, tk.dst), GAT_OK);
    gat_model *m = paper_model(ctx, tk.f, tk.k, 6);
    float *out[2];
    for (int fmt = 0; fmt < 2; fmt++) {
        gat_trainer_options o;
        gat_trainer_options_init(&o);
        o.dropout = 0.5;
        o.attention_dropout = 0.5;
        o.projected_dropout = 0.5;
        o.seed = 4;
        o.input_format = fmt ? GAT_INPUT_SPARSE : GAT_INPUT_DENSE;
        gat_trainer *t = NULL;
        cr_assert_eq(gat_trainer_create(ctx, &t, m, g, tk.x, tk.n, tk.f, &o), GAT_OK);
        out[fmt] = malloc((size_t)(tk.n * tk.k) * sizeof(float));
        cr_assert_eq(gat_trainer_forward(ctx, t, true, out[fmt]), GAT_OK);
        gat_trainer_destroy(&t);
    }
    for (int64_t k = 0; k < tk.n * tk.k; k++)
        cr_assert(fabsf(out[0][k] - out[1][k]) <= 1e-5f * (1.0f + fabsf(out[0][k])),
                  "output %lld: dense %.9g, sparse %.9g", (long long)k, out[0][k], out[1][k]);
    free(out[0]), free(out[1]);
    gat_model_destroy(&m);
    gat_graph_destroy(&g);
    gat_context_destroy(&ctx);
    free_task(&tk);
}

/* projected_dropout 0 is PyG's GATConv, the trainer as it was before the
 * option: set explicitly it gives the default's bits; and whatever its
 * rate, evaluation (inference) is untouched while a training forward
 * changes. (Bit-for-bit equality of the default with the trainer before
 * this option was checked against that build's gat-train; see docs/training.md.) */
Test(train, projected_dropout_acts_in_training_only)
{
    task tk = make_task(300, 40, 4, 8);
    gat_context *ctx = make_ctx(2);
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_create(ctx, &g, tk.n, tk.edges, tk.src, tk.dst), GAT_OK);
    const size_t bytes = (size_t)(tk.n * tk.k) * sizeof(float);
    float *train_out[2], *eval_out[2];
    for (int run = 0; run < 2; run++) { /* no other dropout; projected 0, then 0.6 */
        gat_model *m = paper_model(ctx, tk.f, tk.k, 6);
        gat_trainer_options o;
        gat_trainer_options_init(&o);
        o.projected_dropout = run == 0 ? 0.0 : 0.6;
        o.seed = 4;
        gat_trainer *t = NULL;
        cr_assert_eq(gat_trainer_create(ctx, &t, m, g, tk.x, tk.n, tk.f, &o), GAT_OK);
        train_out[run] = malloc(bytes);
        eval_out[run] = malloc(bytes);
        cr_assert_eq(gat_trainer_forward(ctx, t, true, train_out[run]), GAT_OK);
        cr_assert_eq(gat_trainer_forward(ctx, t, false, eval_out[run]), GAT_OK);
        gat_trainer_destroy(&t);
        gat_model_destroy(&m);
    }
    cr_assert(memcmp(train_out[0], eval_out[0], bytes) == 0, "rate 0 dropped something");
    cr_assert(memcmp(eval_out[0], eval_out[1], bytes) == 0, "the rate changed an evaluation");
    cr_assert(memcmp(train_out[1], eval_out[1], bytes) != 0, "rate 0.6 dropped nothing");

    /* With the other dropouts on: 0 set explicitly is the default, bit for bit. */
    enum { STEPS = 5 };
    double losses[2][STEPS];
    float *weights[2];
    for (int run = 0; run < 2; run++) {
        gat_model *m = paper_model(ctx, tk.f, tk.k, 6);
        gat_trainer_options o;
        gat_trainer_options_init(&o);
        o.dropout = 0.6;
        o.attention_dropout = 0.6;
        o.seed = 4;
        if (run == 1)
            o.projected_dropout = 0.0;
        gat_trainer *t = NULL;
        cr_assert_eq(gat_trainer_create(ctx, &t, m, g, tk.x, tk.n, tk.f, &o), GAT_OK);
        for (int e = 0; e < STEPS; e++) {
            gat_metrics mt;
            cr_assert_eq(gat_trainer_step(ctx, t, tk.labels, tk.train, tk.num_train, &mt),
                         GAT_OK);
            losses[run][e] = mt.loss;
        }
        gat_layer_params p;
        gat_model_layer_params(m, 0, &p);
        weights[run] = malloc((size_t)(16 * tk.f) * sizeof(float));
        memcpy(weights[run], p.weight, (size_t)(16 * tk.f) * sizeof(float));
        gat_trainer_destroy(&t);
        gat_model_destroy(&m);
    }
    cr_assert(memcmp(losses[0], losses[1], sizeof losses[0]) == 0);
    cr_assert(memcmp(weights[0], weights[1], (size_t)(16 * tk.f) * sizeof(float)) == 0);
    for (int run = 0; run < 2; run++)
        free(train_out[run]), free(eval_out[run]), free(weights[run]);
    gat_graph_destroy(&g);
    gat_context_destroy(&ctx);
    free_task(&tk);
}

/* ---------------------------------------------------------------------- */
/* Dropout masks                                                           */
/* ---------------------------------------------------------------------- */

Test(dropout, masks_do_not_depend_on_the_thread_count)
{
    const int64_t n = (1 << 20) + 3; /* not a multiple of the 4 elements per hash */
    float *ones = malloc((size_t)n * sizeof(float));
    float *a = malloc((size_t)n * sizeof(float)), *b = malloc((size_t)n * sizeof(float));
    uint8_t *ka = malloc((size_t)n), *kb = malloc((size_t)n);
    for (int64_t k = 0; k < n; k++)
        ones[k] = 1.0f;
    gat__dropout d = gat__dropout_make(7, 3, 1, GAT__DROP_INPUT, 0.6f);
    gat_context *one = make_ctx(1), *three = make_ctx(3);
    gat__dropout_forward(one, &d, ones, a, ka, n);
    gat__dropout_forward(three, &d, ones, b, kb, n);
    cr_assert(memcmp(a, b, (size_t)n * sizeof(float)) == 0);
    cr_assert(memcmp(ka, kb, (size_t)n) == 0);
    /* Every path to the mask agrees: the per-element function, masks of
     * sub-ranges starting anywhere, and the backward. */
    for (int64_t k = 0; k < n; k += 997)
        cr_assert_eq(ka[k], gat__dropout_keep(&d, (uint64_t)k));
    for (int64_t first = 0; first < 9; first++) {
        gat__dropout_mask(&d, (uint64_t)first, 1001, kb);
        cr_assert(memcmp(kb, ka + first, 1001) == 0, "mask from element %lld", (long long)first);
    }
    gat__dropout_backward(three, &d, ka, ones, n);
    cr_assert(memcmp(a, ones, (size_t)n * sizeof(float)) == 0);
    gat_context_destroy(&one);
    gat_context_destroy(&three);
    free(ones), free(a), free(b), free(ka), free(kb);
}

Test(dropout, keep_rate_and_scale_are_right)
{
    /* n = 2^20 draws: the kept fraction's standard deviation is
     * sqrt(p (1 - p) / n) <= 4.9e-4; 5 sigma is a false alarm once in
     * ~1.7 million runs, while a wrong threshold or a biased hash is off by
     * far more. The rate itself is quantised to 2^-16 (0.6 keeps
     * 0.399994), far inside that. */
    const int64_t n = 1 << 20;
    const float rates[] = {0.1f, 0.5f, 0.6f, 0.9f};
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        const float p = rates[r];
        gat__dropout d = gat__dropout_make(1234, 5, 0, GAT__DROP_ATTENTION, p);
        gat__dropout other = gat__dropout_make(1234, 6, 0, GAT__DROP_ATTENTION, p);
        int64_t kept = 0, both = 0;
        for (int64_t k = 0; k < n; k++) {
            float s = gat__dropout_scale(&d, (uint64_t)k);
            cr_assert(s == 0.0f || s == (float)(1.0 / (1.0 - p)));
            kept += s != 0.0f;
            both += s != 0.0f && gat__dropout_scale(&other, (uint64_t)k) != 0.0f;
        }
        const double q = 1.0 - p, sigma = sqrt(p * q / (double)n);
        const double rate = (double)kept / (double)n;
        cr_assert(fabs(rate - q) <= 5 * sigma, "rate %.2f: kept %.6f, expected %.6f +- %.6f", p,
                  rate, q, 5 * sigma);
        /* Masks of different steps are independent: P(kept in both) = q^2. */
        const double joint = (double)both / (double)n, sigma2 = sqrt(q * q * (1 - q * q) / (double)n);
        cr_assert(fabs(joint - q * q) <= 5 * sigma2, "rate %.2f: joint keep %.6f, expected %.6f",
                  p, joint, q * q);
    }
    /* Rate 0 keeps everything unscaled. */
    gat__dropout none = gat__dropout_make(1, 1, 0, GAT__DROP_INPUT, 0.0f);
    cr_assert(!gat__dropout_active(&none));
    cr_assert_eq(gat__dropout_scale(&none, 12345), 1.0f);
}

Test(dropout, sites_layers_and_seeds_draw_different_masks)
{
    gat__dropout base = gat__dropout_make(1, 2, 0, GAT__DROP_INPUT, 0.5f);
    gat__dropout variants[] = {gat__dropout_make(1, 2, 0, GAT__DROP_ATTENTION, 0.5f),
                               gat__dropout_make(1, 2, 1, GAT__DROP_INPUT, 0.5f),
                               gat__dropout_make(2, 2, 0, GAT__DROP_INPUT, 0.5f),
                               gat__dropout_make(1, 3, 0, GAT__DROP_INPUT, 0.5f),
                               gat__dropout_make(1, 2, 0, GAT__DROP_PROJECTED, 0.5f)};
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        int64_t same = 0;
        for (int64_t k = 0; k < 10000; k++)
            same += (gat__dropout_scale(&base, (uint64_t)k) != 0.0f) ==
                    (gat__dropout_scale(&variants[v], (uint64_t)k) != 0.0f);
        cr_assert(same > 4500 && same < 5500, "variant %zu agrees on %lld of 10000", v,
                  (long long)same);
    }
    /* The projected-feature site has a stream of its own: not the input or
     * attention mask of its layer nor of the next (whose key (layer << 1 |
     * site) a third site number would have shared), nor another layer's. */
    for (int layer = 0; layer < 3; layer++) {
        const gat__dropout proj = gat__dropout_make(1, 2, layer, GAT__DROP_PROJECTED, 0.5f);
        const gat__dropout others[] = {
            gat__dropout_make(1, 2, layer, GAT__DROP_INPUT, 0.5f),
            gat__dropout_make(1, 2, layer, GAT__DROP_ATTENTION, 0.5f),
            gat__dropout_make(1, 2, layer + 1, GAT__DROP_INPUT, 0.5f),
            gat__dropout_make(1, 2, layer + 1, GAT__DROP_ATTENTION, 0.5f),
            gat__dropout_make(1, 2, layer + 1, GAT__DROP_PROJECTED, 0.5f),
            gat__dropout_make(1, 3, layer, GAT__DROP_PROJECTED, 0.5f)};
        for (size_t v = 0; v < sizeof others / sizeof others[0]; v++) {
            cr_assert_neq(proj.key, others[v].key, "layer %d, other %zu", layer, v);
            int64_t same = 0;
            for (int64_t k = 0; k < 10000; k++)
                same += gat__dropout_keep(&proj, (uint64_t)k) ==
                        gat__dropout_keep(&others[v], (uint64_t)k);
            cr_assert(same > 4500 && same < 5500, "layer %d, other %zu agrees on %lld of 10000",
                      layer, v, (long long)same);
        }
    }
}

/* The projected-feature dropout kernel: row i's mask in element order
 * (head-major, element i * H*C + h * C + c) and the dropped features in
 * the trainer's channel-major order; for a list, only the listed rows; the
 * same bytes at any thread count. */
Test(dropout, projected_feature_masks_by_element)
{
    enum { N = 1000, H = 3, C = 5, HC = H * C };
    float *x = malloc(N * HC * sizeof *x), *out[2];
    uint8_t *keep[2];
    test_fill_uniform(x, N * HC, -1.0f, 1.0f, 77);
    const gat__dropout d = gat__dropout_make(5, 9, 1, GAT__DROP_PROJECTED, 0.6f);
    for (int run = 0; run < 2; run++) {
        gat_context *ctx = make_ctx(run == 0 ? 1 : 3);
        out[run] = malloc(N * HC * sizeof(float));
        keep[run] = malloc(N * HC);
        gat__dropout_projected_rows(ctx, &d, NULL, x, out[run], keep[run], N, H, C);
        gat_context_destroy(&ctx);
    }
    cr_assert(memcmp(out[0], out[1], N * HC * sizeof(float)) == 0);
    cr_assert(memcmp(keep[0], keep[1], N * HC) == 0);
    int64_t kept = 0;
    for (int64_t i = 0; i < N; i++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t c = 0; c < C; c++) {
                const int64_t e = i * HC + h * C + c, stored = i * HC + c * H + h;
                const bool k = gat__dropout_keep(&d, (uint64_t)e);
                kept += k;
                cr_assert_eq(keep[0][e], k, "element %lld", (long long)e);
                cr_assert_eq(out[0][stored], k ? x[stored] * d.scale : 0.0f);
            }
    /* 15000 draws at keep 0.4: sigma 0.004. */
    cr_assert(fabs((double)kept / (N * HC) - 0.4) < 0.02, "kept %lld of %d", (long long)kept,
              N * HC);
    /* A list of rows: those rows as above, nothing else written. */
    int32_t ids[] = {3, 4, 500, 999};
    uint8_t member[N] = {0};
    for (size_t r = 0; r < sizeof ids / sizeof ids[0]; r++)
        member[ids[r]] = 1;
    const gat__rows rows = {ids, 4, member};
    gat_context *ctx = make_ctx(2);
    memset(out[1], 0xFF, N * HC * sizeof(float)); /* NaNs */
    memset(keep[1], 7, N * HC);
    gat__dropout_projected_rows(ctx, &d, &rows, x, out[1], keep[1], N, H, C);
    for (int64_t i = 0; i < N; i++) {
        if (member[i]) {
            cr_assert(memcmp(out[1] + i * HC, out[0] + i * HC, HC * sizeof(float)) == 0);
            cr_assert(memcmp(keep[1] + i * HC, keep[0] + i * HC, HC) == 0);
        } else {
            for (int64_t k = 0; k < HC; k++)
                cr_assert(isnan(out[1][i * HC + k]) && keep[1][i * HC + k] == 7);
        }
    }
    gat_context_destroy(&ctx);
    free(x), free(out[0]), free(out[1]), free(keep[0]), free(keep[1]);
}

/* ---------------------------------------------------------------------- */
/* Early stopping                                                          */
/* ---------------------------------------------------------------------- */

typedef struct fit_log {
    gat_epoch_report reports[2000];
    int64_t count;
} fit_log;

static bool record_epoch(const gat_epoch_report *r, void *user)
{
    fit_log *log = user;
    if (log->count < 2000)
        log->reports[log->count++] = *r;
    return true;
}

Test(train, fit_follows_the_reference_early_stopping_rule)
{
    task tk = make_task(400, 40, 4, 21);
    gat_context *ctx = make_ctx(1);
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_create(ctx, &g, tk.n, tk.edges, tk.src, tk.dst), GAT_OK);
    gat_model *m = paper_model(ctx, tk.f, tk.k, 7);
    gat_trainer_options o;
    gat_trainer_options_init(&o);
    /* Lighter regularisation than the paper's, so this small task learns
     * within a few hundred epochs; the rule is what is tested. */
    o.dropout = 0.3;
    o.attention_dropout = 0.3;
    o.weight_decay = 5e-4;
    o.learning_rate = 0.02;
    gat_trainer *t = NULL;
    cr_assert_eq(gat_trainer_create(ctx, &t, m, g, tk.x, tk.n, tk.f, &o), GAT_OK);
    fit_log *log = calloc(1, sizeof *log);
    gat_fit_options fo;
    gat_fit_options_init(&fo);
    fo.patience = 20;
    fo.max_epochs = 1500;
    fo.on_epoch = record_epoch;
    fo.user = log;
    gat_fit_result r;
    cr_assert_eq(gat_trainer_fit(ctx, t, tk.labels, tk.train, tk.num_train, tk.val, tk.num_val,
                                 &fo, &r),
                 GAT_OK, "%s", gat_context_message(ctx));
    cr_log_info("fit: %lld epochs, kept %lld (val loss %.4f acc %.4f); first train loss %.4f, "
                "last %.4f", (long long)r.epochs, (long long)r.best_epoch, r.best_val.loss,
                r.best_val.accuracy, log->reports[0].train.loss,
                log->reports[log->count - 1].train.loss);
    cr_assert(r.stopped_early, "ran %lld epochs without stopping", (long long)r.epochs);
    cr_assert_eq(r.epochs, log->count);

    /* Replay the rule over the recorded validation metrics. */
    double best_acc = 0.0, low_loss = INFINITY;
    int64_t wait = 0, saved_epoch = 0;
    for (int64_t e = 0; e < log->count; e++) {
        const gat_epoch_report *rep = &log->reports[e];
        bool acc = rep->val.accuracy >= best_acc, loss = rep->val.loss <= low_loss;
        cr_assert_eq(rep->saved, acc && loss, "epoch %lld", (long long)rep->epoch);
        if (acc && loss)
            saved_epoch = rep->epoch;
        if (acc || loss) {
            best_acc = fmax(best_acc, rep->val.accuracy);
            low_loss = fmin(low_loss, rep->val.loss);
            wait = 0;
        } else {
            wait++;
        }
        cr_assert_eq(rep->patience_left, fo.patience - wait);
    }
    cr_assert_eq(wait, fo.patience);
    cr_assert_eq(r.best_epoch, saved_epoch);
    /* The model holds the kept parameters: evaluating it again gives the
     * kept epoch's validation metrics exactly. */
    gat_metrics again;
    cr_assert_eq(gat_trainer_evaluate(ctx, t, tk.labels, tk.val, tk.num_val, &again), GAT_OK);
    cr_assert_eq(again.loss, r.best_val.loss);
    cr_assert_eq(again.accuracy, r.best_val.accuracy);
    /* And it learned something: 4 classes, chance is 0.25. */
    cr_assert(again.accuracy > 0.5, "validation accuracy %.3f", again.accuracy);
    /* The library's plain inference agrees with the trainer's evaluation. */
    gat_metrics plain;
    cr_assert_eq(gat_model_evaluate(ctx, m, g, tk.x, tk.n, tk.f, tk.labels, tk.val, tk.num_val,
                                    &plain),
                 GAT_OK);
    cr_assert(fabs(plain.loss - again.loss) <= 1e-5 * again.loss);
    cr_assert_eq(plain.accuracy, again.accuracy);

    free(log);
    gat_trainer_destroy(&t);
    gat_model_destroy(&m);
    gat_graph_destroy(&g);
    gat_context_destroy(&ctx);
    free_task(&tk);
}

/* A fit on two threads may evaluate each epoch beside the next step
 * (fit.c) and switches between that and the serial order as it measures
 * them; every epoch's report and the kept parameters must be the bits of
 * a fit on one thread. The library's default work threshold, so this
 * small task takes the overlapped path. */
static void fit_run(const task *tk, int threads, double projected, fit_log *log, float *weight)
{
    gat_context_options co;
    gat_context_options_init(&co);
    co.num_threads = threads;
    gat_context *ctx = NULL;
    cr_assert_eq(gat_context_create(&ctx, &co), GAT_OK);
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_create(ctx, &g, tk->n, tk->edges, tk->src, tk->dst), GAT_OK);
    gat_model *m = paper_model(ctx, tk->f, tk->k, 7);
    gat_trainer_options o;
    gat_trainer_options_init(&o);
    o.dropout = 0.4;
    o.attention_dropout = 0.4;
    o.projected_dropout = projected;
    o.weight_decay = 5e-4;
    o.learning_rate = 0.02;
    o.seed = 5;
    gat_trainer *t = NULL;
    cr_assert_eq(gat_trainer_create(ctx, &t, m, g, tk->x, tk->n, tk->f, &o), GAT_OK);
    /* Evaluations on other node sets first (they change no parameter): the
     * fit must not lose its training set's plan to them (two are cached). */
    gat_metrics before;
    cr_assert_eq(gat_trainer_evaluate(ctx, t, tk->labels, tk->train, tk->num_train, &before),
                 GAT_OK);
    cr_assert_eq(gat_trainer_evaluate(ctx, t, tk->labels, tk->val, tk->num_val / 2, &before),
                 GAT_OK);
    cr_assert_eq(gat_trainer_evaluate(ctx, t, tk->labels, tk->train, tk->num_train, &before),
                 GAT_OK);
    gat_fit_options fo;
    gat_fit_options_init(&fo);
    fo.patience = 15;
    fo.max_epochs = 300;
    fo.on_epoch = record_epoch;
    fo.user = log;
    gat_fit_result r;
    cr_assert_eq(gat_trainer_fit(ctx, t, tk->labels, tk->train, tk->num_train, tk->val,
                                 tk->num_val, &fo, &r),
                 GAT_OK, "%s", gat_context_message(ctx));
    cr_assert_eq(gat_trainer_steps(t), r.epochs, "one update per epoch run");
    gat_layer_params p;
    gat_model_layer_params(m, 0, &p);
    memcpy(weight, p.weight, (size_t)(16 * tk->f) * sizeof *weight);
    gat_trainer_destroy(&t);
    gat_model_destroy(&m);
    gat_graph_destroy(&g);
    gat_context_destroy(&ctx);
}

static void fit_same_bits(double projected)
{
    task tk = make_task(400, 40, 4, 23);
    fit_log *one = calloc(1, sizeof *one), *two = calloc(1, sizeof *two);
    float *w1 = malloc((size_t)(16 * tk.f) * sizeof(float));
    float *w2 = malloc((size_t)(16 * tk.f) * sizeof(float));
    fit_run(&tk, 1, projected, one, w1);
    fit_run(&tk, 2, projected, two, w2);
    cr_assert(one->count > 2 * 4 + 1, "only %lld epochs: the schedules were not both used",
              (long long)one->count);
    cr_assert_eq(one->count, two->count);
    for (int64_t e = 0; e < one->count; e++) {
        const gat_epoch_report *a = &one->reports[e], *b = &two->reports[e];
        cr_assert(memcmp(&a->train, &b->train, sizeof a->train) == 0 &&
                      memcmp(&a->val, &b->val, sizeof a->val) == 0 && a->saved == b->saved &&
                      a->patience_left == b->patience_left,
                  "epoch %lld: 1 thread train %.17g val %.17g, 2 threads train %.17g val %.17g",
                  (long long)a->epoch, a->train.loss, a->val.loss, b->train.loss, b->val.loss);
    }
    cr_assert(memcmp(w1, w2, (size_t)(16 * tk.f) * sizeof(float)) == 0,
              "the kept parameters differ");
    free(one), free(two), free(w1), free(w2);
    free_task(&tk);
}

Test(train, fit_gives_the_same_bits_at_any_thread_count) { fit_same_bits(0.0); }

/* The same with the projected-feature dropout (its mask and dropped copy
 * belong to the step, not to the evaluation running beside it). */
Test(train, fit_gives_the_same_bits_at_any_thread_count_with_projected_dropout)
{
    fit_same_bits(0.5);
}

/* ---------------------------------------------------------------------- */
/* Errors                                                                  */
/* ---------------------------------------------------------------------- */

Test(train, errors_name_the_problem)
{
    task tk = make_task(50, 12, 3, 2);
    gat_context *ctx = make_ctx(1);
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_create(ctx, &g, tk.n, tk.edges, tk.src, tk.dst), GAT_OK);
    gat_model *m = paper_model(ctx, tk.f, tk.k, 1);
    gat_trainer *t = NULL;
    gat_trainer_options o;

    gat_trainer_options_init(&o);
    o.dropout = 1.0;
    cr_assert_eq(gat_trainer_create(ctx, &t, m, g, tk.x, tk.n, tk.f, &o), GAT_ERR_INVALID);
    cr_assert(strstr(gat_context_message(ctx), "dropout") != NULL);
    cr_assert_null(t);
    gat_trainer_options_init(&o);
    o.projected_dropout = 1.0;
    cr_assert_eq(gat_trainer_create(ctx, &t, m, g, tk.x, tk.n, tk.f, &o), GAT_ERR_INVALID);
    cr_assert(strstr(gat_context_message(ctx), "projected-feature dropout") != NULL, "%s",
              gat_context_message(ctx));
    o.projected_dropout = -0.1;
    cr_assert_eq(gat_trainer_create(ctx, &t, m, g, tk.x, tk.n, tk.f, &o), GAT_ERR_INVALID);
    cr_assert_null(t);
    gat_trainer_options_init(&o);
    o.learning_rate = 0.0;
    cr_assert_eq(gat_trainer_create(ctx, &t, m, g, tk.x, tk.n, tk.f, &o), GAT_ERR_INVALID);
    cr_assert(strstr(gat_context_message(ctx), "learning rate") != NULL);
    gat_trainer_options_init(&o);
    o.beta2 = 1.0;
    cr_assert_eq(gat_trainer_create(ctx, &t, m, g, tk.x, tk.n, tk.f, &o), GAT_ERR_INVALID);
    cr_assert_eq(gat_trainer_create(ctx, &t, m, g, tk.x, tk.n, tk.f + 1, NULL), GAT_ERR_INVALID);
    cr_assert(strstr(gat_context_message(ctx), "columns") != NULL);
    cr_assert_eq(gat_trainer_create(ctx, &t, m, g, tk.x, tk.n - 1, tk.f, NULL), GAT_ERR_INVALID);
    float keep = tk.x[3 * tk.f + 2];
    tk.x[3 * tk.f + 2] = NAN;
    cr_assert_eq(gat_trainer_create(ctx, &t, m, g, tk.x, tk.n, tk.f, NULL), GAT_ERR_NONFINITE);
    cr_assert(strstr(gat_context_message(ctx), "x[3, 2]") != NULL, "%s", gat_context_message(ctx));
    tk.x[3 * tk.f + 2] = keep;

    cr_assert_eq(gat_trainer_create(ctx, &t, m, g, tk.x, tk.n, tk.f, NULL), GAT_OK);
    float *d = calloc((size_t)(tk.n * tk.k), sizeof(float));
    cr_assert_eq(gat_trainer_backward(ctx, t, d, NULL), GAT_ERR_INVALID);
    cr_assert(strstr(gat_context_message(ctx), "no training forward") != NULL);
    cr_assert_eq(gat_trainer_update(ctx, t), GAT_ERR_INVALID);
    cr_assert_eq(gat_trainer_forward(ctx, t, false, d), GAT_OK);
    cr_assert_eq(gat_trainer_backward(ctx, t, d, NULL), GAT_ERR_INVALID); /* eval kept nothing */

    int64_t bad_index[] = {0, 1, tk.n};
    cr_assert_eq(gat_trainer_step(ctx, t, tk.labels, bad_index, 3, NULL), GAT_ERR_RANGE);
    cr_assert(strstr(gat_context_message(ctx), "index[2]") != NULL, "%s", gat_context_message(ctx));
    int64_t saved = tk.labels[1];
    tk.labels[1] = tk.k;
    cr_assert_eq(gat_trainer_step(ctx, t, tk.labels, bad_index, 2, NULL), GAT_ERR_RANGE);
    cr_assert(strstr(gat_context_message(ctx), "label of node 1") != NULL);
    tk.labels[1] = saved;
    cr_assert_eq(gat_trainer_step(ctx, t, tk.labels, bad_index, 0, NULL), GAT_ERR_INVALID);
    cr_assert_eq(gat_trainer_steps(t), 0);
    gat_layer_params grads;
    cr_assert_eq(gat_trainer_gradients(t, 2, &grads), GAT_ERR_INVALID);
    cr_assert_eq(gat_trainer_step(ctx, t, tk.labels, bad_index, 2, NULL), GAT_OK);
    cr_assert_eq(gat_trainer_steps(t), 1);

    gat_trainer_destroy(&t);
    cr_assert_null(t);
    gat_trainer_destroy(&t);   /* NULL *t is fine */
    gat_trainer_destroy(NULL); /* and NULL */
    free(d);
    gat_model_destroy(&m);
    gat_graph_destroy(&g);
    gat_context_destroy(&ctx);
    free_task(&tk);
}

Test(train, normalize_rows)
{
    gat_context *ctx = make_ctx(2);
    float x[3 * 4] = {1, 0, 1, 2, 0, 0, 0, 0, 0, 3, 0, 0};
    cr_assert_eq(gat_features_normalize_rows(ctx, x, 3, 4), GAT_OK);
    const float want[12] = {0.25f, 0, 0.25f, 0.5f, 0, 0, 0, 0, 0, 1, 0, 0};
    cr_assert_arr_eq(x, want, sizeof want);
    cr_assert_eq(gat_features_normalize_rows(ctx, NULL, 3, 4), GAT_ERR_INVALID);
    cr_assert_eq(gat_features_normalize_rows(ctx, x, -1, 4), GAT_ERR_INVALID);
    cr_assert_eq(gat_features_normalize_rows(ctx, NULL, 0, 4), GAT_OK);
    gat_context_destroy(&ctx);
}

Test(train, training_elu_matches_expm1)
{
    /* The trainer's vectorizable ELU against float64 expm1, over [-100, 2]
     * densely near 0 (where exp(x) - 1 would cancel) and coarsely below:
     * within 4 float32 ulp of the result, 2^-22 relative. */
    gat_context *ctx = make_ctx(2);
    enum { COUNT = 200001 };
    float *v = malloc(COUNT * sizeof *v);
    for (int k = 0; k < COUNT; k++) {
        double u = (double)k / (COUNT - 1);
        v[k] = (float)(k % 2 ? -100.0 * u * u * u : -3.0 * u + 2.0 * (k % 3 == 0));
    }
    float *w = malloc(COUNT * sizeof *w);
    memcpy(w, v, COUNT * sizeof *w);
    gat__activation_train_forward(ctx, GAT_ACT_ELU, w, COUNT);
    for (int k = 0; k < COUNT; k++) {
        double want = v[k] > 0 ? v[k] : expm1((double)v[k]);
        cr_assert(fabs(w[k] - want) <= 0x1.0p-22 * fabs(want) + 1e-30,
                  "ELU(%.9g) = %.9g, expm1 gives %.9g", v[k], w[k], want);
    }
    free(v), free(w);
    gat_context_destroy(&ctx);
}

/* An allocator that fails the k-th allocation and counts live blocks. */
Test(train, every_allocation_failure_is_reported_without_leaks)
{
    task tk = make_task(60, 12, 3, 4);
    /* Atomic counts: the library allocates inside parallel regions too. */
    test_counting state;
    gat_context *ctx = test_counting_context(&state, 2);
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_create(ctx, &g, tk.n, tk.edges, tk.src, tk.dst), GAT_OK);
    gat_model *m = paper_model(ctx, tk.f, tk.k, 1);
    for (int fmt = 0; fmt < 2; fmt++) {
        gat_trainer_options o;
        gat_trainer_options_init(&o);
        o.dropout = 0.5;
        o.projected_dropout = 0.5;
        o.input_format = fmt ? GAT_INPUT_SPARSE : GAT_INPUT_DENSE;
        int failures = 0;
        for (int64_t k = 1;; k++) {
            const int64_t live = state.live;
            test_counting_arm(&state, k);
            gat_trainer *t = NULL;
            gat_status s = gat_trainer_create(ctx, &t, m, g, tk.x, tk.n, tk.f, &o);
            if (s == GAT_OK) {
                /* Then a step (its kernels allocate scratch too). */
                s = gat_trainer_step(ctx, t, tk.labels, tk.train, tk.num_train, NULL);
                gat_trainer_destroy(&t);
                cr_assert_eq(state.live, live);
                if (s == GAT_OK) {
                    test_counting_arm(&state, 0);
                    break;
                }
            }
            cr_assert_eq(s, GAT_ERR_NOMEM, "allocation %lld: status %d", (long long)k, (int)s);
            cr_assert_null(t);
            cr_assert_eq(state.live, live, "allocation %lld failed: %lld blocks leaked",
                         (long long)k, (long long)(state.live - live));
            cr_assert(strlen(gat_context_message(ctx)) > 0);
            failures++;
        }
        cr_assert(failures > 10);
    }
    gat_model_destroy(&m);
    gat_graph_destroy(&g);
    gat_context_destroy(&ctx);
    cr_assert_eq(state.live, 0);
    free_task(&tk);
}
