/*
 * gat-train: train a two-layer GAT for node classification on a data set
 * folder (the paper's transductive setting), with early stopping, and
 * report the test accuracy.
 */
#include "cli_common.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const program = "gat-train";

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: gat-train --data DIR [--preset cora|citeseer|pubmed] [options]\n"
            "\n"
            "Trains a GAT (Velickovic et al., ICLR 2018; PyTorch Geometric GATConv layers)\n"
            "for node classification: layer 1 has HEADS x HIDDEN channels, concatenated,\n"
            "then ELU; layer 2 has OUT-HEADS heads of one channel per class, averaged.\n"
            "Dropout on the input of both layers, on the attention coefficients and (as the\n"
            "GAT authors' code) on the projected features the aggregation reads; Adam\n"
            "with L2 weight decay; early stopping on the validation set.\n"
            "\n"
            "Data:\n"
            "  --data DIR            DIR/edges.txt ('src dst' lines), DIR/features.npy\n"
            "                        (float32 or float64 [N, F]), DIR/labels.npy (int32 or\n"
            "                        int64 [N], classes 0..K-1), DIR/train.npy, DIR/val.npy,\n"
            "                        DIR/test.npy (node ids, int32 or int64)\n"
            "  --graph FILE          the graph as a .gcsr (gat-convert --nodes N DIR/edges.txt\n"
            "                        FILE) instead of DIR/edges.txt; under mpirun the\n"
            "                        default is DIR/edges.gcsr\n"
            "  --normalize           divide each feature row by its sum (all-zero rows stay)\n"
            "  --no-normalize        use the features as they are\n"
            "Hyperparameters (defaults: the paper's Cora settings; --preset picks the\n"
            "paper's for a data set, and any flag below overrides it):\n"
            "  --preset NAME         cora, citeseer: heads 8, hidden 8, out-heads 1, lr 0.005,\n"
            "                        weight decay 5e-4; pubmed: out-heads 8, lr 0.01, weight\n"
            "                        decay 1e-3; all: dropout 0.6, attention dropout 0.6,\n"
            "                        projected dropout 0.6, patience 100, normalized\n"
            "                        features\n"
            "  --heads H             heads of layer 1 (8)\n"
            "  --hidden C            channels per head of layer 1 (8)\n"
            "  --out-heads H         heads of layer 2, averaged (1)\n"
            "  --layer-type gat|gatv2\n"
            "                        both layers' kind: PyG's GATConv (gat) or GATv2Conv\n"
            "                        (gatv2, Brody et al. 2022) (gat)\n"
            "  --share-weights       gatv2: one weight for both sides (lin_r is lin_l)\n"
            "  --residual            both layers add x.res.weight^T to their output (PyG's\n"
            "                        residual=True)\n"
            "  --edge-attr FILE      edge features, float32 or float64 [E, D], row k for the\n"
            "                        k-th line of DIR/edges.txt; both layers get edge_dim D\n"
            "  --fill-value V        the added self-loops' attributes with --edge-attr: mean,\n"
            "                        add, max, min, mul (of the node's incoming edges') or a\n"
            "                        number (mean)\n"
            "  --lr X                Adam's learning rate (0.005)\n"
            "  --weight-decay X      L2 on every parameter, as torch.optim.Adam's (5e-4)\n"
            "  --dropout P           on each layer's input (0.6)\n"
            "  --attention-dropout P on the attention coefficients (0.6)\n"
            "  --projected-dropout P on each layer's projected features x.W^T as the\n"
            "                        aggregation reads them; the attention scores read them\n"
            "                        as they are (the GAT authors' TensorFlow code; PyG's\n"
            "                        GATConv and GATv2Conv have no such dropout: 0 trains\n"
            "                        exactly as PyG); every layer type and option (0.6)\n"
            "  --patience N          stop after N epochs in which neither the validation\n"
            "                        loss reached its lowest nor the accuracy its highest;\n"
            "                        0 never stops early (100)\n"
            "  --epochs N            at most N epochs (1000)\n"
            "Run:\n"
            "  --seed S              parameter initialisation and dropout masks (0)\n"
            "  --threads T           OpenMP threads (default: OMP_NUM_THREADS or all cores);\n"
            "                        the results are bitwise the same for any T\n"
            "  --input auto|dense|sparse\n"
            "                        how layer 1's input is held (auto: sparse at <= 10%%\n"
            "                        non-zeros, as bag-of-words features are), for every\n"
            "                        layer type and option\n"
            "  --save FILE           write the trained model (safetensors, as gat-infer reads;\n"
            "                        it records the row normalisation, which gat-infer then\n"
            "                        applies to its input);\n"
            "                        FILE is checked before training (its folder exists and\n"
            "                        is writable, it is no input), then written through a\n"
            "                        temporary file renamed at the end (complete or not at\n"
            "                        all; a symlink's target replaced; a device or FIFO\n"
            "                        written in place); non-finite parameters are not saved\n"
            "  --progress auto|lines|bar|none\n"
            "                        per-epoch report: 'lines' prints one line per epoch on\n"
            "                        stdout (epoch, train loss and accuracy, validation loss\n"
            "                        and accuracy, ms; '*' marks a kept model), 'bar' a\n"
            "                        progress bar on stderr; auto: bar when stderr is a\n"
            "                        terminal, else lines\n"
            "  --help, --version\n"
            "\n"
            "The model kept is that of the last epoch where validation accuracy and loss\n"
            "both matched or beat their best so far (the GAT reference code's rule). The\n"
            "last line of stdout is the test accuracy of that model, e.g.\n"
            "'test accuracy: 0.8310'. Errors end with one line on stderr, exit 1; usage\n"
            "errors exit 2.\n"
            "\n"
            "Under mpirun (-np K) every rank reads only its rows of the .gcsr graph and of\n"
            "DIR/features.npy and trains them; the model, losses and test accuracy are\n"
            "bitwise those of one process (plain GAT layers; docs/distributed.md).\n");
}

