/*
 * NumPy .npy writers: format 1.0, little-endian '<f4' or '<i8', C order,
 * with the header laid out byte for byte as np.save lays it out. The file
 * goes to a temporary name and is renamed when complete.
 */
#include "file_write.h"
#include "npy_format.h"

#include <stdio.h>
#include <string.h>

/* Data pass through this many bytes at a time (a multiple of 8). */
#define NPY_CHUNK 16384

/* The preamble and header dictionary for a C-order array, padded as
 * np.save pads it: room for the first axis to grow, then spaces up to a
 * multiple of GAT__NPY_ALIGN and a final '\n' (always at least one space,
 * as NumPy computes it). Returns the total length written into out. */
size_t gat__npy_format_header(unsigned char *out, size_t size, const char *descr, int ndim,
                              const int64_t *shape)
{
    char dict[128];
    int n;
    if (ndim == 1)
        n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%lld,), }",
                     descr, (long long)shape[0]);
    else
        n = snprintf(dict, sizeof dict,
                     "{'descr': '%s', 'fortran_order': False, 'shape': (%lld, %lld), }", descr,
                     (long long)shape[0], (long long)shape[1]);
    char first[24];
    int digits = snprintf(first, sizeof first, "%lld", (long long)shape[0]);
    size_t growth = (size_t)(GAT__NPY_GROWTH_DIGITS - digits);
    size_t text_len = (size_t)n + growth + 1; /* + '\n' */
    size_t pad = GAT__NPY_ALIGN - (GAT__NPY_MAGIC_LEN + 4 + text_len) % GAT__NPY_ALIGN;
    size_t header_len = text_len + pad;
    size_t total = GAT__NPY_MAGIC_LEN + 4 + header_len;
    if (total > size)
        return 0;
    memcpy(out, GAT__NPY_MAGIC, GAT__NPY_MAGIC_LEN);
    out[6] = 1; /* version 1.0 */
    out[7] = 0;
    out[8] = (unsigned char)header_len;
    out[9] = (unsigned char)(header_len >> 8);
    memcpy(out + 10, dict, (size_t)n);
    memset(out + 10 + n, ' ', growth + pad);
    out[total - 1] = '\n';
    return total;
}

static gat_status npy_write(gat_context *ctx, const char *function, gat_output *out,
                            const void *data, int ndim, const int64_t *shape, const char *descr,
                            size_t itemsize)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (out == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "%s: output is NULL", function);
    const char *path = out->path;
    if (ndim != 1 && ndim != 2)
        return gat__fail(ctx, GAT_ERR_INVALID, "%s: ndim is %d; 1 or 2 dimensions are written",
                         path, ndim);
    if (shape == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "%s: shape is NULL", path);
    /* Bytes counted without wrapping; a zero dimension makes any other
     * harmless, as in the reader. */
    int64_t count = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return gat__fail(ctx, GAT_ERR_INVALID, "%s: dimension %d is negative (%lld)", path,
                             d, (long long)shape[d]);
        if (shape[d] == 0)
            count = 0;
    }
    for (int d = 0; d < ndim && count != 0; d++) {
        if (count > INT64_MAX / shape[d] / (int64_t)itemsize)
            return gat__fail(ctx, GAT_ERR_OVERFLOW, "%s: shape %lld x %lld does not fit in "
                             "64-bit sizes", path, (long long)shape[0],
                             (long long)(ndim == 2 ? shape[1] : 1));
        count *= shape[d];
    }
    if (count > 0 && data == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "%s: data is NULL for %lld elements", path,
                         (long long)count);

    unsigned char header[256];
    size_t header_size = gat__npy_format_header(header, sizeof header, descr, ndim, shape);
    if (header_size == 0) /* unreachable: two int64 dimensions always fit */
        return gat__fail(ctx, GAT_ERR_INVALID, "%s: header does not fit", path);

    gat_status status = gat_output_write(ctx, out, header, header_size);
    /* Stored little-endian whatever the host: the same loop everywhere
     * (and the copy costs nothing next to the write). */
    unsigned char chunk[NPY_CHUNK];
    const unsigned char *bytes = data;
    size_t per_chunk = NPY_CHUNK / itemsize;
    for (int64_t done = 0; status == GAT_OK && done < count;) {
        size_t n = count - done < (int64_t)per_chunk ? (size_t)(count - done) : per_chunk;
        const unsigned char *src = bytes + (size_t)done * itemsize;
        for (size_t i = 0; i < n; i++) {
            if (itemsize == 4) {
                uint32_t bits;
                memcpy(&bits, src + 4 * i, sizeof bits);
                gat__store_le32(chunk + 4 * i, bits);
            } else {
                uint64_t bits;
                memcpy(&bits, src + 8 * i, sizeof bits);
                gat__store_le64(chunk + 8 * i, bits);
            }
        }
        status = gat_output_write(ctx, out, chunk, n * itemsize);
        done += (int64_t)n;
    }
    return status;
}

gat_status gat_npy_write_f32_to(gat_context *ctx, gat_output *out, const float *data, int ndim,
                                const int64_t *shape)
{
    return npy_write(ctx, "gat_npy_write_f32", out, data, ndim, shape, "<f4", sizeof *data);
}

gat_status gat_npy_write_i64_to(gat_context *ctx, gat_output *out, const int64_t *data,
                                int ndim, const int64_t *shape)
{
    return npy_write(ctx, "gat_npy_write_i64", out, data, ndim, shape, "<i8", sizeof *data);
}

typedef struct npy_args {
    const void *data;
    int ndim;
    const int64_t *shape;
} npy_args;

static gat_status write_f32(gat_context *ctx, gat_output *out, const void *arg)
{
    const npy_args *a = arg;
    return gat_npy_write_f32_to(ctx, out, a->data, a->ndim, a->shape);
}

static gat_status write_i64(gat_context *ctx, gat_output *out, const void *arg)
{
    const npy_args *a = arg;
    return gat_npy_write_i64_to(ctx, out, a->data, a->ndim, a->shape);
}

gat_status gat_npy_write_f32(gat_context *ctx, const char *path, const float *data, int ndim,
                             const int64_t *shape)
{
    const npy_args a = {data, ndim, shape};
    return gat__write_file(ctx, "gat_npy_write_f32", path, write_f32, &a);
}

gat_status gat_npy_write_i64(gat_context *ctx, const char *path, const int64_t *data, int ndim,
                             const int64_t *shape)
{
    const npy_args a = {data, ndim, shape};
    return gat__write_file(ctx, "gat_npy_write_i64", path, write_i64, &a);
}
