/*
 * gat_model_load / gat_model_save: round trips, a file written by
 * tools/export_pyg.py, and every rejection path of the loader, each of which
 * must name the file and the tensor or key at fault.
 */
#include "gat.h"
#include "support.h"

#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static gat_context *ctx;
static char dir[64];

/* Its largest request shows the loader never allocates beyond what the
 * file's size can back. */
static test_counting mem;

static void setup(void)
{
    ctx = test_counting_context(&mem, 1);
    test_make_temp_dir(dir, sizeof dir, "gat-st");
}

static void teardown(void)
{
    test_remove_dir(dir);
    gat_context_destroy(&ctx);
}

TestSuite(safetensors, .init = setup, .fini = teardown);

/* ---- helpers ----------------------------------------------------------- */

/* A safetensors file: length field, header text as given, then data. */
static const char *write_st(const char *name, uint64_t length, const char *header,
                            const void *data, size_t data_size)
{
    size_t header_size = strlen(header);
    size_t size = 8 + header_size + data_size;
    unsigned char *bytes = malloc(size);
    for (int i = 0; i < 8; i++)
        bytes[i] = (unsigned char)(length >> (8 * i));
    memcpy(bytes + 8, header, header_size);
    if (data_size > 0)
        memcpy(bytes + 8 + header_size, data, data_size);
    const char *path = test_write_file(dir, name, bytes, size);
    free(bytes);
    return path;
}

/* One layer: F_in 3, 2 heads of 2 channels, 24 floats in this order. */
#define W0 "\"layers.0.lin.weight\":{\"dtype\":\"F32\",\"shape\":[4,3],\"data_offsets\":[0,48]}"
#define AS0 "\"layers.0.att_src\":{\"dtype\":\"F32\",\"shape\":[1,2,2],\"data_offsets\":[48,64]}"
#define AD0 "\"layers.0.att_dst\":{\"dtype\":\"F32\",\"shape\":[1,2,2],\"data_offsets\":[64,80]}"
#define B0 "\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[80,96]}"
#define BASE_FLOATS 24

static float base_data[BASE_FLOATS + 16];

static void fill_base(void)
{
    for (int k = 0; k < BASE_FLOATS + 16; k++)
        base_data[k] = 0.25f * (float)k - 3.0f;
}

/* header + the base data (plus `extra` more floats). */
static const char *write_case(const char *name, const char *header, int extra)
{
    fill_base();
    return write_st(name, strlen(header), header, base_data,
                    sizeof(float) * (size_t)(BASE_FLOATS + extra));
}

static void expect_fail(const char *path, gat_status want, const char *needle)
{
    gat_model *model = NULL;
    gat_status status = gat_model_load(ctx, &model, path);
    const char *message = gat_context_message(ctx);
    cr_log_info("%s", message);
    cr_assert_eq(status, want, "got %s, want %s: %s", gat_status_str(status),
                 gat_status_str(want), message);
    cr_assert_null(model);
    cr_assert_not_null(strstr(message, path), "message lacks the path: %s", message);
    if (needle != NULL)
        cr_assert_not_null(strstr(message, needle), "message lacks \"%s\": %s", needle,
                           message);
}

static gat_model *expect_load(const char *path)
{
    gat_model *model = NULL;
    gat_status status = gat_model_load(ctx, &model, path);
    cr_assert_eq(status, GAT_OK, "%s: %s", gat_status_str(status), gat_context_message(ctx));
    cr_assert_not_null(model);
    return model;
}

static uint32_t rng_state = 12345;

static float next_float(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return ((float)(rng_state >> 8) / 16777216.0f - 0.5f) * 4.0f;
}

static void fill_model(gat_model *model)
{
    for (int l = 0; l < gat_model_num_layers(model); l++) {
        gat_layer_config c;
        gat_layer_params p;
        cr_assert_eq(gat_model_layer_config(model, l, &c), GAT_OK);
        cr_assert_eq(gat_model_layer_params(model, l, &p), GAT_OK);
        int64_t hc = c.heads * c.channels;
        for (int64_t i = 0; i < hc * c.in_features; i++)
            p.weight[i] = next_float();
        for (int64_t i = 0; i < hc; i++) {
            p.att_src[i] = next_float();
            p.att_dst[i] = next_float();
        }
        if (p.bias != NULL)
            for (int64_t i = 0; i < (c.concat ? hc : c.channels); i++)
                p.bias[i] = next_float();
        /* Values whose bits a sloppy copy would change. */
        p.weight[0] = -0.0f;
        p.att_src[0] = 1e-42f; /* subnormal */
        p.att_dst[0] = 3.4e38f;
    }
}

static void expect_same_model(gat_model *a, gat_model *b)
{
    cr_assert_eq(gat_model_num_layers(a), gat_model_num_layers(b));
    cr_assert_eq(gat_model_activation(a), gat_model_activation(b));
    for (int l = 0; l < gat_model_num_layers(a); l++) {
        gat_layer_config ca, cb;
        gat_layer_params pa, pb;
        cr_assert_eq(gat_model_layer_config(a, l, &ca), GAT_OK);
        cr_assert_eq(gat_model_layer_config(b, l, &cb), GAT_OK);
        cr_assert_eq(ca.in_features, cb.in_features, "layer %d", l);
        cr_assert_eq(ca.heads, cb.heads, "layer %d", l);
        cr_assert_eq(ca.channels, cb.channels, "layer %d", l);
        cr_assert_eq(ca.concat, cb.concat, "layer %d", l);
        cr_assert_eq(memcmp(&ca.negative_slope, &cb.negative_slope, sizeof(float)), 0,
                     "layer %d: slope %.9g vs %.9g", l, ca.negative_slope, cb.negative_slope);
        cr_assert_eq(ca.add_self_loops, cb.add_self_loops, "layer %d", l);
        cr_assert_eq(ca.bias, cb.bias, "layer %d", l);
        gat_model_layer_params(a, l, &pa);
        gat_model_layer_params(b, l, &pb);
        size_t hc = (size_t)(ca.heads * ca.channels);
        cr_assert_eq(memcmp(pa.weight, pb.weight, hc * (size_t)ca.in_features * 4), 0,
                     "layer %d weight", l);
        cr_assert_eq(memcmp(pa.att_src, pb.att_src, hc * 4), 0, "layer %d att_src", l);
        cr_assert_eq(memcmp(pa.att_dst, pb.att_dst, hc * 4), 0, "layer %d att_dst", l);
        cr_assert_eq(pa.bias == NULL, pb.bias == NULL, "layer %d bias", l);
        if (pa.bias != NULL)
            cr_assert_eq(memcmp(pa.bias, pb.bias, (ca.concat ? hc : (size_t)ca.channels) * 4), 0,
                         "layer %d bias", l);
    }
}

