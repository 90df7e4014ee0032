/*
 * Training of the GAT family (GATv2, edge features with every fill_value,
 * residual connections, bipartite inputs, shared weights): the forward
 * output, every parameter gradient, d x, d x_dst and d edge_attr, and one
 * Adam step against PyTorch autograd (tools/make_family_train_reference.py,
 * tests/data/family_train; the *_projected cases with the projected-feature
 * dropout, dense and sparse x), the same bits at 1, 2 and 4 threads, and the
 * trainer's errors for the new inputs.
 */
#include "support.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAMILY_DIR GAT_TEST_DATA "/family_train"

/* Tolerance "1e-4 relative", per tensor: |got - want| <= 1e-4 (|want| +
 * max|want|) + 1e-7. The reference is float64 autograd on the same
 * float32 inputs; the library computes in float32, each value a sum of at
 * most ~40 products (F_in, degrees, H*C) through up to three layers, so
 * ~1e-6 relative error of the terms; sums that cancel (the softmax
 * backward subtracts the row's weighted mean) keep that error on the
 * tensor's scale rather than the value's, hence the part tied to max|want|.
 * A wrong term is off by O(1) of the scale. The floor covers exact zeros. */
#define FAM_RTOL 1e-4
#define FAM_FLOOR 1e-7

static gat_context *make_ctx(int threads)
{
    gat_context *ctx = test_context(threads, NULL);
    test_parallel_always(ctx);
    return ctx;
}

static const char *path_in(const char *name, const char *file)
{
    static char buf[4][1024];
    static int next;
    char *p = buf[next++ % 4];
    int len = snprintf(p, sizeof buf[0], "%s/%s/%s", FAMILY_DIR, name, file);
    cr_assert(len > 0 && (size_t)len < sizeof buf[0]);
    return p;
}

static gat_array *npy(gat_context *ctx, const char *name, const char *file)
{
    gat_array *a = NULL;
    cr_assert_eq(gat_npy_read(ctx, path_in(name, file), GAT_FLOAT32, &a), GAT_OK, "%s",
                 gat_context_message(ctx));
    return a;
}

static gat_model *model_file(gat_context *ctx, const char *name, const char *file)
{
    gat_model *m = NULL;
    cr_assert_eq(gat_model_load(ctx, &m, path_in(name, file)), GAT_OK, "%s",
                 gat_context_message(ctx));
    return m;
}

static double compare(const char *what, const float *got, const float *want, int64_t n)
{
    double scale = 0.0, worst = 0.0;
    for (int64_t k = 0; k < n; k++)
        scale = fmax(scale, fabs((double)want[k]));
    for (int64_t k = 0; k < n; k++) {
        const double tol = FAM_RTOL * (fabs((double)want[k]) + scale) + FAM_FLOOR;
        const double err = fabs((double)got[k] - (double)want[k]);
        worst = fmax(worst, err / tol);
        cr_assert(err <= tol, "%s[%lld]: got %.9g, PyTorch %.9g (|diff| %.3g, allowed %.3g)",
                  what, (long long)k, got[k], want[k], err, tol);
    }
    return worst;
}

/* The tensors of gat_layer_params in order, with their names and sizes. */
#define NUM_TENSORS 11
static const char *const tensor_names[NUM_TENSORS] = {
    "weight", "att_src", "att_dst", "bias", "att", "weight_dst",
    "bias_src", "bias_dst", "weight_edge", "att_edge", "weight_res"};

static void tensors_of(const gat_layer_params *p, float *out[NUM_TENSORS])
{
    float *v[NUM_TENSORS] = {p->weight,   p->att_src,  p->att_dst,     p->bias,
                             p->att,      p->weight_dst, p->bias_src,  p->bias_dst,
                             p->weight_edge, p->att_edge, p->weight_res};
    memcpy(out, v, sizeof v);
}