typedef enum progress_mode { PROGRESS_AUTO, PROGRESS_LINES, PROGRESS_BAR, PROGRESS_NONE } progress_mode;

typedef struct train_options {
    const char *data, *save, *graph;
    int64_t heads, hidden, out_heads, patience, epochs;
    gat_layer_type layer_type;
    bool share_weights, residual;
    const char *edge_attr;
    gat_fill fill_value;
    float fill_constant;
    double lr, weight_decay, dropout, attention_dropout, projected_dropout;
    bool normalize;
    uint64_t seed;
    int threads;
    gat_input_format input;
    progress_mode progress;
} train_options;

/* Which flags were given, so a preset never overrides them. */
enum { SET_HEADS, SET_HIDDEN, SET_OUT_HEADS, SET_LR, SET_WD, SET_DROPOUT, SET_ATT_DROPOUT,
       SET_PROJ_DROPOUT, SET_PATIENCE, SET_NORMALIZE, SET_COUNT };

static void apply_preset(train_options *o, const char *preset, const bool *set)
{
    train_options p = *o;
    p.heads = 8, p.hidden = 8, p.out_heads = 1, p.lr = 0.005, p.weight_decay = 5e-4;
    /* The authors' attn_head drops out the projected features at the input
     * rate (in_drop); see docs/training.md for what it does to accuracy. */
    p.dropout = 0.6, p.attention_dropout = 0.6, p.projected_dropout = 0.6;
    p.patience = 100, p.normalize = true;
    if (strcmp(preset, "pubmed") == 0)
        p.out_heads = 8, p.lr = 0.01, p.weight_decay = 1e-3;
    else if (strcmp(preset, "cora") != 0 && strcmp(preset, "citeseer") != 0)
        cli_usage_error(program, "--preset expects cora, citeseer or pubmed, got '%s'", preset);
    if (!set[SET_HEADS]) o->heads = p.heads;
    if (!set[SET_HIDDEN]) o->hidden = p.hidden;
    if (!set[SET_OUT_HEADS]) o->out_heads = p.out_heads;
    if (!set[SET_LR]) o->lr = p.lr;
    if (!set[SET_WD]) o->weight_decay = p.weight_decay;
    if (!set[SET_DROPOUT]) o->dropout = p.dropout;
    if (!set[SET_ATT_DROPOUT]) o->attention_dropout = p.attention_dropout;
    /* Every layer type the same settings, so that GATv2 and GATConv compare
     * under one regime (docs/training.md). */
    if (!set[SET_PROJ_DROPOUT]) o->projected_dropout = p.projected_dropout;
    if (!set[SET_PATIENCE]) o->patience = p.patience;
    if (!set[SET_NORMALIZE]) o->normalize = p.normalize;
}