static void roundtrip(const gat_layer_config *configs, int n, gat_activation activation)
{
    gat_model *model = NULL, *loaded = NULL;
    cr_assert_eq(gat_model_create(ctx, &model, n, configs, activation), GAT_OK, "%s",
                 gat_context_message(ctx));
    fill_model(model);
    const char *path = test_path(dir, "roundtrip.safetensors");
    cr_assert_eq(gat_model_save(ctx, model, path), GAT_OK, "%s", gat_context_message(ctx));
    cr_assert_eq(test_count_files(dir), 1, "a temporary file was left behind");

    size_t size;
    unsigned char *bytes = test_read_file(path, &size);
    uint64_t length = 0;
    for (int i = 7; i >= 0; i--)
        length = (length << 8) | bytes[i];
    cr_assert_eq(length % 8, 0, "header of %llu bytes is not padded to 8",
                 (unsigned long long)length);
    cr_assert_eq(bytes[8], '{');
    free(bytes);

    loaded = expect_load(path);
    expect_same_model(model, loaded);
    gat_model_destroy(&model);
    gat_model_destroy(&loaded);
}

/* ---- round trips --------------------------------------------------------- */

Test(safetensors, roundtrip_concat_bias_then_mean_no_bias)
{
    gat_layer_config c[2];
    gat_layer_config_init(&c[0], 5, 3, 4);
    c[0].negative_slope = 0.15f;
    gat_layer_config_init(&c[1], 12, 2, 3);
    c[1].concat = false;
    c[1].bias = false;
    c[1].add_self_loops = false;
    roundtrip(c, 2, GAT_ACT_RELU);
}

Test(safetensors, roundtrip_concat_no_bias_then_mean_bias)
{
    gat_layer_config c[3];
    gat_layer_config_init(&c[0], 7, 1, 5);
    c[0].bias = false;
    c[0].negative_slope = 1.0f / 3.0f;
    gat_layer_config_init(&c[1], 5, 4, 2);
    c[1].concat = false;
    c[1].negative_slope = 0.01f;
    gat_layer_config_init(&c[2], 2, 2, 2);
    c[2].negative_slope = -1.5e-7f;
    c[2].add_self_loops = false;
    roundtrip(c, 3, GAT_ACT_NONE);
}

Test(safetensors, roundtrip_defaults_single_layer)
{
    gat_layer_config c;
    gat_layer_config_init(&c, 1, 1, 1);
    roundtrip(&c, 1, GAT_ACT_ELU);
}

Test(safetensors, save_writes_readable_metadata)
{
    gat_layer_config c[2];
    gat_layer_config_init(&c[0], 3, 2, 2);
    gat_layer_config_init(&c[1], 4, 1, 2);
    c[1].concat = false;
    c[1].add_self_loops = false;
    c[1].negative_slope = 0.1f;
    gat_model *model = NULL;
    cr_assert_eq(gat_model_create(ctx, &model, 2, c, GAT_ACT_RELU), GAT_OK);
    const char *path = test_path(dir, "meta.safetensors");
    cr_assert_eq(gat_model_save(ctx, model, path), GAT_OK, "%s", gat_context_message(ctx));
    gat_model_destroy(&model);
    size_t size;
    char *bytes = (char *)test_read_file(path, &size); /* NUL-terminated */
    const char *expect[] = {
        "\"activation\":\"relu\"",          "\"layers.0.concat\":\"true\"",
        "\"layers.0.negative_slope\":\"0.2\"", "\"layers.0.add_self_loops\":\"true\"",
        "\"layers.1.concat\":\"false\"",      "\"layers.1.negative_slope\":\"0.1\"",
        "\"layers.1.add_self_loops\":\"false\"",
        "\"layers.1.att_src\":{\"data_offsets\":[128,136],\"dtype\":\"F32\",\"shape\":[1,1,2]}",
    };
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++)
        cr_assert_not_null(strstr(bytes + 8, expect[i]), "no %s in %s", expect[i], bytes + 8);
    free(bytes);
}

Test(safetensors, save_refuses_nan_and_leaves_no_file)
{
    gat_layer_config c;
    gat_layer_config_init(&c, 2, 1, 2);
    gat_model *model = NULL;
    cr_assert_eq(gat_model_create(ctx, &model, 1, &c, GAT_ACT_ELU), GAT_OK);
    gat_layer_params p;
    gat_model_layer_params(model, 0, &p);
    p.att_dst[1] = NAN;
    const char *path = test_path(dir, "nan.safetensors");
    cr_assert_eq(gat_model_save(ctx, model, path), GAT_ERR_NONFINITE);
    cr_assert_not_null(strstr(gat_context_message(ctx), "layers.0.att_dst"), "%s",
                       gat_context_message(ctx));
    cr_assert_eq(test_count_files(dir), 0);
    gat_model_destroy(&model);
}

Test(safetensors, save_to_missing_directory)
{
    gat_layer_config c;
    gat_layer_config_init(&c, 2, 1, 2);
    gat_model *model = NULL;
    cr_assert_eq(gat_model_create(ctx, &model, 1, &c, GAT_ACT_ELU), GAT_OK);
    const char *path = test_path(dir, "no/such/dir/model.safetensors");
    cr_assert_eq(gat_model_save(ctx, model, path), GAT_ERR_IO);
    cr_assert_not_null(strstr(gat_context_message(ctx), path));
    gat_model_destroy(&model);
}

/* ---- files from elsewhere ------------------------------------------------- */

/* make_fixtures.py's formula for element k of tensor t of layer l. */
static float fixture_value(int layer, int tensor, int64_t k)
{
    int seed = 4 * layer + tensor;
    return (float)((((k + 1) * (2 * seed + 3)) % 29) - 14) / 8.0f;
}

