/*
 * libgat: Graph Attention Networks (Velickovic et al., ICLR 2018) on large
 * sparse graphs, with the semantics of PyTorch Geometric's GATConv.
 *
 * Conventions
 *  - Every fallible function returns a gat_status (GAT_OK = 0, errors < 0)
 *    and writes a one-line message naming what was wrong (file, line, byte
 *    offset, tensor name) into its context: gat_context_message().
 *  - Objects come in create/destroy pairs. destroy(&p) accepts NULL and a
 *    NULL *p, frees, and sets *p = NULL.
 *  - Ownership of every pointer argument is stated: "borrowed" (read during
 *    the call only), "caller-owned output" (the caller allocates, the
 *    library writes), "owned by X" (freed by X's destroy).
 *  - Sizes, counts and edge offsets are int64_t. Node ids are < 2^31.
 *  - Results are bitwise identical for any thread count.
 *
 * Threads. The library keeps no global mutable state; what may be shared:
 *  - gat_context: one thread at a time (it holds the last message and the
 *    scratch memory of the calls made with it). Give each thread its own.
 *  - gat_graph: immutable after creation; any number of threads may read it
 *    at once (forward, evaluation, edges, reorder, save, trainers).
 *  - gat_model: read-only during gat_model_forward(_timed, _reference),
 *    gat_model_evaluate and gat_model_save, so any number of threads, each
 *    with its own context, may run those on one model at once, and get the
 *    same bits as a serial call. Changing it (init, parameters written
 *    through gat_model_layer_params, a trainer's update) must not overlap
 *    any other use of it.
 *  - gat_array: plain memory; shared read-only like any buffer.
 *  - gat_trainer: one thread at a time, and it writes its model's
 *    parameters: no other thread may use that model while it trains.
 * A call's OpenMP team runs inside the calling thread's call; several
 * threads calling at once each get a team of their context's size, so the
 * cores are shared among them (set each context's thread count to match).
 *
 * Edge order. An edge (src, dst) carries a message from src to dst, as a
 * column of PyG's edge_index. Inside the library a graph is a CSR indexed by
 * destination: row i lists the incoming edges of node i, in the order they
 * were given. With self-loops added (PyG's add_self_loops=True) every input
 * self-loop is dropped and exactly one loop (i, i) closes row i. This
 * "library order" (destination-major, input order inside a row, the added
 * loop last) is the order of attention coefficients and of gat_graph_edges().
 */
#ifndef GAT_H
#define GAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GAT_VERSION_MAJOR 0
#define GAT_VERSION_MINOR 1
#define GAT_VERSION_PATCH 0

/* ------------------------------------------------------------------------ */
/* Status                                                                   */
/* ------------------------------------------------------------------------ */

typedef enum gat_status {
    GAT_OK = 0,
    GAT_ERR_INVALID = -1,     /* bad argument: NULL, wrong shape, bad option */
    GAT_ERR_NOMEM = -2,       /* an allocation failed */
    GAT_ERR_IO = -3,          /* a file could not be opened, read or written */
    GAT_ERR_FORMAT = -4,      /* a file's content is malformed or truncated */
    GAT_ERR_RANGE = -5,       /* a node id or index is out of range */
    GAT_ERR_NONFINITE = -6,   /* NaN or infinity where finite numbers are due */
    GAT_ERR_UNSUPPORTED = -7, /* well-formed but not supported (dtype, order) */
    GAT_ERR_OVERFLOW = -8     /* a size does not fit in 64 bits or in memory */
} gat_status;

/* A static string naming the status ("GAT_ERR_FORMAT: malformed input"). */
const char *gat_status_str(gat_status status);

/* ------------------------------------------------------------------------ */
/* Context: threads, pinning, allocator and the last error message          */
/* ------------------------------------------------------------------------ */

/* Threads: one thread at a time; one per thread for concurrent calls. */
typedef struct gat_context gat_context;

/* A user allocator. alloc returns memory aligned to `alignment` (a power of
 * two, at most 4096) or NULL. Objects keep a copy of the allocator of the
 * context that created them and release their memory through it, so `user`
 * must outlive every object. */
typedef struct gat_allocator {
    void *(*alloc)(void *user, size_t alignment, size_t size);
    void (*free)(void *user, void *ptr);
    void *user;
} gat_allocator;

typedef enum gat_pin {
    GAT_PIN_NONE = 0,    /* leave threads where the OS puts them */
    GAT_PIN_COMPACT = 1, /* fill the cores of one package first */
    GAT_PIN_SCATTER = 2  /* spread threads across packages and NUMA nodes */
} gat_pin;

/* Which dense GEMM computes the projection x . W^T. Both give the same
 * bits at any thread count (though not the same bits as each other). */
typedef enum gat_gemm {
    GAT_GEMM_AUTO = 0,   /* the built-in kernel (docs/performance.md, "GEMM" and
                          * "Portable speed") */
    GAT_GEMM_BLAS = 1,   /* cblas_sgemm per fixed block of rows; gat_context_create
                          * returns GAT_ERR_UNSUPPORTED in a build without a BLAS
                          * (gat_have_blas) */
    GAT_GEMM_BUILTIN = 2 /* libgat's register-blocked kernel */
} gat_gemm;

/* Whether this build of the library calls a BLAS (meson option blas). */
bool gat_have_blas(void);

typedef struct gat_context_options {
    int num_threads;              /* 0: OpenMP's default (OMP_NUM_THREADS) */
    gat_pin pin;                  /* default GAT_PIN_NONE */
    const gat_allocator *allocator; /* NULL: the C library; copied */
    gat_gemm gemm;                /* default GAT_GEMM_AUTO */
    /* A caller-owned buffer of message_size bytes that receives why
     * gat_context_create failed (there is no context to ask); default NULL. */
    char *message;
    size_t message_size;
} gat_context_options;

/* Fills the defaults above. */
void gat_context_options_init(gat_context_options *options);

/* The most threads a context accepts on this machine: 4 per hardware thread
 * (online CPU), never more than 1024. A larger count, passed in or taken
 * from OMP_NUM_THREADS, is refused with GAT_ERR_INVALID naming where it
 * came from ("num_threads 4096", "OMP_NUM_THREADS=100000"): libgomp would
 * crash on it (a team of 100000 overflows the stack) or only time-slice. */
int gat_max_threads(void);

/* options may be NULL (defaults). *ctx is owned by the caller: destroy it
 * after every object made with it. A failed pinning is not an error: it is
 * reported by gat_context_pin_report(). The thread count is checked
 * against gat_max_threads(), and a team of that many threads is started
 * once: if the system cannot create the threads, GAT_ERR_NOMEM ("cannot
 * start a team of N threads") instead of OpenMP's abort later. Other
 * statuses: GAT_ERR_INVALID (a negative count, unknown pin or gemm, an
 * allocator without alloc or free), GAT_ERR_NOMEM. On failure *ctx is NULL
 * and options->message, if given, says why. */
gat_status gat_context_create(gat_context **ctx, const gat_context_options *options);
void gat_context_destroy(gat_context **ctx);

/* The message of the last failed call on ctx ("" after success). Owned by
 * ctx; valid until the next call with ctx. */
const char *gat_context_message(const gat_context *ctx);

/* Number of threads parallel work uses (>= 1). */
int gat_context_threads(const gat_context *ctx);
/* Sets it (0: OpenMP's default) under the rules of gat_context_create;
 * on failure the context keeps its previous count. */
gat_status gat_context_set_threads(gat_context *ctx, int num_threads);

/* A human-readable description of the hardware topology found by hwloc
 * and of how threads were bound. Owned by ctx. hwloc is loaded once per
 * context, on first need: here, or at creation when pinning is asked for. */
const char *gat_context_topology(gat_context *ctx);
const char *gat_context_pin_report(const gat_context *ctx);

/* Releases the scratch memory ctx keeps between calls (the forward's
 * buffers: the projected features, scores and hidden layers, about
 * N * (max H*C + 2 * hidden width) floats for the last graph of N nodes).
 * The next forward allocates them again. */
