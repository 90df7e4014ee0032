/*
 * gat_model_load: a stack of GATConv layers from a safetensors file.
 *
 * The file is untrusted. Every length, offset and shape is checked against
 * the file's size before it is used, so nothing is allocated beyond what the
 * file's own bytes can back, and the order of checks is: the length field,
 * the JSON, each header entry on its own, the entries' byte ranges against
 * each other, the layers' shapes against each other, the metadata, and last
 * the numbers themselves.
 */
#include "file_read.h"
#include "model.h"
#include "safetensors.h"

#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* The tensor names a layer may have in a file: GATConv's and GATv2Conv's
 * state_dict names (lin_src.weight is also PyG 2.3-2.4's name for
 * lin.weight, saved with an equal lin_dst.weight copy). Which of them a
 * layer must have follows from its configuration (model.c's table). */
enum {
    SLOT_LIN,
    SLOT_LIN_SRC,
    SLOT_LIN_DST,
    SLOT_ATT_SRC,
    SLOT_ATT_DST,
    SLOT_BIAS,
    SLOT_ATT,
    SLOT_LIN_L,
    SLOT_LIN_L_BIAS,
    SLOT_LIN_R,
    SLOT_LIN_R_BIAS,
    SLOT_LIN_EDGE,
    SLOT_ATT_EDGE,
    SLOT_RES,
    SLOT_COUNT
};

static const char *const slot_names[SLOT_COUNT] = {
    "lin.weight",   "lin_src.weight", "lin_dst.weight", "att_src",         "att_dst",
    "bias",         "att",            "lin_l.weight",   "lin_l.bias",      "lin_r.weight",
    "lin_r.bias",   "lin_edge.weight", "att_edge",      "res.weight",
};

static int slot_named(const char *name)
{
    for (int s = 0; s < SLOT_COUNT; s++)
        if (strcmp(name, slot_names[s]) == 0)
            return s;
    return -1;
}

/* One validated header entry. Names point into the parsed JSON. */
typedef struct st_tensor {
    const char *name;
    int ndim;          /* at most 3 for a layer tensor */
    int64_t shape[3];
    uint64_t begin;    /* byte range in the data buffer */
    uint64_t end;
} st_tensor;

typedef struct st_layer {
    const st_tensor *slot[SLOT_COUNT];
    int file_slot[GAT__T_COUNT]; /* the slot each tensor kind reads, -1: none */
    bool dst_copy;               /* lin_dst.weight is PyG 2.3-2.4's copy of lin_src's */
} st_layer;

typedef struct st_reader {
    gat_context *ctx;
    const char *path;
    FILE *fp;
    uint64_t file_size;
    uint64_t header_size;  /* N */
    uint64_t data_size;    /* file_size - 8 - N */
    json_t *header;        /* owned */
    json_t *metadata;      /* borrowed from header; NULL when absent */
    st_tensor *tensors;    /* every tensor entry, layer tensors or not */
    size_t num_tensors;
    st_layer *layers;      /* layer_capacity slots, indexed by layer */
    size_t layer_capacity;
    int num_layers;
} st_reader;

/* Copies at most size-1 bytes of s for a one-line message: control and
 * non-ASCII bytes from the file become '?', a long string is cut. */
static const char *show(const char *s, char *buf, size_t size)
{
    size_t n = 0;
    for (; s[n] != '\0' && n + 1 < size; n++) {
        unsigned char c = (unsigned char)s[n];
        buf[n] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (s[n] != '\0' && n >= 3)
        memcpy(buf + n - 3, "...", 3);
    buf[n] = '\0';
    return buf;
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "an unknown value";
}

static const char *shape_text(const st_tensor *t, char *buf, size_t size)
{
    int used = snprintf(buf, size, "[");
    for (int d = 0; d < t->ndim && used > 0 && (size_t)used < size; d++)
        used += snprintf(buf + used, size - (size_t)used, d ? ", %lld" : "%lld",
                         (long long)t->shape[d]);
    if (used > 0 && (size_t)used < size)
        snprintf(buf + used, size - (size_t)used, "]");
    return buf;
}

/* Reads the length field and the header JSON. */
static gat_status read_header(st_reader *r)
{
    gat_context *ctx = r->ctx;
    gat_status status = GAT_OK;
    char *text = NULL;

    /* The offsets index a buffer whose size we must know up front. */
    int fd;
    struct stat st;
    gat_status opened = gat__in_open(ctx, r->path, false,
                                     "safetensors offsets are checked against the file's size",
                                     &fd, &st);
    if (opened != GAT_OK)
        return opened;
    r->fp = fdopen(fd, "rb");
    if (r->fp == NULL) {
        close(fd);
        return gat__fail(ctx, GAT_ERR_IO, "%s: cannot open: %s", r->path, strerror(errno));
    }
    r->file_size = (uint64_t)st.st_size;
    if (r->file_size < 8)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: %llu bytes: too short for a safetensors file, which starts "
                         "with an 8-byte header length",
                         r->path, (unsigned long long)r->file_size);

    unsigned char field[8];
    if (fread(field, 1, 8, r->fp) != 8)
        return gat__fail(ctx, GAT_ERR_IO, "%s: byte 0: cannot read the header length",
                         r->path);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | field[i];
    /* A real length's high bytes are zero; eight printable characters are
     * some other file given by mistake (an edge list, a .npy, JSON). */
    bool looks_text = true;
    for (int i = 0; i < 8; i++)
        looks_text = looks_text && ((field[i] >= 0x20 && field[i] < 0x7f) || field[i] == '\n' ||
                        field[i] == '\r' || field[i] == '\t');
    if (n > GAT__ST_MAX_HEADER && (looks_text || field[0] == 0x93))
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: not a safetensors file (it starts with %s, where a safetensors "
                         "file has an 8-byte little-endian header length)",
                         r->path, field[0] == 0x93 ? "NumPy's .npy magic" : "text");
    if (n > GAT__ST_MAX_HEADER)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: byte 0: header length %llu is over the limit of %llu bytes",
                         r->path, (unsigned long long)n,
                         (unsigned long long)GAT__ST_MAX_HEADER);
    if (n > r->file_size - 8)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: byte 0: header length %llu runs past the end of the file "
                         "(%llu bytes follow the length field)",
                         r->path, (unsigned long long)n,
                         (unsigned long long)(r->file_size - 8));
    r->header_size = n;
    r->data_size = r->file_size - 8 - n;

    text = gat__alloc_array(ctx, (int64_t)n, 1, "safetensors header", &status);
    if (text == NULL)
        goto done;
    if (fread(text, 1, (size_t)n, r->fp) != (size_t)n) {
        status = gat__fail(ctx, ferror(r->fp) ? GAT_ERR_IO : GAT_ERR_FORMAT,
                           "%s: byte 8: cannot read the %llu-byte header", r->path,
                           (unsigned long long)n);
        goto done;
    }
    json_error_t error;
    r->header = json_loadb(text, (size_t)n, JSON_REJECT_DUPLICATES, &error);
    if (r->header == NULL) {
        status = gat__fail(ctx, GAT_ERR_FORMAT,
                           "%s: header: invalid JSON at line %d, column %d (byte %lld of the "
                           "file): %s",
                           r->path, error.line, error.column, 8 + (long long)error.position,
                           error.text);
        goto done;
    }
    if (!json_is_object(r->header))
        status = gat__fail(ctx, GAT_ERR_FORMAT, "%s: header (byte 8): expected a JSON object, "
                           "found %s", r->path, json_type_name(r->header));
