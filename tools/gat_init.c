/*
 * gat-init: write a freshly initialised model (PyG's reset_parameters:
 * Glorot-uniform weights and attention vectors, zero bias) of a given
 * stack shape, in the safetensors format gat-infer and gat_model_load read.
 * For running a model on a graph without training one first (timing,
 * smoke tests, unlabelled graphs), or as a reproducible starting point.
 */
#include "cli_common.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const program = "gat-init";

#define MAX_LAYERS 64

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: gat-init --in-features F --layers SPEC[,SPEC...] [options] OUT.safetensors\n"
            "\n"
            "Writes a GAT model (a stack of PyTorch Geometric GATConv / GATv2Conv layers)\n"
            "with freshly initialised parameters, as PyG's reset_parameters does: Glorot-\n"
            "uniform weights and attention vectors, lin_l/lin_r biases uniform in\n"
            "+-1/sqrt(fan_in), zero bias. The values come from a counter-based stream\n"
            "keyed by --seed: the same file on every machine.\n"
            "\n"
            "  --in-features F       width of layer 1's input (the feature columns)\n"
            "  --layers SPEC,...     one SPEC per layer, first to last: HEADSxCHANNELS,\n"
            "                        optionally followed by ':mean' (average the heads,\n"
            "                        output CHANNELS wide) or ':concat' (the default,\n"
            "                        output HEADS*CHANNELS wide), and ':gat' or ':gatv2'\n"
            "                        (the layer's type; default --layer-type). The paper's\n"
            "                        Cora model is 8x8,1x7:mean\n"
            "  --layer-type T        gat (GATConv, default) or gatv2 (GATv2Conv)\n"
            "  --edge-dim D          every layer has edge features of width D (lin_edge)\n"
            "  --fill-value V        their self-loops' attribute: mean (default), add, max,\n"
            "                        min, mul or a number\n"
            "  --residual            every layer has a residual connection (res.weight)\n"
            "  --share-weights       GATv2 layers use lin_l for both sides\n"
            "  --dst-features F      layer 1 reads destination features F wide (PyG's\n"
            "                        tuple in_channels; gat-infer --features-dst)\n"
            "  --activation NAME     between layers: elu (default), relu or none\n"
            "  --negative-slope X    LeakyReLU slope of every layer's scores (0.2)\n"
            "  --no-self-loops       layers do not add a self-loop per node\n"
            "  --no-bias             layers have no bias\n"
            "  --seed S              initialisation stream (0)\n"
            "  --help, --version\n"
            "\n"
            "Example:  gat-init --in-features 1433 --layers 8x8,1x7:mean --seed 1 cora0.safetensors\n"
            "Prints the layer shapes and parameter count. Errors end with one line on\n"
            "stderr, exit 1; usage errors exit 2.\n");
}

typedef struct init_options {
    int64_t in_features;
    const char *layers, *out;
    gat_activation activation;
    float negative_slope;
    bool self_loops, bias, residual, share_weights;
    gat_layer_type type;
    int64_t edge_dim, dst_features;
    gat_fill fill;
    float fill_constant;
    uint64_t seed;
} init_options;