void gat_context_trim(gat_context *ctx);

/* ------------------------------------------------------------------------ */
/* Output files: every writer of the library and of the tools goes here     */
/* ------------------------------------------------------------------------ */

/* Where output goes, decided when it is opened (symlinks followed first, so
 * a link stays a link and the file it points to gets the data):
 * - a regular file, or a name that does not exist yet: written to a
 *   temporary file in the target's folder ("TARGET.tmp.XXXXXX"), synced and
 *   renamed over the target on commit, so the target holds the old or the
 *   new complete file, never a part, even if the process is killed;
 * - a character or block device, a FIFO or a socket (/dev/null, /dev/stdout,
 *   a named pipe): written in place, every write and the final flush and
 *   close checked (/dev/full fails with "No space left on device"); a FIFO
 *   no process reads is refused at once instead of blocking;
 * - anything else (a folder, ...) is refused.
 * Opening checks what can be checked before any long work: the folder
 * exists and a temporary file can be made in it (the message then names the
 * folder, not the file), an existing target is writable, and the target is
 * none of `inputs` (same device and inode, also through a symlink).
 * An output is freed by gat_output_commit or gat_output_discard. */
typedef struct gat_output gat_output;

gat_status gat_output_open(gat_context *ctx, gat_output **out, const char *path,
                           const char *const *inputs, int num_inputs);
gat_status gat_output_write(gat_context *ctx, gat_output *out, const void *data, size_t size);
/* The resolved final name (symlinks followed, the folder made absolute). */
const char *gat_output_target(const gat_output *out);
/* The temporary file's name until commit, NULL for an output written in
 * place: for a program's signal handler to remove (unlink is safe there). */
const char *gat_output_temporary(const gat_output *out);
/* GAT_ERR_INVALID naming both if two of the outputs would replace the same
 * file (devices written in place may repeat). */
gat_status gat_output_check_distinct(gat_context *ctx, gat_output *const *outs, int count);
/* Commits `count` outputs all or none: every one is flushed, synced and
 * closed first; only if all succeed are the temporary files renamed over
 * their targets. On failure every temporary file is removed (data already
 * sent to a device or FIFO cannot be taken back). Frees them all and sets
 * the pointers to NULL, success or not. */
gat_status gat_output_commit(gat_context *ctx, gat_output **outs, int count);
/* Removes the temporary file and frees; *out becomes NULL (NULL is fine). */
void gat_output_discard(gat_output **out);

/* ------------------------------------------------------------------------ */
/* Arrays: what the .npy reader returns                                     */
/* ------------------------------------------------------------------------ */

typedef enum gat_dtype {
    GAT_FLOAT32 = 1,
    GAT_INT64 = 2
} gat_dtype;

/* A dense C-order array of 1 or 2 dimensions. For ndim == 1, shape[1] == 1.
 * `data` is owned by the array and freed by gat_array_destroy.
 * Threads: plain memory; any number of readers, or one writer. */
typedef struct gat_array {
    gat_dtype dtype;
    int ndim;
    int64_t shape[2];
    void *data;
    gat_allocator allocator_; /* private */
} gat_array;

void gat_array_destroy(gat_array **array);

/* Reads a NumPy .npy file (format 1.0 to 3.0, little or big endian, C order).
 * want GAT_FLOAT32: a 2-D '<f4' or '<f8' array (f8 is converted); every value
 *   must be finite (a float64 beyond float32's range is not).
 * want GAT_INT64: a 1-D int32 or int64 array.
 * Anything else is an error naming the file and what was found. */
gat_status gat_npy_read(gat_context *ctx, const char *path, gat_dtype want, gat_array **out);
/* Rows [first, first + rows) of a 2-D float .npy as gat_npy_read's GAT_FLOAT32
 * gives them, read at their offset (rows 0 reads only the header: the
 * shape), and the file's row count in *total_rows (may be NULL).
 * GAT_ERR_RANGE when the rows are not inside the array. */
gat_status gat_npy_read_rows(gat_context *ctx, const char *path, int64_t first, int64_t rows,
                             gat_array **out, int64_t *total_rows);

/* Writes float32 data (borrowed) of the given shape as .npy format 1.0.
 * ndim is 1 or 2. The file is written as gat_output_open describes: a
 * regular file appears complete or not at all. */
gat_status gat_npy_write_f32(gat_context *ctx, const char *path, const float *data,
                             int ndim, const int64_t *shape);
/* The same for int64 data. */
gat_status gat_npy_write_i64(gat_context *ctx, const char *path, const int64_t *data,
                             int ndim, const int64_t *shape);
/* The same into an open output (gat_output_open), which the caller commits:
 * several outputs then appear all or none. */
gat_status gat_npy_write_f32_to(gat_context *ctx, gat_output *out, const float *data, int ndim,
                                const int64_t *shape);
gat_status gat_npy_write_i64_to(gat_context *ctx, gat_output *out, const int64_t *data,
                                int ndim, const int64_t *shape);

/* ------------------------------------------------------------------------ */
/* Graphs                                                                   */
/* ------------------------------------------------------------------------ */

/* Threads: immutable once made; any number of threads may read it at once. */
typedef struct gat_graph gat_graph;

/* Builds the destination-indexed CSR of num_nodes nodes from a COO edge
 * list (src[k] -> dst[k], borrowed, num_edges entries each). Stable: a row
 * keeps its edges in input order. Duplicate edges are kept. Every id must be
 * in [0, num_nodes): otherwise GAT_ERR_RANGE naming the edge's position. */
gat_status gat_graph_create(gat_context *ctx, gat_graph **graph, int64_t num_nodes,
                            int64_t num_edges, const int64_t *src, const int64_t *dst);
void gat_graph_destroy(gat_graph **graph);

int64_t gat_graph_num_nodes(const gat_graph *graph);
/* Edges as given, self-loops included. */
int64_t gat_graph_num_edges(const gat_graph *graph);
/* Self-loops among the edges as given. */
int64_t gat_graph_num_self_loops(const gat_graph *graph);
/* E': the number of edges attention runs over under a self-loop policy:
 * num_edges - num_self_loops + num_nodes with loops added (+ min(num_src,
 * num_dst) for a bipartite graph), else num_edges. */
int64_t gat_graph_num_attention_edges(const gat_graph *graph, bool add_self_loops);
/* Largest in-degree as given. */
int64_t gat_graph_max_in_degree(const gat_graph *graph);

/* Writes the E' edges in library order into caller-owned arrays of
 * gat_graph_num_attention_edges(graph, add_self_loops) entries each. */
gat_status gat_graph_edges(gat_context *ctx, const gat_graph *graph, bool add_self_loops,
                           int64_t *src, int64_t *dst);

/* A bipartite graph (PyG's edge_index with size (num_src_nodes,
 * num_dst_nodes), as a sampled block): src[k] in [0, num_src_nodes), dst[k]
 * in [0, num_dst_nodes). Its CSR has num_dst_nodes rows, so
 * gat_graph_num_nodes is num_dst_nodes (the rows of a forward's output)
 * and a forward reads num_src_nodes rows of source features. Self-loops
 * (src == dst, PyG's remove_self_loops) are counted and handled as in any
 * graph; added ones close the rows of the first min(num_src_nodes,
 * num_dst_nodes) nodes only. gat_graph_create is the case num_src_nodes ==
 * num_dst_nodes. Same statuses as gat_graph_create; reorder refuses a
 * graph with num_src_nodes != num_nodes (GAT_ERR_UNSUPPORTED). */
gat_status gat_graph_create_bipartite(gat_context *ctx, gat_graph **graph,
                                      int64_t num_src_nodes, int64_t num_dst_nodes,
                                      int64_t num_edges, const int64_t *src, const int64_t *dst);
/* Source nodes: num_src_nodes of a bipartite graph, else gat_graph_num_nodes. */
int64_t gat_graph_num_src_nodes(const gat_graph *graph);