static double parse_rate(const char *option, const char *text)
{
    double v = cli_parse_double(program, option, text);
    if (!(v >= 0.0 && v < 1.0))
        cli_usage_error(program, "%s expects a probability in [0, 1), got '%s'", option, text);
    return v;
}

static double parse_positive(const char *option, const char *text, bool zero_ok)
{
    double v = cli_parse_double(program, option, text);
    if (!(v > 0.0 || (zero_ok && v == 0.0)))
        cli_usage_error(program, "%s expects a number %s 0, got '%s'", option,
                        zero_ok ? ">=" : ">", text);
    return v;
}

static train_options parse_options(int argc, char **argv)
{
    train_options o = {.epochs = 1000, .progress = PROGRESS_AUTO, .input = GAT_INPUT_AUTO};
    bool set[SET_COUNT] = {false}, fill_set = false;
    const char *preset = "cora";
    enum { O_DATA = 256, O_PRESET, O_HEADS, O_HIDDEN, O_OUT_HEADS, O_LR, O_WD, O_DROPOUT,
           O_ATT_DROPOUT, O_PROJ_DROPOUT, O_PATIENCE, O_EPOCHS, O_NORMALIZE, O_NO_NORMALIZE,
           O_SEED, O_THREADS, O_INPUT, O_SAVE, O_PROGRESS, O_HELP, O_VERSION, O_LAYER_TYPE,
           O_SHARE_WEIGHTS, O_RESIDUAL, O_EDGE_ATTR, O_FILL_VALUE, O_GRAPH };
    static const struct option options[] = {
        {"data", required_argument, NULL, O_DATA},
        {"graph", required_argument, NULL, O_GRAPH},
        {"preset", required_argument, NULL, O_PRESET},
        {"heads", required_argument, NULL, O_HEADS},
        {"hidden", required_argument, NULL, O_HIDDEN},
        {"out-heads", required_argument, NULL, O_OUT_HEADS},
        {"layer-type", required_argument, NULL, O_LAYER_TYPE},
        {"share-weights", no_argument, NULL, O_SHARE_WEIGHTS},
        {"residual", no_argument, NULL, O_RESIDUAL},
        {"edge-attr", required_argument, NULL, O_EDGE_ATTR},
        {"fill-value", required_argument, NULL, O_FILL_VALUE},
        {"lr", required_argument, NULL, O_LR},
        {"weight-decay", required_argument, NULL, O_WD},
        {"dropout", required_argument, NULL, O_DROPOUT},
        {"attention-dropout", required_argument, NULL, O_ATT_DROPOUT},
        {"projected-dropout", required_argument, NULL, O_PROJ_DROPOUT},
        {"patience", required_argument, NULL, O_PATIENCE},
        {"epochs", required_argument, NULL, O_EPOCHS},
        {"normalize", no_argument, NULL, O_NORMALIZE},
        {"no-normalize", no_argument, NULL, O_NO_NORMALIZE},
        {"seed", required_argument, NULL, O_SEED},
        {"threads", required_argument, NULL, O_THREADS},
        {"input", required_argument, NULL, O_INPUT},
        {"save", required_argument, NULL, O_SAVE},
        {"progress", required_argument, NULL, O_PROGRESS},
        {"help", no_argument, NULL, O_HELP},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0}};
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case O_DATA: o.data = optarg; break;
        case O_GRAPH: o.graph = optarg; break;
        case O_PRESET: preset = optarg; break;
        case O_HEADS:
            o.heads = cli_parse_int(program, "--heads", optarg, 1, 4096), set[SET_HEADS] = true;
            break;
        case O_HIDDEN:
            o.hidden = cli_parse_int(program, "--hidden", optarg, 1, 1 << 16);
            set[SET_HIDDEN] = true;
            break;
        case O_OUT_HEADS:
            o.out_heads = cli_parse_int(program, "--out-heads", optarg, 1, 4096);
            set[SET_OUT_HEADS] = true;
            break;
        case O_LAYER_TYPE: o.layer_type = cli_parse_layer_type(program, "--layer-type", optarg); break;
        case O_SHARE_WEIGHTS: o.share_weights = true; break;
        case O_RESIDUAL: o.residual = true; break;
        case O_EDGE_ATTR: o.edge_attr = optarg; break;
        case O_FILL_VALUE: {
            static const char *const names[] = {"mean", "add", "max", "min", "mul"};
            static const int values[] = {GAT_FILL_MEAN, GAT_FILL_ADD, GAT_FILL_MAX, GAT_FILL_MIN,
                                         GAT_FILL_MUL};
            int k = 0;
            while (k < 5 && strcmp(optarg, names[k]) != 0)
                k++;
            if (k < 5) {
                o.fill_value = (gat_fill)values[k];
            } else {
                char *end;
                const double v = strtod(optarg, &end);
                if (end == optarg || *end != '\0' || !isfinite(v) || fabs(v) > 3.4e38)
                    cli_usage_error(program,
                                    "--fill-value expects mean, add, max, min, mul or a number, "
                                    "got '%s'",
                                    optarg);
                o.fill_value = GAT_FILL_CONSTANT;
                o.fill_constant = (float)v;
            }
            fill_set = true;
            break;
        }
        case O_LR: o.lr = parse_positive("--lr", optarg, false), set[SET_LR] = true; break;
        case O_WD:
            o.weight_decay = parse_positive("--weight-decay", optarg, true), set[SET_WD] = true;
            break;
        case O_DROPOUT:
            o.dropout = parse_rate("--dropout", optarg), set[SET_DROPOUT] = true;
            break;
        case O_ATT_DROPOUT:
            o.attention_dropout = parse_rate("--attention-dropout", optarg);
            set[SET_ATT_DROPOUT] = true;
            break;
        case O_PROJ_DROPOUT:
            o.projected_dropout = parse_rate("--projected-dropout", optarg);
            set[SET_PROJ_DROPOUT] = true;
            break;
        case O_PATIENCE:
            o.patience = cli_parse_int(program, "--patience", optarg, 0, INT64_MAX);
            set[SET_PATIENCE] = true;
            break;
        case O_EPOCHS: o.epochs = cli_parse_int(program, "--epochs", optarg, 1, INT64_MAX); break;
        case O_NORMALIZE: o.normalize = true, set[SET_NORMALIZE] = true; break;
        case O_NO_NORMALIZE: o.normalize = false, set[SET_NORMALIZE] = true; break;
        case O_SEED: o.seed = (uint64_t)cli_parse_int(program, "--seed", optarg, 0, INT64_MAX); break;
        case O_THREADS: o.threads = cli_parse_threads(program, "--threads", optarg); break;
        case O_INPUT: {
            static const char *const names[] = {"auto", "dense", "sparse"};
            static const int values[] = {GAT_INPUT_AUTO, GAT_INPUT_DENSE, GAT_INPUT_SPARSE};
            o.input = cli_parse_choice(program, "--input", optarg, names, values, 3);
            break;
        }
        case O_SAVE: o.save = optarg; break;
        case O_PROGRESS: {
            static const char *const names[] = {"auto", "lines", "bar", "none"};
            static const int values[] = {PROGRESS_AUTO, PROGRESS_LINES, PROGRESS_BAR,
                                         PROGRESS_NONE};
            o.progress = cli_parse_choice(program, "--progress", optarg, names, values, 4);
            break;
        }
        case O_HELP: usage(stdout); exit(0);
        case O_VERSION:
            cli_print_version(program);
            exit(0);
        default: cli_unknown_option(program, argv[optind - 1], options);
        }
    }
    if (optind < argc)
        cli_usage_error(program, "unexpected argument '%s'", argv[optind]);
    if (o.data == NULL)
        cli_usage_error(program, "--data DIR is required");
    if (o.share_weights && o.layer_type != GAT_LAYER_GATV2)
        cli_usage_error(program, "--share-weights is for --layer-type gatv2");
    if (fill_set && o.edge_attr == NULL)
        cli_usage_error(program, "--fill-value is for --edge-attr");
    apply_preset(&o, preset, set);
    if (o.progress == PROGRESS_AUTO)
        o.progress = isatty(STDERR_FILENO) ? PROGRESS_BAR : PROGRESS_LINES;
    return o;
}

