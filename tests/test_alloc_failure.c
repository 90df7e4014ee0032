/*
 * "Brutal" allocation-failure tests (LAGraph's style): a whole session --
 * context, loaders (edge list plain and gzip, .npy features and indices,
 * safetensors model, binary CSR), forward, reordering, the writers, one
 * training step, two epochs of early-stopping training and a generated
 * graph -- is run again and again, the k-th allocation made through
 * the context's allocator failing in run k, for every k up to the number a
 * clean run makes. Each run must
 *  - see GAT_ERR_NOMEM (with a message) from the call whose allocation
 *    failed, or GAT_OK when the library could do without the memory (a size
 *    hint), and then the same results as the clean run;
 *  - leave no block behind once every object is destroyed;
 *  - leave the objects it had usable: a forward or training step that
 *    failed, repeated once allocations work again, gives the clean run's
 *    bits;
 *  - leave no partial or temporary file behind a failed write.
 * A second pass makes every allocation from the k-th on fail ("sticky"), so
 * the cleanup paths run while memory stays short. The GAT family trainer
 * (sparse and dense x, every dropout) gets a sweep of its own.
 */
#include <criterion/criterion.h>

#include "gat.h"
#include "support.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TRAIN_CASE GAT_TEST_DATA "/train/cora_like"
#define GZ_EDGES GAT_TEST_DATA "/edgelist/snap.txt.gz"

/* ------------------------------------------------------------------------ */
/* What a clean run produces                                                */
/* ------------------------------------------------------------------------ */

typedef struct results {
    int64_t nodes, edges, gz_edges, width, heads, attended;
    float *forward;   /* [nodes, width] */
    float *attention; /* [attended, heads] */
    float *reordered_forward; /* forward on the RCM-relabelled graph, un-permuted */
    float *params;    /* every parameter after one training step, layer by layer */
    int64_t num_params;
    gat_metrics train, val;
} results;

static void free_results(results *r)
{
    free(r->forward);
    free(r->attention);
    free(r->reordered_forward);
    free(r->params);
    memset(r, 0, sizeof *r);
}

/* Copies every parameter of the model into one malloc'd array. */
static float *gather_params(gat_model *m, int64_t *count)
{
    int64_t total = 0;
    for (int pass = 0; pass < 2; pass++) {
        float *out = pass ? malloc((size_t)total * sizeof *out) : NULL;
        int64_t at = 0;
        for (int l = 0; l < gat_model_num_layers(m); l++) {
            gat_layer_config c;
            gat_layer_params p;
            cr_assert_eq(gat_model_layer_config(m, l, &c), GAT_OK);
            cr_assert_eq(gat_model_layer_params(m, l, &p), GAT_OK);
            const int64_t hc = c.heads * c.channels;
            const struct { const float *data; int64_t n; } parts[] = {
                {p.weight, hc * c.in_features}, {p.att_src, hc}, {p.att_dst, hc},
                {p.bias, p.bias ? (c.concat ? hc : c.channels) : 0}};
            for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
                if (pass)
                    memcpy(out + at, parts[k].data, (size_t)parts[k].n * sizeof *out);
                at += parts[k].n;
            }
        }
        if (pass) {
            *count = total;
            return out;
        }
        total = at;
    }
    return NULL;
}

/* Bitwise equality, so that "usable after a failure" means exactly that. */
static void expect_same_bits(const float *got, const float *want, int64_t n, const char *what,
                             long long k)
{
    cr_assert(memcmp(got, want, (size_t)n * sizeof *got) == 0,
              "allocation %lld: %s differs from the clean run", k, what);
}

/* ------------------------------------------------------------------------ */
/* The session                                                              */
/* ------------------------------------------------------------------------ */

typedef struct session {
    test_counting *c;
    long long k;        /* the failing call (0: clean run) */
    const char *dir;    /* scratch directory for written files */
    results *want;      /* the clean run's results; NULL during the clean run */
    results *got;       /* filled by the clean run */
    gat_input_format input_format;
} session;

/* A call failed (status != GAT_OK): it must be for lack of memory, while
 * an allocation was being refused, and say so. */