/* The input position of each of the E' edges in library order: k for the
 * edge given k-th to gat_graph_create (the k-th line of an edge list; for
 * a .gcsr file the position stored in it, or its own place in the file's
 * CSR for a file without positions), -1 for an added self-loop. This is
 * how edge attributes given in input order (gat_inputs.edge_attr) find
 * their edges. positions is a caller-owned output of
 * gat_graph_num_attention_edges(graph, add_self_loops) entries. The graph
 * keeps 4 bytes per edge for this (8 with 2^32 edges or more), none when
 * the input was already in library order. */
gat_status gat_graph_edge_positions(gat_context *ctx, const gat_graph *graph,
                                    bool add_self_loops, int64_t *positions);

/* Read-only view of the CSR: row_ptr has num_nodes + 1 entries, col (the
 * source of each edge) has num_edges. Owned by the graph. */
void gat_graph_csr(const gat_graph *graph, const int64_t **row_ptr, const int32_t **col);

/* Reads a SNAP-style text edge list, plain or gzip-compressed: one
 * "src dst" pair per line (ASCII decimal, separated by spaces or tabs),
 * '#' comment lines, blank lines and CRLF line ends allowed; a third column
 * (a weight) is an error, not ignored. num_nodes < 0: N = largest id + 1;
 * otherwise every id must be < num_nodes. Ids must be < 2^31. Errors name
 * the file and line: GAT_ERR_IO (cannot open or read), GAT_ERR_FORMAT
 * (malformed line, NUL bytes, corrupt or truncated gzip), GAT_ERR_RANGE (id
 * too large or >= num_nodes), GAT_ERR_UNSUPPORTED (N > 2^31 - 1),
 * GAT_ERR_NOMEM. */
gat_status gat_graph_read_edgelist(gat_context *ctx, gat_graph **graph, const char *path,
                                   int64_t num_nodes);

/* Binary CSR files (.gcsr, layout in docs/formats.md and src/io/graph_binary.c):
 * the CSR exactly as held in memory, little-endian, each array 64-byte
 * aligned so that a mapped file is used in place, with a checksum. */
#define GAT_LOAD_MMAP 1u      /* map the file read-only and use it in place */
#define GAT_LOAD_NO_VERIFY 2u /* skip the checksum; the structure is still checked */
#define GAT_LOAD_TRUSTED 4u   /* skip checksum and structure checks: for files this
                               * library wrote and nobody changed; a corrupt file is
                               * then undefined behaviour */

/* Writes graph (borrowed) as .gcsr; the file appears complete or not at all
 * (temporary name, then rename). GAT_ERR_IO if it cannot be written,
 * GAT_ERR_UNSUPPORTED on a big-endian host. */
gat_status gat_graph_save(gat_context *ctx, const gat_graph *graph, const char *path);
/* The same into an open output, which the caller commits. */
gat_status gat_graph_save_to(gat_context *ctx, const gat_graph *graph, gat_output *out);

/* Reads a .gcsr file into *graph (caller-owned: gat_graph_destroy). flags:
 * 0 copies the arrays into memory from ctx's allocator; GAT_LOAD_MMAP makes
 * the graph reference a private read-only mapping of the file, unmapped by
 * gat_graph_destroy (the file must not be truncated or rewritten in place
 * meanwhile; replacing it by rename, as gat_graph_save does, is safe).
 * Without GAT_LOAD_TRUSTED no file can crash the library: the header, the
 * checksum (unless GAT_LOAD_NO_VERIFY) and the CSR's structure are checked
 * first. Errors name the file and the byte offset: GAT_ERR_IO (missing,
 * unreadable), GAT_ERR_FORMAT (empty, wrong magic, truncated, sections out
 * of the file, overlapping or misaligned, "checksum mismatch: file is
 * corrupt", row offsets not rising from 0 to E, a source outside [0, S),
 * header counts that disagree with the arrays, input positions out of
 * range or repeated), GAT_ERR_UNSUPPORTED (other versions, unknown flags,
 * N or S > 2^31 - 1), GAT_ERR_OVERFLOW (4 * E beyond 64 bits),
 * GAT_ERR_NOMEM; GAT_ERR_INVALID for unknown flags bits. A version 2 file
 * keeps the edges' input positions (gat_graph_edge_positions) and a
 * bipartite graph's source count S (gat_graph_num_src_nodes); a version 1
 * file loads in its own CSR order with S = N. */
gat_status gat_graph_load(gat_context *ctx, gat_graph **graph, const char *path, unsigned flags);

/* Reads either kind of graph file, told apart by its first bytes: a .gcsr
 * (gat_graph_load, copied and verified) or a text/gzip edge list
 * (gat_graph_read_edgelist). num_nodes < 0 takes the file's N. Otherwise a
 * .gcsr with more nodes is GAT_ERR_RANGE and one with fewer gets isolated
 * nodes appended, as an edge list whose ids are all smaller would. */
gat_status gat_graph_read(gat_context *ctx, gat_graph **graph, const char *path,
                          int64_t num_nodes);

/* A bipartite graph from either kind of file (gat_graph_create_bipartite):
 * a text edge list whose sources must lie in [0, num_src_nodes) and
 * destinations in [0, num_dst_nodes), or a .gcsr (version 2 keeps a
 * bipartite graph's source count) with at most that many of each, padded
 * with isolated nodes as gat_graph_read does. A side < 0 takes the file's
 * (the largest id + 1 in a text edge list). GAT_ERR_RANGE names the file
 * and the first edge (or count) outside a side; otherwise as
 * gat_graph_read. */
gat_status gat_graph_read_bipartite(gat_context *ctx, gat_graph **graph, const char *path,
                                    int64_t num_src_nodes, int64_t num_dst_nodes);

/* The raw COO of an edge list file, for callers that want the edges
 * themselves. *src and *dst are owned by the caller and freed with
 * gat_free(ctx, ...); they are non-NULL even for an empty list, whose
 * *max_id is -1. Same statuses as gat_graph_read_edgelist. */
gat_status gat_edgelist_read(gat_context *ctx, const char *path, int64_t num_nodes,
                             int64_t **src, int64_t **dst, int64_t *num_edges,
                             int64_t *max_id);

typedef enum gat_generator {
    GAT_GEN_RMAT = 0,   /* Kronecker / R-MAT, Graph500's a=0.57, b=c=0.19 */
    GAT_GEN_UNIFORM = 1 /* src and dst uniform over [0, N) */
} gat_generator;

/* Fills caller-owned src/dst arrays of num_edges entries with a random
 * directed multigraph on num_nodes nodes (duplicates possible, no
 * self-loops). RMAT draws ids over [0, 2^ceil(log2 N)), scrambles them with
 * a seeded permutation (as Graph500 does) and redraws edges that touch ids
 * >= N. Generated in parallel blocks, each with its own counter-based
 * stream: the same seed gives the same graph at any thread count. */
gat_status gat_generate_edges(gat_context *ctx, gat_generator kind, int64_t num_nodes,
                              int64_t num_edges, uint64_t seed, int64_t *src, int64_t *dst);

/* Vertex orderings for locality: the edge pass gathers one source row of
 * H*C floats per edge, and ids that put neighbours close together turn
 * those random reads into nearby ones. */
typedef enum gat_ordering {
    GAT_ORDER_NONE = 0,   /* identity */
    GAT_ORDER_DEGREE = 1, /* decreasing in-degree as given (ties: old id) */
    GAT_ORDER_RCM = 2     /* reverse Cuthill-McKee on the symmetrised graph (directions,
                           * duplicates and self-loops ignored), BFS from a
                           * pseudo-peripheral low-degree node per component */
} gat_ordering;

/* Relabels graph's nodes (borrowed): *reordered (owned by the caller) has
 * edge (new_id[s], new_id[d]) for every edge (s, d), and each row keeps
 * its edges in their original relative order, so a forward pass on it with
 * permuted features gives, un-permuted, bitwise the output on graph.
 * new_id [num_nodes] is a caller-owned output, new_id[old] = new (may be
 * NULL for an empty graph). Depends on the graph alone, not on the thread
 * count. GAT_ERR_INVALID for a NULL argument or an unknown ordering;
 * GAT_ERR_NOMEM / GAT_ERR_OVERFLOW. */
