/*
 * gat_model_save: a model as safetensors, in the layout gat_model_load and
 * tools/export_pyg.py agree on. The header is padded with spaces to a
 * multiple of 8 bytes, as the reference writer does, so the data buffer
 * starts aligned for readers that map the file.
 */
#include "file_write.h"
#include "model.h"
#include "safetensors.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The shortest decimal (6 to 9 significant digits) that reads back as the
 * same float through the loader's path (JSON number -> double -> float).
 * Formatted by jansson because snprintf would use the locale's decimal
 * point; 9 digits always round-trip a float. */
static int format_float(float value, char *buf, size_t size)
{
    for (int precision = 6; precision <= 9; precision++) {
        json_t *real = json_real(value);
        char *text = real ? json_dumps(real, JSON_ENCODE_ANY | JSON_REAL_PRECISION(precision))
                          : NULL;
        json_decref(real);
        if (text == NULL)
            return -1;
        json_t *back = json_loads(text, JSON_DECODE_ANY, NULL);
        bool same = json_is_number(back) && (float)json_number_value(back) == value;
        json_decref(back);
        if (same || precision == 9) {
            int written = snprintf(buf, size, "%s", text);
            free(text);
            return written > 0 && (size_t)written < size ? 0 : -1;
        }
        free(text);
    }
    return -1;
}

/* Adds one F32 tensor entry of `ndim` dims at *offset and advances it. */
static int add_tensor(json_t *root, const char *name, int ndim, const int64_t *shape,
                      uint64_t *offset)
{
    json_t *entry = json_object();
    json_t *dims = json_array();
    json_t *range = json_array();
    uint64_t bytes = GAT__ST_F32_SIZE;
    int failed = entry == NULL || dims == NULL || range == NULL;
    for (int d = 0; d < ndim && !failed; d++) {
        failed |= json_array_append_new(dims, json_integer(shape[d]));
        bytes *= (uint64_t)shape[d];
    }
    if (!failed) {
        failed |= json_array_append_new(range, json_integer((json_int_t)*offset));
        failed |= json_array_append_new(range, json_integer((json_int_t)(*offset + bytes)));
        failed |= json_object_set_new(entry, "dtype", json_string("F32"));
        failed |= json_object_set(entry, "shape", dims);
        failed |= json_object_set(entry, "data_offsets", range);
        failed |= json_object_set(root, name, entry);
    }
    json_decref(entry);
    json_decref(dims);
    json_decref(range);
    *offset += bytes;
    return failed ? -1 : 0;
}

/* The header: one entry per tensor in file order, then the metadata. */
static json_t *build_header(const gat_model *model)
{
    json_t *root = json_object();
    json_t *meta = json_object();
    int failed = root == NULL || meta == NULL;
    uint64_t offset = 0;
    char name[64], value[32];
    for (int l = 0; l < model->num_layers && !failed; l++) {
        const gat_layer_config *c = &model->layers[l].config;
        for (int k = 0; k < GAT__T_COUNT && !failed; k++) {
            gat__tensor_info t = gat__layer_tensor(c, (gat__tensor_kind)k);
            if (!t.present)
                continue;
            int64_t shape[3] = {t.rows, t.cols, 0};
            if (t.ndim == 3) {
                shape[0] = 1;
                shape[1] = t.rows;
                shape[2] = t.cols;
            }
            snprintf(name, sizeof name, "layers.%d.%s", l, t.name);
            failed |= add_tensor(root, name, t.ndim, shape, &offset);
        }
        snprintf(name, sizeof name, "layers.%d.concat", l);
        failed |= json_object_set_new(meta, name, json_string(c->concat ? "true" : "false"));
        snprintf(name, sizeof name, "layers.%d.add_self_loops", l);
        failed |= json_object_set_new(meta, name,
                                      json_string(c->add_self_loops ? "true" : "false"));
        snprintf(name, sizeof name, "layers.%d.negative_slope", l);
        failed |= format_float(c->negative_slope, value, sizeof value);
        if (!failed)
            failed |= json_object_set_new(meta, name, json_string(value));
        /* A GATConv layer of 0.1's kind is written as 0.1 wrote it. */
        if (!gat__layer_is_plain(c)) {
            snprintf(name, sizeof name, "layers.%d.type", l);
            failed |= json_object_set_new(meta, name, json_string(gat__layer_type_name(c->type)));
        }
        if (c->type == GAT_LAYER_GATV2) {
            snprintf(name, sizeof name, "layers.%d.share_weights", l);
            failed |= json_object_set_new(meta, name,
                                          json_string(c->share_weights ? "true" : "false"));
        }
        if (c->residual) {
            snprintf(name, sizeof name, "layers.%d.residual", l);
            failed |= json_object_set_new(meta, name, json_string("true"));
        }
        if (c->edge_dim > 0) {
            snprintf(name, sizeof name, "layers.%d.fill_value", l);
            const char *fill = gat__fill_name(c->fill_value);
            if (fill == NULL)
                failed |= format_float(c->fill_constant, value, sizeof value);
            if (!failed)
                failed |= json_object_set_new(meta, name, json_string(fill ? fill : value));
        }
    }
    const char *activation = gat__activation_name(model->activation);
    failed |= activation == NULL;
    if (!failed) {
        failed |= json_object_set_new(meta, "activation", json_string(activation));
        /* What Hugging Face tools look for to know the tensors' framework. */
        failed |= json_object_set_new(meta, "format", json_string("pt"));
        if (model->preprocess & GAT_PREPROCESS_NORMALIZE_ROWS)
            failed |= json_object_set_new(meta, "preprocess", json_string("normalize_rows"));
        failed |= json_object_set(root, "__metadata__", meta);
    }
    json_decref(meta);
    if (failed) {
        json_decref(root);
        return NULL;
    }
    return root;
}