Test(safetensors, loads_file_from_export_pyg)
{
    gat_model *model = expect_load(GAT_TEST_DATA "/safetensors/pyg_2layer.safetensors");
    cr_assert_eq(gat_model_num_layers(model), 2);
    cr_assert_eq(gat_model_activation(model), GAT_ACT_ELU);
    const struct {
        int64_t in, heads, channels;
        bool concat;
        float slope;
        bool loops;
    } want[2] = {{5, 3, 4, true, 0.2f, true}, {12, 2, 3, false, 0.1f, false}};
    for (int l = 0; l < 2; l++) {
        gat_layer_config c;
        gat_layer_params p;
        gat_model_layer_config(model, l, &c);
        gat_model_layer_params(model, l, &p);
        cr_assert_eq(c.in_features, want[l].in);
        cr_assert_eq(c.heads, want[l].heads);
        cr_assert_eq(c.channels, want[l].channels);
        cr_assert_eq(c.concat, want[l].concat);
        cr_assert_eq(c.negative_slope, want[l].slope);
        cr_assert_eq(c.add_self_loops, want[l].loops);
        cr_assert(c.bias);
        int64_t hc = c.heads * c.channels;
        for (int64_t k = 0; k < hc * c.in_features; k++)
            cr_assert_eq(p.weight[k], fixture_value(l, 0, k), "layer %d weight[%lld]", l,
                         (long long)k);
        for (int64_t k = 0; k < hc; k++) {
            cr_assert_eq(p.att_src[k], fixture_value(l, 1, k));
            cr_assert_eq(p.att_dst[k], fixture_value(l, 2, k));
        }
        for (int64_t k = 0; k < (c.concat ? hc : c.channels); k++)
            cr_assert_eq(p.bias[k], fixture_value(l, 3, k));
    }
    /* And what we save from it loads the same. */
    const char *path = test_path(dir, "again.safetensors");
    cr_assert_eq(gat_model_save(ctx, model, path), GAT_OK);
    gat_model *again = expect_load(path);
    expect_same_model(model, again);
    gat_model_destroy(&again);
    gat_model_destroy(&model);
}

Test(safetensors, hand_written_base_loads)
{
    gat_model *model =
        expect_load(write_case("base.safetensors", "{" W0 "," AS0 "," AD0 "," B0 "}", 0));
    gat_layer_config c;
    gat_layer_params p;
    gat_model_layer_config(model, 0, &c);
    gat_model_layer_params(model, 0, &p);
    cr_assert_eq(c.in_features, 3);
    cr_assert_eq(c.heads, 2);
    cr_assert_eq(c.channels, 2);
    cr_assert(c.concat && c.add_self_loops && c.bias);
    cr_assert_eq(c.negative_slope, 0.2f);
    cr_assert_eq(gat_model_activation(model), GAT_ACT_ELU);
    cr_assert_eq(p.weight[11], base_data[11]);
    cr_assert_eq(p.att_src[0], base_data[12]);
    cr_assert_eq(p.att_dst[3], base_data[19]);
    cr_assert_eq(p.bias[3], base_data[23]);
    gat_model_destroy(&model);
}

Test(safetensors, accepts_lin_src_and_equal_lin_dst)
{
    gat_model *model = expect_load(write_case(
        "linsrc.safetensors",
        "{\"layers.0.lin_src.weight\":{\"dtype\":\"F32\",\"shape\":[4,3],\"data_offsets\":[0,48]},"
        AS0 "," AD0 "}", 0));
    gat_layer_config c;
    gat_layer_params p;
    gat_model_layer_config(model, 0, &c);
    gat_model_layer_params(model, 0, &p);
    cr_assert_eq(c.in_features, 3);
    cr_assert_not(c.bias);
    cr_assert_null(p.bias);
    cr_assert_eq(memcmp(p.weight, base_data, 48), 0);
    gat_model_destroy(&model);

    /* PyG 2.3's state_dict holds the shared Linear twice. */
    fill_base();
    memcpy(base_data + 24, base_data, 48);
    const char *header =
        "{\"layers.0.lin_src.weight\":{\"dtype\":\"F32\",\"shape\":[4,3],\"data_offsets\":[0,48]},"
        "\"layers.0.lin_dst.weight\":{\"dtype\":\"F32\",\"shape\":[4,3],\"data_offsets\":[96,144]},"
        AS0 "," AD0 "}";
    model = expect_load(write_st("dst.safetensors", strlen(header), header, base_data,
                                 sizeof(float) * 36));

    gat_model_layer_config(model, 0, &c);
    cr_assert_eq(c.dst_features, 0, "an equal copy is the shared weight");
    gat_model_destroy(&model);

    /* Different weights: PyG's tuple in_channels, two projections. */
    base_data[30] += 1.0f;
    model = expect_load(write_st("bipartite.safetensors", strlen(header), header, base_data,
                                 sizeof(float) * 36));
    gat_model_layer_config(model, 0, &c);
    gat_model_layer_params(model, 0, &p);
    cr_assert_eq(c.dst_features, 3);
    cr_assert_not_null(p.weight_dst);
    cr_assert_eq(p.weight_dst[6], base_data[30]);
    gat_model_destroy(&model);
}

/* att_src and att_dst are [1, H, C] as PyG stores them, nothing else: a
 * [2, 2] could be [H, C] or another layout read as one. */
Test(safetensors, refuses_att_of_other_shapes)
{
    expect_fail(write_case("att2d.safetensors",
                           "{" W0 ",\"layers.0.att_src\":{\"dtype\":\"F32\",\"shape\":[2,2],"
                           "\"data_offsets\":[48,64]}," AD0 "}", 0),
                GAT_ERR_FORMAT,
                "\"layers.0.att_src\": shape [2, 2]: expected [1, heads, channels]");
    expect_fail(write_case("att2x.safetensors",
                           "{" W0 "," AS0 ",\"layers.0.att_dst\":{\"dtype\":\"F32\",\"shape\":"
                           "[2,1,2],\"data_offsets\":[64,80]}}", 0),
                GAT_ERR_FORMAT, "\"layers.0.att_dst\": shape [2, 1, 2]");
    expect_fail(write_case("att1d.safetensors",
                           "{" W0 ",\"layers.0.att_src\":{\"dtype\":\"F32\",\"shape\":[4],"
                           "\"data_offsets\":[48,64]}," AD0 "}", 0),
                GAT_ERR_FORMAT, "shape [4]: expected [1, heads, channels]");
}