gat_status gat_graph_reorder(gat_context *ctx, const gat_graph *graph, gat_ordering ordering,
                             gat_graph **reordered, int64_t *new_id);

/* Moves the rows of in [rows, cols] (borrowed) into out [rows, cols]
 * (caller-owned, must not overlap in): out[new_id[v]] = in[v], or with
 * inverse out[v] = in[new_id[v]] (back to the old numbering). new_id
 * (borrowed) must be a permutation of [0, rows): GAT_ERR_RANGE naming the
 * first bad entry otherwise, before out is written. GAT_ERR_INVALID for
 * NULL arguments, negative sizes or overlap; GAT_ERR_OVERFLOW. */
gat_status gat_permute_rows(gat_context *ctx, const float *in, int64_t rows, int64_t cols,
                            const int64_t *new_id, bool inverse, float *out);

/* Frees memory the library handed to the caller (NULL is fine). */
void gat_free(gat_context *ctx, void *ptr);

/* ------------------------------------------------------------------------ */
/* Models: a stack of GATConv / GATv2Conv layers                            */
/* ------------------------------------------------------------------------ */

typedef enum gat_activation {
    GAT_ACT_ELU = 0, /* the paper's; default */
    GAT_ACT_RELU = 1,
    GAT_ACT_NONE = 2
} gat_activation;

/* The layer kinds of PyTorch Geometric (docs/model.md has the formulas). */
typedef enum gat_layer_type {
    GAT_LAYER_GAT = 0,  /* GATConv (Velickovic et al. 2018); default */
    GAT_LAYER_GATV2 = 1 /* GATv2Conv (Brody et al. 2022) */
} gat_layer_type;

/* The attribute of an added self-loop when a layer has edge features
 * (PyG's fill_value of add_self_loops), per node i over the edges into i
 * left after the input's self-loops were removed, feature by feature. */
typedef enum gat_fill {
    GAT_FILL_MEAN = 0,    /* "mean", PyG's default: their mean; 0 for none */
    GAT_FILL_ADD = 1,     /* "add": their sum; 0 for none */
    GAT_FILL_MAX = 2,     /* "max"; 0 for none */
    GAT_FILL_MIN = 3,     /* "min"; 0 for none */
    GAT_FILL_MUL = 4,     /* "mul": their product; 1 for none */
    GAT_FILL_CONSTANT = 5 /* a number: fill_constant in every feature */
} gat_fill;

typedef struct gat_layer_config {
    int64_t in_features;  /* F_in: width of x (of x_src in a bipartite layer) */
    int64_t heads;        /* H */
    int64_t channels;     /* C: per head */
    bool concat;          /* true: output H*C; false: mean of heads, C */
    float negative_slope; /* LeakyReLU slope, default 0.2 */
    bool add_self_loops;  /* default true */
    bool bias;            /* default true */
    /* Appended in 0.2; gat_layer_config_init's defaults are the layer of 0.1. */
    gat_layer_type type;  /* default GAT_LAYER_GAT */
    int64_t edge_dim;     /* D: width of the edge attributes; 0 (default): none */
    gat_fill fill_value;  /* self-loop attribute with edge_dim > 0; default GAT_FILL_MEAN */
    float fill_constant;  /* the value for GAT_FILL_CONSTANT; default 0 */
    bool residual;        /* PyG's residual=True: out += x_dst . res.weight^T; default false */
    /* F_dst, PyG's tuple in_channels (F_src = in_features, F_dst): 0
     * (default) means one width for both sides. GATConv: > 0 gives it the
     * separate lin_src [H*C, F_in] and lin_dst [H*C, F_dst] of a tuple;
     * GATv2Conv: the width of lin_r. The destination side reads x_dst
     * (gat_inputs), or x when none is given (then F_dst must be F_in). */
    int64_t dst_features;
    bool share_weights;   /* GATv2Conv: lin_r is lin_l; default false */
} gat_layer_config;

/* Fills PyG's defaults for the given shape (a GATConv layer). */
void gat_layer_config_init(gat_layer_config *config, int64_t in_features, int64_t heads,
                           int64_t channels);

/* F_dst of a layer: dst_features, or in_features when it is 0. */
int64_t gat_layer_dst_features(const gat_layer_config *config);
/* The number of float parameters a layer of this configuration has (all
 * its tensors); 0 for NULL. */
int64_t gat_layer_num_parameters(const gat_layer_config *config);

/* Parameters of one layer in PyG's layout, all float32, owned by the model
 * (writable, valid until the model is destroyed). A pointer is NULL when
 * the layer has no such tensor. W = H*C when concat, C when averaged;
 * F_dst = gat_layer_dst_features.
 *                 GATConv                          GATv2Conv
 *   weight        lin.weight (lin_src.weight with  lin_l.weight [H*C, F_in]
 *                 a separate lin_dst) [H*C, F_in]
 *   att_src       att_src [H, C] (PyG [1, H, C])   NULL
 *   att_dst       att_dst [H, C]                   NULL
 *   bias          bias [W]; NULL without bias      bias [W]; NULL without bias
 *   att           NULL                             att [H, C] (PyG [1, H, C])
 *   weight_dst    lin_dst.weight [H*C, F_dst] with lin_r.weight [H*C, F_dst];
 *                 dst_features > 0, else NULL      NULL with share_weights
 *   bias_src      NULL                             lin_l.bias [H*C]; NULL without bias
 *   bias_dst      NULL                             lin_r.bias [H*C]; NULL without bias
 *                                                  or with share_weights
 *   weight_edge   lin_edge.weight [H*C, D] with edge_dim D > 0, else NULL (both)
 *   att_edge      att_edge [H, C] with edge_dim    NULL
 *   weight_res    res.weight [W, F_dst] with residual, else NULL (both)
 * gat_trainer_gradients fills the same struct with the gradients. */
typedef struct gat_layer_params {
    float *weight;
    float *att_src;
    float *att_dst;
    float *bias;
    /* Appended in 0.2. */
    float *att;
    float *weight_dst;
    float *bias_src;
    float *bias_dst;
    float *weight_edge;
    float *att_edge;
    float *weight_res;
} gat_layer_params;

/* Threads: read-only during forward, evaluation and save, which any number
 * of threads (each with its own context) may run on it at once; whatever
 * writes it (init, params, a trainer) must not overlap another use. */
typedef struct gat_model gat_model;

/* num_layers configs (borrowed); layer i+1's in_features must equal layer
 * i's output width. Parameters start at zero. The activation is applied
 * between layers, not after the last. */
gat_status gat_model_create(gat_context *ctx, gat_model **model, int num_layers,
                            const gat_layer_config *configs, gat_activation activation);
void gat_model_destroy(gat_model **model);

int gat_model_num_layers(const gat_model *model);
gat_activation gat_model_activation(const gat_model *model);
/* Config of a layer (copied out), GAT_ERR_INVALID for a bad index. */
gat_status gat_model_layer_config(const gat_model *model, int layer, gat_layer_config *config);
gat_status gat_model_layer_params(gat_model *model, int layer, gat_layer_params *params);
int64_t gat_model_in_features(const gat_model *model);
int64_t gat_model_out_features(const gat_model *model);

/* PyG's reset_parameters for every tensor of the layer: Glorot-uniform
 * weights (lin, lin_src/lin_dst, lin_l/lin_r, lin_edge, res) and attention
 * vectors (att_src, att_dst, att_edge, att), lin_l.bias and lin_r.bias
 * uniform in +-1/sqrt(fan_in) (PyG's Linear), the layer's bias zero; drawn
 * from a counter-based stream keyed by seed (the same parameters on any
 * machine and thread count; a 0.1 model's tensors as 0.1 drew them). */
gat_status gat_model_init_glorot(gat_context *ctx, gat_model *model, uint64_t seed);