done:
    gat__free_raw(&ctx->allocator, text);
    return status;
}

/* The projection bias GATConv never has: refused as GAT_ERR_UNSUPPORTED
 * naming why, not as an unknown name. */
typedef struct reserved_name {
    const char *name;
    const char *feature;
} reserved_name;

#define LIN_BIAS "a bias inside GATConv's linear projection (PyG's GATConv projects with bias=False)"

static const reserved_name reserved_tensors[] = {
    {"lin.bias", LIN_BIAS}, {"lin_src.bias", LIN_BIAS}, {"lin_dst.bias", LIN_BIAS},
};

/* The metadata keys of a layer (build_configs reads them). */
static const char *const layer_keys[] = {"concat",    "negative_slope", "add_self_loops", "type",
                                         "fill_value", "share_weights", "residual"};

static const char *find_reserved(const reserved_name *table, size_t count, const char *suffix)
{
    for (size_t k = 0; k < count; k++) {
        size_t n = strlen(table[k].name);
        if (table[k].name[n - 1] == '.' ? strncmp(suffix, table[k].name, n) == 0
                                        : strcmp(suffix, table[k].name) == 0)
            return table[k].feature;
    }
    return NULL;
}

/* Splits "layers.{i}.{suffix}" (a tensor name or a metadata key, `kind`
 * says which for messages). *suffix is NULL for a name outside "layers.";
 * a malformed index is an error. */
static gat_status split_layer_name(st_reader *r, const char *kind, const char *name,
                                   int64_t *layer, const char **suffix)
{
    static const char prefix[] = "layers.";
    char shown[160];
    *layer = -1;
    *suffix = NULL;
    if (strncmp(name, prefix, sizeof prefix - 1) != 0)
        return GAT_OK;
    const char *p = name + sizeof prefix - 1;
    int64_t index = 0;
    const char *digits = p;
    while (*p >= '0' && *p <= '9') {
        if (index > INT32_MAX / 10)
            return gat__fail(r->ctx, GAT_ERR_FORMAT, "%s: %s \"%s\": layer index too large",
                             r->path, kind, show(name, shown, sizeof shown));
        index = index * 10 + (*p++ - '0');
    }
    /* "layers.01" would alias "layers.1" and make a second copy of it. */
    if (p == digits || *p != '.' || (digits[0] == '0' && p - digits > 1))
        return gat__fail(r->ctx, GAT_ERR_FORMAT,
                         "%s: %s \"%s\": expected a name of the form layers.{index}.{name}",
                         r->path, kind, show(name, shown, sizeof shown));
    *layer = index;
    *suffix = p + 1;
    return GAT_OK;
}

/* Files a tensor name as a layer's slot. Every tensor must be one: a name
 * the loader does not know would be a parameter silently dropped. */
static gat_status classify_name(st_reader *r, const char *name, int64_t *layer, int *slot)
{
    char shown[160];
    const char *suffix;
    *slot = -1;
    gat_status status = split_layer_name(r, "tensor", name, layer, &suffix);
    if (status != GAT_OK)
        return status;
    show(name, shown, sizeof shown);
    if (suffix == NULL)
        return gat__fail(r->ctx, GAT_ERR_FORMAT,
                         "%s: tensor \"%s\": unknown tensor name (expected "
                         "layers.{i}.lin.weight, att_src, att_dst, bias, ...)",
                         r->path, shown);
    *slot = slot_named(suffix);
    if (*slot >= 0)
        return GAT_OK;
    const char *feature =
        find_reserved(reserved_tensors, sizeof reserved_tensors / sizeof *reserved_tensors, suffix);
    if (feature != NULL)
        return gat__fail(r->ctx, GAT_ERR_UNSUPPORTED,
                         "%s: tensor \"%s\": not supported: it belongs to %s", r->path, shown,
                         feature);
    return gat__fail(r->ctx, GAT_ERR_FORMAT,
                     "%s: tensor \"%s\": unknown tensor name under layers.%lld (expected "
                     "GATConv's lin.weight, lin_src.weight, lin_dst.weight, att_src, att_dst, "
                     "att_edge, or GATv2Conv's lin_l.weight, lin_l.bias, lin_r.weight, "
                     "lin_r.bias, att, and lin_edge.weight, res.weight, bias)",
                     r->path, shown, (long long)*layer);
}

