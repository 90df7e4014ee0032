/*
 * .gcsr: the destination-indexed CSR exactly as held in memory, so that a
 * graph of 10^8 edges loads at memory speed (or is mapped and used in place)
 * instead of being parsed from text and rebuilt.
 *
 * File layout, version 2 (version 1 differs only where said). Every integer
 * is little-endian.
 *
 *   offset size  field
 *        0    8  magic: bytes 89 47 41 54 43 53 52 0A ("\x89GATCSR\n"); the
 *                0x89 is no text and no ASCII, so an edge list never
 *                starts like this
 *        8    4  u32 version = 2 or 1 (a reader rejects others)
 *       12    4  u32 flags = 0 (none defined; a reader rejects unknown bits)
 *       16    8  i64 num_nodes N (destinations, the rows), 0 <= N <= 2^31 - 1
 *       24    8  i64 num_edges E >= 0 (as given, self-loops included)
 *       32    8  i64 num_self_loops (edges with col == row)
 *       40    8  i64 max_in_degree (largest row length)
 *       48    8  u64 row_ptr section offset (a multiple of 64, >= 128)
 *       56    8  u64 row_ptr section size = 8 (N + 1)
 *       64    8  u64 col section offset (a multiple of 64, >= 128)
 *       72    8  u64 col section size = 4 E
 *       80    8  u64 file size: the file's exact length in bytes
 *       88    8  u64 checksum (below)
 *       96    8  i64 num_src_nodes S, 0 <= S <= 2^31 - 1: sources lie in
 *                [0, S); S == N unless the graph is bipartite
 *      104    8  u64 position section offset (a multiple of 64, >= 128), or
 *                0 without positions
 *      112    8  u64 position section size: 0 (none), 4 E (u32) or 8 E (i64)
 *      120    8  reserved, zero
 *   Version 1 has bytes 96-127 reserved (zero): S = N, no positions.
 *
 *   row_ptr section: int64[N + 1]; row i (the incoming edges of node i) is
 *     [row_ptr[i], row_ptr[i+1]); row_ptr[0] = 0, never decreasing,
 *     row_ptr[N] = E.
 *   col section: int32[E]; the source node of each edge, in [0, S), in
 *     library order (see gat.h: destination-major, input order in a row).
 *   position section (optional): uint32[E] or int64[E], a permutation of
 *     [0, E): the input position of each CSR edge (the line of the edge
 *     list it came from, gat_graph_edge_positions), so that edge attributes
 *     given in input order still find their edges. Absent when the input
 *     was already in library order (positions would be the identity).
 *
 * Sections may be in any order but must lie inside the file, after the
 * header, without overlapping. Our writer puts row_ptr at 128, col at the
 * next multiple of 64 after it, positions at the next after col, and pads
 * the file to a multiple of 64; all padding is zero and readers ignore it.
 * It writes version 1 for a graph with neither positions nor a source
 * count of its own, so such files stay readable by older readers.
 *
 * Checksum ("gcsr64"). Four byte strings are hashed: the 128-byte header
 * with its checksum field read as zero, the row_ptr section (its size
 * bytes, no padding), the col section and the position section (empty
 * without positions, so a version 1 file hashes the first three). Each string is cut into blocks of
 * 2^20 bytes (the last shorter; an empty string has none). A block of len
 * bytes, zero-padded to a multiple of 32 and read as u64 words w[0..]:
 *     acc[j] = (j + 1) * P1                       for lanes j = 0..3
 *     for every 32-byte stripe s, every lane j:
 *         acc[j] = rotl(acc[j] + w[4s + j] * P2, 31) * P1
 *     hash = fmix(rotl(acc[0], 1) + rotl(acc[1], 7) + rotl(acc[2], 12)
 *                 + rotl(acc[3], 18) ^ len)
 * and the file's checksum folds the block hashes in order (header, row_ptr
 * blocks, col blocks, position blocks):
 *     H = 0;  for each block hash b: H = rotl(H ^ b, 27) * P1 + P3
 *     checksum = fmix(H)
 * with fmix(x): x ^= x >> 33; x *= P2; x ^= x >> 29; x *= P3; x ^= x >> 32,
 * arithmetic mod 2^64, P1 = 0x9E3779B185EBCA87, P2 = 0xC2B2AE3D27D4EB4F,
 * P3 = 0x165667B19E3779F9. Four independent multiply chains per block run at
 * several GB/s per core, and blocks hash on separate threads; the fold is
 * serial over a few hundred values, so the result is the same at any thread
 * count. It detects corruption, not tampering (it is not cryptographic).
 *
 * Verification. By default a loader checks the header, the checksum and the
 * structure (row_ptr starts at 0, never decreases, ends at E; every col is
 * in [0, S); the header's self-loop count and largest degree match the
 * sections; positions are a permutation of [0, E)), so no file can crash
 * the library or the forward pass.
 * GAT_LOAD_NO_VERIFY skips only the checksum: a flipped bit may then give a
 * different (still valid) graph, but never a crash. GAT_LOAD_TRUSTED skips
 * both, for files this library wrote: then load time is the copy alone, or
 * nothing at all for a mapping.
 */
#include "graph_binary.h"
#include "file_read.h"
#include "file_write.h"
#include "npy_format.h"
#include "parallel.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define P1 0x9E3779B185EBCA87ull
#define P2 0xC2B2AE3D27D4EB4Full
#define P3 0x165667B19E3779F9ull

/* Rows per unit of work in the structure checks; a graph of fewer rows
 * is checked by the calling thread alone (no thread start-up for a small
 * file). */
#define STRUCTURE_ROWS 16384

#define KNOWN_LOAD_FLAGS (GAT_LOAD_MMAP | GAT_LOAD_NO_VERIFY | GAT_LOAD_TRUSTED)

/* ------------------------------------------------------------------------ */
/* Checksum                                                                 */
/* ------------------------------------------------------------------------ */

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t fmix64(uint64_t x)
{
    x ^= x >> 33;
    x *= P2;
    x ^= x >> 29;
    x *= P3;
    x ^= x >> 32;
    return x;
}

/* Host order is little-endian here (checked at the API entry points). */
static inline uint64_t word_at(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w);
    return w;
}

static uint64_t block_hash(const unsigned char *p, uint64_t len)
{
    uint64_t a0 = P1, a1 = 2 * P1, a2 = 3 * P1, a3 = 4 * P1;
    const unsigned char *stop = p + (len & ~(uint64_t)31);
    for (; p < stop; p += 32) {
        a0 = rotl64(a0 + word_at(p) * P2, 31) * P1;
        a1 = rotl64(a1 + word_at(p + 8) * P2, 31) * P1;
        a2 = rotl64(a2 + word_at(p + 16) * P2, 31) * P1;
        a3 = rotl64(a3 + word_at(p + 24) * P2, 31) * P1;
    }
    if (len & 31) {
        unsigned char tail[32] = {0};
        memcpy(tail, p, len & 31);
        a0 = rotl64(a0 + word_at(tail) * P2, 31) * P1;
        a1 = rotl64(a1 + word_at(tail + 8) * P2, 31) * P1;
        a2 = rotl64(a2 + word_at(tail + 16) * P2, 31) * P1;
        a3 = rotl64(a3 + word_at(tail + 24) * P2, 31) * P1;
    }
    uint64_t h = rotl64(a0, 1) + rotl64(a1, 7) + rotl64(a2, 12) + rotl64(a3, 18);
    return fmix64(h ^ len);
}