static void expect_nomem(const session *s, gat_context *ctx, gat_status status, const char *call)
{
    cr_assert_neq(s->k, 0, "clean run: %s failed: %s (%s)", call, gat_status_str(status),
                  ctx ? gat_context_message(ctx) : "");
    cr_assert_eq(status, GAT_ERR_NOMEM, "allocation %lld: %s returned %s: %s", s->k, call,
                 gat_status_str(status), ctx ? gat_context_message(ctx) : "(no context)");
    cr_assert_gt(atomic_load(&s->c->failed), 0, "allocation %lld: %s failed, yet no allocation "
                 "was refused", s->k, call);
    if (ctx != NULL)
        cr_assert(gat_context_message(ctx)[0] != '\0',
                  "allocation %lld: %s returned GAT_ERR_NOMEM without a message", s->k, call);
}

/* Stops refusing allocations (before a retry). */
static void disarm(test_counting *c)
{
    atomic_store(&c->fail_at, 0);
}

/* A call whose failure ends the session; `done` is the cleanup label. */
#define CALL(expr)                                                                            \
    do {                                                                                      \
        gat_status status_ = (expr);                                                          \
        if (status_ != GAT_OK) {                                                              \
            expect_nomem(s, ctx, status_, #expr);                                             \
            goto done;                                                                        \
        }                                                                                     \
    } while (0)

/* One session. Returns after destroying everything it made. */
static void run_session(session *s)
{
    gat_context *ctx = NULL;
    gat_array *x = NULL, *labels = NULL, *train = NULL;
    gat_graph *graph = NULL, *gz = NULL, *loaded = NULL, *mapped = NULL, *reordered = NULL,
              *generated = NULL;
    int64_t gen_src[200], gen_dst[200];
    gat_model *model = NULL, *reloaded = NULL;
    gat_trainer *trainer = NULL;
    float *out = NULL, *attention = NULL, *moved = NULL, *out2 = NULL, *back = NULL;
    int64_t *new_id = NULL, *val = NULL;
    char path[512];
    int files = 0; /* files the session has completed in s->dir */

    gat_allocator allocator = test_counting_allocator(s->c);
    gat_context_options options;
    gat_context_options_init(&options);
    options.num_threads = 2;
    options.allocator = &allocator;
    {
        /* The context itself comes from the allocator: the first call. */
        gat_status status = gat_context_create(&ctx, &options);
        if (status != GAT_OK) {
            cr_assert_null(ctx);
            expect_nomem(s, NULL, status, "gat_context_create");
            goto done;
        }
    }

    /* Loaders: a failed load leaves its output NULL. */
    {
        gat_status status = gat_npy_read(ctx, TRAIN_CASE "/x.npy", GAT_FLOAT32, &x);
        if (status != GAT_OK) {
            cr_assert_null(x);
            expect_nomem(s, ctx, status, "gat_npy_read(x)");
            goto done;
        }
    }
    CALL(gat_npy_read(ctx, TRAIN_CASE "/labels.npy", GAT_INT64, &labels));
    CALL(gat_npy_read(ctx, TRAIN_CASE "/train.npy", GAT_INT64, &train));
    const int64_t n = x->shape[0], f = x->shape[1];
    {
        gat_status status = gat_graph_read_edgelist(ctx, &graph, TRAIN_CASE "/edges.txt", n);
        if (status != GAT_OK) {
            cr_assert_null(graph);
            expect_nomem(s, ctx, status, "gat_graph_read_edgelist");
            goto done;
        }
    }
    CALL(gat_graph_read(ctx, &gz, GZ_EDGES, -1));
    {
        gat_status status = gat_model_load(ctx, &model, TRAIN_CASE "/model.safetensors");
        if (status != GAT_OK) {
            cr_assert_null(model);
            expect_nomem(s, ctx, status, "gat_model_load");
            goto done;
        }
    }
    gat_layer_config last;
    cr_assert_eq(gat_model_layer_config(model, gat_model_num_layers(model) - 1, &last), GAT_OK);
    const int64_t width = gat_model_out_features(model);
    const int64_t attended = gat_graph_num_attention_edges(graph, last.add_self_loops);
    out = calloc((size_t)(n * width), sizeof *out);
    attention = calloc((size_t)(attended * last.heads), sizeof *attention);
    out2 = calloc((size_t)(n * width), sizeof *out2);
    back = calloc((size_t)(n * width), sizeof *back);
    moved = calloc((size_t)(n * f), sizeof *moved);
    new_id = calloc((size_t)n, sizeof *new_id);
    cr_assert(out && attention && out2 && back && moved && new_id);
    if (s->want != NULL) {
        cr_assert_eq(gat_graph_num_edges(gz), s->want->gz_edges);
        cr_assert_eq(attended, s->want->attended);
    } else {
        s->got->nodes = n;
        s->got->edges = gat_graph_num_edges(graph);
        s->got->gz_edges = gat_graph_num_edges(gz);
        s->got->width = width;
        s->got->heads = last.heads;
        s->got->attended = attended;
    }

    /* Forward. A failed forward leaves the model usable: the same call
     * with memory available gives the clean run's bits. */
    {
        gat_status status = gat_model_forward(ctx, model, graph, x->data, n, f, out, attention);
        if (status != GAT_OK) {
            expect_nomem(s, ctx, status, "gat_model_forward");
            disarm(s->c);
            cr_assert_eq(gat_model_forward(ctx, model, graph, x->data, n, f, out, attention),
                         GAT_OK, "allocation %lld: forward after a failed one: %s", s->k,
                         gat_context_message(ctx));
            expect_same_bits(out, s->want->forward, n * width, "forward after a failure", s->k);
            expect_same_bits(attention, s->want->attention, attended * last.heads,
                             "attention after a failure", s->k);
            goto done;
        }
        if (s->want != NULL) {
            expect_same_bits(out, s->want->forward, n * width, "forward", s->k);
            expect_same_bits(attention, s->want->attention, attended * last.heads, "attention",
                             s->k);
        } else {
            s->got->forward = malloc((size_t)(n * width) * sizeof(float));
            s->got->attention = malloc((size_t)(attended * last.heads) * sizeof(float));
            memcpy(s->got->forward, out, (size_t)(n * width) * sizeof(float));
            memcpy(s->got->attention, attention, (size_t)(attended * last.heads) * sizeof(float));
        }
    }
    gat_context_trim(ctx); /* the next forward allocates its workspace again */

    /* Relabelled graph: forward on it, permuted back, must be bitwise the
     * forward on the original. */
    {
        gat_status status = gat_graph_reorder(ctx, graph, GAT_ORDER_RCM, &reordered, new_id);
        if (status != GAT_OK) {
            cr_assert_null(reordered);
            expect_nomem(s, ctx, status, "gat_graph_reorder");
            goto done;
        }
    }
    CALL(gat_permute_rows(ctx, x->data, n, f, new_id, false, moved));
    CALL(gat_model_forward(ctx, model, reordered, moved, n, f, out2, NULL));
    CALL(gat_permute_rows(ctx, out2, n, width, new_id, true, back));
    if (s->want != NULL)
        expect_same_bits(back, s->want->forward, n * width, "forward on the reordered graph",
                         s->k);

    /* Writers: a failure leaves no file and no temporary file. */
    snprintf(path, sizeof path, "%s/out.npy", s->dir);
    {
        int64_t shape[2] = {n, width};
        CALL(gat_npy_write_f32(ctx, path, out, 2, shape));
        files++;
    }
    snprintf(path, sizeof path, "%s/labels.npy", s->dir);
    {
        int64_t shape[1] = {labels->shape[0]};
        CALL(gat_npy_write_i64(ctx, path, labels->data, 1, shape));
        files++;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", s->dir);
    CALL(gat_model_save(ctx, model, path));
    files++;
    {
        gat_status status = gat_model_load(ctx, &reloaded, path);
        if (status != GAT_OK) {
            cr_assert_null(reloaded);
            expect_nomem(s, ctx, status, "gat_model_load(saved)");
            goto done;
        }
    }
    snprintf(path, sizeof path, "%s/graph.gcsr", s->dir);
    CALL(gat_graph_save(ctx, graph, path));
    files++;
    {
        gat_status status = gat_graph_load(ctx, &loaded, path, 0);
        if (status != GAT_OK) {
            cr_assert_null(loaded);
            expect_nomem(s, ctx, status, "gat_graph_load");
            goto done;
        }
    }
    CALL(gat_graph_load(ctx, &mapped, path, GAT_LOAD_MMAP));
    cr_assert_eq(gat_graph_num_edges(loaded), gat_graph_num_edges(graph));
    cr_assert_eq(gat_graph_num_edges(mapped), gat_graph_num_edges(graph));

    /* Training: one step, then the metrics. A failed step leaves the
     * trainer usable: repeated with memory available it makes the clean
     * run's update. */
    gat_trainer_options topts;
    gat_trainer_options_init(&topts);
    topts.dropout = 0.5;
    topts.attention_dropout = 0.25;
    topts.projected_dropout = 0.3;
    topts.weight_decay = 5e-4;
    topts.seed = 7;
    topts.input_format = s->input_format;
    {
        gat_status status =
            gat_trainer_create(ctx, &trainer, reloaded, graph, x->data, n, f, &topts);
        if (status != GAT_OK) {
            cr_assert_null(trainer);
            expect_nomem(s, ctx, status, "gat_trainer_create");
            goto done;
        }
    }
    gat_metrics train_metrics, val_metrics;
    {
        gat_status status = gat_trainer_step(ctx, trainer, labels->data, train->data,
                                             train->shape[0], &train_metrics);
        if (status != GAT_OK) {
            expect_nomem(s, ctx, status, "gat_trainer_step");
            disarm(s->c);
            cr_assert_eq(gat_trainer_step(ctx, trainer, labels->data, train->data,
                                          train->shape[0], &train_metrics),
                         GAT_OK, "allocation %lld: step after a failed one: %s", s->k,
                         gat_context_message(ctx));
            cr_assert_eq(gat_trainer_steps(trainer), 1,
                         "allocation %lld: a failed step was counted", s->k);
            int64_t count = 0;
            float *params = gather_params(reloaded, &count);
            cr_assert_eq(count, s->want->num_params);
            expect_same_bits(params, s->want->params, count, "parameters after a failed step",
                             s->k);
            free(params);
            cr_assert_eq(train_metrics.loss, s->want->train.loss);
            goto done;
        }
    }
    /* Validation on the nodes outside the training set. */
    int64_t num_val = 0;
    val = calloc((size_t)n, sizeof *val);
    cr_assert_not_null(val);
    for (int64_t i = 0; i < n; i++) {
        bool in_train = false;
        for (int64_t t = 0; t < train->shape[0]; t++)
            in_train |= ((const int64_t *)train->data)[t] == i;
        if (!in_train)
            val[num_val++] = i;
    }
    CALL(gat_trainer_evaluate(ctx, trainer, labels->data, val, num_val, &val_metrics));
    {
        int64_t count = 0;
        float *params = gather_params(reloaded, &count);
        if (s->want != NULL) {
            cr_assert_eq(count, s->want->num_params);
            expect_same_bits(params, s->want->params, count, "parameters after a step", s->k);
            cr_assert_eq(train_metrics.loss, s->want->train.loss);
            cr_assert_eq(val_metrics.loss, s->want->val.loss);
            free(params);
        } else {
            s->got->params = params;
            s->got->num_params = count;
            s->got->train = train_metrics;
            s->got->val = val_metrics;
        }
    }
    gat_metrics eval_metrics;
    CALL(gat_model_evaluate(ctx, reloaded, graph, x->data, n, f, labels->data, val, num_val,
                            &eval_metrics));
    /* Two epochs of early-stopping training (it keeps a copy of the best
     * parameters), then a generated graph. */
    gat_fit_options fit;
    gat_fit_options_init(&fit);
    fit.max_epochs = 2;
    gat_fit_result fitted;
    CALL(gat_trainer_fit(ctx, trainer, labels->data, train->data, train->shape[0], val, num_val,
                         &fit, &fitted));
    cr_assert_eq(fitted.epochs, 2);
    CALL(gat_generate_edges(ctx, GAT_GEN_RMAT, 50, 200, 3, gen_src, gen_dst));
    {
        gat_status status = gat_graph_create(ctx, &generated, 50, 200, gen_src, gen_dst);
        if (status != GAT_OK) {
            cr_assert_null(generated);
            expect_nomem(s, ctx, status, "gat_graph_create");
            goto done;
        }
    }

done:
    disarm(s->c);
    gat_trainer_destroy(&trainer);
    gat_graph_destroy(&generated);
    gat_model_destroy(&reloaded);
    gat_model_destroy(&model);
    gat_graph_destroy(&mapped);
    gat_graph_destroy(&loaded);
    gat_graph_destroy(&reordered);
    gat_graph_destroy(&gz);
    gat_graph_destroy(&graph);
    gat_array_destroy(&train);
    gat_array_destroy(&labels);
    gat_array_destroy(&x);
    gat_context_destroy(&ctx);
    free(out);
    free(attention);
    free(out2);
    free(back);
    free(moved);
    free(new_id);
    free(val);
    cr_assert_eq(atomic_load(&s->c->live), 0, "allocation %lld%s: %lld blocks leaked", s->k,
                 atomic_load(&s->c->sticky) ? " on" : "", (long long)atomic_load(&s->c->live));
    cr_assert_eq(test_count_files(s->dir), files,
                 "allocation %lld: %d files in %s, expected the %d completed ones (a partial "
                 "or temporary file was left)",
                 s->k, test_count_files(s->dir), s->dir, files);
    test_clear_dir(s->dir);
}

/* The clean run, then every k, one-off and sticky. */
static void sweep(gat_input_format input_format)
{
    char dir[64];
    test_make_temp_dir(dir, sizeof dir, "gat-alloc");
    test_counting c;
    test_counting_init(&c);
    results want;
    memset(&want, 0, sizeof want);
    session s = {&c, 0, dir, NULL, &want, input_format};
    run_session(&s);
    const long long total = atomic_load(&c.calls);
    cr_assert_gt(total, 30, "a session makes many allocations (%lld)", total);
    cr_assert_not_null(want.params, "the clean run got to the end");

    s.want = &want;
    s.got = NULL;
    for (int sticky = 0; sticky < 2; sticky++) {
        for (long long k = 1; k <= total; k++) {
            atomic_store(&c.sticky, sticky != 0);
            test_counting_arm(&c, k);
            s.k = k;
            run_session(&s);
            cr_assert_gt(atomic_load(&c.failed), 0,
                         "allocation %lld was never made: the session is not deterministic", k);
        }
    }
    free_results(&want);
    test_remove_dir(dir);
}

Test(alloc_failure, whole_session_dense_input, .timeout = 600)
{
    sweep(GAT_INPUT_DENSE);
}

Test(alloc_failure, whole_session_sparse_input, .timeout = 600)
{
    sweep(GAT_INPUT_SPARSE);
}

/* ------------------------------------------------------------------------ */
/* The GAT family trainer                                                   */
/* ------------------------------------------------------------------------ */

/* A GATv2 model with edge features and residual, then share_weights
 * (tests/data/family_train/v2_projected), x held sparse or dense, every
 * dropout on: trainer creation, a step, an evaluation and two epochs of
 * fit, the k-th allocation failing (or every one from the k-th). The
 * inputs are loaded once outside the count; the model afresh each run. */
#define FAMILY_CASE GAT_TEST_DATA "/family_train/v2_projected"

typedef struct family_data {
    gat_context *plain; /* loads outside the count */
    gat_array *x, *edge_attr;
    int64_t labels[64]; /* over the model's 3 classes */
    int64_t *src, *dst, num_edges;
    gat_graph *graph;
    int64_t index[12];
} family_data;

/* One run; the clean run (k == 0) records its metrics in want, later
 * runs that get through compare theirs bit for bit. */
static void family_run(test_counting *c, gat_context *ctx, const family_data *d, long long k,
                       gat_input_format format, gat_metrics *want)
{
    gat_model *model = NULL;
    gat_trainer *t = NULL;
    cr_assert_eq(gat_model_load(d->plain, &model, FAMILY_CASE "/model.safetensors"), GAT_OK);
    gat_trainer_options o;
    gat_trainer_options_init(&o);
    o.dropout = 0.5;
    o.attention_dropout = 0.25;
    o.projected_dropout = 0.3;
    o.seed = 7;
    o.input_format = format;
    gat_inputs in;
    gat_inputs_init(&in, d->x->data, d->x->shape[0], d->x->shape[1]);
    in.edge_attr = d->edge_attr->data;
    in.num_edges = d->edge_attr->shape[0];
    in.edge_dim = d->edge_attr->shape[1];
    const int64_t *labels = d->labels;
    gat_metrics train, val;
    test_counting_arm(c, k);
    gat_status status = gat_trainer_create_inputs(ctx, &t, model, d->graph, &in, &o);
    if (status != GAT_OK) {
        cr_assert_null(t);
        cr_assert_eq(status, GAT_ERR_NOMEM, "allocation %lld: create: %s", k,
                     gat_context_message(ctx));
        goto done;
    }
    cr_assert_eq(gat_trainer_sparse_input(t), format == GAT_INPUT_SPARSE);
    /* A step or evaluation that failed leaves the trainer usable: once more
     * with memory available it makes the clean run's. */
    for (int call = 0; call < 2; call++) {
        for (int attempt = 0; attempt < 2; attempt++) {
            status = call == 0 ? gat_trainer_step(ctx, t, labels, d->index, 12, &train)
                               : gat_trainer_evaluate(ctx, t, labels, d->index, 12, &val);
            if (status == GAT_OK)
                break;
            cr_assert(attempt == 0 && status == GAT_ERR_NOMEM, "allocation %lld: %s: %s", k,
                      call == 0 ? "step" : "evaluate", gat_context_message(ctx));
            disarm(c);
        }
    }
    if (k == 0)
        *want = val;
    else
        cr_assert(memcmp(&val, want, sizeof val) == 0,
                  "allocation %lld: the evaluation after the step differs", k);
    gat_fit_options fit;
    gat_fit_options_init(&fit);
    fit.max_epochs = 2;
    gat_fit_result fitted;
    status = gat_trainer_fit(ctx, t, labels, d->index, 6, d->index + 6, 6, &fit, &fitted);
    cr_assert(status == GAT_OK || status == GAT_ERR_NOMEM, "allocation %lld: fit: %s", k,
              gat_context_message(ctx));
done:
    cr_assert(k == 0 || atomic_load(&c->failed) > 0,
              "allocation %lld was never made: the session is not deterministic", k);
    disarm(c);
    gat_trainer_destroy(&t);
    gat_model_destroy(&model);
    gat_context_trim(ctx);
    cr_assert_eq(atomic_load(&c->live), 1, "allocation %lld%s: %lld blocks leaked", k,
                 atomic_load(&c->sticky) ? " on" : "", (long long)atomic_load(&c->live) - 1);
}

static void family_sweep(gat_input_format format)
{
    family_data d;
    memset(&d, 0, sizeof d);
    d.plain = test_context(2, NULL);
    cr_assert_eq(gat_npy_read(d.plain, FAMILY_CASE "/x.npy", GAT_FLOAT32, &d.x), GAT_OK);
    cr_assert_eq(gat_npy_read(d.plain, FAMILY_CASE "/edge_attr.npy", GAT_FLOAT32, &d.edge_attr),
                 GAT_OK);
    int64_t max_id;
    cr_assert_eq(gat_edgelist_read(d.plain, FAMILY_CASE "/edges.txt", -1, &d.src, &d.dst,
                                   &d.num_edges, &max_id),
                 GAT_OK);
    const int64_t n = d.x->shape[0];
    cr_assert_eq(gat_graph_create(d.plain, &d.graph, n, d.num_edges, d.src, d.dst), GAT_OK);
    /* 12 nodes: 6 to train, 6 to validate. */
    cr_assert(n <= 64);
    for (int64_t i = 0; i < n; i++)
        d.labels[i] = i % 3;
    for (int i = 0; i < 12; i++)
        d.index[i] = 2 * i;

    test_counting c;
    gat_context *ctx = test_counting_context(&c, 2);
    gat_metrics want;
    family_run(&c, ctx, &d, 0, format, &want);
    const long long total = atomic_load(&c.calls);
    cr_assert_gt(total, 10, "a family session makes many allocations (%lld)", total);
    cr_log_info("family trainer, %s x: %lld allocations",
                format == GAT_INPUT_SPARSE ? "sparse" : "dense", total);
    for (int sticky = 0; sticky < 2; sticky++)
        for (long long k = 1; k <= total; k++) {
            atomic_store(&c.sticky, sticky != 0);
            family_run(&c, ctx, &d, k, format, &want);
        }
    gat_context_destroy(&ctx);
    gat_array_destroy(&d.x);
    gat_array_destroy(&d.edge_attr);
    gat_graph_destroy(&d.graph);
    gat_free(d.plain, d.src);
    gat_free(d.plain, d.dst);
    gat_context_destroy(&d.plain);
}

Test(alloc_failure, family_trainer_dense_input, .timeout = 600)
{
    family_sweep(GAT_INPUT_DENSE);
}

Test(alloc_failure, family_trainer_sparse_input, .timeout = 600)
{
    family_sweep(GAT_INPUT_SPARSE);
}