/* Checks one header entry on its own: its name, dtype, shape and byte range
 * inside the data buffer. */
static gat_status parse_entry(st_reader *r, const char *name, json_t *entry, st_tensor *t)
{
    gat_context *ctx = r->ctx;
    char shown[160];
    show(name, shown, sizeof shown);
    int64_t layer;
    int slot;
    gat_status status = classify_name(r, name, &layer, &slot);
    if (status != GAT_OK)
        return status;

    if (!json_is_object(entry))
        return gat__fail(ctx, GAT_ERR_FORMAT, "%s: tensor \"%s\": expected a JSON object, "
                         "found %s", r->path, shown, json_type_name(entry));
    json_t *dtype = json_object_get(entry, "dtype");
    json_t *shape = json_object_get(entry, "shape");
    json_t *offsets = json_object_get(entry, "data_offsets");
    if (!json_is_string(dtype))
        return gat__fail(ctx, GAT_ERR_FORMAT, "%s: tensor \"%s\": \"dtype\" %s", r->path,
                         shown, dtype ? "must be a string" : "is missing");
    if (!json_is_array(shape))
        return gat__fail(ctx, GAT_ERR_FORMAT, "%s: tensor \"%s\": \"shape\" %s", r->path,
                         shown, shape ? "must be an array" : "is missing");
    if (!json_is_array(offsets))
        return gat__fail(ctx, GAT_ERR_FORMAT, "%s: tensor \"%s\": \"data_offsets\" %s",
                         r->path, shown, offsets ? "must be an array" : "is missing");
    char dtype_shown[32];
    show(json_string_value(dtype), dtype_shown, sizeof dtype_shown);
    if (strcmp(json_string_value(dtype), "F32") != 0)
        return gat__fail(ctx, GAT_ERR_UNSUPPORTED,
                         "%s: tensor \"%s\": dtype %s is not supported (expected F32)", r->path,
                         shown, dtype_shown);

    memset(t, 0, sizeof *t);
    t->name = name;
    size_t ndim = json_array_size(shape);
    if (ndim > 3)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: tensor \"%s\": shape has %zu dimensions, expected at most 3",
                         r->path, shown, ndim);
    t->ndim = (int)ndim;
    uint64_t elements = 1;
    for (size_t d = 0; d < ndim; d++) {
        json_t *dim = json_array_get(shape, d);
        if (!json_is_integer(dim) || json_integer_value(dim) < 0)
            return gat__fail(ctx, GAT_ERR_FORMAT,
                             "%s: tensor \"%s\": shape dimension %zu must be a non-negative "
                             "integer", r->path, shown, d);
        uint64_t value = (uint64_t)json_integer_value(dim);
        if (value != 0 && elements > UINT64_MAX / value)
            return gat__fail(ctx, GAT_ERR_OVERFLOW,
                             "%s: tensor \"%s\": the product of its shape overflows 64 bits",
                             r->path, shown);
        elements *= value;
        t->shape[d] = (int64_t)value;
    }

    json_t *b = json_array_get(offsets, 0), *e = json_array_get(offsets, 1);
    if (json_array_size(offsets) != 2 || !json_is_integer(b) || !json_is_integer(e))
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: tensor \"%s\": \"data_offsets\" must be [begin, end] integers",
                         r->path, shown);
    json_int_t begin = json_integer_value(b), end = json_integer_value(e);
    if (begin < 0 || end < begin || (uint64_t)end > r->data_size)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: tensor \"%s\": data_offsets [%lld, %lld] are not a range inside "
                         "the %llu-byte data buffer (file bytes %llu..%llu)",
                         r->path, shown, (long long)begin, (long long)end,
                         (unsigned long long)r->data_size,
                         (unsigned long long)(8 + r->header_size),
                         (unsigned long long)r->file_size);
    t->begin = (uint64_t)begin;
    t->end = (uint64_t)end;

    const uint64_t size = GAT__ST_F32_SIZE;
    if (elements > UINT64_MAX / size)
        return gat__fail(ctx, GAT_ERR_OVERFLOW,
                         "%s: tensor \"%s\": its byte size overflows 64 bits", r->path, shown);
    if (t->end - t->begin != elements * size)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: tensor \"%s\": data_offsets [%llu, %llu] hold %llu bytes but %llu "
                         "elements of %s need %llu",
                         r->path, shown, (unsigned long long)t->begin, (unsigned long long)t->end,
                         (unsigned long long)(t->end - t->begin), (unsigned long long)elements,
                         dtype_shown, (unsigned long long)(elements * size));

    /* Layers are numbered without gaps and each has at least three tensors,
     * so an index past the entry count cannot be contiguous. */
    if ((uint64_t)layer >= r->layer_capacity)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: tensor \"%s\": layer %lld with only %zu header entries: layers "
                         "must be numbered 0, 1, 2, ... without gaps",
                         r->path, shown, (long long)layer, r->layer_capacity);
    r->layers[layer].slot[slot] = t;
    return GAT_OK;
}