Test(safetensors, reads_metadata)
{
    gat_model *model = expect_load(write_case(
        "meta_in.safetensors",
        "{" W0 "," AS0 "," AD0 ",\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[2],"
        "\"data_offsets\":[80,88]},\"__metadata__\":{\"layers.0.concat\":\"false\","
        "\"layers.0.negative_slope\":\"1e-2\",\"layers.0.add_self_loops\":\"false\","
        "\"activation\":\"none\",\"format\":\"pt\",\"layers.0.type\":\"gatconv\"}}", 0));
    gat_layer_config c;
    gat_model_layer_config(model, 0, &c);
    cr_assert_not(c.concat);
    cr_assert_not(c.add_self_loops);
    cr_assert_eq(c.negative_slope, 0.01f);
    cr_assert_eq(gat_model_activation(model), GAT_ACT_NONE);
    gat_model_destroy(&model);
}

/* The preprocessing a model records: read, written back, applied by
 * gat_model_preprocess, and refused in any other spelling. */
Test(safetensors, preprocess_key_round_trip_and_apply)
{
    gat_model *model = expect_load(write_case(
        "pre.safetensors",
        "{" W0 "," AS0 "," AD0 "," B0 ",\"__metadata__\":{\"preprocess\":\"normalize_rows\"}}", 0));
    cr_assert_eq(gat_model_preprocessing(model), GAT_PREPROCESS_NORMALIZE_ROWS);
    float x[2 * 3] = {1, 3, 0, 0, 0, 0}, want[2 * 3] = {0.25f, 0.75f, 0, 0, 0, 0};
    cr_assert_eq(gat_model_preprocess(ctx, model, x, 2, 3), GAT_OK);
    cr_assert(memcmp(x, want, sizeof x) == 0, "row normalisation not applied");
    cr_assert_eq(gat_model_preprocess(ctx, model, x, 2, 4), GAT_ERR_INVALID);
    char path[128];
    snprintf(path, sizeof path, "%s/pre_saved.safetensors", dir);
    cr_assert_eq(gat_model_save(ctx, model, path), GAT_OK);
    gat_model *back = expect_load(path);
    cr_assert_eq(gat_model_preprocessing(back), GAT_PREPROCESS_NORMALIZE_ROWS);
    cr_assert_eq(gat_model_set_preprocessing(ctx, back, 0x8), GAT_ERR_INVALID);
    cr_assert_eq(gat_model_set_preprocessing(ctx, back, GAT_PREPROCESS_NONE), GAT_OK);
    cr_assert_eq(gat_model_save(ctx, back, path), GAT_OK);
    gat_model_destroy(&back);
    back = expect_load(path);
    cr_assert_eq(gat_model_preprocessing(back), GAT_PREPROCESS_NONE);
    float y[2 * 3] = {1, 3, 0, 0, 0, 0};
    cr_assert_eq(gat_model_preprocess(ctx, back, y, 2, 3), GAT_OK);
    cr_assert(y[0] == 1.0f && y[1] == 3.0f, "a model without preprocessing changed x");
    gat_model_destroy(&back);
    gat_model_destroy(&model);
    expect_fail(write_case("pre_bad.safetensors",
                           "{" W0 "," AS0 "," AD0 "," B0
                           ",\"__metadata__\":{\"preprocess\":\"normalise_rows\"}}",
                           0),
                GAT_ERR_FORMAT, "normalise_rows");
}

/* ---- rejections ----------------------------------------------------------- */

Test(safetensors, missing_file)
{
    expect_fail(test_path(dir, "absent.safetensors"), GAT_ERR_IO, "absent.safetensors");
}

Test(safetensors, empty_file)
{
    expect_fail(test_write_file(dir, "empty.safetensors", "", 0), GAT_ERR_FORMAT, "0 bytes");
}

Test(safetensors, shorter_than_length_field)
{
    expect_fail(test_write_file(dir, "short.safetensors", "\x10\0\0\0\0", 5), GAT_ERR_FORMAT,
                "5 bytes");
}

Test(safetensors, huge_header_length)
{
    expect_fail(write_st("huge.safetensors", (uint64_t)1 << 63, "{}", NULL, 0), GAT_ERR_FORMAT,
                "byte 0");
    cr_assert_lt(mem.largest, (size_t)1 << 20);
}

Test(safetensors, header_length_beyond_file)
{
    expect_fail(write_st("beyond.safetensors", 1000, "{\"a\":1}", NULL, 0), GAT_ERR_FORMAT,
                "header length 1000");
}

Test(safetensors, invalid_json)
{
    const char *header = "{\n  \"layers.0.att_src\": }";
    expect_fail(write_st("json.safetensors", strlen(header), header, NULL, 0), GAT_ERR_FORMAT,
                "line 2");
}

Test(safetensors, duplicate_key)
{
    expect_fail(write_case("dup.safetensors", "{" W0 "," AS0 "," AD0 "," AD0 "}", 0),
                GAT_ERR_FORMAT, "layers.0.att_dst");
}

Test(safetensors, header_not_object)
{
    expect_fail(write_st("array.safetensors", 8, "[1,2,3] ", NULL, 0), GAT_ERR_FORMAT,
                "JSON object");
}

Test(safetensors, metadata_not_object)
{
    expect_fail(write_case("metaarr.safetensors", "{" W0 "," AS0 "," AD0 ",\"__metadata__\":[]}",
                           0),
                GAT_ERR_FORMAT, "__metadata__");
}

Test(safetensors, no_layers)
{
    expect_fail(write_case("nolayers.safetensors", "{\"__metadata__\":{}}", 0), GAT_ERR_FORMAT,
                "layers.0");
}

Test(safetensors, missing_att_dst)
{
    expect_fail(write_case("noattdst.safetensors", "{" W0 "," AS0 "," B0 "}", 0), GAT_ERR_FORMAT,
                "layers.0.att_dst");
}

Test(safetensors, missing_weight)
{
    expect_fail(write_case("noweight.safetensors", "{" AS0 "," AD0 "}", 0), GAT_ERR_FORMAT,
                "layers.0.lin.weight");
}

Test(safetensors, both_weight_names)
{
    expect_fail(write_case("bothw.safetensors",
                           "{" W0 ",\"layers.0.lin_src.weight\":{\"dtype\":\"F32\",\"shape\":"
                           "[4,3],\"data_offsets\":[96,144]}," AS0 "," AD0 "}", 12),
                GAT_ERR_FORMAT, "layers.0.lin_src.weight");
}

Test(safetensors, misshaped_weight)
{
    expect_fail(write_case("wshape.safetensors",
                           "{\"layers.0.lin.weight\":{\"dtype\":\"F32\",\"shape\":[3,4],"
                           "\"data_offsets\":[0,48]}," AS0 "," AD0 "}", 0),
                GAT_ERR_FORMAT, "layers.0.lin.weight");
}