static inline uint64_t fold(uint64_t h, uint64_t block) { return rotl64(h ^ block, 27) * P1 + P3; }

static uint64_t header_hash(const unsigned char *header)
{
    unsigned char copy[GAT__GCSR_HEADER_SIZE];
    memcpy(copy, header, sizeof copy);
    memset(copy + GAT__GCSR_AT_CHECKSUM, 0, 8);
    return block_hash(copy, sizeof copy);
}

static uint64_t blocks_of(uint64_t bytes) { return (bytes + GAT__GCSR_BLOCK - 1) / GAT__GCSR_BLOCK; }

/* ------------------------------------------------------------------------ */
/* Sections in blocks: read from the file and/or hash, in parallel           */
/* ------------------------------------------------------------------------ */

typedef struct section {
    const char *name;
    const unsigned char *data; /* the bytes in memory (after reading) */
    unsigned char *dest;       /* copy mode: where to read them; else NULL */
    uint64_t offset;           /* in the file */
    uint64_t bytes;
} section;

/* pread until len bytes are in: 0, an errno, or -1 at end of file. */
static int read_full(int fd, void *buf, uint64_t len, uint64_t offset)
{
    unsigned char *p = buf;
    while (len > 0) {
        size_t chunk = len > ((uint64_t)1 << 30) ? (size_t)1 << 30 : (size_t)len;
        ssize_t got = pread(fd, p, chunk, (off_t)offset);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (got == 0)
            return -1;
        p += got;
        len -= (uint64_t)got;
        offset += (uint64_t)got;
    }
    return 0;
}

/* The sections in checksum order: row_ptr, col, positions (0 bytes when
 * the file has none). */
#define NUM_SECTIONS 3

static int64_t total_blocks(const section *s)
{
    uint64_t total = 0;
    for (int i = 0; i < NUM_SECTIONS; i++)
        total += blocks_of(s[i].bytes);
    return (int64_t)total;
}

/* Block b of the sections: which one and where in it. */
static const section *block_at(const section *s, uint64_t b, uint64_t *start, uint64_t *len)
{
    while (b >= blocks_of(s->bytes)) {
        b -= blocks_of(s->bytes);
        s++;
    }
    *start = b * GAT__GCSR_BLOCK;
    *len = s->bytes - *start < GAT__GCSR_BLOCK ? s->bytes - *start : GAT__GCSR_BLOCK;
    return s;
}

/* For every block of the sections, on ctx's threads: pread it into
 * dest when fd >= 0, then hash it (still in cache) into hashes[b] when
 * hashes is not NULL. Returns the first block whose read failed, or -1. */
static int64_t run_blocks(gat_context *ctx, int fd, const section *s, uint64_t *hashes)
{
    const int64_t total = total_blocks(s);
    int64_t bad = INT64_MAX;
#ifdef _OPENMP
#pragma omp parallel for num_threads(ctx->num_threads) schedule(dynamic, 1) reduction(min : bad) \
    if (total > 1)
#endif
    for (int64_t b = 0; b < total; b++) {
        uint64_t start, len;
        const section *p = block_at(s, (uint64_t)b, &start, &len);
        if (fd >= 0 && read_full(fd, p->dest + start, len, p->offset + start) != 0) {
            bad = b < bad ? b : bad;
            continue;
        }
        if (hashes != NULL)
            hashes[b] = block_hash(p->data + start, len);
    }
    (void)ctx;
    return bad == INT64_MAX ? -1 : bad;
}

static gat_status hash_sections(gat_context *ctx, const unsigned char *header, int fd,
                                const section *s, const char *path, uint64_t *checksum)
{
    gat_status status;
    const int64_t total = total_blocks(s);
    uint64_t *hashes = NULL;
    if (checksum != NULL) {
        hashes = gat__alloc_array(ctx, total, sizeof *hashes, "checksum blocks", &status);
        if (hashes == NULL)
            return status;
    }
    int64_t bad = run_blocks(ctx, fd, s, hashes);
    if (bad >= 0) {
        /* Read the failed block again, alone, for its errno. */
        uint64_t start, len;
        const section *p = block_at(s, (uint64_t)bad, &start, &len);
        int err = read_full(fd, p->dest + start, len, p->offset + start);
        gat__free_raw(&ctx->allocator, hashes);
        if (err < 0)
            return gat__fail(ctx, GAT_ERR_FORMAT,
                             "%s: %s section: the file ends before byte %llu (did it shrink "
                             "while being read?)",
                             path, p->name, (unsigned long long)(p->offset + start + len));
        return gat__fail(ctx, GAT_ERR_IO, "%s: %s section: read error at byte %llu: %s", path,
                         p->name, (unsigned long long)(p->offset + start),
                         strerror(err > 0 ? err : EIO));
    }
    if (checksum != NULL) {
        uint64_t h = fold(0, header_hash(header));
        for (int64_t b = 0; b < total; b++)
            h = fold(h, hashes[b]);
        *checksum = fmix64(h);
        gat__free_raw(&ctx->allocator, hashes);
    }
    return GAT_OK;
}

bool gat__gcsr_sniff(const unsigned char *bytes, size_t n)
{
    if (n > GAT__GCSR_MAGIC_LEN)
        n = GAT__GCSR_MAGIC_LEN;
    return n > 0 && memcmp(bytes, GAT__GCSR_MAGIC, n) == 0;
}

/* ------------------------------------------------------------------------ */
/* Header                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct header {
    uint32_t version, flags;
    uint64_t num_nodes, num_edges, num_self_loops, max_in_degree; /* raw, before checks */
    uint64_t row_offset, row_bytes, col_offset, col_bytes, file_size, checksum;
    uint64_t num_src_nodes, pos_offset, pos_bytes; /* version 1: N, 0, 0 */
} header;

static uint64_t align_up(uint64_t x) { return (x + GAT__GCSR_ALIGN - 1) & ~(uint64_t)(GAT__GCSR_ALIGN - 1); }