static int compare_ranges(const void *a, const void *b)
{
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

/* Two tensors sharing bytes would alias each other; sorted by start, each
 * non-empty range must begin where the previous one ended or later. */
static gat_status check_overlap(st_reader *r)
{
    gat_status status = GAT_OK;
    const st_tensor **order = gat__alloc_array(r->ctx, (int64_t)r->num_tensors,
                                               sizeof *order, "tensor ranges", &status);
    if (order == NULL)
        return status;
    for (size_t i = 0; i < r->num_tensors; i++)
        order[i] = &r->tensors[i];
    qsort(order, r->num_tensors, sizeof *order, compare_ranges);
    const st_tensor *prev = NULL;
    for (size_t i = 0; i < r->num_tensors; i++) {
        const st_tensor *t = order[i];
        if (t->begin == t->end)
            continue;
        if (prev != NULL && t->begin < prev->end) {
            char a[160], b[160];
            status = gat__fail(r->ctx, GAT_ERR_FORMAT,
                               "%s: tensors \"%s\" [%llu, %llu) and \"%s\" [%llu, %llu) overlap "
                               "in the data buffer",
                               r->path, show(prev->name, a, sizeof a),
                               (unsigned long long)prev->begin, (unsigned long long)prev->end,
                               show(t->name, b, sizeof b), (unsigned long long)t->begin,
                               (unsigned long long)t->end);
            break;
        }
        prev = t;
    }
    gat__free_raw(&r->ctx->allocator, order);
    return status;
}

/* Checks every header entry and files the layer tensors by index. */
static gat_status scan_entries(st_reader *r)
{
    gat_status status = GAT_OK;
    size_t entries = json_object_size(r->header);
    r->tensors = gat__calloc_array(r->ctx, (int64_t)entries, sizeof *r->tensors,
                                   "tensor entries", &status);
    if (r->tensors == NULL)
        return status;
    r->layers = gat__calloc_array(r->ctx, (int64_t)entries, sizeof *r->layers, "layers",
                                  &status);
    if (r->layers == NULL)
        return status;
    r->layer_capacity = entries;

    const char *name;
    json_t *value;
    json_object_foreach(r->header, name, value) {
        if (strcmp(name, "__metadata__") == 0) {
            if (!json_is_object(value))
                return gat__fail(r->ctx, GAT_ERR_FORMAT,
                                 "%s: \"__metadata__\": expected a JSON object, found %s",
                                 r->path, json_type_name(value));
            r->metadata = value;
            continue;
        }
        status = parse_entry(r, name, value, &r->tensors[r->num_tensors]);
        if (status != GAT_OK)
            return status;
        r->num_tensors++;
    }
    return check_overlap(r);
}

/* A metadata string, or NULL when the key is absent. */
static gat_status meta_string(st_reader *r, const char *key, const char **value)
{
    *value = NULL;
    json_t *v = r->metadata ? json_object_get(r->metadata, key) : NULL;
    if (v == NULL)
        return GAT_OK;
    if (!json_is_string(v))
        return gat__fail(r->ctx, GAT_ERR_FORMAT,
                         "%s: metadata \"%s\": expected a JSON string, found %s", r->path, key,
                         json_type_name(v));
    *value = json_string_value(v);
    return GAT_OK;
}

/* Exactly "true" or "false": any other spelling ("True", " true") may mean
 * something other than what it would be read as. */
static gat_status meta_bool(st_reader *r, const char *key, bool *out)
{
    const char *s;
    gat_status status = meta_string(r, key, &s);
    if (status != GAT_OK || s == NULL)
        return status;
    if (strcmp(s, "true") == 0)
        *out = true;
    else if (strcmp(s, "false") == 0)
        *out = false;
    else {
        char shown[64];
        return gat__fail(r->ctx, GAT_ERR_FORMAT,
                         "%s: metadata \"%s\" = \"%s\": expected \"true\" or \"false\"",
                         r->path, key, show(s, shown, sizeof shown));
    }
    return GAT_OK;
}

/* A JSON number and nothing else (no spaces, no "nan"), parsed by Jansson
 * rather than strtod, which follows the locale's decimal point. It must be
 * finite in float32 and, unless written as zero, not underflow to zero or a
 * denormal there ("1e-400" would silently be a slope of 0). */
static gat_status meta_float(st_reader *r, const char *key, float *out)
{
    const char *s;
    gat_status status = meta_string(r, key, &s);
    if (status != GAT_OK || s == NULL)
        return status;
    bool number_chars = s[0] != '\0', nonzero_digit = false, in_exponent = false;
    for (const char *c = s; *c != '\0'; c++) {
        in_exponent |= *c == 'e' || *c == 'E';
        nonzero_digit |= !in_exponent && *c >= '1' && *c <= '9';
        number_chars &= strchr("0123456789+-.eE", *c) != NULL;
    }
    json_t *number = number_chars ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
    double value = json_is_number(number) ? json_number_value(number) : NAN;
    json_decref(number);
    const char *problem = NULL;
    if (!isfinite(value))
        problem = "expected a finite decimal number";
    else if (fabs(value) > FLT_MAX)
        problem = "beyond float32's range";
    else if (nonzero_digit && fabs(value) < FLT_MIN)
        problem = "not zero, yet too small for a normal float32 (it would underflow)";
    if (problem != NULL) {
        char shown[64];
        return gat__fail(r->ctx, GAT_ERR_FORMAT, "%s: metadata \"%s\" = \"%s\": %s", r->path,
                         key, show(s, shown, sizeof shown), problem);
    }
    *out = (float)value;
    return GAT_OK;
}

/* "preprocess": "none" or a comma-separated list of step names, each at
 * most once ("normalize_rows" is the only step so far). */
static gat_status meta_preprocess(st_reader *r, unsigned *out)
{
    const char *s;
    gat_status status = meta_string(r, "preprocess", &s);
    *out = 0;
    if (status != GAT_OK || s == NULL || strcmp(s, "none") == 0)
        return status;
    char shown[64];
    if (strcmp(s, "normalize_rows") == 0) {
        *out = GAT_PREPROCESS_NORMALIZE_ROWS;
        return GAT_OK;
    }
    return gat__fail(r->ctx, GAT_ERR_FORMAT,
                     "%s: metadata \"preprocess\" = \"%s\": expected \"none\" or "
                     "\"normalize_rows\"",
                     r->path, show(s, shown, sizeof shown));
}

static gat_status meta_activation(st_reader *r, gat_activation *out)
{
    const char *s;
    gat_status status = meta_string(r, "activation", &s);
    if (status != GAT_OK || s == NULL)
        return status;
    static const gat_activation all[] = {GAT_ACT_ELU, GAT_ACT_RELU, GAT_ACT_NONE};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(s, gat__activation_name(all[i])) == 0) {
            *out = all[i];
            return GAT_OK;
        }
    }
    char shown[64];
    return gat__fail(r->ctx, GAT_ERR_FORMAT,
                     "%s: metadata \"activation\" = \"%s\": expected \"elu\", \"relu\" or "
                     "\"none\"",
                     r->path, show(s, shown, sizeof shown));
}