Test(safetensors, misshaped_att_dst)
{
    expect_fail(write_case("attshape.safetensors",
                           "{" W0 "," AS0 ",\"layers.0.att_dst\":{\"dtype\":\"F32\",\"shape\":"
                           "[1,4,1],\"data_offsets\":[64,80]}}", 0),
                GAT_ERR_FORMAT, "layers.0.att_dst");
}

Test(safetensors, bias_shape_against_concat)
{
    /* A [4] bias is right for concat of 2x2, wrong for the mean of 2. */
    expect_fail(write_case("biasmean.safetensors",
                           "{" W0 "," AS0 "," AD0 "," B0
                           ",\"__metadata__\":{\"layers.0.concat\":\"false\"}}", 0),
                GAT_ERR_FORMAT, "layers.0.bias");
}

Test(safetensors, dtype_f16)
{
    expect_fail(write_case("f16.safetensors",
                           "{" W0 ",\"layers.0.att_src\":{\"dtype\":\"F16\",\"shape\":[1,2,2],"
                           "\"data_offsets\":[48,56]}," AD0 "}", 0),
                GAT_ERR_UNSUPPORTED, "layers.0.att_src");
    cr_assert_not_null(strstr(gat_context_message(ctx), "F16"));
}

Test(safetensors, missing_dtype)
{
    expect_fail(write_case("nodtype.safetensors",
                           "{" W0 ",\"layers.0.att_src\":{\"shape\":[1,2,2],"
                           "\"data_offsets\":[48,64]}," AD0 "}", 0),
                GAT_ERR_FORMAT, "layers.0.att_src");
}

Test(safetensors, shape_wrong_type)
{
    expect_fail(write_case("shapetype.safetensors",
                           "{" W0 ",\"layers.0.att_src\":{\"dtype\":\"F32\",\"shape\":\"1,2,2\","
                           "\"data_offsets\":[48,64]}," AD0 "}", 0),
                GAT_ERR_FORMAT, "layers.0.att_src");
}

Test(safetensors, negative_dimension)
{
    expect_fail(write_case("negdim.safetensors",
                           "{" W0 ",\"layers.0.att_src\":{\"dtype\":\"F32\",\"shape\":[1,-2,-2],"
                           "\"data_offsets\":[48,64]}," AD0 "}", 0),
                GAT_ERR_FORMAT, "layers.0.att_src");
}

Test(safetensors, shape_product_overflows)
{
    expect_fail(write_case("overflow.safetensors",
                           "{" W0 "," AS0 "," AD0 ",\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":"
                           "[4294967296,4294967296,16],\"data_offsets\":[80,96]}}", 0),
                GAT_ERR_OVERFLOW, "layers.0.bias");
}

Test(safetensors, offsets_out_of_range)
{
    expect_fail(write_case("range.safetensors",
                           "{" W0 "," AS0 "," AD0 ",\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":"
                           "[4],\"data_offsets\":[96,112]}}", 0),
                GAT_ERR_FORMAT, "layers.0.bias");
    expect_fail(write_case("reversed.safetensors",
                           "{" W0 "," AS0 "," AD0 ",\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":"
                           "[0],\"data_offsets\":[80,64]}}", 0),
                GAT_ERR_FORMAT, "layers.0.bias");
    expect_fail(write_case("negative.safetensors",
                           "{" W0 "," AS0 "," AD0 ",\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":"
                           "[4],\"data_offsets\":[-16,0]}}", 0),
                GAT_ERR_FORMAT, "layers.0.bias");
    expect_fail(write_case("three.safetensors",
                           "{" W0 "," AS0 "," AD0 ",\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":"
                           "[4],\"data_offsets\":[80,96,112]}}", 0),
                GAT_ERR_FORMAT, "layers.0.bias");
}

Test(safetensors, offsets_overlap)
{
    expect_fail(write_case("overlap.safetensors",
                           "{" W0 "," AS0 ",\"layers.0.att_dst\":{\"dtype\":\"F32\",\"shape\":"
                           "[1,2,2],\"data_offsets\":[56,72]}}", 0),
                GAT_ERR_FORMAT, "layers.0.att_dst");
    cr_assert_not_null(strstr(gat_context_message(ctx), "layers.0.att_src"));
}

Test(safetensors, offsets_size_mismatch)
{
    expect_fail(write_case("size.safetensors",
                           "{" W0 "," AS0 "," AD0 ",\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":"
                           "[4],\"data_offsets\":[80,92]}}", 0),
                GAT_ERR_FORMAT, "layers.0.bias");
}

Test(safetensors, nan_value)
{
    fill_base();
    base_data[16 + 2] = NAN; /* att_dst element 2 */
    const char *header = "{" W0 "," AS0 "," AD0 "}";
    expect_fail(write_st("nan.safetensors", strlen(header), header, base_data, 80),
                GAT_ERR_NONFINITE, "layers.0.att_dst");
    cr_assert_not_null(strstr(gat_context_message(ctx), "element 2"), "%s",
                       gat_context_message(ctx));
    base_data[18] = 0.0f;
    base_data[5] = -INFINITY;
    expect_fail(write_st("inf.safetensors", strlen(header), header, base_data, 80),
                GAT_ERR_NONFINITE, "layers.0.lin.weight");
}

static void expect_bad_metadata(const char *name, const char *metadata, const char *key,
                                const char *value)
{
    char header[1024];
    snprintf(header, sizeof header, "{" W0 "," AS0 "," AD0 ",\"__metadata__\":{%s}}", metadata);
    expect_fail(write_case(name, header, 0), GAT_ERR_FORMAT, key);
    if (value != NULL)
        cr_assert_not_null(strstr(gat_context_message(ctx), value), "%s",
                           gat_context_message(ctx));
}