static gat_array *read_array(gat_context *ctx, const char *dir, const char *file, gat_dtype dt)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path)
        cli_fail(program, "%s/%s: path too long", dir, file);
    gat_array *a = NULL;
    cli_check(program, ctx, gat_npy_read(ctx, path, dt, &a));
    return a;
}

/* Node ids of a split: each in [0, n). */
static void check_split(const char *dir, const char *file, const gat_array *a, int64_t n)
{
    const int64_t *ids = a->data;
    if (a->shape[0] < 1)
        cli_fail(program, "%s/%s: the split is empty", dir, file);
    for (int64_t k = 0; k < a->shape[0]; k++)
        if (ids[k] < 0 || ids[k] >= n)
            cli_fail(program, "%s/%s: entry %lld is %lld, not a node id in [0, %lld)", dir, file,
                     (long long)k, (long long)ids[k], (long long)n);
}

typedef struct progress {
    progress_mode mode;
    int64_t max_epochs;
    double last_draw; /* when the bar was last redrawn */
    gat_epoch_report last; /* the latest epoch's report */
} progress;

static void draw_bar(const gat_epoch_report *r, int64_t max_epochs)
{
    const int width = 30;
    int filled = (int)((double)width * (double)r->epoch / (double)max_epochs);
    char bar[64];
    for (int k = 0; k < width; k++)
        bar[k] = k < filled ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\r[%s] epoch %lld  val loss %.4f  val acc %.4f  patience %lld   ", bar,
            (long long)r->epoch, r->val.loss, r->val.accuracy, (long long)r->patience_left);
    fflush(stderr);
}

