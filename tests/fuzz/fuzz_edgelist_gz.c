/*
 * libFuzzer target: the edge-list reader behind gzip. The input is the
 * text; the target compresses it (gzip framing, so zlib's gzread decodes
 * it) and reads the result, so the parser's states are explored through the
 * decompressing path and its chunk boundaries. A last byte of 0x00..0x0f
 * also cuts the compressed stream short, to reach truncated-gzip errors.
 */
#include "fuzz_common.h"

#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gat_context *ctx = fuzz_context();
    bool truncate = size > 0 && data[size - 1] < 0x10;

    z_stream z;
    memset(&z, 0, sizeof z);
    /* windowBits 15 + 16: gzip header and trailer. */
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    uLong bound = deflateBound(&z, (uLong)size) + 32;
    unsigned char *gz = malloc(bound);
    if (gz == NULL)
        abort();
    z.next_in = (Bytef *)(uintptr_t)data;
    z.avail_in = (uInt)size;
    z.next_out = gz;
    z.avail_out = (uInt)bound;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        abort();
    size_t gz_size = z.total_out;
    deflateEnd(&z);
    if (truncate)
        gz_size -= gz_size / 3 + 1;

    const char *path = fuzz_file(gz, gz_size);
    gat_graph *graph = NULL;
    gat_status status = gat_graph_read(ctx, &graph, path, -1);
    fuzz_check_failure(ctx, status);
    if (truncate && status == GAT_OK)
        abort(); /* a cut stream must not read as complete */
    if (graph != NULL) {
        fuzz_forward_graph(ctx, graph);
        gat_graph_destroy(&graph);
    }
    free(gz);
    return 0;
}