/* Every metadata key must be one the loader reads, for a layer the file
 * has: a typo ("layers.0.concatt") or a key of a missing layer would
 * otherwise be ignored and the model run with a default. Keys reserved
 * for the layer variants to come are GAT_ERR_UNSUPPORTED. The values of
 * the keys read are checked where they are read (build_configs). */
static gat_status check_metadata(st_reader *r)
{
    if (r->metadata == NULL)
        return GAT_OK;
    const char *key;
    json_t *value;
    char shown[160], shown_value[64];
    json_object_foreach(r->metadata, key, value) {
        show(key, shown, sizeof shown);
        if (!json_is_string(value))
            return gat__fail(r->ctx, GAT_ERR_FORMAT,
                             "%s: metadata \"%s\": expected a JSON string, found %s", r->path,
                             shown, json_type_name(value));
        const char *text = json_string_value(value);
        show(text, shown_value, sizeof shown_value);
        if (strcmp(key, "activation") == 0 || strcmp(key, "preprocess") == 0)
            continue;
        /* What Hugging Face tools read to know the tensors' framework. */
        if (strcmp(key, "format") == 0) {
            if (strcmp(text, "pt") != 0)
                return gat__fail(r->ctx, GAT_ERR_FORMAT,
                                 "%s: metadata \"format\" = \"%s\": expected \"pt\"", r->path,
                                 shown_value);
            continue;
        }
        int64_t layer;
        const char *suffix;
        gat_status status = split_layer_name(r, "metadata", key, &layer, &suffix);
        if (status != GAT_OK)
            return status;
        if (suffix == NULL)
            return gat__fail(r->ctx, GAT_ERR_FORMAT,
                             "%s: metadata \"%s\": unknown key (expected activation, format, "
                             "preprocess or layers.{i}.concat, negative_slope, add_self_loops)",
                             r->path, shown);
        bool known = false;
        for (size_t k = 0; k < sizeof layer_keys / sizeof *layer_keys; k++)
            known |= strcmp(suffix, layer_keys[k]) == 0;
        if (!known)
            return gat__fail(r->ctx, GAT_ERR_FORMAT,
                             "%s: metadata \"%s\": unknown key (a layer has concat, "
                             "negative_slope, add_self_loops, type, fill_value, share_weights "
                             "and residual)",
                             r->path, shown);
        if (layer >= r->num_layers)
            return gat__fail(r->ctx, GAT_ERR_FORMAT,
                             "%s: metadata \"%s\": there is no layer %lld (the tensors define "
                             "%d layer(s), 0 to %d)",
                             r->path, shown, (long long)layer, r->num_layers, r->num_layers - 1);
    }
    return GAT_OK;
}

/* Reads a tensor's float32 little-endian data into dst and checks that
 * every value is finite. */
static gat_status read_tensor(st_reader *r, const st_tensor *t, float *dst)
{
    char shown[160];
    size_t count = (size_t)((t->end - t->begin) / GAT__ST_F32_SIZE);
    uint64_t at = 8 + r->header_size + t->begin;
    if (fseeko(r->fp, (off_t)at, SEEK_SET) != 0)
        return gat__fail(r->ctx, GAT_ERR_IO, "%s: tensor \"%s\": cannot seek to byte %llu: %s",
                         r->path, show(t->name, shown, sizeof shown), (unsigned long long)at,
                         strerror(errno));
    if (fread(dst, GAT__ST_F32_SIZE, count, r->fp) != count)
        return gat__fail(r->ctx, ferror(r->fp) ? GAT_ERR_IO : GAT_ERR_FORMAT,
                         "%s: tensor \"%s\": cannot read bytes %llu..%llu (file changed?)",
                         r->path, show(t->name, shown, sizeof shown), (unsigned long long)at,
                         (unsigned long long)(at + t->end - t->begin));
    if (!gat__host_little_endian())
        gat__bswap32_array(dst, count);
    for (size_t i = 0; i < count; i++)
        if (!isfinite(dst[i]))
            return gat__fail(r->ctx, GAT_ERR_NONFINITE,
                             "%s: tensor \"%s\": element %zu is %s", r->path,
                             show(t->name, shown, sizeof shown), i,
                             isnan(dst[i]) ? "NaN" : "infinite");
    return GAT_OK;
}

/* Whether two tensors of the same byte size hold the same bytes: PyG
 * 2.3-2.4 register one Linear as both lin_src and lin_dst, so their
 * state_dict holds two equal copies of one shared weight. */
static gat_status same_data(st_reader *r, const st_tensor *a, const st_tensor *b, bool *same)
{
    gat_status status = GAT_OK;
    const int64_t bytes = (int64_t)(a->end - a->begin);
    *same = false;
    float *x = gat__alloc_array(r->ctx, bytes + 1, 1, "lin_src.weight", &status);
    float *y = x != NULL ? gat__alloc_array(r->ctx, bytes + 1, 1, "lin_dst.weight", &status)
                         : NULL;
    if (y != NULL && (status = read_tensor(r, a, x)) == GAT_OK &&
        (status = read_tensor(r, b, y)) == GAT_OK)
        *same = memcmp(x, y, (size_t)bytes) == 0;
    gat__free_raw(&r->ctx->allocator, x);
    gat__free_raw(&r->ctx->allocator, y);
    return status;
}