static bool on_epoch(const gat_epoch_report *r, void *user)
{
    progress *p = user;
    p->last = *r;
    if (p->mode == PROGRESS_LINES) {
        printf("epoch %4lld  loss %.4f  train acc %.4f  val loss %.4f  val acc %.4f  %6.2f ms%s\n",
               (long long)r->epoch, r->train.loss, r->train.accuracy, r->val.loss,
               r->val.accuracy, 1e3 * r->seconds, r->saved ? "  *" : "");
    } else if (p->mode == PROGRESS_BAR) {
        /* Redrawn at most ten times a second; the last state is drawn by main. */
        const double now = cli_now();
        if (now - p->last_draw >= 0.1 || r->epoch == 1) {
            draw_bar(r, p->max_epochs);
            p->last_draw = now;
        }
    }
    return true;
}

/* The labels' classes (ids in [0, K), K >= 2), and the splits' ids in [0, n). */
static int64_t check_labels(const train_options *o, const gat_array *labels,
                            const gat_array *train, const gat_array *val, const gat_array *test,
                            int64_t n)
{
    if (labels->shape[0] != n)
        cli_fail(program, "%s/labels.npy has %lld entries but features.npy has %lld rows", o->data,
                 (long long)labels->shape[0], (long long)n);
    int64_t classes = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t y = ((const int64_t *)labels->data)[i];
        if (y < 0 || y > 1 << 20)
            cli_fail(program, "%s/labels.npy: entry %lld is %lld, not a class id", o->data,
                     (long long)i, (long long)y);
        if (y + 1 > classes)
            classes = y + 1;
    }
    if (classes < 2)
        cli_fail(program, "%s/labels.npy: needs at least 2 classes", o->data);
    check_split(o->data, "train.npy", train, n);
    check_split(o->data, "val.npy", val, n);
    check_split(o->data, "test.npy", test, n);
    return classes;
}

/* The two-layer model of the options, initialised from the seed. */
static gat_model *make_model(gat_context *ctx, const train_options *o, int64_t f,
                             int64_t classes, int64_t edge_dim)
{
    gat_layer_config layers[2];
    gat_layer_config_init(&layers[0], f, o->heads, o->hidden);
    gat_layer_config_init(&layers[1], o->heads * o->hidden, o->out_heads, classes);
    layers[1].concat = false;
    for (int l = 0; l < 2; l++) {
        layers[l].type = o->layer_type;
        layers[l].share_weights = o->share_weights;
        layers[l].residual = o->residual;
        if (edge_dim > 0) {
            layers[l].edge_dim = edge_dim;
            layers[l].fill_value = o->fill_value;
            layers[l].fill_constant = o->fill_constant;
        }
    }
    gat_model *model = NULL;
    cli_check(program, ctx, gat_model_create(ctx, &model, 2, layers, GAT_ACT_ELU));
    cli_check(program, ctx, gat_model_init_glorot(ctx, model, o->seed));
    /* Saved with the model, so gat-infer normalises its input as well. */
    if (o->normalize)
        cli_check(program, ctx,
                  gat_model_set_preprocessing(ctx, model, GAT_PREPROCESS_NORMALIZE_ROWS));
    return model;
}

static gat_trainer_options trainer_options(const train_options *o)
{
    gat_trainer_options t;
    gat_trainer_options_init(&t);
    t.learning_rate = o->lr;
    t.weight_decay = o->weight_decay;
    t.dropout = o->dropout;
    t.attention_dropout = o->attention_dropout;
    t.projected_dropout = o->projected_dropout;
    t.seed = o->seed;
    t.input_format = o->input;
    return t;
}