static void encode_header(unsigned char *out, const header *h)
{
    memset(out, 0, GAT__GCSR_HEADER_SIZE);
    memcpy(out, GAT__GCSR_MAGIC, GAT__GCSR_MAGIC_LEN);
    gat__store_le32(out + GAT__GCSR_AT_VERSION, h->version);
    gat__store_le32(out + GAT__GCSR_AT_FLAGS, h->flags);
    gat__store_le64(out + GAT__GCSR_AT_NODES, h->num_nodes);
    gat__store_le64(out + GAT__GCSR_AT_EDGES, h->num_edges);
    gat__store_le64(out + GAT__GCSR_AT_LOOPS, h->num_self_loops);
    gat__store_le64(out + GAT__GCSR_AT_MAX_DEGREE, h->max_in_degree);
    gat__store_le64(out + GAT__GCSR_AT_ROW_OFFSET, h->row_offset);
    gat__store_le64(out + GAT__GCSR_AT_ROW_BYTES, h->row_bytes);
    gat__store_le64(out + GAT__GCSR_AT_COL_OFFSET, h->col_offset);
    gat__store_le64(out + GAT__GCSR_AT_COL_BYTES, h->col_bytes);
    gat__store_le64(out + GAT__GCSR_AT_FILE_SIZE, h->file_size);
    gat__store_le64(out + GAT__GCSR_AT_CHECKSUM, h->checksum);
    if (h->version >= 2) {
        gat__store_le64(out + GAT__GCSR_AT_SRC_NODES, h->num_src_nodes);
        gat__store_le64(out + GAT__GCSR_AT_POS_OFFSET, h->pos_offset);
        gat__store_le64(out + GAT__GCSR_AT_POS_BYTES, h->pos_bytes);
    }
}

static void decode_header(const unsigned char *in, header *h)
{
    h->version = gat__load_le32(in + GAT__GCSR_AT_VERSION);
    h->flags = gat__load_le32(in + GAT__GCSR_AT_FLAGS);
    h->num_nodes = gat__load_le64(in + GAT__GCSR_AT_NODES);
    h->num_edges = gat__load_le64(in + GAT__GCSR_AT_EDGES);
    h->num_self_loops = gat__load_le64(in + GAT__GCSR_AT_LOOPS);
    h->max_in_degree = gat__load_le64(in + GAT__GCSR_AT_MAX_DEGREE);
    h->row_offset = gat__load_le64(in + GAT__GCSR_AT_ROW_OFFSET);
    h->row_bytes = gat__load_le64(in + GAT__GCSR_AT_ROW_BYTES);
    h->col_offset = gat__load_le64(in + GAT__GCSR_AT_COL_OFFSET);
    h->col_bytes = gat__load_le64(in + GAT__GCSR_AT_COL_BYTES);
    h->file_size = gat__load_le64(in + GAT__GCSR_AT_FILE_SIZE);
    h->checksum = gat__load_le64(in + GAT__GCSR_AT_CHECKSUM);
    h->num_src_nodes = h->num_nodes;
    h->pos_offset = h->pos_bytes = 0;
    if (h->version == 2) {
        h->num_src_nodes = gat__load_le64(in + GAT__GCSR_AT_SRC_NODES);
        h->pos_offset = gat__load_le64(in + GAT__GCSR_AT_POS_OFFSET);
        h->pos_bytes = gat__load_le64(in + GAT__GCSR_AT_POS_BYTES);
    }
}

/* One section's placement: aligned, after the header, inside the file. */
static gat_status check_placement(gat_context *ctx, const char *path, const char *name,
                                  uint64_t offset, uint64_t bytes, int field, uint64_t file_size)
{
    if (offset % GAT__GCSR_ALIGN != 0)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: %s section offset %llu (header byte %d) is not a multiple of %u",
                         path, name, (unsigned long long)offset, field, GAT__GCSR_ALIGN);
    if (offset < GAT__GCSR_HEADER_SIZE)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: %s section offset %llu (header byte %d) overlaps the %u-byte "
                         "header",
                         path, name, (unsigned long long)offset, field, GAT__GCSR_HEADER_SIZE);
    if (offset > file_size || bytes > file_size - offset)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: %s section [%llu, +%llu bytes) (header byte %d) runs past the "
                         "end of the file (%llu bytes)",
                         path, name, (unsigned long long)offset, (unsigned long long)bytes,
                         field, (unsigned long long)file_size);
    return GAT_OK;
}