Test(safetensors, bad_metadata_values)
{
    expect_bad_metadata("m1.safetensors", "\"layers.0.concat\":\"maybe\"", "layers.0.concat",
                        "maybe");
    expect_bad_metadata("m2.safetensors", "\"layers.0.negative_slope\":\"abc\"",
                        "layers.0.negative_slope", "abc");
    expect_bad_metadata("m3.safetensors", "\"activation\":\"tanh\"", "activation", "tanh");
    expect_bad_metadata("m4.safetensors", "\"layers.0.negative_slope\":\"inf\"",
                        "layers.0.negative_slope", "inf");
    expect_bad_metadata("m5.safetensors", "\"layers.0.negative_slope\":\"1e39\"",
                        "layers.0.negative_slope", "1e39");
    expect_bad_metadata("m6.safetensors", "\"layers.0.negative_slope\":0.2",
                        "layers.0.negative_slope", "string");
    expect_bad_metadata("m7.safetensors", "\"layers.0.add_self_loops\":\"1\"",
                        "layers.0.add_self_loops", NULL);
    expect_bad_metadata("m8.safetensors", "\"layers.0.negative_slope\":\"0.2 x\"",
                        "layers.0.negative_slope", NULL);
}

/* ---- strict metadata and names (issue 13) ---------------------------------- */

/* The base layer with `metadata`: refused with `status`, the message naming
 * `key` and (when not NULL) `detail`. */
static void expect_metadata_refused(const char *metadata, gat_status status, const char *key,
                                    const char *detail)
{
    char header[1024];
    snprintf(header, sizeof header, "{" W0 "," AS0 "," AD0 ",\"__metadata__\":{%s}}", metadata);
    expect_fail(write_case("strict.safetensors", header, 0), status, key);
    if (detail != NULL)
        cr_assert_not_null(strstr(gat_context_message(ctx), detail), "\"%s\" not in: %s",
                           detail, gat_context_message(ctx));
}

Test(safetensors, strict_metadata_keys)
{
    /* A typo would otherwise run the model with the default. */
    expect_metadata_refused("\"layers.0.concatt\":\"false\"", GAT_ERR_FORMAT,
                            "metadata \"layers.0.concatt\": unknown key", NULL);
    expect_metadata_refused("\"activaton\":\"relu\"", GAT_ERR_FORMAT,
                            "metadata \"activaton\": unknown key", NULL);
    expect_metadata_refused("\"unrelated\":\"x\"", GAT_ERR_FORMAT, "\"unrelated\"",
                            "unknown key");
    /* A key of a layer the tensors do not define. */
    expect_metadata_refused("\"layers.1.concat\":\"true\"", GAT_ERR_FORMAT,
                            "metadata \"layers.1.concat\"", "there is no layer 1");
    expect_metadata_refused("\"layers.7.negative_slope\":\"0.1\"", GAT_ERR_FORMAT,
                            "\"layers.7.negative_slope\"", "there is no layer 7");
    expect_metadata_refused("\"layers.01.concat\":\"true\"", GAT_ERR_FORMAT,
                            "\"layers.01.concat\"", "layers.{index}.{name}");
    /* Every value a string, whatever the key. */
    expect_metadata_refused("\"layers.0.type\":1", GAT_ERR_FORMAT, "\"layers.0.type\"",
                            "expected a JSON string");
    expect_metadata_refused("\"format\":\"np\"", GAT_ERR_FORMAT, "\"format\" = \"np\"",
                            "expected \"pt\"");
    expect_metadata_refused("\"layers.0.type\":\"GATConv\"", GAT_ERR_FORMAT,
                            "\"layers.0.type\" = \"GATConv\"", "expected \"gat\" or \"gatv2\"");
}