static gat_fit_options fit_options(const train_options *o, progress *prog)
{
    gat_fit_options f;
    gat_fit_options_init(&f);
    f.max_epochs = o->epochs;
    f.patience = o->patience;
    f.on_epoch = on_epoch;
    f.user = prog;
    return f;
}

static void end_progress(const train_options *o, const progress *prog)
{
    if (o->progress == PROGRESS_BAR) {
        if (prog->last.epoch > 0)
            draw_bar(&prog->last, o->epochs);
        fputc('\n', stderr);
    }
}

static void print_result(const train_options *o, const gat_fit_result *result,
                         double fit_seconds, const gat_metrics *test)
{
    printf("%s after %lld epochs in %.3f s (%.2f ms/epoch); kept epoch %lld: val loss %.4f, "
           "val acc %.4f; test loss %.4f\n",
           result->stopped_early ? "stopped early" : "stopped", (long long)result->epochs,
           fit_seconds, result->epochs > 0 ? 1e3 * fit_seconds / (double)result->epochs : 0.0,
           (long long)result->best_epoch, result->best_val.loss, result->best_val.accuracy,
           test->loss);
    if (o->save != NULL)
        printf("saved the model to %s\n", o->save);
    printf("test accuracy: %.4f\n", test->accuracy);
}

/* Under mpirun (gat_dist_launched): every rank reads the labels and
 * splits, and only its rows of the .gcsr graph and the features; the
 * ranks train together (gat_dist_trainer_fit) and rank 0 prints and saves.
 * The other ranks are silent: checks of the shared files fail alike on
 * every rank, and the library's errors are agreed (gat_dist_agree). */
