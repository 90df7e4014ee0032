/*
 * libFuzzer target: the .npy reader, asked for float32 features (2-D f4/f8)
 * and for int64 indices (1-D i4/i8). Whatever loads must be consistent:
 * shapes that multiply to what the file holds, finite features.
 */
#include "fuzz_common.h"

static void read_as(gat_context *ctx, const char *path, gat_dtype want, size_t file_size)
{
    gat_array *a = NULL;
    gat_status status = gat_npy_read(ctx, path, want, &a);
    fuzz_check_failure(ctx, status);
    if ((status == GAT_OK) != (a != NULL))
        abort();
    if (a == NULL)
        return;
    if (a->dtype != want || a->data == NULL || a->shape[0] < 0 || a->shape[1] < 0 ||
        a->ndim != (want == GAT_FLOAT32 ? 2 : 1))
        abort();
    /* Every element came from at least 4 bytes of the file. */
    int64_t count = a->shape[1] == 0 ? 0 : a->shape[0] * a->shape[1];
    if (a->shape[1] != 0 && a->shape[0] > (int64_t)file_size / a->shape[1])
        abort();
    if ((uint64_t)count * 4 > file_size)
        abort();
    if (want == GAT_FLOAT32) {
        const float *x = a->data;
        for (int64_t k = 0; k < count; k++)
            if (!isfinite(x[k]))
                abort();
    }
    gat_array_destroy(&a);
    if (a != NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gat_context *ctx = fuzz_context();
    const char *path = fuzz_file(data, size);
    read_as(ctx, path, GAT_FLOAT32, size);
    read_as(ctx, path, GAT_INT64, size);
    return 0;
}