static int64_t tensor_size(const gat_layer_config *c, int k)
{
    const int64_t hc = c->heads * c->channels, w = c->concat ? hc : c->channels;
    const int64_t f_dst = gat_layer_dst_features(c);
    const int64_t sizes[NUM_TENSORS] = {hc * c->in_features, hc, hc, w, hc, hc * f_dst,
                                        hc, hc, hc * c->edge_dim, hc, w * f_dst};
    return sizes[k];
}

typedef struct fam_case {
    char name[64];
    int64_t nodes, nodes_dst, edge_dim;
    bool bipartite;
    double lr, wd;
    double projected; /* the projected-feature dropout of the reference, keyed by seed */
    uint64_t seed;
    gat_array *x, *x_dst, *edge_attr, *r;
    int64_t *src, *dst, num_edges;
    gat_graph *graph;
    gat_model *model;
} fam_case;

static void case_load(gat_context *ctx, const char *name, fam_case *fc)
{
    memset(fc, 0, sizeof *fc);
    snprintf(fc->name, sizeof fc->name, "%s", name);
    FILE *fh = fopen(path_in(name, "case.txt"), "r");
    cr_assert_not_null(fh, "%s: no case.txt", name);
    char key[64];
    double value;
    while (fscanf(fh, "%63s %lf", key, &value) == 2) {
        if (strcmp(key, "nodes") == 0)
            fc->nodes = (int64_t)value;
        else if (strcmp(key, "nodes_dst") == 0)
            fc->nodes_dst = (int64_t)value;
        else if (strcmp(key, "bipartite") == 0)
            fc->bipartite = value != 0;
        else if (strcmp(key, "edge_dim") == 0)
            fc->edge_dim = (int64_t)value;
        else if (strcmp(key, "lr") == 0)
            fc->lr = value;
        else if (strcmp(key, "weight_decay") == 0)
            fc->wd = value;
        else if (strcmp(key, "projected_dropout") == 0)
            fc->projected = value;
        else if (strcmp(key, "seed") == 0)
            fc->seed = (uint64_t)value;
    }
    fclose(fh);
    int64_t max_id;
    cr_assert_eq(gat_edgelist_read(ctx, path_in(name, "edges.txt"), -1, &fc->src, &fc->dst,
                                   &fc->num_edges, &max_id),
                 GAT_OK, "%s", gat_context_message(ctx));
    cr_assert_eq(gat_graph_create_bipartite(ctx, &fc->graph, fc->nodes, fc->nodes_dst,
                                            fc->num_edges, fc->src, fc->dst),
                 GAT_OK, "%s", gat_context_message(ctx));
    fc->x = npy(ctx, name, fc->bipartite ? "x_src.npy" : "x.npy");
    if (fc->bipartite)
        fc->x_dst = npy(ctx, name, "x_dst.npy");
    if (fc->edge_dim > 0)
        fc->edge_attr = npy(ctx, name, "edge_attr.npy");
    fc->r = npy(ctx, name, "r.npy");
    fc->model = model_file(ctx, name, "model.safetensors");
}

static void case_free(gat_context *ctx, fam_case *fc)
{
    gat_array_destroy(&fc->x);
    gat_array_destroy(&fc->x_dst);
    gat_array_destroy(&fc->edge_attr);
    gat_array_destroy(&fc->r);
    gat_free(ctx, fc->src);
    gat_free(ctx, fc->dst);
    gat_graph_destroy(&fc->graph);
    gat_model_destroy(&fc->model);
}

static void case_inputs(const fam_case *fc, gat_inputs *in)
{
    gat_inputs_init(in, fc->x->data, fc->x->shape[0], fc->x->shape[1]);
    if (fc->x_dst != NULL) {
        in->x_dst = fc->x_dst->data;
        in->num_dst_nodes = fc->x_dst->shape[0];
        in->dst_features = fc->x_dst->shape[1];
    }
    if (fc->edge_attr != NULL) {
        in->edge_attr = fc->edge_attr->data;
        in->num_edges = fc->edge_attr->shape[0];
        in->edge_dim = fc->edge_attr->shape[1];
    }
}