/* "HxC" or "HxC:mean" / "HxC:concat" into config (in_features set by the caller). */
static void parse_layer(const char *spec, size_t length, int index, gat_layer_config *config,
                        int64_t in_features)
{
    char text[128];
    if (length == 0 || length >= sizeof text)
        cli_usage_error(program, "--layers: layer %d is %s; expected HEADSxCHANNELS[:mean]",
                        index + 1, length == 0 ? "empty" : "too long");
    memcpy(text, spec, length);
    text[length] = '\0';
    bool concat = true;
    gat_layer_type type = config->type;
    char *mode = strchr(text, ':');
    while (mode != NULL) {
        *mode++ = '\0';
        char *next = strchr(mode, ':');
        if (next != NULL)
            *next = '\0';
        if (strcmp(mode, "mean") == 0)
            concat = false;
        else if (strcmp(mode, "gat") == 0 || strcmp(mode, "gatv2") == 0)
            type = mode[3] == 'v' ? GAT_LAYER_GATV2 : GAT_LAYER_GAT;
        else if (strcmp(mode, "concat") != 0)
            cli_usage_error(program,
                            "--layers: layer %d: '%s' after ':' is not mean, concat, gat or "
                            "gatv2",
                            index + 1, mode);
        if (next != NULL)
            *next = ':';
        mode = next;
    }
    char *times = strchr(text, 'x');
    if (times == NULL)
        cli_usage_error(program, "--layers: layer %d is '%s'; expected HEADSxCHANNELS, e.g. 8x8",
                        index + 1, text);
    *times++ = '\0';
    char option[64];
    snprintf(option, sizeof option, "--layers (layer %d heads)", index + 1);
    const int64_t heads = cli_parse_int(program, option, text, 1, 4096);
    snprintf(option, sizeof option, "--layers (layer %d channels)", index + 1);
    const int64_t channels = cli_parse_int(program, option, times, 1, 1 << 16);
    gat_layer_config_init(config, in_features, heads, channels);
    config->concat = concat;
    config->type = type;
}

static int parse_layers(const init_options *o, gat_layer_config *configs)
{
    int count = 0;
    int64_t width = o->in_features;
    const char *p = o->layers;
    for (;;) {
        const char *end = strchr(p, ',');
        const size_t length = end != NULL ? (size_t)(end - p) : strlen(p);
        if (count == MAX_LAYERS)
            cli_usage_error(program, "--layers: more than %d layers", MAX_LAYERS);
        gat_layer_config *c = &configs[count];
        c->type = o->type;
        parse_layer(p, length, count, c, width);
        c->negative_slope = o->negative_slope;
        c->add_self_loops = o->self_loops;
        c->bias = o->bias;
        c->edge_dim = o->edge_dim;
        c->fill_value = o->fill;
        c->fill_constant = o->fill_constant;
        c->residual = o->residual;
        c->share_weights = o->share_weights && c->type == GAT_LAYER_GATV2;
        c->dst_features = count == 0 ? o->dst_features : 0;
        width = c->concat ? c->heads * c->channels : c->channels;
        count++;
        if (end == NULL)
            break;
        p = end + 1;
    }
    return count;
}