Test(safetensors, strict_metadata_values)
{
    static const struct {
        const char *metadata, *key, *value;
    } cases[] = {
        {"\"layers.0.negative_slope\":\" 0.2\"", "layers.0.negative_slope", "\" 0.2\""},
        {"\"layers.0.negative_slope\":\"0.2 \"", "layers.0.negative_slope", "\"0.2 \""},
        {"\"layers.0.negative_slope\":\"+0.2\"", "layers.0.negative_slope", "\"+0.2\""},
        {"\"layers.0.negative_slope\":\".2\"", "layers.0.negative_slope", "\".2\""},
        {"\"layers.0.negative_slope\":\"0x1p-3\"", "layers.0.negative_slope", "\"0x1p-3\""},
        {"\"layers.0.negative_slope\":\"nan\"", "layers.0.negative_slope", "\"nan\""},
        {"\"layers.0.negative_slope\":\"\"", "layers.0.negative_slope", "\"\""},
        {"\"layers.0.concat\":\"False\"", "layers.0.concat", "expected \"true\" or \"false\""},
        {"\"layers.0.concat\":\"True\"", "layers.0.concat", "\"True\""},
        {"\"layers.0.add_self_loops\":\" true\"", "layers.0.add_self_loops", "\" true\""},
        {"\"activation\":\"ELU\"", "activation", "\"ELU\""},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        expect_metadata_refused(cases[c].metadata, GAT_ERR_FORMAT, cases[c].key,
                                cases[c].value);
    /* Underflow: 1e-400 is 0 in double, 1e-40 a float32 denormal; either
     * would silently change the slope. */
    expect_metadata_refused("\"layers.0.negative_slope\":\"1e-400\"", GAT_ERR_FORMAT,
                            "\"layers.0.negative_slope\" = \"1e-400\"", "underflow");
    expect_metadata_refused("\"layers.0.negative_slope\":\"-1e-40\"", GAT_ERR_FORMAT,
                            "\"layers.0.negative_slope\" = \"-1e-40\"", "underflow");
    /* Zero written as zero, and the exponent's own digits, are fine. */
    static const char *const good[] = {"0", "-0.0", "0e-400", "1e-2", "2E-1", "1.5e+1"};
    static const float want[] = {0.0f, -0.0f, 0.0f, 0.01f, 0.2f, 15.0f};
    for (size_t g = 0; g < sizeof good / sizeof good[0]; g++) {
        char header[512];
        snprintf(header, sizeof header,
                 "{" W0 "," AS0 "," AD0 ",\"__metadata__\":{\"layers.0.negative_slope\":\"%s\"}}",
                 good[g]);
        gat_model *model = expect_load(write_case("good.safetensors", header, 0));
        gat_layer_config c;
        gat_model_layer_config(model, 0, &c);
        cr_expect_eq(c.negative_slope, want[g], "\"%s\" read as %g", good[g],
                     (double)c.negative_slope);
        gat_model_destroy(&model);
    }
}

Test(safetensors, unknown_tensor_names_outside_layers)
{
    expect_fail(write_case("head.safetensors",
                           "{" W0 "," AS0 "," AD0 ",\"head.weight\":{\"dtype\":\"F32\","
                           "\"shape\":[4],\"data_offsets\":[80,96]}}", 4),
                GAT_ERR_FORMAT, "tensor \"head.weight\": unknown tensor name");
    /* Whatever its dtype: it is refused by name first. */
    expect_fail(write_case("step.safetensors",
                           "{" W0 "," AS0 "," AD0 ",\"step\":{\"dtype\":\"I64\","
                           "\"shape\":[2],\"data_offsets\":[80,96]}}", 4),
                GAT_ERR_FORMAT, "\"step\": unknown tensor name");
}

/* The names of the layer types to come are refused as unsupported, naming
 * the feature, not as unknown (gat.h, docs/formats.md). */
/* The tensors and keys of GATv2, edge features and residual connections
 * where the layer does not have them: errors naming what is wrong. */
Test(safetensors, family_names_out_of_place)
{
    static const struct {
        const char *name, *status_detail;
        gat_status status;
    } tensors[] = {
        {"layers.0.lin_l.weight", "missing tensor \"layers.0.att\"", GAT_ERR_FORMAT},
        {"layers.0.lin_r.weight", "missing tensor \"layers.0.lin_l.weight\"", GAT_ERR_FORMAT},
        {"layers.0.att", "missing tensor \"layers.0.lin_l.weight\"", GAT_ERR_FORMAT},
        {"layers.0.lin_l.bias", "\"layers.0.lin_l.bias\": not a tensor of this layer",
         GAT_ERR_FORMAT},
        {"layers.0.lin_edge.weight", "\"layers.0.lin_edge.weight\": shape [4]: expected",
         GAT_ERR_FORMAT},
        {"layers.0.att_edge", "\"layers.0.att_edge\": not a tensor of this layer",
         GAT_ERR_FORMAT},
        {"layers.0.res.weight", "\"layers.0.res.weight\": shape [4]: expected [4, 3]",
         GAT_ERR_FORMAT},
        {"layers.0.lin_src.bias", "bias inside", GAT_ERR_UNSUPPORTED},
        {"layers.0.res.bias", "unknown tensor name", GAT_ERR_FORMAT},
    };
    for (size_t t = 0; t < sizeof tensors / sizeof tensors[0]; t++) {
        char header[512];
        snprintf(header, sizeof header,
                 "{" W0 "," AS0 "," AD0 ",\"%s\":{\"dtype\":\"F32\",\"shape\":[4],"
                 "\"data_offsets\":[80,96]}}",
                 tensors[t].name);
        expect_fail(write_case("family.safetensors", header, 4), tensors[t].status,
                    tensors[t].status_detail);
    }
    expect_metadata_refused("\"layers.0.type\":\"gatv2\"", GAT_ERR_FORMAT,
                            "missing tensor \"layers.0.lin_l.weight\"", "GATv2");
    expect_metadata_refused("\"layers.0.share_weights\":\"false\"", GAT_ERR_FORMAT,
                            "\"layers.0.share_weights\"", "option of GATv2");
    expect_metadata_refused("\"layers.0.edge_dim\":\"3\"", GAT_ERR_FORMAT,
                            "\"layers.0.edge_dim\"", "unknown key");
    expect_metadata_refused("\"layers.0.fill_value\":\"median\"", GAT_ERR_FORMAT,
                            "\"layers.0.fill_value\" = \"median\"", NULL);
    expect_metadata_refused("\"layers.0.residual\":\"true\"", GAT_ERR_FORMAT,
                            "\"layers.0.residual\" = \"true\"", "no res.weight");
}

Test(safetensors, layer_gap)
{
    expect_fail(write_case("gap.safetensors",
                           "{" W0 "," AS0 "," AD0
                           ",\"layers.2.att_src\":{\"dtype\":\"F32\",\"shape\":[1,2,2],"
                           "\"data_offsets\":[80,96]}}", 0),
                GAT_ERR_FORMAT, "layers.1");
    expect_fail(write_case("farlayer.safetensors",
                           "{" W0 "," AS0 "," AD0
                           ",\"layers.2000000000.att_src\":{\"dtype\":\"F32\",\"shape\":[1,2,2],"
                           "\"data_offsets\":[80,96]}}", 0),
                GAT_ERR_FORMAT, "layers.2000000000.att_src");
}

Test(safetensors, layer_width_chain)
{
    /* Layer 0 outputs 4; layer 1's weight takes 3. */
    expect_fail(write_case("chain.safetensors",
                           "{" W0 "," AS0 "," AD0
                           ",\"layers.1.lin.weight\":{\"dtype\":\"F32\",\"shape\":[1,3],"
                           "\"data_offsets\":[80,92]},"
                           "\"layers.1.att_src\":{\"dtype\":\"F32\",\"shape\":[1,1,1],"
                           "\"data_offsets\":[92,96]},"
                           "\"layers.1.att_dst\":{\"dtype\":\"F32\",\"shape\":[1,1,1],"
                           "\"data_offsets\":[96,100]}}", 1),
                GAT_ERR_FORMAT, "layers.1.lin.weight");
}

Test(safetensors, unknown_names_under_layers)
{
    expect_fail(write_case("linbias.safetensors",
                           "{" W0 "," AS0 "," AD0 ",\"layers.0.lin.bias\":{\"dtype\":\"F32\","
                           "\"shape\":[4],\"data_offsets\":[80,96]}}", 0),
                GAT_ERR_UNSUPPORTED, "layers.0.lin.bias");
    cr_assert_not_null(strstr(gat_context_message(ctx), "not supported"));
    expect_fail(write_case("foo.safetensors",
                           "{" W0 "," AS0 "," AD0 ",\"layers.0.foo\":{\"dtype\":\"F32\","
                           "\"shape\":[4],\"data_offsets\":[80,96]}}", 0),
                GAT_ERR_FORMAT, "layers.0.foo");
    expect_fail(write_case("zero.safetensors",
                           "{" W0 "," AS0 "," AD0 ",\"layers.00.bias\":{\"dtype\":\"F32\","
                           "\"shape\":[4],\"data_offsets\":[80,96]}}", 0),
                GAT_ERR_FORMAT, "layers.00.bias");
    expect_fail(write_case("noindex.safetensors",
                           "{" W0 "," AS0 "," AD0 ",\"layers.x.bias\":{\"dtype\":\"F32\","
                           "\"shape\":[4],\"data_offsets\":[80,96]}}", 0),
                GAT_ERR_FORMAT, "layers.x.bias");
}

/* Every prefix of a good file and every byte of it changed: the loader may
 * accept or refuse, but must not crash, leak a model on failure, or ask for
 * more memory than the file can back. */
Test(safetensors, truncations_and_byte_flips)
{
    size_t size;
    unsigned char *good =
        test_read_file(GAT_TEST_DATA "/safetensors/pyg_2layer.safetensors", &size);
    unsigned char *bytes = malloc(size);
    const char *path = test_path(dir, "mutant.safetensors");
    for (size_t cut = 0; cut < size; cut++) {
        test_write_file(dir, "mutant.safetensors", good, cut);
        gat_model *model = NULL;
        cr_assert_neq(gat_model_load(ctx, &model, path), GAT_OK, "prefix of %zu bytes", cut);
        cr_assert_null(model);
    }
    static const unsigned char flips[] = {0x01, 0x80, 0xff};
    for (size_t at = 0; at < size; at++) {
        for (size_t f = 0; f < sizeof flips; f++) {
            memcpy(bytes, good, size);
            bytes[at] ^= flips[f];
            test_write_file(dir, "mutant.safetensors", bytes, size);
            mem.largest = 0;
            gat_model *model = NULL;
            gat_status status = gat_model_load(ctx, &model, path);
            cr_assert_eq(status == GAT_OK, model != NULL);
            cr_assert_leq(mem.largest, 2 * size + 4096, "byte %zu ^ %#x: %zu-byte allocation",
                          at, flips[f], mem.largest);
            gat_model_destroy(&model);
        }
    }
    free(bytes);
    free(good);
}

Test(safetensors, null_arguments)
{
    gat_model *model = NULL;
    cr_assert_eq(gat_model_load(ctx, &model, NULL), GAT_ERR_INVALID);
    cr_assert_eq(gat_model_load(ctx, NULL, "x"), GAT_ERR_INVALID);
    cr_assert_eq(gat_model_load(NULL, &model, "x"), GAT_ERR_INVALID);
    cr_assert_eq(gat_model_save(ctx, NULL, "x"), GAT_ERR_INVALID);
}

/* A GATv2 layer: F_in 3, 2 heads of 2 channels; lin_l, att, lin_r, their
 * biases and the bias, 40 floats. */
#define V2_L "\"layers.0.lin_l.weight\":{\"dtype\":\"F32\",\"shape\":[4,3],\"data_offsets\":[0,48]}"
#define V2_ATT "\"layers.0.att\":{\"dtype\":\"F32\",\"shape\":[1,2,2],\"data_offsets\":[48,64]}"
#define V2_R "\"layers.0.lin_r.weight\":{\"dtype\":\"F32\",\"shape\":[4,3],\"data_offsets\":[64,112]}"
#define V2_LB "\"layers.0.lin_l.bias\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[112,128]}"
#define V2_RB "\"layers.0.lin_r.bias\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[128,144]}"
#define V2_B "\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[144,160]}"

Test(safetensors, gatv2_layers_and_their_errors)
{
    gat_model *model = expect_load(write_case(
        "v2.safetensors", "{" V2_L "," V2_ATT "," V2_R "," V2_LB "," V2_RB "," V2_B "}", 16));
    gat_layer_config c;
    gat_layer_params p;
    gat_model_layer_config(model, 0, &c);
    gat_model_layer_params(model, 0, &p);
    cr_assert(c.type == GAT_LAYER_GATV2 && !c.share_weights && c.bias && c.in_features == 3);
    cr_assert(p.att && p.weight_dst && p.bias_src && p.bias_dst && !p.att_src);
    cr_assert_eq(p.bias_dst[0], base_data[32]);
    gat_model_destroy(&model);
    /* share_weights: no lin_r. */
    model = expect_load(write_case("v2s.safetensors", "{" V2_L "," V2_ATT "}", 0));
    gat_model_layer_config(model, 0, &c);
    cr_assert(c.share_weights && !c.bias);
    gat_model_destroy(&model);

    expect_fail(write_case("v2nob.safetensors",
                           "{" V2_L "," V2_ATT "," V2_R "," V2_LB "," V2_RB "}", 12),
                GAT_ERR_FORMAT, "\"layers.0.lin_l.bias\": not a tensor of this layer");
    expect_fail(write_case("v2rb.safetensors", "{" V2_L "," V2_ATT "," V2_R "," V2_LB "," V2_B
                                               "}", 16),
                GAT_ERR_FORMAT, "missing tensor \"layers.0.lin_r.bias\"");
    expect_fail(write_case("v2share.safetensors",
                           "{" V2_L "," V2_ATT "," V2_R ",\"__metadata__\":{"
                           "\"layers.0.share_weights\":\"true\"}}", 4),
                GAT_ERR_FORMAT, "\"layers.0.share_weights\" = \"true\" but lin_r.weight");
    expect_fail(write_case("v2rshape.safetensors",
                           "{" V2_L "," V2_ATT ",\"layers.0.lin_r.weight\":{\"dtype\":\"F32\","
                           "\"shape\":[3,3],\"data_offsets\":[64,100]}}", 1),
                GAT_ERR_FORMAT, "\"layers.0.lin_r.weight\": shape [3, 3]: expected [4, 3]");
    expect_fail(write_case("v2res.safetensors",
                           "{" V2_L "," V2_ATT ",\"layers.0.res.weight\":{\"dtype\":\"F32\","
                           "\"shape\":[2,3],\"data_offsets\":[64,88]}}", 0),
                GAT_ERR_FORMAT, "\"layers.0.res.weight\": shape [2, 3]: expected [4, 3]");
    expect_fail(write_case("v2fill.safetensors",
                           "{" V2_L "," V2_ATT ",\"__metadata__\":{"
                           "\"layers.0.fill_value\":\"nan\"}}", 0),
                GAT_ERR_FORMAT, "\"layers.0.fill_value\" = \"nan\"");
    expect_fail(write_case("v2type.safetensors",
                           "{" V2_L "," V2_ATT ",\"__metadata__\":{\"layers.0.type\":\"gat\"}}",
                           0),
                GAT_ERR_FORMAT, "missing tensor \"layers.0.lin.weight\"");
    expect_fail(write_case("v2edge.safetensors",
                           "{" V2_L "," V2_ATT ",\"layers.0.att_edge\":{\"dtype\":\"F32\","
                           "\"shape\":[1,2,2],\"data_offsets\":[64,80]}}", 0),
                GAT_ERR_FORMAT, "\"layers.0.att_edge\": not a tensor of this layer");
}