static int read_case_names(char names[][64], int max)
{
    FILE *fh = fopen(FAMILY_DIR "/cases.txt", "r");
    cr_assert_not_null(fh, "cannot open %s/cases.txt", FAMILY_DIR);
    int n = 0;
    char line[128];
    while (n < max && fgets(line, sizeof line, fh) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] != '\0')
            snprintf(names[n++], 64, "%.63s", line);
    }
    fclose(fh);
    return n;
}

static void run_reference(const char *name, gat_input_format format)
{
    gat_context *ctx = make_ctx(2);
    fam_case fc;
    case_load(ctx, name, &fc);
    gat_model *want_grad = model_file(ctx, name, "grads.safetensors");
    gat_model *want_after = model_file(ctx, name, "adam1.safetensors");
    gat_model *before = model_file(ctx, name, "model.safetensors");
    gat_array *want_out = npy(ctx, name, "out.npy");
    gat_array *want_dx = npy(ctx, name, fc.bipartite ? "dx_src.npy" : "dx.npy");
    gat_array *want_dxd = fc.bipartite ? npy(ctx, name, "dx_dst.npy") : NULL;
    gat_array *want_dattr = fc.edge_dim > 0 ? npy(ctx, name, "d_edge_attr.npy") : NULL;

    gat_trainer_options o;
    gat_trainer_options_init(&o);
    o.learning_rate = fc.lr;
    o.weight_decay = fc.wd;
    o.projected_dropout = fc.projected; /* the script draws libgat's mask of step 0 */
    o.seed = fc.seed;
    o.input_format = format;
    gat_inputs in;
    case_inputs(&fc, &in);
    gat_trainer *t = NULL;
    cr_assert_eq(gat_trainer_create_inputs(ctx, &t, fc.model, fc.graph, &in, &o), GAT_OK,
                 "%s: %s", name, gat_context_message(ctx));
    cr_assert_eq(gat_trainer_sparse_input(t), format == GAT_INPUT_SPARSE, "%s", name);
    const int64_t out_n = want_out->shape[0] * want_out->shape[1];
    float *out = malloc((size_t)out_n * sizeof *out);
    float *dx = malloc((size_t)(fc.x->shape[0] * fc.x->shape[1]) * sizeof *dx);
    float *dxd = fc.x_dst ? malloc((size_t)(fc.x_dst->shape[0] * fc.x_dst->shape[1]) * sizeof *dxd)
                          : NULL;
    float *dattr = fc.edge_attr ? malloc((size_t)(fc.num_edges * fc.edge_dim) * sizeof *dattr)
                                : NULL;
    char what[160];
    cr_assert_eq(gat_trainer_forward(ctx, t, true, out), GAT_OK, "%s", gat_context_message(ctx));
    snprintf(what, sizeof what, "%s: out", name);
    double worst = compare(what, out, want_out->data, out_n);
    const gat_input_gradients ig = {.d_x = dx, .d_x_dst = dxd, .d_edge_attr = dattr};
    cr_assert_eq(gat_trainer_backward_inputs(ctx, t, fc.r->data, &ig), GAT_OK, "%s: %s", name,
                 gat_context_message(ctx));
    snprintf(what, sizeof what, "%s: d x", name);
    worst = fmax(worst, compare(what, dx, want_dx->data, want_dx->shape[0] * want_dx->shape[1]));
    if (dxd != NULL) {
        snprintf(what, sizeof what, "%s: d x_dst", name);
        worst = fmax(worst, compare(what, dxd, want_dxd->data,
                                    want_dxd->shape[0] * want_dxd->shape[1]));
    }
    if (dattr != NULL) {
        snprintf(what, sizeof what, "%s: d edge_attr", name);
        worst = fmax(worst, compare(what, dattr, want_dattr->data, fc.num_edges * fc.edge_dim));
    }
    for (int l = 0; l < gat_model_num_layers(fc.model); l++) {
        gat_layer_config c;
        gat_layer_params got, want;
        gat_model_layer_config(fc.model, l, &c);
        cr_assert_eq(gat_trainer_gradients(t, l, &got), GAT_OK);
        gat_model_layer_params(want_grad, l, &want);
        float *g[NUM_TENSORS], *w[NUM_TENSORS];
        tensors_of(&got, g);
        tensors_of(&want, w);
        for (int k = 0; k < NUM_TENSORS; k++) {
            cr_assert_eq(g[k] == NULL, w[k] == NULL, "%s: layer %d %s: present %d, PyTorch %d",
                         name, l, tensor_names[k], g[k] != NULL, w[k] != NULL);
            if (g[k] == NULL)
                continue;
            snprintf(what, sizeof what, "%s: layer %d d %s", name, l, tensor_names[k]);
            worst = fmax(worst, compare(what, g[k], w[k], tensor_size(&c, k)));
        }
    }
    cr_log_info("%s (%s x): worst |diff| / tolerance %.3f", name,
                format == GAT_INPUT_SPARSE ? "sparse" : "dense", worst);

    /* One Adam step (see test_train.c: where the gradient with weight decay
     * is below 1e-4 a float32 error may flip Adam's first step, which is
     * lr * sign(g); only that bound is checked there). */
    cr_assert_eq(gat_trainer_update(ctx, t), GAT_OK);
    int64_t checked = 0, total = 0;
    for (int l = 0; l < gat_model_num_layers(fc.model); l++) {
        gat_layer_config c;
        gat_layer_params p, p0, pw, pg;
        gat_model_layer_config(fc.model, l, &c);
        gat_model_layer_params(fc.model, l, &p);
        gat_model_layer_params(before, l, &p0);
        gat_model_layer_params(want_after, l, &pw);
        gat_model_layer_params(want_grad, l, &pg);
        float *got[NUM_TENSORS], *start[NUM_TENSORS], *want[NUM_TENSORS], *grad[NUM_TENSORS];
        tensors_of(&p, got);
        tensors_of(&p0, start);
        tensors_of(&pw, want);
        tensors_of(&pg, grad);
        for (int k = 0; k < NUM_TENSORS; k++) {
            if (got[k] == NULL)
                continue;
            for (int64_t e = 0; e < tensor_size(&c, k); e++) {
                const double gt = (double)grad[k][e] + fc.wd * (double)start[k][e];
                const double err = fabs((double)got[k][e] - (double)want[k][e]);
                total++;
                if (fabs(gt) >= 1e-4) {
                    checked++;
                    cr_assert(err <= 1e-6 * fabs((double)want[k][e]) + 1e-4 * fc.lr,
                              "%s: layer %d %s[%lld] after Adam: %.9g, PyTorch %.9g", name, l,
                              tensor_names[k], (long long)e, got[k][e], want[k][e]);
                } else {
                    cr_assert(err <= 2 * fc.lr + 1e-6);
                }
            }
        }
    }
    cr_assert(checked >= total * 8 / 10, "%s: only %lld of %lld parameters well conditioned",
              name, (long long)checked, (long long)total);

    free(out), free(dx), free(dxd), free(dattr);
    gat_trainer_destroy(&t);
    gat_model_destroy(&want_grad);
    gat_model_destroy(&want_after);
    gat_model_destroy(&before);
    gat_array_destroy(&want_out);
    gat_array_destroy(&want_dx);
    gat_array_destroy(&want_dxd);
    gat_array_destroy(&want_dattr);
    case_free(ctx, &fc);
    gat_context_destroy(&ctx);
}