/* Heads and channels from att_src or att, which PyG stores as [1, H, C]:
 * the only shape accepted, so that a tensor of another layout is not read
 * as one. */
static gat_status att_shape(st_reader *r, const st_tensor *t, int64_t *heads, int64_t *channels)
{
    char shown[160], shape[96];
    if (t->ndim != 3 || t->shape[0] != 1)
        return gat__fail(r->ctx, GAT_ERR_FORMAT,
                         "%s: tensor \"%s\": shape %s: expected [1, heads, channels]", r->path,
                         show(t->name, shown, sizeof shown), shape_text(t, shape, sizeof shape));
    *heads = t->shape[1];
    *channels = t->shape[2];
    if (*heads < 1 || *channels < 1)
        return gat__fail(r->ctx, GAT_ERR_FORMAT,
                         "%s: tensor \"%s\": shape %s: heads and channels must be at least 1",
                         r->path, show(t->name, shown, sizeof shown),
                         shape_text(t, shape, sizeof shape));
    return GAT_OK;
}

/* A metadata flag that repeats what the tensors show must agree with them. */
static gat_status meta_agrees(st_reader *r, int l, const char *name, bool evident,
                              const char *because)
{
    char key[64];
    snprintf(key, sizeof key, "layers.%d.%s", l, name);
    bool value = evident;
    gat_status status = meta_bool(r, key, &value);
    if (status == GAT_OK && value != evident)
        status = gat__fail(r->ctx, GAT_ERR_FORMAT, "%s: metadata \"%s\" = \"%s\" but %s",
                           r->path, key, value ? "true" : "false", because);
    return status;
}

/* The layer's type: metadata "type" ("gat", today's "gatconv", "gatv2"),
 * or GATv2 when a GATv2-only tensor is there. */
static gat_status layer_type(st_reader *r, int l, gat_layer_type *type)
{
    const st_layer *layer = &r->layers[l];
    char key[64], shown[64];
    const char *s;
    snprintf(key, sizeof key, "layers.%d.type", l);
    gat_status status = meta_string(r, key, &s);
    if (status != GAT_OK)
        return status;
    if (s == NULL)
        *type = layer->slot[SLOT_ATT] || layer->slot[SLOT_LIN_L] || layer->slot[SLOT_LIN_R]
                    ? GAT_LAYER_GATV2
                    : GAT_LAYER_GAT;
    else if (strcmp(s, "gat") == 0 || strcmp(s, "gatconv") == 0)
        *type = GAT_LAYER_GAT;
    else if (strcmp(s, "gatv2") == 0 || strcmp(s, "gatv2conv") == 0)
        *type = GAT_LAYER_GATV2;
    else
        return gat__fail(r->ctx, GAT_ERR_FORMAT,
                         "%s: metadata \"%s\" = \"%s\": expected \"gat\" or \"gatv2\"", r->path,
                         key, show(s, shown, sizeof shown));
    return GAT_OK;
}

/* "fill_value": "mean", "add", "max", "min", "mul" or a number. */
static gat_status layer_fill(st_reader *r, int l, gat_layer_config *c)
{
    char key[64];
    const char *s;
    snprintf(key, sizeof key, "layers.%d.fill_value", l);
    gat_status status = meta_string(r, key, &s);
    if (status != GAT_OK || s == NULL || gat__fill_from_name(s, &c->fill_value))
        return status;
    c->fill_value = GAT_FILL_CONSTANT;
    return meta_float(r, key, &c->fill_constant);
}

/* Which layers exist, and each one's configuration from its tensors'
 * presence and shapes and its metadata. The shapes are checked in full
 * afterwards (check_shapes) against what the configuration implies. */