/* Everything that can be known from the header and the file's size. */
static gat_status check_header(gat_context *ctx, const char *path, const unsigned char *raw,
                               const header *h, uint64_t size)
{
    if (h->version < 1 || h->version > GAT__GCSR_VERSION)
        return gat__fail(ctx, GAT_ERR_UNSUPPORTED,
                         "%s: .gcsr format version %u (header byte %d); this libgat reads "
                         "versions 1 to %u",
                         path, h->version, GAT__GCSR_AT_VERSION, GAT__GCSR_VERSION);
    if (h->flags != 0)
        return gat__fail(ctx, GAT_ERR_UNSUPPORTED,
                         "%s: unknown .gcsr flags 0x%x (header byte %d)", path, h->flags,
                         GAT__GCSR_AT_FLAGS);
    const unsigned reserved = h->version == 1 ? GAT__GCSR_V1_RESERVED : GAT__GCSR_AT_RESERVED;
    for (unsigned i = reserved; i < GAT__GCSR_HEADER_SIZE; i++)
        if (raw[i] != 0)
            return gat__fail(ctx, GAT_ERR_FORMAT,
                             "%s: reserved header byte %u is not zero", path, i);
    if (h->num_nodes > INT64_MAX || h->num_edges > INT64_MAX)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: negative num_nodes or num_edges (header bytes %d-%d)", path,
                         GAT__GCSR_AT_NODES, GAT__GCSR_AT_EDGES + 7);
    if (h->num_nodes > INT32_MAX)
        return gat__fail(ctx, GAT_ERR_UNSUPPORTED,
                         "%s: %llu nodes (header byte %d); node ids must fit in 31 bits", path,
                         (unsigned long long)h->num_nodes, GAT__GCSR_AT_NODES);
    if (h->num_src_nodes > INT32_MAX)
        return gat__fail(ctx, h->num_src_nodes > INT64_MAX ? GAT_ERR_FORMAT : GAT_ERR_UNSUPPORTED,
                         "%s: num_src_nodes %lld (header byte %d) is %s", path,
                         (long long)h->num_src_nodes, GAT__GCSR_AT_SRC_NODES,
                         h->num_src_nodes > INT64_MAX ? "negative"
                                                      : "too large: node ids must fit in 31 bits");
    if (h->num_self_loops > h->num_edges || h->max_in_degree > h->num_edges)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: %llu self-loops and largest in-degree %llu (header bytes %d, %d) "
                         "exceed the %llu edges",
                         path, (unsigned long long)h->num_self_loops,
                         (unsigned long long)h->max_in_degree, GAT__GCSR_AT_LOOPS,
                         GAT__GCSR_AT_MAX_DEGREE, (unsigned long long)h->num_edges);
    uint64_t row_bytes = (h->num_nodes + 1) * sizeof(int64_t); /* N < 2^31: no overflow */
    if (h->num_edges > UINT64_MAX / sizeof(int32_t))
        return gat__fail(ctx, GAT_ERR_OVERFLOW,
                         "%s: %llu edges (header byte %d): their %zu-byte ids overflow 64 bits",
                         path, (unsigned long long)h->num_edges, GAT__GCSR_AT_EDGES,
                         sizeof(int32_t));
    uint64_t col_bytes = h->num_edges * sizeof(int32_t);
    if (h->row_bytes != row_bytes)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: row_ptr section size %llu (header byte %d) is not 8 * (N + 1) = "
                         "%llu",
                         path, (unsigned long long)h->row_bytes, GAT__GCSR_AT_ROW_BYTES,
                         (unsigned long long)row_bytes);
    if (h->col_bytes != col_bytes)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: col section size %llu (header byte %d) is not 4 * E = %llu", path,
                         (unsigned long long)h->col_bytes, GAT__GCSR_AT_COL_BYTES,
                         (unsigned long long)col_bytes);
    /* 4 E fits (checked above); 8 E may not, and then cannot be the size. */
    const bool narrow_ok = h->pos_bytes == col_bytes && h->num_edges <= UINT32_MAX;
    const bool wide_ok = h->num_edges <= UINT64_MAX / 8 && h->pos_bytes == 8 * h->num_edges;
    if (h->pos_bytes != 0 && !narrow_ok && !wide_ok)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: position section size %llu (header byte %d) is not 0, 4 * E or "
                         "8 * E (E = %llu)",
                         path, (unsigned long long)h->pos_bytes, GAT__GCSR_AT_POS_BYTES,
                         (unsigned long long)h->num_edges);
    if (h->pos_bytes == 0 && h->pos_offset != 0)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: position section offset %llu (header byte %d) without a size "
                         "(header byte %d is 0): must be 0",
                         path, (unsigned long long)h->pos_offset, GAT__GCSR_AT_POS_OFFSET,
                         GAT__GCSR_AT_POS_BYTES);
    if (size < h->file_size) {
        /* Name the first section cut short, if any (else padding is). */
        const char *cut = "padding";
        if (h->pos_bytes > 0 && h->pos_offset < UINT64_MAX - h->pos_bytes &&
            h->pos_offset + h->pos_bytes > size)
            cut = "position section";
        if (h->col_offset < UINT64_MAX - h->col_bytes && h->col_offset + h->col_bytes > size)
            cut = "col section";
        if (h->row_offset < UINT64_MAX - h->row_bytes && h->row_offset + h->row_bytes > size)
            cut = "row_ptr section";
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: truncated: the file has %llu bytes, its header (byte %d) says "
                         "%llu (the %s is cut short)",
                         path, (unsigned long long)size, GAT__GCSR_AT_FILE_SIZE,
                         (unsigned long long)h->file_size, cut);
    }
    if (size > h->file_size)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: %llu unexpected bytes after byte %llu, where the header (byte "
                         "%d) says the file ends",
                         path, (unsigned long long)(size - h->file_size),
                         (unsigned long long)h->file_size, GAT__GCSR_AT_FILE_SIZE);
    const struct {
        const char *name;
        uint64_t offset, bytes;
        int field;
    } part[NUM_SECTIONS] = {
        {"row_ptr", h->row_offset, h->row_bytes, GAT__GCSR_AT_ROW_OFFSET},
        {"col", h->col_offset, h->col_bytes, GAT__GCSR_AT_COL_OFFSET},
        {"position", h->pos_offset, h->pos_bytes, GAT__GCSR_AT_POS_OFFSET}};
    for (int i = 0; i < NUM_SECTIONS; i++) {
        if (i == 2 && h->pos_bytes == 0)
            break; /* no positions: offset 0, checked above */
        gat_status status = check_placement(ctx, path, part[i].name, part[i].offset,
                                            part[i].bytes, part[i].field, size);
        if (status != GAT_OK)
            return status;
    }
    /* Every range is inside the file, so the ends cannot wrap. An empty
     * section overlaps nothing. */
    for (int i = 0; i < NUM_SECTIONS; i++)
        for (int j = i + 1; j < NUM_SECTIONS; j++)
            if (part[i].bytes > 0 && part[j].bytes > 0 &&
                part[i].offset < part[j].offset + part[j].bytes &&
                part[j].offset < part[i].offset + part[i].bytes)
                return gat__fail(ctx, GAT_ERR_FORMAT,
                                 "%s: the %s section [%llu, %llu) and the %s section [%llu, "
                                 "%llu) overlap",
                                 path, part[i].name, (unsigned long long)part[i].offset,
                                 (unsigned long long)(part[i].offset + part[i].bytes),
                                 part[j].name, (unsigned long long)part[j].offset,
                                 (unsigned long long)(part[j].offset + part[j].bytes));
    return GAT_OK;
}

/* ------------------------------------------------------------------------ */
/* Structure                                                                */
/* ------------------------------------------------------------------------ */

#if defined(__GNUC__)
/* GCC's and Clang's vector extensions: 8 lanes of 32 bits, one AVX2
 * register (two SSE ones). They make the structure checks 3x faster than
 * the same lanes written as scalars, which no compiler vectorises. */
#define GCSR_LANES 1
typedef uint32_t lanes_u32 __attribute__((vector_size(32)));
typedef int32_t lanes_i32 __attribute__((vector_size(32)));
/* A macro, not a function: returning a vector type by value warns about
 * the ABI when AVX is off. */
#define SPLAT(x) ((lanes_u32){(x), (x), (x), (x), (x), (x), (x), (x)})
#endif

typedef struct row_checks {
    int64_t bad_row;        /* first row whose offsets leave [0, E] or decrease */
    int64_t bad_source_row; /* first row with a source outside [0, N) */
    int64_t loops;
    uint64_t max_degree;
} row_checks;

/* Whether row i, edges [s, s + d), has a source outside [0, n). */
static bool row_has_bad_source(const int32_t *col, int64_t s, int64_t d, uint32_t n)
{
    uint32_t out = 0;
    for (int64_t k = s; k < s + d; k++)
        out |= (uint32_t)col[k] >= n;
    return out != 0;
}

/* Rows [i0, i1) with sources in [0, sources), stopping at the first bad row: the rows after it may
 * point anywhere. A row of at most 8 edges, the common case, is read as 8
 * lanes with those past its end masked off, so that no branch depends on
 * the row's length (it would be mispredicted at almost every row). */
static row_checks check_rows(const int64_t *row_ptr, const int32_t *col, int64_t i0, int64_t i1,
                             int64_t sources, int64_t e)
{
    row_checks r = {INT64_MAX, INT64_MAX, 0, 0};
    const uint32_t un = (uint32_t)sources;
    uint32_t out = 0;
#ifdef GCSR_LANES
    const lanes_u32 lane = {0, 1, 2, 3, 4, 5, 6, 7}, limit = SPLAT(un);
    lanes_i32 loops = {0}, outside = {0};
#endif
    int64_t stop = i1;
    for (int64_t i = i0; i < i1; i++) {
        const int64_t s = row_ptr[i], t = row_ptr[i + 1];
        /* Unsigned, so that a negative offset counts as huge. */
        if (!((uint64_t)s <= (uint64_t)t && (uint64_t)t <= (uint64_t)e)) {
            r.bad_row = stop = i;
            break;
        }
        const int64_t d = t - s;
        r.max_degree = (uint64_t)d > r.max_degree ? (uint64_t)d : r.max_degree;
        if (d <= 8 && s + 8 <= e) {
#ifdef GCSR_LANES
            lanes_u32 c;
            memcpy(&c, col + s, sizeof c);
            const lanes_i32 live = lane < SPLAT((uint32_t)d);
            loops -= (c == SPLAT((uint32_t)i)) & live; /* a true lane is -1 */
            outside |= (c >= limit) & live;
#else
            for (int j = 0; j < 8; j++) {
                uint32_t c = (uint32_t)col[s + j], live = j < d;
                r.loops += (c == (uint32_t)i) & live;
                out |= (c >= un) & live;
            }
#endif
        } else {
            for (int64_t k = s; k < t; k++) {
                uint32_t c = (uint32_t)col[k];
                r.loops += c == (uint32_t)i;
                out |= c >= un;
            }
        }
    }
#ifdef GCSR_LANES
    int32_t lane_loops[8], lane_out[8];
    memcpy(lane_loops, &loops, sizeof lane_loops);
    memcpy(lane_out, &outside, sizeof lane_out);
    for (int j = 0; j < 8; j++) {
        r.loops += lane_loops[j];
        out |= (uint32_t)lane_out[j];
    }
#endif
    if (out != 0) /* rare: find the row again */
        for (int64_t i = i0; i < stop; i++)
            if (row_has_bad_source(col, row_ptr[i], row_ptr[i + 1] - row_ptr[i], un)) {
                r.bad_source_row = i;
                break;
            }
    return r;
}