Test(family_train, pytorch_reference)
{
    char names[32][64];
    const int n = read_case_names(names, 32);
    cr_assert(n >= 10, "expected the reference cases in %s", FAMILY_DIR);
    for (int k = 0; k < n; k++)
        run_reference(names[k], GAT_INPUT_DENSE);
}

/* The same references with x held sparse (every map of x: lin / lin_l,
 * lin_r, res; a bipartite layer's x_dst stays dense), within the same
 * tolerance: the sums run in another order than the dense GEMM's. */
Test(family_train, pytorch_reference_sparse_input)
{
    char names[32][64];
    const int n = read_case_names(names, 32);
    for (int k = 0; k < n; k++)
        run_reference(names[k], GAT_INPUT_SPARSE);
}

/* Finite differences through the library's float64 reference twin
 * (gat_model_forward_reference_inputs, written apart from the trainer):
 * L = sum(out * R), each probed entry moved by +-h, (L+ - L-) / 2h against
 * the trainer's gradient, for every tensor of every case above (so every
 * layer kind and option) and for x and the edge attributes. The twin
 * rounds its output to float32: L carries ~1e-7 relative noise per term,
 * ~1e-6 over these cases' outputs, ~5e-4 after dividing by 2h with h =
 * 1e-3, against gradients of O(0.1-1); the truncation error (h^2 times the
 * third derivative / 6) is far below. Tolerance 1e-2 (|fd| + max|gradient|
 * of the tensor) + 1e-4: loose, but a wrong or missing term is off by
 * O(1). A probe near a LeakyReLU kink
 * straddles it; a tensor tolerates one such miss. */