static init_options parse_options(int argc, char **argv)
{
    enum { O_IN = 256, O_LAYERS, O_ACT, O_SLOPE, O_NO_LOOPS, O_NO_BIAS, O_SEED, O_HELP,
           O_VERSION, O_TYPE, O_EDGE_DIM, O_FILL, O_RESIDUAL, O_SHARE, O_DST };
    static const struct option longs[] = {
        {"in-features", required_argument, NULL, O_IN},
        {"layers", required_argument, NULL, O_LAYERS},
        {"activation", required_argument, NULL, O_ACT},
        {"negative-slope", required_argument, NULL, O_SLOPE},
        {"no-self-loops", no_argument, NULL, O_NO_LOOPS},
        {"no-bias", no_argument, NULL, O_NO_BIAS},
        {"seed", required_argument, NULL, O_SEED},
        {"layer-type", required_argument, NULL, O_TYPE},
        {"edge-dim", required_argument, NULL, O_EDGE_DIM},
        {"fill-value", required_argument, NULL, O_FILL},
        {"residual", no_argument, NULL, O_RESIDUAL},
        {"share-weights", no_argument, NULL, O_SHARE},
        {"dst-features", required_argument, NULL, O_DST},
        {"help", no_argument, NULL, O_HELP},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    init_options o = {.in_features = 0, .activation = GAT_ACT_ELU, .negative_slope = 0.2f,
                      .self_loops = true, .bias = true, .seed = 0};
    int opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (opt) {
        case O_IN: o.in_features = cli_parse_int(program, "--in-features", optarg, 1, INT32_MAX); break;
        case O_LAYERS: o.layers = optarg; break;
        case O_ACT: {
            static const char *const names[] = {"elu", "relu", "none"};
            static const int values[] = {GAT_ACT_ELU, GAT_ACT_RELU, GAT_ACT_NONE};
            o.activation = (gat_activation)cli_parse_choice(program, "--activation", optarg,
                                                            names, values, 3);
            break;
        }
        case O_SLOPE: o.negative_slope = (float)cli_parse_double(program, "--negative-slope", optarg); break;
        case O_NO_LOOPS: o.self_loops = false; break;
        case O_NO_BIAS: o.bias = false; break;
        case O_SEED: o.seed = (uint64_t)cli_parse_int(program, "--seed", optarg, 0, INT64_MAX); break;
        case O_TYPE: o.type = cli_parse_layer_type(program, "--layer-type", optarg); break;
        case O_EDGE_DIM: o.edge_dim = cli_parse_int(program, "--edge-dim", optarg, 1, 1 << 24); break;
        case O_FILL: {
            static const char *const names[] = {"mean", "add", "max", "min", "mul"};
            int k = 0;
            while (k < 5 && strcmp(optarg, names[k]) != 0)
                k++;
            o.fill = (gat_fill)k; /* GAT_FILL_MEAN .. GAT_FILL_MUL in this order */
            if (k == 5)
                o.fill_constant = (float)cli_parse_double(program, "--fill-value", optarg);
            break;
        }
        case O_RESIDUAL: o.residual = true; break;
        case O_SHARE: o.share_weights = true; break;
        case O_DST: o.dst_features = cli_parse_int(program, "--dst-features", optarg, 1, 1 << 24); break;
        case O_HELP: usage(stdout); exit(0);
        case O_VERSION: cli_print_version(program); exit(0);
        default: cli_unknown_option(program, argv[optind - 1], longs);
        }
    }
    if (optind == argc)
        cli_usage_error(program, "the output file OUT.safetensors is required");
    if (optind + 1 < argc)
        cli_usage_error(program, "one output file expected, got '%s' too", argv[optind + 1]);
    o.out = argv[optind];
    if (o.in_features == 0)
        cli_usage_error(program, "--in-features F is required");
    if (o.layers == NULL)
        cli_usage_error(program, "--layers SPEC[,SPEC...] is required (e.g. 8x8,1x7:mean)");
    return o;
}

int main(int argc, char **argv)
{
    const init_options o = parse_options(argc, argv);
    gat_layer_config configs[MAX_LAYERS];
    const int count = parse_layers(&o, configs);
    gat_context_options copts;
    gat_context_options_init(&copts);
    gat_context *ctx = cli_context_create(program, &copts);
    gat_model *model = NULL;
    cli_check(program, ctx, gat_model_create(ctx, &model, count, configs, o.activation));
    cli_check(program, ctx, gat_model_init_glorot(ctx, model, o.seed));
    cli_check(program, ctx, gat_model_save(ctx, model, o.out));
    int64_t params = 0;
    for (int l = 0; l < count; l++) {
        const gat_layer_config *c = &configs[l];
        const int64_t hc = c->heads * c->channels, width = c->concat ? hc : c->channels;
        params += gat_layer_num_parameters(c);
        printf("layer %d: %s %lld -> %lld heads x %lld channels, %s -> %lld%s%s\n", l + 1,
               c->type == GAT_LAYER_GATV2 ? "GATv2Conv" : "GATConv", (long long)c->in_features,
               (long long)c->heads, (long long)c->channels,
               c->concat ? "concatenated" : "averaged", (long long)width,
               c->edge_dim > 0 ? ", edge features" : "", c->residual ? ", residual" : "");
    }
    printf("wrote %s: %d layers, %lld parameters, seed %llu\n", o.out, count, (long long)params,
           (unsigned long long)o.seed);
    gat_model_destroy(&model);
    gat_context_destroy(&ctx);
    return 0;
}