/* The O(N + E) checks that make any file safe to run on: row offsets rise
 * from 0 to E, every source is a node, and the header's counts (which size
 * the attention arrays) match. One parallel pass over both arrays; a row is
 * only read once its own offsets are known to lie in [0, E], so garbage
 * offsets are never followed. The first failing position is reported,
 * whatever the thread count. */
static gat_status check_structure(gat_context *ctx, const char *path, const header *h,
                                  const int64_t *row_ptr, const int32_t *col)
{
    const int64_t n = (int64_t)h->num_nodes, e = (int64_t)h->num_edges;
    const int64_t sources = (int64_t)h->num_src_nodes;
    const unsigned long long row_at = h->row_offset, col_at = h->col_offset;
    if (row_ptr[0] != 0)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: row_ptr section (byte %llu): row_ptr[0] is %lld, not 0", path,
                         row_at, (long long)row_ptr[0]);
    if (row_ptr[n] != e)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: row_ptr section (byte %llu): row_ptr[N = %lld] is %lld, not the "
                         "number of edges %lld",
                         path, row_at + 8ull * (unsigned long long)n, (long long)n,
                         (long long)row_ptr[n], (long long)e);
    int64_t bad_row = INT64_MAX, bad_source_row = INT64_MAX, loops = 0;
    uint64_t max_degree = 0;
    const int64_t chunks = (n + STRUCTURE_ROWS - 1) / STRUCTURE_ROWS;
#ifdef _OPENMP
#pragma omp parallel for num_threads(ctx->num_threads) schedule(dynamic, 1) \
    reduction(min : bad_row, bad_source_row) reduction(max : max_degree) reduction(+ : loops) \
    if (chunks > 1)
#endif
    for (int64_t c = 0; c < chunks; c++) {
        const int64_t i0 = c * STRUCTURE_ROWS;
        const int64_t i1 = n - i0 < STRUCTURE_ROWS ? n : i0 + STRUCTURE_ROWS;
        row_checks r = check_rows(row_ptr, col, i0, i1, sources, e);
        bad_row = r.bad_row < bad_row ? r.bad_row : bad_row;
        bad_source_row = r.bad_source_row < bad_source_row ? r.bad_source_row : bad_source_row;
        max_degree = r.max_degree > max_degree ? r.max_degree : max_degree;
        loops += r.loops;
    }
    (void)ctx;
    if (bad_row != INT64_MAX) {
        const int64_t i = bad_row;
        if (row_ptr[i + 1] < row_ptr[i])
            return gat__fail(ctx, GAT_ERR_FORMAT,
                             "%s: row_ptr section (byte %llu): row_ptr[%lld] = %lld is less than "
                             "row_ptr[%lld] = %lld; offsets must not decrease",
                             path, row_at + 8ull * (unsigned long long)(i + 1),
                             (long long)(i + 1), (long long)row_ptr[i + 1], (long long)i,
                             (long long)row_ptr[i]);
        const int64_t j = (uint64_t)row_ptr[i] > (uint64_t)e ? i : i + 1;
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: row_ptr section (byte %llu): row_ptr[%lld] = %lld is outside [0, "
                         "E = %lld]",
                         path, row_at + 8ull * (unsigned long long)j, (long long)j,
                         (long long)row_ptr[j], (long long)e);
    }
    if (bad_source_row != INT64_MAX) {
        int64_t k = row_ptr[bad_source_row];
        while ((uint32_t)col[k] < (uint32_t)sources)
            k++;
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: col section (byte %llu): col[%lld] = %ld is not a %snode id in "
                         "[0, %lld)",
                         path, col_at + 4ull * (unsigned long long)k, (long long)k,
                         (long)col[k], sources != n ? "source " : "", (long long)sources);
    }
    if ((uint64_t)loops != h->num_self_loops || max_degree != h->max_in_degree)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: the header (bytes %d, %d) says %llu self-loops and largest "
                         "in-degree %llu, the sections hold %lld and %llu",
                         path, GAT__GCSR_AT_LOOPS, GAT__GCSR_AT_MAX_DEGREE,
                         (unsigned long long)h->num_self_loops,
                         (unsigned long long)h->max_in_degree, (long long)loops,
                         (unsigned long long)max_degree);
    return GAT_OK;
}

/* Position k of a section of `width` bytes per entry (4: uint32, 8: int64). */
static uint64_t position_at(const void *pos, int width, int64_t k)
{
    if (width == 4)
        return ((const uint32_t *)pos)[k];
    return (uint64_t)((const int64_t *)pos)[k]; /* a negative one counts as huge */
}

/* The position section must be a permutation of [0, E): each position is
 * an index into the caller's edge attributes, and each attribute row
 * belongs to exactly one edge. One pass marking a bitmap of E bits; the
 * first bad entry is reported (serial, so it is the first at any thread
 * count). */
static gat_status check_positions(gat_context *ctx, const char *path, const header *h,
                                  const void *pos)
{
    const int64_t e = (int64_t)h->num_edges;
    const int width = (int)(h->pos_bytes / h->num_edges);
    gat_status status;
    uint64_t *seen = gat__calloc_array(ctx, e / 64 + 1, sizeof *seen, "position check bitmap",
                                       &status);
    if (seen == NULL)
        return status;
    int64_t bad = -1;
    for (int64_t k = 0; k < e && bad < 0; k++) {
        const uint64_t p = position_at(pos, width, k);
        if (p >= (uint64_t)e || (seen[p / 64] >> (p % 64) & 1u))
            bad = k;
        else
            seen[p / 64] |= (uint64_t)1 << (p % 64);
    }
    gat__free_raw(&ctx->allocator, seen);
    if (bad < 0)
        return GAT_OK;
    const uint64_t p = position_at(pos, width, bad);
    const unsigned long long at = h->pos_offset + (unsigned long long)width * (uint64_t)bad;
    if (p >= (uint64_t)e)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: position section (byte %llu): position[%lld] = %lld is outside "
                         "[0, E = %lld)",
                         path, at, (long long)bad, (long long)p, (long long)e);
    int64_t first = 0;
    while (position_at(pos, width, first) != p)
        first++;
    return gat__fail(ctx, GAT_ERR_FORMAT,
                     "%s: position section (byte %llu): position[%lld] = %lld repeats "
                     "position[%lld]; the positions must be a permutation of [0, E = %lld)",
                     path, at, (long long)bad, (long long)p, (long long)first, (long long)e);
}