/* Loads a model from safetensors: PyG's state_dict names under
 * "layers.{i}." (docs/formats.md): GATConv's lin.weight (or lin_src.weight
 * with lin_dst.weight), att_src, att_dst [1, H, C], att_edge and
 * lin_edge.weight with edge features; GATv2Conv's lin_l.weight,
 * lin_l.bias, lin_r.weight, lin_r.bias, att, lin_edge.weight; res.weight
 * and bias for both; dtype F32. Metadata: "layers.{i}.type" ("gat", the
 * default, "gatv2"; "gatconv" is "gat"), "layers.{i}.concat",
 * "layers.{i}.negative_slope", "layers.{i}.add_self_loops",
 * "layers.{i}.fill_value" ("mean", "add", "max", "min", "mul" or a
 * number), "layers.{i}.share_weights", "layers.{i}.residual" (these two
 * must agree with the tensors), "activation", "preprocess", "format"
 * ("pt"). A lin_dst.weight equal to lin_src.weight (PyG 2.3-2.4's copy of
 * one shared Linear) loads as the shared lin.weight. Strict: any other
 * tensor or key, a key of a layer the tensors do not define, a tensor the
 * layer's type and options do not have, another shape, or a value not
 * spelled as documented ("True", " 0.2", "1e-400") is an error naming it.
 * Errors name file and tensor or key: GAT_ERR_IO (cannot open/read, not a
 * regular file), GAT_ERR_FORMAT (malformed header, JSON, offsets, names,
 * shapes, metadata), GAT_ERR_UNSUPPORTED (dtype other than F32; lin.bias),
 * GAT_ERR_OVERFLOW (a shape whose size overflows), GAT_ERR_NONFINITE
 * (NaN/Inf parameter), GAT_ERR_NOMEM. *model is NULL on failure. */
gat_status gat_model_load(gat_context *ctx, gat_model **model, const char *path);
/* Saves in the same format (written to a temporary name, then renamed);
 * GAT_ERR_NONFINITE if a parameter is NaN/Inf, GAT_ERR_IO on write errors. */
gat_status gat_model_save(gat_context *ctx, const gat_model *model, const char *path);
/* The same into an open output, which the caller commits. */
gat_status gat_model_save_to(gat_context *ctx, const gat_model *model, gat_output *out);

/* Inference. x [N, F_in] (borrowed, row-major) with N == the graph's nodes;
 * out [N, out_features] caller-owned output. attention, if not NULL, is a
 * caller-owned [E', H] output for the last layer's coefficients in library
 * order (E' under that layer's self-loop policy). model and graph are only
 * read: threads with contexts of their own may run forwards on them at
 * once. The scratch memory lives in ctx and is reused by its next calls
 * (released by gat_context_trim or destroy). An out aligned to 64 bytes is
 * faster for large graphs: the edge pass then writes it with streaming
 * stores (same values). */
gat_status gat_model_forward(gat_context *ctx, const gat_model *model, const gat_graph *graph,
                             const float *x, int64_t num_nodes, int64_t in_features,
                             float *out, float *attention);

/* Does nothing: a model keeps no scratch memory (it moved to the context,
 * see gat_context_trim). Kept for the programs written against 0.1. */
void gat_model_trim(gat_model *model);

/* Row normalisation (PyG's NormalizeFeatures on non-negative features): each
 * row of x [num_nodes, num_features] (caller-owned, changed in place) is
 * divided by its sum; a row summing to 0 stays as it is. GAT_ERR_INVALID
 * for a NULL x with a non-empty shape or a negative size. */
gat_status gat_features_normalize_rows(gat_context *ctx, float *x, int64_t num_nodes,
                                       int64_t num_features);

/* Input preprocessing: the transformations a model expects applied to its
 * raw features before layer 0, recorded in the model file (metadata
 * "preprocess") by whoever trained it, so inference reproduces training.
 * gat_model_forward does NOT apply them (it takes x as layer 0 sees it);
 * call gat_model_preprocess on the raw features first, as gat-infer,
 * gat-bench --dataset and gat-train do. */
typedef enum gat_preprocess {
    GAT_PREPROCESS_NONE = 0,
    GAT_PREPROCESS_NORMALIZE_ROWS = 1, /* gat_features_normalize_rows; "normalize_rows" */
    GAT_PREPROCESS_ALL = 1             /* every step this version knows */
} gat_preprocess;

/* The model's preprocessing steps (gat_preprocess bits; 0 for a model
 * file without the key). */
unsigned gat_model_preprocessing(const gat_model *model);
/* Records the steps (saved by gat_model_save); GAT_ERR_INVALID for
 * unknown bits. */
gat_status gat_model_set_preprocessing(gat_context *ctx, gat_model *model, unsigned steps);
/* Applies the model's steps to x [num_nodes, in_features] (caller-owned,
 * changed in place), in the order of the enum. GAT_ERR_INVALID for a
 * NULL model or in_features other than layer 0's. */
gat_status gat_model_preprocess(gat_context *ctx, const gat_model *model, float *x,
                                int64_t num_nodes, int64_t in_features);

/* Seconds a forward spent per phase, summed over its layers. */
typedef struct gat_forward_times {
    double projection; /* GEMM and node scores */
    double edges;      /* the fused scores -> softmax -> aggregation pass */
    double activation; /* the activation between layers */
} gat_forward_times;

/* gat_model_forward, filling times (caller-owned, may be NULL) with the
 * phase timings gat-bench prints. Same statuses, same output bits. */
gat_status gat_model_forward_timed(gat_context *ctx, const gat_model *model,
                                   const gat_graph *graph, const float *x, int64_t num_nodes,
                                   int64_t in_features, float *out, float *attention,
                                   gat_forward_times *times);

/* The reference twin of gat_model_forward: the same layer computed in
 * double precision with a plain two-pass softmax over explicit edge lists
 * (no blocking, no fusion, no SIMD), rounded to float at the end. It is
 * the specification the fast kernels are tested against (gat-bench
 * --check); slow and memory-hungry (O(E') doubles), for checking only.
 * Same arguments, outputs and argument statuses as gat_model_forward; the
 * model is only read (no scratch kept). */
gat_status gat_model_forward_reference(gat_context *ctx, const gat_model *model,
                                       const gat_graph *graph, const float *x,
                                       int64_t num_nodes, int64_t in_features, float *out,
                                       float *attention);

/* A forward's inputs (all borrowed, row-major float32).
 *   x [num_nodes, in_features]: the node features (x_src of a bipartite
 *     layer 0): gat_graph_num_src_nodes rows, layer 0's in_features columns.
 *   x_dst [num_dst_nodes, dst_features] or NULL: PyG's x = (x_src, x_dst)
 *     for layer 0's destination side (lin_dst / lin_r / res read it):
 *     gat_graph_num_nodes rows, gat_layer_dst_features columns. NULL: x
 *     serves both sides (then the graph must not be bipartite).
 *   edge_attr [num_edges, edge_dim] or NULL: the edge attributes, row k
 *     for the edge given k-th (gat_graph_edge_positions), num_edges ==
 *     gat_graph_num_edges; required when a layer has edge_dim > 0 (every
 *     such layer must have this edge_dim), ignored by layers without.
 * A model of several layers needs a graph with as many source as
 * destination nodes (each layer's output is the next one's x). */
typedef struct gat_inputs {
    const float *x;
    int64_t num_nodes;
    int64_t in_features;
    const float *x_dst;
    int64_t num_dst_nodes;
    int64_t dst_features;
    const float *edge_attr;
    int64_t num_edges;
    int64_t edge_dim;
} gat_inputs;

/* Zeroes inputs and sets x and its shape. */
void gat_inputs_init(gat_inputs *inputs, const float *x, int64_t num_nodes, int64_t in_features);

/* gat_model_forward_timed for every layer kind: out [gat_graph_num_nodes,
 * out_features] and attention [E', H] (caller-owned outputs) as there;
 * times may be NULL. GAT_ERR_INVALID names the input whose shape does not
 * match the model or graph, or the missing one. */