static double twin_loss(gat_context *ctx, const fam_case *fc, const gat_inputs *in, float *out)
{
    cr_assert_eq(gat_model_forward_reference_inputs(ctx, fc->model, fc->graph, in, out, NULL),
                 GAT_OK, "%s", gat_context_message(ctx));
    const float *r = fc->r->data;
    double loss = 0.0;
    for (int64_t k = 0; k < fc->r->shape[0] * fc->r->shape[1]; k++)
        loss += (double)out[k] * (double)r[k];
    return loss;
}

static void fd_probe(gat_context *ctx, const fam_case *fc, const gat_inputs *in, float *out,
                     float *v, int64_t n, const float *grad, const char *what)
{
    const float h = 1e-3f;
    double scale = 0.0;
    for (int64_t k = 0; k < n; k++)
        scale = fmax(scale, fabs((double)grad[k]));
    int misses = 0;
    const int64_t stride = n > 12 ? n / 12 : 1;
    for (int64_t k = 0; k < n; k += stride) {
        const float keep = v[k];
        v[k] = keep + h;
        const double step_up = (double)v[k] - (double)keep;
        const double up = twin_loss(ctx, fc, in, out);
        v[k] = keep - h;
        const double step_down = (double)keep - (double)v[k];
        const double down = twin_loss(ctx, fc, in, out);
        v[k] = keep;
        const double fd = (up - down) / (step_up + step_down);
        const double tol = 1e-2 * (fabs(fd) + scale) + 1e-4;
        if (fabs(fd - (double)grad[k]) > tol)
            misses++;
        cr_assert(misses <= 1, "%s: %s[%lld]: trainer %.7g, finite difference %.7g", fc->name,
                  what, (long long)k, grad[k], fd);
    }
}