/* ------------------------------------------------------------------------ */
/* Saving                                                                   */
/* ------------------------------------------------------------------------ */

static gat_status write_zeros(gat_context *ctx, gat_output *out, uint64_t count)
{
    static const unsigned char zeros[GAT__GCSR_ALIGN] = {0};
    return gat_output_write(ctx, out, zeros, (size_t)count);
}

gat_status gat_graph_save_to(gat_context *ctx, const gat_graph *graph, gat_output *out)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (graph == NULL || out == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "gat_graph_save: NULL argument");
    if (!gat__npy_host_little())
        return gat__fail(ctx, GAT_ERR_UNSUPPORTED,
                         "%s: .gcsr arrays are little-endian and used in place; this host is "
                         "big-endian",
                         out->path);
    header h = {0};
    const bool positions = graph->position != NULL && graph->num_edges > 0;
    /* Version 1 when it holds the graph: readers older than version 2
     * then read the file too. */
    h.version = positions || graph->num_src_nodes != graph->num_nodes ? 2u : 1u;
    h.num_src_nodes = (uint64_t)graph->num_src_nodes;
    h.num_nodes = (uint64_t)graph->num_nodes;
    h.num_edges = (uint64_t)graph->num_edges;
    h.num_self_loops = (uint64_t)graph->num_self_loops;
    h.max_in_degree = (uint64_t)graph->max_in_degree;
    h.row_offset = GAT__GCSR_HEADER_SIZE;
    h.row_bytes = (h.num_nodes + 1) * sizeof(int64_t);
    h.col_offset = align_up(h.row_offset + h.row_bytes);
    h.col_bytes = h.num_edges * sizeof(int32_t);
    h.file_size = align_up(h.col_offset + h.col_bytes);
    if (positions) {
        h.pos_offset = h.file_size;
        h.pos_bytes = h.num_edges * (uint64_t)graph->position_bytes;
        h.file_size = align_up(h.pos_offset + h.pos_bytes);
    }
    unsigned char raw[GAT__GCSR_HEADER_SIZE];
    encode_header(raw, &h);
    const section s[NUM_SECTIONS] = {{"row_ptr", (const void *)graph->row_ptr, NULL, 0, h.row_bytes},
                                     {"col", (const void *)graph->col, NULL, 0, h.col_bytes},
                                     {"position", graph->position, NULL, 0, h.pos_bytes}};
    gat_status status = hash_sections(ctx, raw, -1, s, out->path, &h.checksum);
    if (status != GAT_OK)
        return status;
    encode_header(raw, &h);

    status = gat_output_write(ctx, out, raw, sizeof raw);
    /* Each section, then zeros up to the next one (or the end). */
    const uint64_t offset[NUM_SECTIONS + 1] = {h.row_offset, h.col_offset,
                                               positions ? h.pos_offset : h.file_size,
                                               h.file_size};
    for (int i = 0; i < NUM_SECTIONS && status == GAT_OK; i++) {
        if (s[i].bytes == 0 && i == 2)
            break;
        status = gat_output_write(ctx, out, s[i].data, (size_t)s[i].bytes);
        if (status == GAT_OK)
            status = write_zeros(ctx, out, offset[i + 1] - (offset[i] + s[i].bytes));
    }
    return status;
}

static gat_status save_body(gat_context *ctx, gat_output *out, const void *graph)
{
    return gat_graph_save_to(ctx, graph, out);
}

gat_status gat_graph_save(gat_context *ctx, const gat_graph *graph, const char *path)
{
    return gat__write_file(ctx, "gat_graph_save", path, save_body, graph);
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                  */
/* ------------------------------------------------------------------------ */

/* The graph's arrays: a private read-only mapping of the whole file, or
 * fresh arrays the sections are read into (num_rows >= N rows; rows
 * past N are filled in by the caller). */
static gat_status place_sections(gat_context *ctx, const char *path, int fd, unsigned flags,
                                 const header *h, int64_t num_rows, gat_graph *g,
                                 section *s)
{
    gat_status status = GAT_OK;
    s[0] = (section){"row_ptr", NULL, NULL, h->row_offset, h->row_bytes};
    s[1] = (section){"col", NULL, NULL, h->col_offset, h->col_bytes};
    s[2] = (section){"position", NULL, NULL, h->pos_offset, h->pos_bytes};
    if (h->pos_bytes > 0)
        g->position_bytes = (int)(h->pos_bytes / h->num_edges);
    if (flags & GAT_LOAD_MMAP) {
        if (h->file_size > SIZE_MAX)
            return gat__fail(ctx, GAT_ERR_OVERFLOW, "%s: %llu bytes cannot be mapped", path,
                             (unsigned long long)h->file_size);
        /* Pages come in as the checks' threads touch them, in parallel
         * (MAP_POPULATE, serial in the kernel, measured no faster), or
         * lazily, as the forward pass uses them, when the file is trusted. */
        void *base = mmap(NULL, (size_t)h->file_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (base == MAP_FAILED)
            return gat__fail(ctx, errno == ENOMEM ? GAT_ERR_NOMEM : GAT_ERR_IO,
                             "%s: cannot map %llu bytes: %s", path,
                             (unsigned long long)h->file_size, strerror(errno));
        g->mapping = base;
        g->mapping_size = (size_t)h->file_size;
        s[0].data = (const unsigned char *)base + h->row_offset;
        s[1].data = (const unsigned char *)base + h->col_offset;
        /* Offsets are multiples of 64 in a page-aligned mapping. */
        g->row_ptr = (int64_t *)(void *)((unsigned char *)base + h->row_offset);
        g->col = (int32_t *)(void *)((unsigned char *)base + h->col_offset);
        if (h->pos_bytes > 0) {
            g->position = (unsigned char *)base + h->pos_offset;
            s[2].data = g->position;
        }
        return GAT_OK;
    }
    g->row_ptr = gat__alloc_array(ctx, num_rows + 1, sizeof *g->row_ptr, "graph row offsets",
                                  &status);
    if (g->row_ptr == NULL)
        return status;
    g->col = gat__alloc_array(ctx, (int64_t)h->num_edges, sizeof *g->col, "graph edge sources",
                              &status);
    if (g->col == NULL)
        return status;
    s[0].data = s[0].dest = (unsigned char *)g->row_ptr;
    s[1].data = s[1].dest = (unsigned char *)g->col;
    if (h->pos_bytes > 0) {
        g->position = gat__alloc_array(ctx, (int64_t)h->num_edges, (size_t)g->position_bytes,
                                       "graph edge positions", &status);
        if (g->position == NULL)
            return status;
        s[2].data = s[2].dest = g->position;
    }
    return GAT_OK;
}

/* The header of the open file fd (fstat in info), decoded into h and checked
 * against the file's size. */
static gat_status read_header(gat_context *ctx, const char *path, int fd,
                              const struct stat *info, unsigned char *raw, header *h)
{
    const uint64_t size = (uint64_t)info->st_size;
    if (size == 0)
        return gat__fail(ctx, GAT_ERR_FORMAT, "%s: empty file (0 bytes), not a .gcsr graph",
                         path);
    const uint64_t head = size < GAT__GCSR_HEADER_SIZE ? size : GAT__GCSR_HEADER_SIZE;
    int err = read_full(fd, raw, head, 0);
    if (err != 0)
        return gat__fail(ctx, GAT_ERR_IO, "%s: cannot read the header: %s", path,
                         err > 0 ? strerror(err) : "the file shrank");
    if (!gat__gcsr_sniff(raw, (size_t)head))
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: not a .gcsr graph: bytes 0-7 are not the magic \\x89GATCSR\\n "
                         "(gat_graph_read reads text edge lists too)",
                         path);
    if (size < GAT__GCSR_HEADER_SIZE)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: truncated: %llu bytes, shorter than the %u-byte .gcsr header",
                         path, (unsigned long long)size, GAT__GCSR_HEADER_SIZE);
    decode_header(raw, h);
    return check_header(ctx, path, raw, h, size);
}