gat_status gat_model_forward_inputs(gat_context *ctx, const gat_model *model,
                                    const gat_graph *graph, const gat_inputs *inputs,
                                    float *out, float *attention, gat_forward_times *times);
/* The reference twin (gat_model_forward_reference) of
 * gat_model_forward_inputs: every layer kind and option in double
 * precision, PyG's formulas step by step. */
gat_status gat_model_forward_reference_inputs(gat_context *ctx, const gat_model *model,
                                              const gat_graph *graph, const gat_inputs *inputs,
                                              float *out, float *attention);

/* Whether the fast forward computes this layer's node scores inside the
 * edge pass from the rows it reads (true in builds with 16-lane vectors,
 * AVX-512, for the shapes its register kernel takes: C = 8 with H even,
 * or C a multiple of 16, H <= 16, H*C <= 256; narrower builds store them
 * after the projection, which is cheaper there) instead of storing them
 * after the projection. It changes memory traffic, not results; cost
 * models (gat-bench) use it. */
bool gat_layer_scores_in_edge_pass(const gat_layer_config *config);

/* ------------------------------------------------------------------------ */
/* Training                                                                 */
/* ------------------------------------------------------------------------ */


/* Classification quality of an output over a set of nodes. */
typedef struct gat_metrics {
    double loss;     /* mean over the nodes of -log_softmax(out[i])[label[i]] */
    double accuracy; /* fraction of the nodes whose argmax (first on ties) is the label */
} gat_metrics;

/* Inference (gat_model_forward, no dropout) followed by the metrics over
 * index [count] (borrowed node ids; repeats count repeatedly). labels
 * [num_nodes] (borrowed) holds class ids in [0, out_features); only the
 * labels of indexed nodes are read. GAT_ERR_RANGE for an index outside
 * [0, num_nodes) or a label outside the classes, naming the position;
 * GAT_ERR_INVALID for count < 1 or a NULL argument; the forward's statuses. */
gat_status gat_model_evaluate(gat_context *ctx, const gat_model *model, const gat_graph *graph,
                              const float *x, int64_t num_nodes, int64_t in_features,
                              const int64_t *labels, const int64_t *index, int64_t count,
                              gat_metrics *metrics);

typedef enum gat_optimizer {
    GAT_OPT_ADAM = 0, /* torch.optim.Adam (bias-corrected, L2 added to the gradient) */
    GAT_OPT_SGD = 1   /* torch.optim.SGD without momentum: p -= lr * (g + wd * p) */
} gat_optimizer;

/* How the trainer holds layer 0's input. Bag-of-words features (Cora: 1.3%
 * non-zero) are far cheaper as a sparse matrix: x . W^T and dW cost one
 * multiply-add per non-zero and output column instead of per entry. */
typedef enum gat_input_format {
    GAT_INPUT_AUTO = 0,  /* sparse when at most 10% of the entries are non-zero */
    GAT_INPUT_DENSE = 1, /* blocked OpenBLAS GEMMs */
    GAT_INPUT_SPARSE = 2 /* compressed rows and columns, copied at creation */
} gat_input_format;

typedef struct gat_trainer_options {
    gat_optimizer optimizer;       /* default GAT_OPT_ADAM */
    double learning_rate;          /* default 0.005 (the paper's for Cora) */
    double weight_decay;           /* L2 added to every parameter's gradient; default 0 */
    double beta1, beta2, eps;      /* Adam's; default 0.9, 0.999, 1e-8 */
    double dropout;                /* on each layer's input, in [0, 1); default 0 */
    double attention_dropout;      /* on the attention coefficients, in [0, 1); default 0 */
    /* On the projected features x W^T as the aggregation reads them, after
     * the attention scores were taken from them (the GAT authors'
     * TensorFlow code; PyG's GATConv has no such dropout), in [0, 1);
     * default 0 (PyG's behaviour). */
    double projected_dropout;
    uint64_t seed;                 /* keys the dropout masks; default 0 */
    gat_input_format input_format; /* default GAT_INPUT_AUTO */
} gat_trainer_options;

/* Fills the defaults above. */
void gat_trainer_options_init(gat_trainer_options *options);

/* A trainer: the state one training run needs for one model, graph and
 * input (saved activations, gradients, optimizer moments).
 *
 * Dropout is inverted dropout as torch.nn.functional.dropout (kept values
 * scaled by 1/(1-p)), applied to the input of every layer and to the
 * attention coefficients after the softmax (PyG's GATConv dropout).
 * projected_dropout adds the one of the authors' attn_head: in every
 * layer, the projected features h = x W^T feed the attention scores as
 * they are, and the aggregation sum_j alpha_ij h_j reads them dropped out
 * (one mask per node and feature, the same for every edge the node sends
 * along). Masks come from a counter-based hash of (seed, step, layer,
 * site, element), where step is the number of updates so far and element
 * is the row-major index of an input entry, edge * heads + head of a
 * coefficient in library order, or node * H*C + head * C + channel of a
 * projected feature; each site (input, attention, projected) has its own
 * stream: the same masks at any thread count, for dense and sparse inputs,
 * and again for every forward between two updates. A rate is applied as a
 * multiple of 2^-16 (0.6 keeps 39.9994%).
 *
 * The trainer's forward computes ELU with its own vectorized expm1 (within
 * a few ulp of libm's), so its outputs can differ from gat_model_forward's
 * in the last bits.
 *
 * Results are bitwise identical for any thread count. */
typedef struct gat_trainer gat_trainer; /* Threads: one at a time; it writes its model */

/* model, graph and x [num_nodes, in_features] are borrowed for the
 * trainer's whole life: they must outlive it, x must not change, and the
 * model's parameters change only through the trainer (updates write them
 * in place). options may be NULL (defaults); it is copied.
 * GAT_ERR_INVALID: NULL arguments, shapes that do not match the model or
 * graph, an option out of range (rates outside [0, 1), lr or eps <= 0,
 * betas outside [0, 1), negative weight decay); GAT_ERR_NONFINITE for a
 * non-finite entry of x; GAT_ERR_NOMEM / GAT_ERR_OVERFLOW. */
gat_status gat_trainer_create(gat_context *ctx, gat_trainer **trainer, gat_model *model,
                              const gat_graph *graph, const float *x, int64_t num_nodes,
                              int64_t in_features, const gat_trainer_options *options);
/* gat_trainer_create for every layer kind (GATv2, edge features, residual,
 * bipartite layers; docs/training.md): inputs (gat_inputs) as
 * gat_model_forward_inputs takes them, x and, where the model needs them,
 * x_dst and edge_attr, all borrowed for the trainer's whole life (they
 * must outlive it and not change). A model with a layer that is not
 * GATConv of 0.1's kind, or an x_dst, trains through the family's passes:
 * every row each step; x dense or sparse (input_format, as above; x_dst
 * stays dense); projected_dropout on the values every GATConv and GATv2
 * layer aggregates (xs, or GATv2's xl), the scores reading them undropped.
 * Input dropout applies to x, not to x_dst.
 * Statuses as gat_trainer_create; GAT_ERR_INVALID names the input whose
 * shape does not match the model or graph, or the missing one (x_dst for a
 * bipartite graph or a layer 0 with dst_features; edge_attr for a layer
 * with edge_dim); GAT_ERR_NONFINITE for a non-finite x_dst or edge_attr
 * entry. */
gat_status gat_trainer_create_inputs(gat_context *ctx, gat_trainer **trainer, gat_model *model,
                                     const gat_graph *graph, const gat_inputs *inputs,
                                     const gat_trainer_options *options);
void gat_trainer_destroy(gat_trainer **trainer);

/* Updates done so far (the optimizer's step count). */
int64_t gat_trainer_steps(const gat_trainer *trainer);
/* Whether layer 0's input is held sparse (see gat_input_format). */
bool gat_trainer_sparse_input(const gat_trainer *trainer);