static gat_status build_configs(st_reader *r, gat_layer_config *configs)
{
    char shown[160], shape[96], key[64];
    for (int l = 0; l < r->num_layers; l++) {
        st_layer *layer = &r->layers[l];
        gat_layer_config *c = &configs[l];
        const st_tensor *const *slot = layer->slot;
        bool any = false;
        for (int s = 0; s < SLOT_COUNT; s++)
            any |= slot[s] != NULL;
        if (!any)
            return gat__fail(r->ctx, GAT_ERR_FORMAT,
                             "%s: no tensors named layers.%d.* but layers.%d.* exist: layers "
                             "must be numbered 0, 1, 2, ... without gaps",
                             r->path, l, r->num_layers - 1);
        gat_layer_type type;
        gat_status status = layer_type(r, l, &type);
        if (status != GAT_OK)
            return status;
        const bool v2 = type == GAT_LAYER_GATV2;
        if (!v2 && slot[SLOT_LIN] && slot[SLOT_LIN_SRC])
            return gat__fail(r->ctx, GAT_ERR_FORMAT,
                             "%s: both \"layers.%d.lin.weight\" and \"layers.%d.lin_src.weight\" "
                             "are present: expected one of them",
                             r->path, l, l);
        const st_tensor *w = v2 ? slot[SLOT_LIN_L] : slot[SLOT_LIN] ? slot[SLOT_LIN]
                                                                    : slot[SLOT_LIN_SRC];
        if (w == NULL)
            return gat__fail(r->ctx, GAT_ERR_FORMAT,
                             v2 ? "%s: missing tensor \"layers.%d.lin_l.weight\" (a GATv2 layer)"
                                : "%s: missing tensor \"layers.%d.lin.weight\" (or "
                                  "\"layers.%d.lin_src.weight\")",
                             r->path, l, l);
        const st_tensor *att = slot[v2 ? SLOT_ATT : SLOT_ATT_SRC];
        if (att == NULL)
            return gat__fail(r->ctx, GAT_ERR_FORMAT, "%s: missing tensor \"layers.%d.%s\"",
                             r->path, l, v2 ? "att" : "att_src");
        int64_t heads = 0, channels = 0;
        if ((status = att_shape(r, att, &heads, &channels)) != GAT_OK)
            return status;
        if (w->ndim != 2 || w->shape[0] != heads * channels || w->shape[1] < 1)
            return gat__fail(r->ctx, GAT_ERR_FORMAT,
                             "%s: tensor \"%s\": shape %s: expected [heads*channels = %lld, "
                             "in_features >= 1]",
                             r->path, show(w->name, shown, sizeof shown),
                             shape_text(w, shape, sizeof shape), (long long)(heads * channels));

        bool concat = true, self_loops = true;
        float slope = 0.2f;
        snprintf(key, sizeof key, "layers.%d.concat", l);
        if ((status = meta_bool(r, key, &concat)) != GAT_OK)
            return status;
        snprintf(key, sizeof key, "layers.%d.negative_slope", l);
        if ((status = meta_float(r, key, &slope)) != GAT_OK)
            return status;
        snprintf(key, sizeof key, "layers.%d.add_self_loops", l);
        if ((status = meta_bool(r, key, &self_loops)) != GAT_OK)
            return status;
        gat_layer_config_init(c, w->shape[1], heads, channels);
        c->type = type;
        c->concat = concat;
        c->negative_slope = slope;
        c->add_self_loops = self_loops;
        c->bias = slot[SLOT_BIAS] != NULL;
        const st_tensor *lin_edge = slot[SLOT_LIN_EDGE], *dst = slot[v2 ? SLOT_LIN_R : SLOT_LIN_DST];
        if (lin_edge != NULL)
            c->edge_dim = lin_edge->ndim == 2 && lin_edge->shape[1] > 0 ? lin_edge->shape[1] : 1;
        c->residual = slot[SLOT_RES] != NULL;
        if (dst != NULL && dst->ndim == 2 && dst->shape[1] != c->in_features)
            c->dst_features = dst->shape[1];
        if (!v2 && dst != NULL && dst->ndim == 2 && dst->shape[1] == c->in_features) {
            /* lin_src + lin_dst of one width: PyG 2.3-2.4's shared weight
             * saved twice (equal), or a tuple layer with two weights. */
            if (slot[SLOT_LIN] == NULL && dst->shape[0] == w->shape[0] &&
                (status = same_data(r, w, dst, &layer->dst_copy)) != GAT_OK)
                return status;
            if (!layer->dst_copy)
                c->dst_features = c->in_features;
        }
        if (v2) {
            c->share_weights = dst == NULL;
            if ((status = meta_agrees(r, l, "share_weights", c->share_weights,
                                      c->share_weights ? "there is no lin_r.weight"
                                                       : "lin_r.weight is present")) != GAT_OK)
                return status;
        } else {
            snprintf(key, sizeof key, "layers.%d.share_weights", l);
            if (r->metadata != NULL && json_object_get(r->metadata, key) != NULL)
                return gat__fail(r->ctx, GAT_ERR_FORMAT,
                                 "%s: metadata \"%s\": share_weights is an option of GATv2 "
                                 "layers (layers.%d.type = \"gatv2\")",
                                 r->path, key, l);
        }
        if ((status = meta_agrees(r, l, "residual", c->residual,
                                  c->residual ? "res.weight is present"
                                              : "there is no res.weight")) != GAT_OK ||
            (status = layer_fill(r, l, c)) != GAT_OK)
            return status;
    }
    return GAT_OK;
}

/* The file slot that holds a tensor kind of a layer, -1 if none. */
static int slot_of(const st_layer *layer, const gat_layer_config *c, gat__tensor_kind kind,
                   const char *name)
{
    /* lin.weight may be spelled lin_src.weight (PyG 2.3-2.4). */
    if (kind == GAT__T_WEIGHT && c->type == GAT_LAYER_GAT && c->dst_features == 0 &&
        layer->slot[SLOT_LIN] == NULL)
        return layer->slot[SLOT_LIN_SRC] != NULL ? SLOT_LIN_SRC : -1;
    int s = slot_named(name);
    return s >= 0 && layer->slot[s] != NULL ? s : -1;
}

/* Every tensor a layer's configuration implies, with its exact shape, and
 * no other; and the layers' widths against each other. */