static gat_status load_open_file(gat_context *ctx, gat_graph **graph, const char *path, int fd,
                                 unsigned flags, int64_t num_nodes, int64_t num_src_nodes)
{
    struct stat info;
    if (fstat(fd, &info) != 0)
        return gat__fail(ctx, GAT_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    if (!S_ISREG(info.st_mode))
        return gat__fail(ctx, GAT_ERR_IO, "%s: not a regular file", path);
    unsigned char raw[GAT__GCSR_HEADER_SIZE] = {0};
    header h;
    gat_status status = read_header(ctx, path, fd, &info, raw, &h);
    if (status != GAT_OK)
        return status;
    const int64_t n = (int64_t)h.num_nodes;
    if (num_nodes >= 0 && num_nodes < n)
        return gat__fail(ctx, GAT_ERR_RANGE,
                         "%s: the graph has %lld nodes, more than the %lld expected", path,
                         (long long)n, (long long)num_nodes);
    const int64_t rows = num_nodes > n ? num_nodes : n;
    if (rows > n && (flags & GAT_LOAD_MMAP))
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "%s: cannot add nodes to a mapped graph (it has %lld, %lld asked)",
                         path, (long long)n, (long long)num_nodes);
    /* Sources: as asked, else the file's; a file that is not bipartite
     * gains source nodes with its rows. */
    const int64_t file_src = (int64_t)h.num_src_nodes;
    if (num_src_nodes >= 0 && num_src_nodes < file_src)
        return gat__fail(ctx, GAT_ERR_RANGE,
                         "%s: the graph has %lld source nodes, more than the %lld expected",
                         path, (long long)file_src, (long long)num_src_nodes);
    const int64_t sources = num_src_nodes >= 0 ? num_src_nodes
                            : file_src == n    ? rows
                                               : file_src;

    gat_graph *g = gat__calloc_array(ctx, 1, sizeof *g, "graph", &status);
    if (g == NULL)
        return status;
    g->allocator = ctx->allocator;
    section s[NUM_SECTIONS];
    status = place_sections(ctx, path, fd, flags, &h, rows, g, s);
    if (status != GAT_OK)
        goto fail;
    const bool verify = !(flags & (GAT_LOAD_NO_VERIFY | GAT_LOAD_TRUSTED));
    uint64_t checksum = 0;
    if (verify || !(flags & GAT_LOAD_MMAP)) {
        status = hash_sections(ctx, raw, (flags & GAT_LOAD_MMAP) ? -1 : fd, s, path,
                               verify ? &checksum : NULL);
        if (status != GAT_OK)
            goto fail;
    }
    if (verify && checksum != h.checksum) {
        status = gat__fail(ctx, GAT_ERR_FORMAT,
                           "%s: checksum mismatch: file is corrupt (header byte %d holds "
                           "0x%016llx, the contents hash to 0x%016llx)",
                           path, GAT__GCSR_AT_CHECKSUM, (unsigned long long)h.checksum,
                           (unsigned long long)checksum);
        goto fail;
    }
    if (!(flags & GAT_LOAD_TRUSTED)) {
        status = check_structure(ctx, path, &h, g->row_ptr, g->col);
        if (status == GAT_OK && g->position != NULL)
            status = check_positions(ctx, path, &h, g->position);
        if (status != GAT_OK)
            goto fail;
    }
    /* Nodes beyond the file's are isolated: empty rows at the end. */
    for (int64_t i = n + 1; i <= rows; i++)
        g->row_ptr[i] = (int64_t)h.num_edges;
    g->num_nodes = rows;
    g->num_src_nodes = sources;
    g->num_edges = (int64_t)h.num_edges;
    g->num_self_loops = (int64_t)h.num_self_loops;
    g->max_in_degree = (int64_t)h.max_in_degree;
    *graph = g;
    return GAT_OK;
fail:
    gat_graph_destroy(&g);
    return status;
}

gat_status gat__graph_load_nodes(gat_context *ctx, gat_graph **graph, const char *path,
                                 unsigned flags, int64_t num_nodes, int64_t num_src_nodes)
{
    if (ctx == NULL || graph == NULL)
        return GAT_ERR_INVALID;
    *graph = NULL;
    gat__clear_message(ctx);
    if (path == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "gat_graph_load: NULL path");
    if (flags & ~(unsigned)KNOWN_LOAD_FLAGS)
        return gat__fail(ctx, GAT_ERR_INVALID, "gat_graph_load: unknown flags 0x%x",
                         flags & ~(unsigned)KNOWN_LOAD_FLAGS);
    if (!gat__npy_host_little())
        return gat__fail(ctx, GAT_ERR_UNSUPPORTED,
                         "%s: .gcsr arrays are little-endian and used in place; this host is "
                         "big-endian",
                         path);
    int fd;
    struct stat info;
    gat_status status = gat__in_open(ctx, path, false,
                                     "a .gcsr file is mapped or read by its size", &fd, &info);
    if (status != GAT_OK)
        return status;
    status = load_open_file(ctx, graph, path, fd, flags, num_nodes, num_src_nodes);
    close(fd); /* a mapping outlives its descriptor */
    return status;
}

gat_status gat_graph_load(gat_context *ctx, gat_graph **graph, const char *path, unsigned flags)
{
    return gat__graph_load_nodes(ctx, graph, path, flags, -1, -1);
}

/* ------------------------------------------------------------------------ */
/* Row ranges (a distributed rank's share, src/dist)                        */
/* ------------------------------------------------------------------------ */