Test(family_train, finite_differences_through_the_float64_twin)
{
    char names[32][64];
    const int count = read_case_names(names, 32);
    for (int c = 0; c < count; c++) {
        gat_context *ctx = make_ctx(1);
        fam_case fc;
        case_load(ctx, names[c], &fc);
        gat_inputs in;
        case_inputs(&fc, &in);
        gat_trainer *t = NULL;
        cr_assert_eq(gat_trainer_create_inputs(ctx, &t, fc.model, fc.graph, &in, NULL), GAT_OK);
        const int64_t out_n = fc.r->shape[0] * fc.r->shape[1];
        float *out = malloc((size_t)out_n * sizeof *out);
        float *dx = malloc((size_t)(fc.x->shape[0] * fc.x->shape[1]) * sizeof *dx);
        const int64_t nxd = fc.x_dst ? fc.x_dst->shape[0] * fc.x_dst->shape[1] : 0;
        float *dxd = nxd ? malloc((size_t)nxd * sizeof *dxd) : NULL;
        float *da = fc.edge_attr ? malloc((size_t)(fc.num_edges * fc.edge_dim) * sizeof *da)
                                 : NULL;
        cr_assert_eq(gat_trainer_forward(ctx, t, true, out), GAT_OK);
        const gat_input_gradients ig = {.d_x = dx, .d_x_dst = dxd, .d_edge_attr = da};
        cr_assert_eq(gat_trainer_backward_inputs(ctx, t, fc.r->data, &ig), GAT_OK);
        for (int l = 0; l < gat_model_num_layers(fc.model); l++) {
            gat_layer_config cfg;
            gat_layer_params p, g;
            gat_model_layer_config(fc.model, l, &cfg);
            gat_model_layer_params(fc.model, l, &p);
            gat_trainer_gradients(t, l, &g);
            float *pv[NUM_TENSORS], *gv[NUM_TENSORS];
            tensors_of(&p, pv);
            tensors_of(&g, gv);
            for (int k = 0; k < NUM_TENSORS; k++)
                if (pv[k] != NULL)
                    fd_probe(ctx, &fc, &in, out, pv[k], tensor_size(&cfg, k), gv[k],
                             tensor_names[k]);
        }
        fd_probe(ctx, &fc, &in, out, fc.x->data, fc.x->shape[0] * fc.x->shape[1], dx, "x");
        if (dxd != NULL)
            fd_probe(ctx, &fc, &in, out, fc.x_dst->data, nxd, dxd, "x_dst");
        if (da != NULL)
            fd_probe(ctx, &fc, &in, out, fc.edge_attr->data, fc.num_edges * fc.edge_dim, da,
                     "edge_attr");
        free(out), free(dx), free(dxd), free(da);
        gat_trainer_destroy(&t);
        case_free(ctx, &fc);
        gat_context_destroy(&ctx);
    }
}

/* One training step (forward, backward with every input gradient, update)
 * of a case at `threads`, with dropout on: what it computes, flattened, in
 * blocks (one tensor each); the blocks before `updated` come before the
 * update (outputs and gradients), the rest are the updated parameters. */
#define STEP_BLOCKS 128
typedef struct step_bits {
    float *values;
    int64_t count;
    int64_t start[STEP_BLOCKS + 1];
    int blocks, updated;
} step_bits;

static void append(step_bits *b, const float *v, int64_t n)
{
    cr_assert(b->blocks < STEP_BLOCKS);
    b->values = realloc(b->values, (size_t)(b->count + n) * sizeof *b->values);
    memcpy(b->values + b->count, v, (size_t)n * sizeof *v);
    b->start[b->blocks++] = b->count;
    b->count += n;
    b->start[b->blocks] = b->count;
}

/* Appends every parameter tensor of the model (p) or its gradients (g). */
static void append_tensors(step_bits *b, gat_trainer *t, gat_model *m, bool gradients)
{
    for (int l = 0; l < gat_model_num_layers(m); l++) {
        gat_layer_config c;
        gat_layer_params p;
        gat_model_layer_config(m, l, &c);
        if (gradients)
            cr_assert_eq(gat_trainer_gradients(t, l, &p), GAT_OK);
        else
            gat_model_layer_params(m, l, &p);
        float *v[NUM_TENSORS];
        tensors_of(&p, v);
        for (int k = 0; k < NUM_TENSORS; k++)
            if (v[k] != NULL)
                append(b, v[k], tensor_size(&c, k));
    }
}

/* One step's settings: the input format, and which entries of x to zero
 * (every entry whose index is not a multiple of `keep_every`; 1 keeps x). */
typedef struct step_setup {
    gat_input_format format;
    int keep_every;
} step_setup;