static int run_distributed(gat_context *ctx, train_options *o, double t_start)
{
    if (!gat_have_mpi())
        cli_fail(program, "started by an MPI launcher, but this libgat was built without MPI "
                          "(meson setup -Dmpi=enabled)");
    int rank = 0, ranks = 1;
    cli_check(program, ctx, gat_dist_init(ctx, &rank, &ranks));
    if (rank != 0) {
        o->progress = PROGRESS_NONE;
        if (freopen("/dev/null", "w", stdout) == NULL || freopen("/dev/null", "w", stderr) == NULL)
            return 1;
    }
    if (o->layer_type != GAT_LAYER_GAT || o->residual || o->edge_attr != NULL)
        cli_usage_error(program, "a distributed run trains plain GAT layers only (no "
                                 "--layer-type gatv2, --residual or --edge-attr; "
                                 "docs/distributed.md)");
    char graph_path[4096], features_path[4096];
    if (snprintf(graph_path, sizeof graph_path, "%s/edges.gcsr", o->data) >=
            (int)sizeof graph_path ||
        snprintf(features_path, sizeof features_path, "%s/features.npy", o->data) >=
            (int)sizeof features_path)
        cli_fail(program, "%s: path too long", o->data);
    if (o->graph != NULL)
        snprintf(graph_path, sizeof graph_path, "%s", o->graph);
    /* Rank 0 checks the output before any work, as one process does. */
    gat_output *save = NULL;
    gat_status status = GAT_OK;
    if (o->save != NULL && rank == 0) {
        const char *inputs[2] = {graph_path, features_path};
        status = gat_output_open(ctx, &save, o->save, inputs, 2);
    }
    cli_check(program, ctx, gat_dist_agree(ctx, status));
    gat_array *labels = read_array(ctx, o->data, "labels.npy", GAT_INT64);
    gat_array *train = read_array(ctx, o->data, "train.npy", GAT_INT64);
    gat_array *val = read_array(ctx, o->data, "val.npy", GAT_INT64);
    gat_array *test = read_array(ctx, o->data, "test.npy", GAT_INT64);
    gat_array *probe = NULL; /* the features' shape: no rank reads them whole */
    int64_t n = 0;
    cli_check(program, ctx, gat_npy_read_rows(ctx, features_path, 0, 0, &probe, &n));
    const int64_t f = probe->shape[1];
    gat_array_destroy(&probe);
    const int64_t classes = check_labels(o, labels, train, val, test, n);
    gat_model *model = make_model(ctx, o, f, classes, 0);
    const gat_trainer_options topts = trainer_options(o);
    gat_dist_train_options dopts;
    gat_dist_train_options_init(&dopts);
    dopts.graph = graph_path;
    dopts.features = features_path;
    gat_dist_trainer *trainer = NULL;
    status = gat_dist_trainer_create(ctx, &trainer, model, &dopts, &topts);
    gat_fit_result result;
    gat_metrics test_metrics;
    double fit_seconds = 0.0;
    progress prog = {.mode = o->progress, .max_epochs = o->epochs};
    if (status == GAT_OK) {
        fprintf(stderr,
                "%s: %d rank(s) x %d thread(s); %lld nodes, %lld features (%s input), %lld "
                "classes; %lld/%lld/%lld train/val/test; GAT: %lld -> %lldx%lld (ELU) -> "
                "%lldx%lld; lr %g, weight decay %g, dropout input/attention/projected "
                "%g/%g/%g, patience %lld; loaded in %.1f ms\n",
                program, ranks, gat_context_threads(ctx), (long long)n, (long long)f,
                gat_dist_trainer_sparse_input(trainer) ? "sparse" : "dense", (long long)classes,
                (long long)train->shape[0], (long long)val->shape[0], (long long)test->shape[0],
                (long long)f, (long long)o->heads, (long long)o->hidden, (long long)o->out_heads,
                (long long)classes, o->lr, o->weight_decay, o->dropout, o->attention_dropout,
                o->projected_dropout, (long long)o->patience, 1e3 * (cli_now() - t_start));
        const gat_fit_options fopts = fit_options(o, &prog);
        const double t_fit = cli_now();
        status = gat_dist_trainer_fit(ctx, trainer, labels->data, train->data, train->shape[0],
                                      val->data, val->shape[0], &fopts, &result);
        fit_seconds = cli_now() - t_fit;
        end_progress(o, &prog);
    }
    if (status == GAT_OK)
        status = gat_dist_trainer_evaluate(ctx, trainer, labels->data, test->data,
                                           test->shape[0], &test_metrics);
    if (status == GAT_OK && o->save != NULL) { /* rank 0's, agreed */
        gat_status saved = GAT_OK;
        if (save != NULL && (saved = gat_model_save_to(ctx, model, save)) == GAT_OK)
            saved = gat_output_commit(ctx, &save, 1);
        status = gat_dist_agree(ctx, saved);
    }
    if (status == GAT_OK)
        print_result(o, &result, fit_seconds, &test_metrics);
    else
        fprintf(stderr, "%s: %s\n", program, gat_context_message(ctx));
    gat_output_discard(&save);
    gat_dist_trainer_destroy(&trainer);
    gat_model_destroy(&model);
    gat_array_destroy(&labels);
    gat_array_destroy(&train);
    gat_array_destroy(&val);
    gat_array_destroy(&test);
    gat_context_destroy(&ctx);
    gat_dist_finalize();
    return status == GAT_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    train_options o = parse_options(argc, argv);
    gat_context_options copts;
    gat_context_options_init(&copts);
    copts.num_threads = o.threads;
    gat_context *ctx = cli_context_create(program, &copts);
    const double t_start = cli_now();
    if (gat_dist_launched())
        return run_distributed(ctx, &o, t_start);
    /* A bad --save path fails now, not after the whole run. */
    gat_output *save = NULL;
    if (o.save != NULL) {
        static const char *const files[] = {"features.npy", "labels.npy", "train.npy",
                                            "val.npy", "test.npy", "edges.txt"};
        char paths[6][4096];
        const char *inputs[6];
        for (int k = 0; k < 6; k++) {
            snprintf(paths[k], sizeof paths[k], "%s/%s", o.data, files[k]);
            inputs[k] = paths[k];
        }
        save = cli_open_output(program, ctx, o.save, inputs, 6);
    }

    gat_array *x = read_array(ctx, o.data, "features.npy", GAT_FLOAT32);
    const int64_t n = x->shape[0], f = x->shape[1];
    gat_array *labels = read_array(ctx, o.data, "labels.npy", GAT_INT64);
    gat_array *train = read_array(ctx, o.data, "train.npy", GAT_INT64);
    gat_array *val = read_array(ctx, o.data, "val.npy", GAT_INT64);
    gat_array *test = read_array(ctx, o.data, "test.npy", GAT_INT64);
    const int64_t classes = check_labels(&o, labels, train, val, test, n);
    char edges_path[4096];
    if (snprintf(edges_path, sizeof edges_path, "%s/edges.txt", o.data) >= (int)sizeof edges_path)
        cli_fail(program, "%s: path too long", o.data);
    gat_graph *g = NULL;
    char features_path[4096];
    snprintf(features_path, sizeof features_path, "%s/features.npy", o.data);
    cli_check_graph(program, ctx,
                    o.graph != NULL ? gat_graph_read(ctx, &g, o.graph, n)
                                    : gat_graph_read_edgelist(ctx, &g, edges_path, n),
                    features_path);
    if (o.normalize)
        cli_check(program, ctx, gat_features_normalize_rows(ctx, x->data, n, f));

    /* Edge features: row k for the k-th edge of edges.txt. */
    gat_array *edge_attr = NULL;
    if (o.edge_attr != NULL) {
        cli_check(program, ctx, gat_npy_read(ctx, o.edge_attr, GAT_FLOAT32, &edge_attr));
        if (edge_attr->shape[0] != gat_graph_num_edges(g))
            cli_fail(program, "%s has %lld rows but %s has %lld edges", o.edge_attr,
                     (long long)edge_attr->shape[0], edges_path,
                     (long long)gat_graph_num_edges(g));
    }
    gat_model *model = make_model(ctx, &o, f, classes, edge_attr != NULL ? edge_attr->shape[1] : 0);
    const gat_trainer_options topts = trainer_options(&o);
    gat_trainer *trainer = NULL;
    gat_inputs model_inputs;
    gat_inputs_init(&model_inputs, x->data, n, f);
    if (edge_attr != NULL) {
        model_inputs.edge_attr = edge_attr->data;
        model_inputs.num_edges = edge_attr->shape[0];
        model_inputs.edge_dim = edge_attr->shape[1];
    }
    cli_check(program, ctx,
              gat_trainer_create_inputs(ctx, &trainer, model, g, &model_inputs, &topts));

    fprintf(stderr,
            "%s: %lld nodes, %lld edges, %lld features (%s input), %lld classes; "
            "%lld/%lld/%lld train/val/test; %s%s%s%s: %lld -> %lldx%lld (ELU) -> %lldx%lld; "
            "lr %g, weight decay %g, dropout input/attention/projected %g/%g/%g, "
            "patience %lld; %d thread(s); "
            "loaded in %.1f ms\n",
            program, (long long)n, (long long)gat_graph_num_edges(g), (long long)f,
            gat_trainer_sparse_input(trainer) ? "sparse" : "dense", (long long)classes,
            (long long)train->shape[0], (long long)val->shape[0], (long long)test->shape[0],
            o.layer_type == GAT_LAYER_GATV2 ? "GATv2" : "GAT",
            o.share_weights ? " (shared weights)" : "", o.residual ? ", residual" : "",
            edge_attr != NULL ? ", edge features" : "", (long long)f, (long long)o.heads, (long long)o.hidden, (long long)o.out_heads,
            (long long)classes, o.lr, o.weight_decay, o.dropout, o.attention_dropout,
            o.projected_dropout, (long long)o.patience, gat_context_threads(ctx),
            1e3 * (cli_now() - t_start));

    progress prog = {.mode = o.progress, .max_epochs = o.epochs};
    const gat_fit_options fopts = fit_options(&o, &prog);
    gat_fit_result result;
    const double t_fit = cli_now();
    gat_status status = gat_trainer_fit(ctx, trainer, labels->data, train->data, train->shape[0],
                                        val->data, val->shape[0], &fopts, &result);
    const double fit_seconds = cli_now() - t_fit;
    end_progress(&o, &prog);
    cli_check(program, ctx, status);

    gat_metrics test_metrics;
    cli_check(program, ctx, gat_trainer_evaluate(ctx, trainer, labels->data, test->data,
                                                 test->shape[0], &test_metrics));
    if (save != NULL) {
        cli_check(program, ctx, gat_model_save_to(ctx, model, save));
        cli_commit_outputs(program, ctx, &save, 1);
    }
    print_result(&o, &result, fit_seconds, &test_metrics);

    gat_trainer_destroy(&trainer);
    gat_model_destroy(&model);
    gat_graph_destroy(&g);
    gat_array_destroy(&x);
    gat_array_destroy(&labels);
    gat_array_destroy(&train);
    gat_array_destroy(&val);
    gat_array_destroy(&test);
    gat_array_destroy(&edge_attr);
    gat_context_destroy(&ctx);
    return 0;
}