gat_status gat__gcsr_open(gat_context *ctx, const char *path, gat__gcsr_file *file)
{
    file->fd = -1;
    file->path = path;
    if (!gat__npy_host_little())
        return gat__fail(ctx, GAT_ERR_UNSUPPORTED,
                         "%s: .gcsr arrays are little-endian; this host is big-endian", path);
    int fd;
    struct stat info;
    gat_status status = gat__in_open(ctx, path, false, "a .gcsr file is read at offsets", &fd,
                                     &info);
    if (status != GAT_OK)
        return status;
    unsigned char raw[GAT__GCSR_HEADER_SIZE] = {0};
    header h;
    if (!S_ISREG(info.st_mode))
        status = gat__fail(ctx, GAT_ERR_IO, "%s: not a regular file", path);
    else
        status = read_header(ctx, path, fd, &info, raw, &h);
    if (status != GAT_OK) {
        close(fd);
        return status;
    }
    file->fd = fd;
    file->num_nodes = (int64_t)h.num_nodes;
    file->num_edges = (int64_t)h.num_edges;
    file->num_src_nodes = (int64_t)h.num_src_nodes;
    file->row_offset = h.row_offset;
    file->col_offset = h.col_offset;
    file->pos_offset = h.pos_offset;
    file->pos_width = h.pos_bytes > 0 ? (int)(h.pos_bytes / h.num_edges) : 0;
    return GAT_OK;
}

void gat__gcsr_close(gat__gcsr_file *file)
{
    if (file->fd >= 0)
        close(file->fd);
    file->fd = -1;
}

/* pread of count items of size bytes at offset, failing with a message. */
static gat_status read_at(gat_context *ctx, const gat__gcsr_file *f, const char *what,
                          void *buf, int64_t count, size_t size, uint64_t offset)
{
    int err = read_full(f->fd, buf, (uint64_t)count * size, offset);
    if (err == 0)
        return GAT_OK;
    if (err < 0)
        return gat__fail(ctx, GAT_ERR_FORMAT, "%s: %s section: the file ends before byte %llu",
                         f->path, what, (unsigned long long)(offset + (uint64_t)count * size));
    return gat__fail(ctx, GAT_ERR_IO, "%s: %s section: read error at byte %llu: %s", f->path,
                     what, (unsigned long long)offset, strerror(err));
}

gat_status gat__gcsr_row_ptr_at(gat_context *ctx, const gat__gcsr_file *f, int64_t i,
                                int64_t *value)
{
    const uint64_t at = f->row_offset + 8u * (uint64_t)i;
    gat_status status = read_at(ctx, f, "row_ptr", value, 1, sizeof *value, at);
    if (status == GAT_OK && (*value < 0 || *value > f->num_edges))
        status = gat__fail(ctx, GAT_ERR_FORMAT,
                           "%s: row_ptr section (byte %llu): row_ptr[%lld] = %lld is outside "
                           "[0, E = %lld]",
                           f->path, (unsigned long long)at, (long long)i, (long long)*value,
                           (long long)f->num_edges);
    return status;
}

gat_status gat__gcsr_read_rows(gat_context *ctx, const gat__gcsr_file *f, int64_t first,
                               int64_t last, int64_t *row_ptr, int32_t *col, int64_t max_edges)
{
    const int64_t rows = last - first;
    const uint64_t row_at = f->row_offset + 8u * (uint64_t)first;
    gat_status status = read_at(ctx, f, "row_ptr", row_ptr, rows + 1, sizeof *row_ptr, row_at);
    if (status != GAT_OK)
        return status;
    if (first == 0 && row_ptr[0] != 0)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: row_ptr section (byte %llu): row_ptr[0] is %lld, not 0", f->path,
                         (unsigned long long)row_at, (long long)row_ptr[0]);
    if (last == f->num_nodes && row_ptr[rows] != f->num_edges)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: row_ptr section (byte %llu): row_ptr[N = %lld] is %lld, not the "
                         "number of edges %lld",
                         f->path, (unsigned long long)(row_at + 8u * (uint64_t)rows),
                         (long long)last, (long long)row_ptr[rows], (long long)f->num_edges);
    for (int64_t i = 0; i <= rows; i++) {
        const bool inside = row_ptr[i] >= 0 && row_ptr[i] <= f->num_edges;
        if (!inside || (i > 0 && row_ptr[i] < row_ptr[i - 1]))
            return gat__fail(ctx, GAT_ERR_FORMAT,
                             "%s: row_ptr section (byte %llu): row_ptr[%lld] = %lld is %s",
                             f->path, (unsigned long long)(row_at + 8u * (uint64_t)i),
                             (long long)(first + i), (long long)row_ptr[i],
                             inside ? "less than the offset before it; offsets must not decrease"
                                    : "outside [0, E]");
    }
    const int64_t base = row_ptr[0], edges = row_ptr[rows] - base;
    if (edges > max_edges)
        return gat__fail(ctx, GAT_ERR_INVALID, "%s: rows [%lld, %lld) hold %lld edges, more "
                         "than the %lld the caller made room for", f->path, (long long)first,
                         (long long)last, (long long)edges, (long long)max_edges);
    const uint64_t col_at = f->col_offset + 4u * (uint64_t)base;
    status = read_at(ctx, f, "col", col, edges, sizeof *col, col_at);
    if (status != GAT_OK)
        return status;
    for (int64_t k = 0; k < edges; k++)
        if (col[k] < 0 || col[k] >= f->num_src_nodes)
            return gat__fail(ctx, GAT_ERR_FORMAT,
                             "%s: col section (byte %llu): col[%lld] = %ld is not a %snode id "
                             "in [0, %lld)",
                             f->path, (unsigned long long)(col_at + 4u * (uint64_t)k),
                             (long long)(base + k), (long)col[k],
                             f->num_src_nodes != f->num_nodes ? "source " : "",
                             (long long)f->num_src_nodes);
    for (int64_t i = 0; i <= rows; i++)
        row_ptr[i] -= base;
    return GAT_OK;
}

gat_status gat__gcsr_read_positions(gat_context *ctx, const gat__gcsr_file *f, int64_t first,
                                    int64_t count, int64_t *out)
{
    if (f->pos_width == 0) {
        for (int64_t k = 0; k < count; k++)
            out[k] = first + k;
        return GAT_OK;
    }
    const uint64_t at = f->pos_offset + (uint64_t)f->pos_width * (uint64_t)first;
    /* Narrow positions are read into the upper half of out, then widened
     * from the front (entry k moves to 8k from 4(count + k), never ahead of
     * a byte still unread). */
    void *raw = f->pos_width == 8 ? (void *)out : (void *)((uint32_t *)(void *)out + count);
    gat_status status = read_at(ctx, f, "position", raw, count, (size_t)f->pos_width, at);
    if (status != GAT_OK)
        return status;
    for (int64_t k = 0; k < count; k++) {
        const uint64_t p = position_at(raw, f->pos_width, k);
        if (p >= (uint64_t)f->num_edges)
            return gat__fail(ctx, GAT_ERR_FORMAT,
                             "%s: position section (byte %llu): position[%lld] = %lld is "
                             "outside [0, E = %lld)",
                             f->path, (unsigned long long)(at + (uint64_t)f->pos_width * (uint64_t)k),
                             (long long)(first + k), (long long)p, (long long)f->num_edges);
        out[k] = (int64_t)p;
    }
    return GAT_OK;
}