static step_bits one_step(const char *name, int threads, step_setup setup)
{
    gat_context *ctx = make_ctx(threads);
    fam_case fc;
    case_load(ctx, name, &fc);
    float *xv = fc.x->data;
    for (int64_t k = 0; k < fc.x->shape[0] * fc.x->shape[1]; k++)
        if (k % setup.keep_every != 0)
            xv[k] = 0.0f;
    gat_trainer_options o;
    gat_trainer_options_init(&o);
    o.dropout = 0.3;
    o.attention_dropout = 0.3;
    o.projected_dropout = fc.projected;
    o.seed = 5;
    o.input_format = setup.format;
    gat_inputs in;
    case_inputs(&fc, &in);
    gat_trainer *t = NULL;
    cr_assert_eq(gat_trainer_create_inputs(ctx, &t, fc.model, fc.graph, &in, &o), GAT_OK, "%s",
                 gat_context_message(ctx));
    step_bits b = {.values = NULL};
    const int64_t out_n = fc.r->shape[0] * fc.r->shape[1];
    float *out = malloc((size_t)out_n * sizeof *out);
    const int64_t nx = fc.x->shape[0] * fc.x->shape[1];
    float *dx = malloc((size_t)nx * sizeof *dx);
    const int64_t nxd = fc.x_dst ? fc.x_dst->shape[0] * fc.x_dst->shape[1] : 0;
    float *dxd = nxd ? malloc((size_t)nxd * sizeof *dxd) : NULL;
    const int64_t na = fc.edge_dim * fc.num_edges;
    float *da = na ? malloc((size_t)na * sizeof *da) : NULL;
    cr_assert_eq(gat_trainer_forward(ctx, t, true, out), GAT_OK);
    const gat_input_gradients ig = {.d_x = dx, .d_x_dst = dxd, .d_edge_attr = da};
    cr_assert_eq(gat_trainer_backward_inputs(ctx, t, fc.r->data, &ig), GAT_OK, "%s",
                 gat_context_message(ctx));
    append(&b, out, out_n);
    append(&b, dx, nx);
    if (dxd)
        append(&b, dxd, nxd);
    if (da)
        append(&b, da, na);
    append_tensors(&b, t, fc.model, true);
    b.updated = b.blocks;
    cr_assert_eq(gat_trainer_update(ctx, t), GAT_OK);
    append_tensors(&b, t, fc.model, false);
    free(out), free(dx), free(dxd), free(da);
    gat_trainer_destroy(&t);
    case_free(ctx, &fc);
    gat_context_destroy(&ctx);
    return b;
}

static void same_bits_at_1_2_4(step_setup setup)
{
    char names[32][64];
    const int n = read_case_names(names, 32);
    for (int k = 0; k < n; k++) {
        step_bits one = one_step(names[k], 1, setup);
        const int counts[] = {2, 4};
        for (int c = 0; c < 2; c++) {
            step_bits other = one_step(names[k], counts[c], setup);
            cr_assert_eq(one.count, other.count);
            cr_assert(memcmp(one.values, other.values, (size_t)one.count * sizeof(float)) == 0,
                      "%s: %d threads differ from 1", names[k], counts[c]);
            free(other.values);
        }
        free(one.values);
    }
}

Test(family_train, same_bits_at_1_2_4_threads)
{
    same_bits_at_1_2_4((step_setup){GAT_INPUT_DENSE, 1});
}

Test(family_train, same_bits_at_1_2_4_threads_sparse_input)
{
    same_bits_at_1_2_4((step_setup){GAT_INPUT_SPARSE, 7});
}

/* A step with input dropout on a mostly zero x (1 entry in 7 kept), held
 * dense and sparse: the same masks (keyed by the dense element index), so
 * the same step up to the order of the sums (the projections' dense GEMM
 * against one non-zero after another, and everything downstream): the
 * outputs, d x (its dropout mask hashed again), d x_dst, d edge_attr and
 * every parameter gradient agree as the references do (FAM_RTOL of the
 * value and the tensor's scale). Not the same bits: the sums' order
 * differs, as for plain GATConv. After the update a parameter may move by
 * Adam's lr * sign(g) either way where |g| is at rounding level (lr 0.005
 * here): that bound. */