/* The loader refuses non-finite parameters; refuse to write a file it
 * would refuse to read. */
static gat_status check_finite(gat_context *ctx, const char *path, const float *data,
                               int64_t count, int layer, const char *what)
{
    for (int64_t i = 0; i < count; i++)
        if (!isfinite(data[i]))
            return gat__fail(ctx, GAT_ERR_NONFINITE,
                             "%s: tensor \"layers.%d.%s\": element %lld is %s; not saved",
                             path, layer, what, (long long)i, isnan(data[i]) ? "NaN" : "infinite");
    return GAT_OK;
}

/* count floats as little-endian bytes. */
static gat_status write_floats(gat_context *ctx, gat_output *out, const float *data,
                               int64_t count)
{
    if (gat__host_little_endian())
        return gat_output_write(ctx, out, data, (size_t)count * GAT__ST_F32_SIZE);
    float chunk[1024];
    for (int64_t done = 0; done < count;) {
        size_t n = (size_t)(count - done < 1024 ? count - done : 1024);
        memcpy(chunk, data + done, n * sizeof *chunk);
        gat__bswap32_array(chunk, n);
        gat_status status = gat_output_write(ctx, out, chunk, n * sizeof *chunk);
        if (status != GAT_OK)
            return status;
        done += (int64_t)n;
    }
    return GAT_OK;
}

gat_status gat_model_save_to(gat_context *ctx, const gat_model *model, gat_output *out)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    if (model == NULL || out == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "gat_model_save: NULL argument");
    gat__clear_message(ctx);

    const char *path = out->path;
    gat_status status = GAT_OK;
    json_t *header = NULL;
    char *text = NULL;

    for (int l = 0; l < model->num_layers && status == GAT_OK; l++)
        for (int k = 0; k < GAT__T_COUNT && status == GAT_OK; k++) {
            gat__tensor_info t = gat__layer_tensor(&model->layers[l].config, (gat__tensor_kind)k);
            if (t.present)
                status = check_finite(ctx, path,
                                      gat__layer_tensor_values(&model->layers[l],
                                                               (gat__tensor_kind)k),
                                      t.rows * t.cols, l, t.name);
        }
    if (status != GAT_OK)
        goto done;

    header = build_header(model);
    text = header ? json_dumps(header, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (text == NULL) {
        status = gat__fail(ctx, GAT_ERR_NOMEM, "%s: cannot build the header: out of memory",
                           path);
        goto done;
    }
    size_t length = strlen(text);
    size_t padded = (length + 7) & ~(size_t)7;
    unsigned char field[8];
    for (int i = 0; i < 8; i++)
        field[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    static const char spaces[] = "       "; /* at most 7 are needed */

    if ((status = gat_output_write(ctx, out, field, sizeof field)) != GAT_OK ||
        (status = gat_output_write(ctx, out, text, length)) != GAT_OK ||
        (status = gat_output_write(ctx, out, spaces, padded - length)) != GAT_OK)
        goto done;
    /* Data in the order build_header assigned offsets. */
    for (int l = 0; l < model->num_layers; l++)
        for (int k = 0; k < GAT__T_COUNT; k++) {
            gat__tensor_info t = gat__layer_tensor(&model->layers[l].config, (gat__tensor_kind)k);
            if (t.present &&
                (status = write_floats(ctx, out,
                                       gat__layer_tensor_values(&model->layers[l],
                                                                 (gat__tensor_kind)k),
                                       t.rows * t.cols)) != GAT_OK)
                goto done;
        }
done:
    free(text);
    json_decref(header);
    return status;
}

static gat_status save_body(gat_context *ctx, gat_output *out, const void *model)
{
    return gat_model_save_to(ctx, model, out);
}

gat_status gat_model_save(gat_context *ctx, const gat_model *model, const char *path)
{
    return gat__write_file(ctx, "gat_model_save", path, save_body, model);
}