/* One training step on the nodes index [count] (borrowed, repeats allowed)
 * with labels [num_nodes] (borrowed): forward with dropout, log-softmax +
 * mean NLL over the nodes, backward, weight decay and the optimizer's
 * update. train, if not NULL, receives the loss and accuracy of this
 * forward (dropout on, parameters before the update). Statuses as
 * gat_model_evaluate, and GAT_ERR_NONFINITE when the loss is not finite
 * (the parameters are then left unchanged). */
gat_status gat_trainer_step(gat_context *ctx, gat_trainer *trainer, const int64_t *labels,
                            const int64_t *index, int64_t count, gat_metrics *train);

/* gat_model_evaluate through the trainer's input (sparse when it is held
 * sparse, so it can differ from gat_model_evaluate in the last bits).
 * Dropout off. Discards the state a training forward saved. */
gat_status gat_trainer_evaluate(gat_context *ctx, gat_trainer *trainer, const int64_t *labels,
                                const int64_t *index, int64_t count, gat_metrics *metrics);

/* The pieces of a step, for other losses (gat-bench times sum(out * R)).
 *
 * gat_trainer_forward: out [num_nodes, out_features] caller-owned output.
 * training: dropout on, and the activations backward needs are kept;
 * otherwise dropout off and nothing is kept (a later backward fails). */
gat_status gat_trainer_forward(gat_context *ctx, gat_trainer *trainer, bool training,
                               float *out);
/* Gradients of sum(out * d_out) for the last training forward: d_out
 * [num_nodes, out_features] borrowed. Overwrites the trainer's parameter
 * gradients (no weight decay yet: that is part of the update). d_x, if not
 * NULL, is a caller-owned [num_nodes, in_features] output for the gradient
 * with respect to x. A backward reuses the forward's buffers, so a second
 * one of the same forward recomputes that forward first (same bits).
 * GAT_ERR_INVALID without a training forward since the last update or
 * evaluation. */
gat_status gat_trainer_backward(gat_context *ctx, gat_trainer *trainer, const float *d_out,
                                float *d_x);
/* The gradients gat_trainer_backward_inputs returns for the inputs, each a
 * caller-owned output or NULL when not wanted:
 *   d_x          [num_nodes, in_features]: d L / d x (x_src of a bipartite layer);
 *   d_x_dst      [num_dst_nodes, dst_features]: d L / d x_dst (only for a
 *                trainer made with x_dst; without, x's gradient includes
 *                what the destination side reads);
 *   d_edge_attr  [num_edges, edge_dim]: d L / d edge_attr, row k for the
 *                edge given k-th (input order), summed over the layers
 *                that read it, the added self-loops' fill_value included
 *                (mean: shared among the node's edges; max / min: the
 *                edges holding it, split among ties; mul; add; a constant
 *                passes nothing); an input self-loop that add_self_loops
 *                removes gets 0 from that layer. Only for a trainer made
 *                with edge_attr. */
typedef struct gat_input_gradients {
    float *d_x;
    float *d_x_dst;
    float *d_edge_attr;
} gat_input_gradients;
/* gat_trainer_backward with the input gradients of grads (borrowed; NULL:
 * none). GAT_ERR_INVALID as gat_trainer_backward, and for d_x_dst or
 * d_edge_attr asked of a trainer without that input. */
gat_status gat_trainer_backward_inputs(gat_context *ctx, gat_trainer *trainer,
                                       const float *d_out, const gat_input_gradients *grads);
/* The gradient tensors of a layer, laid out as gat_layer_params (bias NULL
 * without bias). Owned by the trainer, writable (e.g. to clip); valid
 * until it is destroyed. GAT_ERR_INVALID for a bad layer. */
gat_status gat_trainer_gradients(gat_trainer *trainer, int layer, gat_layer_params *gradients);
/* Weight decay and one optimizer step with the current gradients; counts
 * a step. GAT_ERR_INVALID when no backward has run since the last update. */
gat_status gat_trainer_update(gat_context *ctx, gat_trainer *trainer);

/* Training to early stop. */
typedef struct gat_epoch_report {
    int64_t epoch;       /* 1-based */
    gat_metrics train;   /* of the epoch's training forward (dropout on) */
    gat_metrics val;     /* after the update, dropout off */
    double seconds;      /* wall time of the epoch */
    bool saved;          /* these parameters became the kept ones */
    int64_t patience_left;
} gat_epoch_report;

typedef struct gat_fit_options {
    int64_t max_epochs; /* default 1000 */
    int64_t patience;   /* default 100; 0 never stops early */
    /* Called after every epoch (may be NULL); returning false stops. */
    bool (*on_epoch)(const gat_epoch_report *report, void *user);
    void *user;
} gat_fit_options;

void gat_fit_options_init(gat_fit_options *options);

typedef struct gat_fit_result {
    int64_t epochs;      /* epochs run */
    int64_t best_epoch;  /* epoch whose parameters the model holds at the end */
    gat_metrics best_val;
    bool stopped_early;  /* patience ran out (not max_epochs or the callback) */
} gat_fit_result;

/* Trains with early stopping, the rule of the GAT authors' reference code
 * (execute_cora.py): after each epoch's step the validation loss and
 * accuracy are measured; if accuracy >= the best accuracy so far OR loss
 * <= the lowest loss so far, the patience counter resets, and when BOTH
 * hold the parameters are kept as the best model; otherwise the counter
 * grows, and training stops when it reaches patience. At the end (also
 * after an error) the kept parameters are written back into the model.
 * options may be NULL (defaults); result may be NULL. Statuses as
 * gat_trainer_step, GAT_ERR_INVALID for negative max_epochs or patience. */
gat_status gat_trainer_fit(gat_context *ctx, gat_trainer *trainer, const int64_t *labels,
                           const int64_t *train_index, int64_t train_count,
                           const int64_t *val_index, int64_t val_count,
                           const gat_fit_options *options, gat_fit_result *result);

/* ------------------------------------------------------------------------ */
/* Distributed runs over MPI (docs/distributed.md)                          */
/* ------------------------------------------------------------------------ */

/* Whether this build has the MPI back end (meson option mpi). */
bool gat_have_mpi(void);

/* One part of the 1-D partition by destination a distributed run uses: P
 * contiguous row ranges balanced by rows plus edges (a part may be empty).
 * "Halo" rows are the remote sources a part's edges read: it receives
 * their projected rows (and scores) from their owners every layer. */
typedef struct gat_partition_part {
    int64_t first_row, rows; /* owned destination rows [first_row, first_row + rows) */
    int64_t edges;           /* their incoming edges as given */
    int64_t interior_rows;   /* owned rows whose sources are all owned */
    int64_t halo_rows;       /* distinct remote sources received */
    int64_t send_rows;       /* rows sent, counted once per receiving part */
    int recv_neighbours, send_neighbours; /* parts received from / sent to */
} gat_partition_part;

/* The partition of graph (borrowed) into `parts` parts, as a distributed
 * run at that many ranks makes it, with each part's halo: out [parts]
 * caller-owned. Runs in one process without MPI (for sizing runs). */
gat_status gat_graph_partition(gat_context *ctx, const gat_graph *graph, int parts,
                               gat_partition_part *out);

/* Whether this process was started by an MPI launcher (mpirun, mpiexec,
 * srun): its environment holds the launcher's rank variables (Open MPI's
 * OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK). The tools run distributed
 * then. */
bool gat_dist_launched(void);

/* Starts MPI (MPI_Init_thread, MPI_THREAD_FUNNELED: only the calling
 * thread talks to MPI, OpenMP teams compute) unless it runs already, and
 * gives this process's rank and the number of ranks of MPI_COMM_WORLD.
 * GAT_ERR_UNSUPPORTED in a build without the MPI back end. */
gat_status gat_dist_init(gat_context *ctx, int *rank, int *ranks);
/* Ends MPI if it runs (MPI_Finalize); nothing without the back end. */
void gat_dist_finalize(void);

/* Collective over MPI_COMM_WORLD: every rank passes the status of its own
 * last step (ctx holding its message); every rank gets back the status of
 * the lowest-numbered failing rank, and ctx gets that rank's message
 * ("rank 2 of 4: x.npy: ..."), or GAT_OK when none failed. This is how one
 * rank's bad input ends every rank with its message instead of a hang. */