Test(family_train, sparse_input_against_dense)
{
    char names[32][64];
    const int n = read_case_names(names, 32);
    for (int k = 0; k < n; k++) {
        step_bits dense = one_step(names[k], 2, (step_setup){GAT_INPUT_DENSE, 7});
        step_bits sparse = one_step(names[k], 2, (step_setup){GAT_INPUT_SPARSE, 7});
        cr_assert_eq(dense.blocks, sparse.blocks);
        cr_assert_eq(dense.count, sparse.count);
        for (int blk = 0; blk < dense.blocks; blk++) {
            const int64_t first = dense.start[blk], end = dense.start[blk + 1];
            double scale = 0.0;
            for (int64_t e = first; e < end; e++)
                scale = fmax(scale, fabs((double)dense.values[e]));
            for (int64_t e = first; e < end; e++) {
                const double d = (double)dense.values[e], s = (double)sparse.values[e];
                const double tol = blk < dense.updated
                                       ? FAM_RTOL * (fabs(d) + scale) + FAM_FLOOR
                                       : 2 * 0.005 + 1e-6;
                cr_assert(fabs(d - s) <= tol, "%s: block %d [%lld]: dense %.9g, sparse %.9g",
                          names[k], blk, (long long)(e - first), d, s);
            }
        }
        free(dense.values);
        free(sparse.values);
    }
}

Test(family_train, input_errors)
{
    gat_context *ctx = make_ctx(1);
    fam_case fc;
    case_load(ctx, "bip_gat", &fc); /* bipartite, edge features, residual */
    gat_inputs in;
    gat_trainer *t = NULL;
    case_inputs(&fc, &in);
    in.x_dst = NULL;
    cr_assert_eq(gat_trainer_create_inputs(ctx, &t, fc.model, fc.graph, &in, NULL),
                 GAT_ERR_INVALID);
    cr_assert(strstr(gat_context_message(ctx), "x_dst is required") != NULL, "%s",
              gat_context_message(ctx));
    case_inputs(&fc, &in);
    in.edge_attr = NULL;
    cr_assert_eq(gat_trainer_create_inputs(ctx, &t, fc.model, fc.graph, &in, NULL),
                 GAT_ERR_INVALID);
    cr_assert(strstr(gat_context_message(ctx), "edge_attr is required") != NULL, "%s",
              gat_context_message(ctx));
    case_inputs(&fc, &in);
    in.num_edges--;
    cr_assert_eq(gat_trainer_create_inputs(ctx, &t, fc.model, fc.graph, &in, NULL),
                 GAT_ERR_INVALID);
    cr_assert(strstr(gat_context_message(ctx), "edge_attr has") != NULL, "%s",
              gat_context_message(ctx));
    case_inputs(&fc, &in);
    in.dst_features++;
    cr_assert_eq(gat_trainer_create_inputs(ctx, &t, fc.model, fc.graph, &in, NULL),
                 GAT_ERR_INVALID);
    cr_assert(strstr(gat_context_message(ctx), "x_dst has") != NULL, "%s",
              gat_context_message(ctx));
    /* NaN in the edge attributes. */
    case_inputs(&fc, &in);
    float *attr = fc.edge_attr->data;
    const float keep = attr[3];
    attr[3] = NAN;
    cr_assert_eq(gat_trainer_create_inputs(ctx, &t, fc.model, fc.graph, &in, NULL),
                 GAT_ERR_NONFINITE);
    attr[3] = keep;
    /* A trainer made without edge attributes cannot give their gradient. */
    case_free(ctx, &fc);
    case_load(ctx, "v2_basic", &fc);
    case_inputs(&fc, &in);
    cr_assert_eq(gat_trainer_create_inputs(ctx, &t, fc.model, fc.graph, &in, NULL), GAT_OK);
    float *out = malloc((size_t)(fc.r->shape[0] * fc.r->shape[1]) * sizeof *out);
    float d = 0;
    cr_assert_eq(gat_trainer_forward(ctx, t, true, out), GAT_OK);
    const gat_input_gradients ig = {.d_edge_attr = &d};
    cr_assert_eq(gat_trainer_backward_inputs(ctx, t, fc.r->data, &ig), GAT_ERR_INVALID);
    cr_assert(strstr(gat_context_message(ctx), "without edge_attr") != NULL, "%s",
              gat_context_message(ctx));
    free(out);
    gat_trainer_destroy(&t);
    case_free(ctx, &fc);
    gat_context_destroy(&ctx);
}