static gat_status check_shapes(st_reader *r, gat_layer_config *configs)
{
    char shown[160], shape[96], want[96];
    for (int l = 0; l < r->num_layers; l++) {
        st_layer *layer = &r->layers[l];
        const gat_layer_config *c = &configs[l];
        const char *kind_name = c->type == GAT_LAYER_GATV2 ? "GATv2" : "GATConv";
        bool used[SLOT_COUNT] = {false};
        if (layer->dst_copy)
            used[SLOT_LIN_DST] = true;
        for (int k = 0; k < GAT__T_COUNT; k++) {
            gat__tensor_info t = gat__layer_tensor(c, (gat__tensor_kind)k);
            layer->file_slot[k] = -1;
            if (!t.present)
                continue;
            int s = slot_of(layer, c, (gat__tensor_kind)k, t.name);
            if (s < 0)
                return gat__fail(r->ctx, GAT_ERR_FORMAT,
                                 "%s: missing tensor \"layers.%d.%s\" (a %s layer%s)", r->path,
                                 l, t.name, kind_name,
                                 k == GAT__T_BIAS_SRC || k == GAT__T_BIAS_DST
                                     ? " with a bias has biases in lin_l and lin_r"
                                 : k == GAT__T_ATT_EDGE ? " with lin_edge.weight"
                                                        : "");
            const st_tensor *f = layer->slot[s];
            bool ok = f->ndim == t.ndim;
            if (ok && t.ndim == 1)
                ok = f->shape[0] == t.rows;
            else if (ok && t.ndim == 2)
                ok = f->shape[0] == t.rows && f->shape[1] == t.cols;
            else if (ok)
                ok = f->shape[0] == 1 && f->shape[1] == t.rows && f->shape[2] == t.cols;
            if (!ok) {
                if (t.ndim == 1)
                    snprintf(want, sizeof want, "[%lld]", (long long)t.rows);
                else if (t.ndim == 2)
                    snprintf(want, sizeof want, "[%lld, %lld]", (long long)t.rows,
                             (long long)t.cols);
                else
                    snprintf(want, sizeof want, "[1, %lld, %lld]", (long long)t.rows,
                             (long long)t.cols);
                return gat__fail(r->ctx, GAT_ERR_FORMAT,
                                 "%s: tensor \"%s\": shape %s: expected %s (heads %lld, channels "
                                 "%lld, in_features %lld, dst features %lld, edge_dim %lld, "
                                 "concat %s)",
                                 r->path, show(f->name, shown, sizeof shown),
                                 shape_text(f, shape, sizeof shape), want, (long long)c->heads,
                                 (long long)c->channels, (long long)c->in_features,
                                 (long long)gat_layer_dst_features(c), (long long)c->edge_dim,
                                 c->concat ? "true" : "false");
            }
            layer->file_slot[k] = s;
            used[s] = true;
        }
        for (int s = 0; s < SLOT_COUNT; s++)
            if (layer->slot[s] != NULL && !used[s])
                return gat__fail(r->ctx, GAT_ERR_FORMAT,
                                 "%s: tensor \"layers.%d.%s\": not a tensor of this layer (a %s "
                                 "layer%s)",
                                 r->path, l, slot_names[s], kind_name,
                                 s == SLOT_LIN_EDGE || s == SLOT_ATT_EDGE
                                     ? "; GATConv's edge features need both lin_edge.weight and "
                                       "att_edge"
                                     : c->type == GAT_LAYER_GAT
                                         ? "; GATv2 tensors need layers.i.type = \"gatv2\""
                                         : "");
        if (l > 0 && c->in_features != gat__layer_out_width(&configs[l - 1]))
            return gat__fail(r->ctx, GAT_ERR_FORMAT,
                             "%s: tensor \"layers.%d.%s\": in_features %lld but layer %d "
                             "outputs %lld",
                             r->path, l, slot_names[layer->file_slot[GAT__T_WEIGHT]],
                             (long long)c->in_features, l - 1,
                             (long long)gat__layer_out_width(&configs[l - 1]));
    }
    return GAT_OK;
}

static gat_status read_params(st_reader *r, gat_model *m)
{
    for (int l = 0; l < r->num_layers; l++) {
        const st_layer *layer = &r->layers[l];
        for (int k = 0; k < GAT__T_COUNT; k++) {
            if (layer->file_slot[k] < 0)
                continue;
            gat_status status = read_tensor(r, layer->slot[layer->file_slot[k]],
                                            *gat__layer_tensor_data(&m->layers[l],
                                                                    (gat__tensor_kind)k));
            if (status != GAT_OK)
                return status;
        }
    }
    return GAT_OK;
}

gat_status gat_model_load(gat_context *ctx, gat_model **model, const char *path)
{
    if (ctx == NULL || model == NULL || path == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "gat_model_load: NULL argument");
    *model = NULL;
    gat__clear_message(ctx);

    st_reader r;
    memset(&r, 0, sizeof r);
    r.ctx = ctx;
    r.path = path;
    gat_layer_config *configs = NULL;
    gat_model *m = NULL;
    gat_activation activation = GAT_ACT_ELU;
    unsigned preprocess = 0;

    gat_status status = read_header(&r);
    if (status != GAT_OK)
        goto done;
    if ((status = scan_entries(&r)) != GAT_OK)
        goto done;
    for (size_t l = 0; l < r.layer_capacity; l++)
        for (int s = 0; s < SLOT_COUNT; s++)
            if (r.layers[l].slot[s] != NULL)
                r.num_layers = (int)l + 1;
    if (r.num_layers == 0) {
        status = gat__fail(ctx, GAT_ERR_FORMAT,
                           "%s: no layer tensors (expected layers.0.lin.weight, "
                           "layers.0.att_src, layers.0.att_dst, ...)",
                           path);
        goto done;
    }
    configs = gat__calloc_array(ctx, r.num_layers, sizeof *configs, "layer configs", &status);
    if (configs == NULL)
        goto done;
    if ((status = check_metadata(&r)) != GAT_OK ||
        (status = build_configs(&r, configs)) != GAT_OK ||
        (status = check_shapes(&r, configs)) != GAT_OK ||
        (status = meta_activation(&r, &activation)) != GAT_OK ||
        (status = meta_preprocess(&r, &preprocess)) != GAT_OK)
        goto done;

    status = gat_model_create(ctx, &m, r.num_layers, configs, activation);
    if (status != GAT_OK) {
        /* The arguments are ours and valid; what create refuses is a shape
         * beyond its limits, so the file is well-formed but unsupported. */
        char reason[GAT_MESSAGE_SIZE];
        memcpy(reason, ctx->message, sizeof reason);
        reason[sizeof reason - 1] = '\0';
        if (status == GAT_ERR_INVALID)
            status = GAT_ERR_UNSUPPORTED;
        gat__fail(ctx, status, "%s: %s", path, reason);
        goto done;
    }
    if ((status = read_params(&r, m)) != GAT_OK)
        goto done;
    m->preprocess = preprocess;
    *model = m;
    m = NULL;
done:
    gat_model_destroy(&m);
    gat__free_raw(&ctx->allocator, configs);
    gat__free_raw(&ctx->allocator, r.tensors);
    gat__free_raw(&ctx->allocator, r.layers);
    json_decref(r.header);
    if (r.fp != NULL)
        fclose(r.fp);
    return status;
}