gat_status gat_dist_agree(gat_context *ctx, gat_status status);

typedef struct gat_dist_infer_options {
    const char *graph;     /* .gcsr graph file (text edge lists: gat-convert them first) */
    const char *features;  /* .npy [N, F_in], float32 or float64; N rows (>= the graph's
                            * nodes: nodes beyond the graph's are isolated) */
    const char *out;       /* .npy output [N, out_features]; NULL writes nothing (timing) */
    const char *attention; /* NULL, or .npy output [E', H] of the last layer */
    /* NULL, or .npy [N, F_dst]: destination features (gat_inputs.x_dst), as many
     * rows as features (a bipartite graph is refused: it needs a text edge list) */
    const char *features_dst;
    /* NULL, or .npy [E, D], float32 or float64: the edge attributes of layers with
     * edge_dim, row k for the .gcsr's k-th edge (its CSR order); required when a
     * layer has edge features. A rank reads the rows of its own edges only. */
    const char *edge_attr;
    /* NULL, or both: .npy int [N] class ids and .npy int [count] node ids; the
     * report then holds gat_model_evaluate's metrics of the output over those
     * nodes (the same bits: each owner computes its nodes' terms, summed in
     * list order). Every rank reads both files whole. */
    const char *labels, *eval_nodes;
    bool preprocess;       /* apply the model's recorded preprocessing; default true */
    bool allow_nonfinite;  /* write outputs holding NaN or infinity; default false */
} gat_dist_infer_options;

void gat_dist_infer_options_init(gat_dist_infer_options *options);

/* Layers whose traffic a report lists one by one (more are summed in the last). */
#define GAT_DIST_REPORT_LAYERS 8

/* What one rank did in gat_dist_infer. */
typedef struct gat_dist_report {
    int rank, ranks;
    int64_t num_nodes, num_edges;     /* the whole graph's */
    int64_t first_row, rows, edges;   /* this rank's rows [first_row, first_row + rows) */
    int64_t interior_rows, halo_rows; /* rows needing no remote source; remote sources */
    int64_t send_rows;                /* rows sent per layer (once per receiving rank) */
    int layers;
    int64_t bytes_sent[GAT_DIST_REPORT_LAYERS], bytes_received[GAT_DIST_REPORT_LAYERS];
    double seconds_read;          /* graph rows, halo lists, features */
    double seconds_compute;       /* projection, edge pass, activation */
    double seconds_communication; /* packing, posting and completing the halo exchange */
    double seconds_wait;          /* of which blocked waiting for it after the interior rows */
    double seconds_write;         /* outputs, until every rank's part is written */
    double seconds_total;
    int64_t peak_rss_bytes;       /* getrusage's maximum resident set size */
    int64_t nonfinite_rows;       /* output rows holding NaN or infinity, all ranks */
    int64_t eval_count;           /* nodes evaluated (options labels / eval_nodes), or 0 */
    gat_metrics metrics;          /* their loss and accuracy, the same on every rank */
} gat_dist_report;

/* Distributed inference, collective over MPI_COMM_WORLD (after
 * gat_dist_init): every rank passes the same model (loaded by each) and
 * options. The graph's rows are split into contiguous ranges balanced by
 * rows plus edges (as gat_graph_partition); each rank reads only its rows
 * of the graph and features (offset reads), projects them, exchanges the
 * halo with its neighbours, and writes its rows of the outputs at their
 * offsets. The outputs hold bitwise what gat_model_forward gives for the
 * whole graph in one process, at any rank and thread count. Outputs appear
 * all or none (a temporary file beside each, renamed by rank 0 once every
 * rank's part is written); they must be regular files (or new names).
 * Every rank returns the same status and message (gat_dist_agree). report
 * (may be NULL) receives this rank's figures. The checksum of a .gcsr is
 * not verified (no rank reads the whole file); its rows' structure is. */
gat_status gat_dist_infer(gat_context *ctx, const gat_model *model,
                          const gat_dist_infer_options *options, gat_dist_report *report);

/* Collective: rank 0 receives every rank's report (all [ranks], caller-
 * owned; ignored on the other ranks, which may pass NULL). */
gat_status gat_dist_gather_reports(gat_context *ctx, const gat_dist_report *mine,
                                   gat_dist_report *all);

/* Distributed training (docs/distributed.md, "Training"): one trainer per
 * rank over its rows of the graph and features, computing gradients that
 * are bitwise those of gat_trainer_step over the whole graph in one
 * process, at any rank and thread count. Plain GATConv layers only
 * (GAT_ERR_UNSUPPORTED otherwise), with the built-in GEMM. */
typedef struct gat_dist_trainer gat_dist_trainer;

typedef struct gat_dist_train_options {
    const char *graph;    /* .gcsr graph file */
    const char *features; /* .npy [N, F_in]; N rows (>= the graph's nodes) */
    bool preprocess;      /* apply the model's recorded preprocessing; default true */
} gat_dist_train_options;

void gat_dist_train_options_init(gat_dist_train_options *options);

/* Collective over MPI_COMM_WORLD (after gat_dist_init): every rank passes
 * the same model (each its own copy, which the trainer updates) and
 * options. Each rank reads only its rows of the graph and features. */
gat_status gat_dist_trainer_create(gat_context *ctx, gat_dist_trainer **trainer,
                                   gat_model *model, const gat_dist_train_options *options,
                                   const gat_trainer_options *train_options);
void gat_dist_trainer_destroy(gat_dist_trainer **trainer);

/* Collective: the training forward, the loss over index [count] (labels
 * [N] and index as gat_trainer_step takes them, the same on every rank)
 * into train, and the gradients, on every rank; no update. */
gat_status gat_dist_trainer_gradients_step(gat_context *ctx, gat_dist_trainer *trainer,
                                           const int64_t *labels, const int64_t *index,
                                           int64_t count, gat_metrics *train);

/* The gradients of layer `layer` (weight, att_src, att_dst, bias), as
 * gat_trainer_gradients gives them; the same on every rank. */
gat_status gat_dist_trainer_gradients(gat_dist_trainer *trainer, int layer,
                                      gat_layer_params *gradients);
/* The optimizer step (as gat_trainer_update), the same on every rank. */
gat_status gat_dist_trainer_update(gat_context *ctx, gat_dist_trainer *trainer);
/* Collective: gat_trainer_evaluate's metrics (no dropout, the parameters
 * untouched). */
gat_status gat_dist_trainer_evaluate(gat_context *ctx, gat_dist_trainer *trainer,
                                     const int64_t *labels, const int64_t *index, int64_t count,
                                     gat_metrics *metrics);
/* Collective: gat_trainer_fit over the ranks, the same epochs, early stop
 * and kept parameters; on_epoch is called on every rank. */
gat_status gat_dist_trainer_fit(gat_context *ctx, gat_dist_trainer *trainer,
                                const int64_t *labels, const int64_t *train_index,
                                int64_t train_count, const int64_t *val_index, int64_t val_count,
                                const gat_fit_options *options, gat_fit_result *result);
/* Whether layer 0's input is held sparse (as gat_trainer_sparse_input). */
bool gat_dist_trainer_sparse_input(const gat_dist_trainer *trainer);
/* This rank's figures for the last step (gat_dist_trainer_gradients_step,
 * then gat_dist_trainer_update if called): rows, edges (with self-loops),
 * interior and halo rows and send rows of layer 0; per layer the bytes of
 * its halo exchanges (forward halo, receptive-field marks, reverse halo);
 * seconds_total from the step's start to the end of the update;
 * seconds_communication in those exchanges, of which seconds_wait blocked
 * before them until every rank arrived; seconds_compute the rest (the
 * gradient reductions included); peak memory. Not collective. */
gat_status gat_dist_trainer_report(const gat_dist_trainer *trainer, gat_dist_report *report);

#ifdef __cplusplus
}
#endif

#endif /* GAT_H */
