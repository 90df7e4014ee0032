/*
 * NumPy .npy reader (formats 1.0 to 3.0). Nothing in the file is trusted:
 * the header dictionary is parsed by a small grammar of its own rather than
 * evaluated, every length is checked against the real file size before any
 * allocation, and the data are converted element by element (byte order,
 * float64 -> float32, int32 -> int64) while streaming through a fixed
 * buffer, so that a lying header costs an error message, not a terabyte.
 */
#include "file_read.h"
#include "internal.h"
#include "npy_format.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* NumPy's own limit is 64 dimensions; anything beyond is not a .npy file. */
#define NPY_MAX_DIMS 64
/* np.load refuses headers beyond 10000 characters unless told otherwise;
 * allow far more, but not so much that the length field alone decides how
 * much we allocate. */
#define NPY_MAX_HEADER ((uint32_t)1 << 20)
/* Data pass through this many bytes at a time (a multiple of 8). */
#define NPY_CHUNK 16384
/* A shape printed in full: "(" + 64 x (19 digits + ", ") + ")". */
#define NPY_SHAPE_TEXT (NPY_MAX_DIMS * 22 + 8)

/* Smallest double that rounds to infinity as a float32: halfway between
 * FLT_MAX and 2^128 (ties go to the even neighbour, which is infinity). */
#define NPY_F32_OVERFLOW 0x1.ffffffp+127

typedef struct npy_header {
    char descr[32];         /* the dtype string, printable characters only */
    int64_t descr_at;       /* file offset of the 'descr' value */
    char kind;              /* 'f', 'i', ...; 0 when descr is not kind+size */
    int itemsize;
    bool big_endian;
    bool fortran_order;
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
    int64_t order_at;       /* file offset of the 'fortran_order' value */
    int64_t shape_at;       /* file offset of the 'shape' value */
} npy_header;

typedef struct npy_parser {
    gat_context *ctx;
    const char *path;
    const unsigned char *text; /* the header bytes, not NUL-terminated */
    size_t len;
    size_t pos;
    int64_t base;              /* file offset of text[0] */
    bool long_suffix;          /* accept Python 2's "3L" (formats 1.0, 2.0) */
} npy_parser;

/* ------------------------------------------------------------------------ */
/* Messages                                                                 */
/* ------------------------------------------------------------------------ */

/* "path: header at byte N: what". */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static gat_status header_fail(const npy_parser *p, size_t at, gat_status status,
                              const char *format, ...)
{
    char what[GAT_MESSAGE_SIZE];
    va_list args;
    va_start(args, format);
    vsnprintf(what, sizeof what, format, args);
    va_end(args);
    return gat__fail(p->ctx, status, "%s: header at byte %lld: %s", p->path,
                     (long long)(p->base + (int64_t)at), what);
}

/* Copies bytes for a message, replacing what a terminal would not show. */
static void printable_copy(char *out, size_t size, const unsigned char *text, size_t len)
{
    size_t n = len < size - 1 ? len : size - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = text[i] >= 0x20 && text[i] < 0x7f ? (char)text[i] : '?';
    out[n] = '\0';
}

static int peek(const npy_parser *p)
{
    return p->pos < p->len ? p->text[p->pos] : -1;
}

/* "expected X, found Y" at the current position. */
static gat_status expected(const npy_parser *p, const char *what)
{
    int c = peek(p);
    char found[32];
    if (c < 0)
        snprintf(found, sizeof found, "the end of the header");
    else if (c > 0x20 && c < 0x7f)
        snprintf(found, sizeof found, "'%c'", c);
    else
        snprintf(found, sizeof found, "byte 0x%02x", (unsigned)c);
    return header_fail(p, p->pos, GAT_ERR_FORMAT, "expected %s, found %s", what, found);
}

static void format_shape(char *out, size_t size, const int64_t *shape, int ndim)
{
    size_t used = 0;
    used += (size_t)snprintf(out, size, "(");
    for (int d = 0; d < ndim && used < size; d++)
        used += (size_t)snprintf(out + used, size - used, "%s%lld", d > 0 ? ", " : "",
                                 (long long)shape[d]);
    if (used < size)
        snprintf(out + used, size - used, ndim == 1 ? ",)" : ")");
}

/* ------------------------------------------------------------------------ */
/* The header dictionary                                                    */
/* ------------------------------------------------------------------------ */

/* Python's whitespace inside brackets, line breaks included. */
static void skip_space(npy_parser *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->text[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v')
            break;
        p->pos++;
    }
}

static bool is_word_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.';
}

/* A Python string literal in single or double quotes, without escapes (no
 * key or dtype string needs one). *start and *length delimit its content. */
static gat_status parse_string(npy_parser *p, const char *what, size_t *start, size_t *length)
{
    int quote = peek(p);
    if (quote != '\'' && quote != '"')
        return expected(p, what);
    size_t open = p->pos++;
    while (p->pos < p->len && p->text[p->pos] != quote) {
        unsigned char c = p->text[p->pos];
        if (c == '\\')
            return header_fail(p, p->pos, GAT_ERR_FORMAT,
                               "escape sequences in strings are not supported");
        if (c == '\n' || c == '\r')
            break;
        p->pos++;
    }
    if (p->pos == p->len || p->text[p->pos] != quote)
        return header_fail(p, open, GAT_ERR_FORMAT, "string is not closed");
    *start = open + 1;
    *length = p->pos - open - 1;
    p->pos++;
    return GAT_OK;
}

static bool span_is(const npy_parser *p, size_t start, size_t length, const char *word)
{
    return length == strlen(word) && memcmp(p->text + start, word, length) == 0;
}

/* Splits a dtype string such as '<f4' into byte order, kind and size; kind
 * 0 when the string is not of that form (the caller reports it). '=', '|'
 * and no prefix mean the host's order, as for np.dtype. */
static void interpret_descr(const unsigned char *s, size_t n, npy_header *h)
{
    size_t i = 0;
    char order = '=';
    h->kind = 0;
    h->itemsize = 0;
    if (n > 0 && (s[0] == '<' || s[0] == '>' || s[0] == '=' || s[0] == '|'))
        order = (char)s[i++];
    if (i >= n || !((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
        return;
    char kind = (char)s[i++];
    int size = 0;
    if (i == n || n - i > 3)
        return;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return;
        size = size * 10 + (s[i] - '0');
    }
    h->kind = kind;
    h->itemsize = size;
    h->big_endian = order == '>' || (order != '<' && !gat__npy_host_little());
}

static gat_status parse_descr(npy_parser *p, npy_header *h)
{
    h->descr_at = p->base + (int64_t)p->pos;
    if (peek(p) == '[')
        return header_fail(p, p->pos, GAT_ERR_UNSUPPORTED,
                           "structured dtypes (a list of fields) are not supported");
    size_t start, length;
    gat_status status = parse_string(p, "a dtype string such as '<f4' for 'descr'", &start,
                                     &length);
    if (status != GAT_OK)
        return status;
    printable_copy(h->descr, sizeof h->descr, p->text + start, length);
    interpret_descr(p->text + start, length, h);
    return GAT_OK;
}

static gat_status parse_bool(npy_parser *p, bool *value)
{
    static const char *const words[2] = {"False", "True"};
    for (int w = 0; w < 2; w++) {
        size_t n = strlen(words[w]);
        if (p->len - p->pos >= n && memcmp(p->text + p->pos, words[w], n) == 0 &&
            (p->pos + n == p->len || !is_word_char(p->text[p->pos + n]))) {
            p->pos += n;
            *value = w == 1;
            return GAT_OK;
        }
    }
    return expected(p, "True or False for 'fortran_order'");
}

/* A non-negative decimal integer that fits in int64_t. */
static gat_status parse_dim(npy_parser *p, int64_t *dim)
{
    size_t at = p->pos;
    if (peek(p) == '-')
        return header_fail(p, at, GAT_ERR_FORMAT, "negative dimension in 'shape'");
    int c = peek(p);
    if (c < '0' || c > '9')
        return expected(p, "a dimension (a non-negative integer) in 'shape'");
    int64_t value = 0;
    while ((c = peek(p)) >= '0' && c <= '9') {
        int digit = c - '0';
        if (value > (INT64_MAX - digit) / 10)
            return header_fail(p, at, GAT_ERR_OVERFLOW,
                               "dimension in 'shape' does not fit in 64 bits");
        value = value * 10 + digit;
        p->pos++;
    }
    if (p->long_suffix && (peek(p) == 'L' || peek(p) == 'l'))
        p->pos++;
    if (is_word_char(peek(p)))
        return header_fail(p, at, GAT_ERR_FORMAT, "dimension in 'shape' is not an integer");
    *dim = value;
    return GAT_OK;
}

/* A tuple of dimensions: (), (3,), (2, 5), (2, 5,). */
static gat_status parse_shape(npy_parser *p, npy_header *h)
{
    h->shape_at = p->base + (int64_t)p->pos;
    if (peek(p) != '(')
        return expected(p, "a tuple such as (3,) or (2, 5) for 'shape'");
    size_t open = p->pos++;
    h->ndim = 0;
    skip_space(p);
    if (peek(p) == ')') {
        p->pos++;
        return GAT_OK;
    }
    for (;;) {
        size_t at = p->pos;
        int64_t dim = 0;
        gat_status status = parse_dim(p, &dim);
        if (status != GAT_OK)
            return status;
        if (h->ndim == NPY_MAX_DIMS)
            return header_fail(p, at, GAT_ERR_FORMAT, "'shape' has more than %d dimensions",
                               NPY_MAX_DIMS);
        h->shape[h->ndim++] = dim;
        skip_space(p);
        if (peek(p) == ',') {
            p->pos++;
            skip_space(p);
            if (peek(p) == ')')
                break;
            continue;
        }
        if (peek(p) != ')')
            return expected(p, "',' or ')' in 'shape'");
        /* In Python (3) is the integer 3; NumPy rejects it as a shape. */
        if (h->ndim == 1)
            return header_fail(p, open, GAT_ERR_FORMAT,
                               "'shape' (%lld) is not a tuple; a 1-D shape is written (%lld,)",
                               (long long)dim, (long long)dim);
        break;
    }
    p->pos++;
    return GAT_OK;
}

/* The whole header: one dictionary with exactly the keys 'descr',
 * 'fortran_order' and 'shape' in any order, then padding whitespace. */
static gat_status parse_header(npy_parser *p, npy_header *h)
{
    bool seen_descr = false, seen_order = false, seen_shape = false;
    gat_status status;
    skip_space(p);
    if (peek(p) != '{')
        return expected(p, "'{' opening the header dictionary");
    p->pos++;
    for (;;) {
        skip_space(p);
        if (peek(p) == '}')
            break; /* an empty dictionary or a trailing comma */
        size_t key_at = p->pos, key, key_len;
        status = parse_string(p, "a quoted key or '}'", &key, &key_len);
        if (status != GAT_OK)
            return status;
        skip_space(p);
        if (peek(p) != ':')
            return expected(p, "':' after the key");
        p->pos++;
        skip_space(p);
        bool *seen;
        if (span_is(p, key, key_len, "descr")) {
            seen = &seen_descr;
        } else if (span_is(p, key, key_len, "fortran_order")) {
            seen = &seen_order;
        } else if (span_is(p, key, key_len, "shape")) {
            seen = &seen_shape;
        } else {
            char name[40];
            printable_copy(name, sizeof name, p->text + key, key_len);
            return header_fail(p, key_at, GAT_ERR_FORMAT,
                               "unknown key '%s' (expected 'descr', 'fortran_order' and "
                               "'shape')",
                               name);
        }
        if (*seen)
            return header_fail(p, key_at, GAT_ERR_FORMAT, "key '%.*s' appears twice",
                               (int)key_len, (const char *)p->text + key);
        *seen = true;
        if (seen == &seen_descr)
            status = parse_descr(p, h);
        else if (seen == &seen_order) {
            h->order_at = p->base + (int64_t)p->pos;
            status = parse_bool(p, &h->fortran_order);
        }
        else
            status = parse_shape(p, h);
        if (status != GAT_OK)
            return status;
        skip_space(p);
        if (peek(p) == ',') {
            p->pos++;
            continue;
        }
        if (peek(p) != '}')
            return expected(p, "',' or '}' after a value");
    }
    size_t close = p->pos++;
    const char *missing = !seen_descr ? "descr" : !seen_order ? "fortran_order"
                        : !seen_shape ? "shape" : NULL;
    if (missing != NULL)
        return header_fail(p, close, GAT_ERR_FORMAT, "the dictionary has no '%s' key", missing);
    skip_space(p);
    if (p->pos != p->len)
        return expected(p, "only padding after the header dictionary");
    /* The format ends the header with '\n' (NumPy always writes it): a
     * header without it was cut or written by something else. */
    if (p->text[p->len - 1] != '\n')
        return header_fail(p, p->len - 1, GAT_ERR_FORMAT,
                           "the header does not end with a newline, as the .npy format "
                           "requires");
    return GAT_OK;
}

/* ------------------------------------------------------------------------ */
/* The file                                                                 */
/* ------------------------------------------------------------------------ */

/* The size the header is checked against. Only regular files have one that
 * can be trusted before reading. */
/* fread came up short at file offset `at`: an I/O error, or the file shrank
 * since we measured it. */
static gat_status short_read(gat_context *ctx, const char *path, FILE *fp, int64_t at)
{
    if (ferror(fp))
        return gat__fail(ctx, GAT_ERR_IO, "%s: read failed near byte %lld: %s", path,
                         (long long)at, strerror(errno));
    return gat__fail(ctx, GAT_ERR_FORMAT, "%s: file ends unexpectedly at byte %lld", path,
                     (long long)at);
}

/* Reads bytes [*have, upto) of the file into buf, fewer when the file is
 * shorter: what a short prefix holds is judged by the caller. */
static gat_status read_prefix(gat_context *ctx, const char *path, FILE *fp, int64_t file_size,
                              unsigned char *buf, size_t *have, size_t upto)
{
    size_t end = file_size < (int64_t)upto ? (size_t)file_size : upto;
    if (end <= *have)
        return GAT_OK;
    size_t got = fread(buf + *have, 1, end - *have, fp);
    *have += got;
    return *have == end ? GAT_OK : short_read(ctx, path, fp, (int64_t)*have);
}

/* Magic, version and header length: where the header starts and how long
 * it is, checked against the file size. */
static gat_status read_preamble(gat_context *ctx, const char *path, FILE *fp, int64_t file_size,
                                int *major, int64_t *header_start, uint32_t *header_len)
{
    unsigned char pre[12];
    size_t got = 0;
    if (file_size == 0)
        return gat__fail(ctx, GAT_ERR_FORMAT, "%s: empty file (expected a .npy array)", path);
    gat_status status = read_prefix(ctx, path, fp, file_size, pre, &got, 10);
    if (status != GAT_OK)
        return status;
    size_t magic = got < GAT__NPY_MAGIC_LEN ? got : GAT__NPY_MAGIC_LEN;
    for (size_t i = 0; i < magic; i++) {
        if (pre[i] != (unsigned char)GAT__NPY_MAGIC[i])
            return gat__fail(ctx, GAT_ERR_FORMAT,
                             "%s: not a .npy file: bad magic at byte %zu (expected "
                             "\"\\x93NUMPY\")",
                             path, i);
    }
    if (got < 8)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: truncated header: the file ends at byte %zu, inside the magic "
                         "and version (bytes 0 to 7)",
                         path, got);
    if (pre[6] < 1 || pre[6] > 3 || pre[7] != 0)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: header at byte 6: unsupported format version %u.%u (expected "
                         "1.0, 2.0 or 3.0)",
                         path, pre[6], pre[7]);
    *major = pre[6];
    /* Format 1.0 counts the header in 2 bytes, later formats in 4. */
    size_t len_size = *major == 1 ? 2 : 4;
    *header_start = 8 + (int64_t)len_size;
    status = read_prefix(ctx, path, fp, file_size, pre, &got, 8 + len_size);
    if (status != GAT_OK)
        return status;
    if (got < 8 + len_size)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: truncated header: the file ends at byte %zu, inside the %zu-byte "
                         "header length at byte 8",
                         path, got, len_size);
    uint32_t len = len_size == 2 ? (uint32_t)pre[8] | (uint32_t)pre[9] << 8
                                 : gat__load_le32(pre + 8);
    if ((int64_t)len > file_size - *header_start)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: header at byte 8: header length %lu runs past the end of the "
                         "file (%lld bytes)",
                         path, (unsigned long)len, (long long)file_size);
    if (len > NPY_MAX_HEADER)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: header at byte 8: header length %lu exceeds the limit of %lu "
                         "bytes",
                         path, (unsigned long)len, (unsigned long)NPY_MAX_HEADER);
    *header_len = len;
    return GAT_OK;
}

/* The parsed header against what the caller asked for. */
static gat_status check_header(gat_context *ctx, const char *path, const npy_header *h,
                               gat_dtype want)
{
    bool is_float = h->kind == 'f' && (h->itemsize == 4 || h->itemsize == 8);
    bool is_int = h->kind == 'i' && (h->itemsize == 4 || h->itemsize == 8);
    if (want == GAT_FLOAT32 && !is_float)
        return gat__fail(ctx, GAT_ERR_UNSUPPORTED,
                         "%s: header at byte %lld: dtype '%s' is not supported; a float32 "
                         "array is read from float32 or float64 data ('<f4', '<f8', '>f4', "
                         "'>f8')",
                         path, (long long)h->descr_at, h->descr);
    if (want == GAT_INT64 && !is_int)
        return gat__fail(ctx, GAT_ERR_UNSUPPORTED,
                         "%s: header at byte %lld: dtype '%s' is not supported; an int64 "
                         "array is read from int32 or int64 data ('<i4', '<i8', '>i4', "
                         "'>i8')",
                         path, (long long)h->descr_at, h->descr);
    int want_ndim = want == GAT_FLOAT32 ? 2 : 1;
    char shape[NPY_SHAPE_TEXT];
    format_shape(shape, sizeof shape, h->shape, h->ndim);
    /* A 1-D array is laid out the same in either order. */
    if (h->fortran_order && h->ndim > 1)
        return gat__fail(ctx, GAT_ERR_UNSUPPORTED,
                         "%s: header at byte %lld: Fortran-order (column-major) data of shape "
                         "%s are not supported; save a C-order array (np.ascontiguousarray)",
                         path, (long long)h->order_at, shape);
    if (h->ndim != want_ndim)
        return gat__fail(ctx, GAT_ERR_UNSUPPORTED,
                         "%s: header at byte %lld: shape %s is a %d-D array; a %d-D array is "
                         "expected",
                         path, (long long)h->shape_at, shape, h->ndim, want_ndim);
    return GAT_OK;
}

/* The number of elements the shape claims, computed without wrapping and
 * matched against the bytes the file really has, before it decides any
 * allocation. A zero dimension makes any other harmless. */
static gat_status check_size(gat_context *ctx, const char *path, const npy_header *h,
                             int64_t data_start, int64_t file_size, int64_t *count_out)
{
    char shape[NPY_SHAPE_TEXT];
    format_shape(shape, sizeof shape, h->shape, h->ndim);
    int64_t count = 1;
    for (int d = 0; d < h->ndim; d++) {
        if (h->shape[d] == 0)
            count = 0;
    }
    for (int d = 0; d < h->ndim && count != 0; d++) {
        if (count > INT64_MAX / h->shape[d])
            return gat__fail(ctx, GAT_ERR_OVERFLOW,
                             "%s: header at byte %lld: shape %s has more elements than fit in "
                             "64 bits",
                             path, (long long)h->shape_at, shape);
        count *= h->shape[d];
    }
    if (count > INT64_MAX / h->itemsize)
        return gat__fail(ctx, GAT_ERR_OVERFLOW,
                         "%s: header at byte %lld: shape %s of '%s' needs more bytes than fit in "
                         "64 bits",
                         path, (long long)h->shape_at, shape, h->descr);
    int64_t bytes = count * h->itemsize;
    int64_t available = file_size - data_start;
    if (bytes > available)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: truncated data: shape %s of '%s' needs %lld bytes from byte %lld, "
                         "but the file ends at byte %lld",
                         path, shape, h->descr, (long long)bytes, (long long)data_start,
                         (long long)file_size);
    /* Extra bytes mean the header and the data disagree: refuse rather than
     * guess which one is right. */
    if (bytes < available)
        return gat__fail(ctx, GAT_ERR_FORMAT,
                         "%s: %lld unexpected bytes at byte %lld, after the data of shape %s of "
                         "'%s'",
                         path, (long long)(available - bytes), (long long)(data_start + bytes),
                         shape, h->descr);
    *count_out = count;
    return GAT_OK;
}

static gat_status nonfinite(gat_context *ctx, const char *path, double value, int64_t index,
                            int64_t cols)
{
    const char *name = isnan(value) ? "nan" : value > 0 ? "inf" : "-inf";
    return gat__fail(ctx, GAT_ERR_NONFINITE, "%s: non-finite value (%s) at row %lld, column %lld",
                     path, name, (long long)(index / cols), (long long)(index % cols));
}

/* Converts n elements of the file's type starting at element `first` into
 * the output, checking floats as it goes; messages count elements from
 * `base` (where the output starts in the file's array). */
static gat_status convert(gat_context *ctx, const char *path, const npy_header *h,
                          const unsigned char *in, int64_t first, size_t n, int64_t cols,
                          int64_t base, void *out)
{
    bool big = h->big_endian;
    if (h->kind == 'f' && h->itemsize == 4) {
        float *dst = (float *)out + first;
        for (size_t i = 0; i < n; i++) {
            uint32_t bits = big ? gat__load_be32(in + 4 * i) : gat__load_le32(in + 4 * i);
            float value;
            memcpy(&value, &bits, sizeof value);
            if (!isfinite(value))
                return nonfinite(ctx, path, value, base + first + (int64_t)i, cols);
            dst[i] = value;
        }
    } else if (h->kind == 'f') {
        float *dst = (float *)out + first;
        for (size_t i = 0; i < n; i++) {
            uint64_t bits = big ? gat__load_be64(in + 8 * i) : gat__load_le64(in + 8 * i);
            double value;
            memcpy(&value, &bits, sizeof value);
            if (!isfinite(value))
                return nonfinite(ctx, path, value, base + first + (int64_t)i, cols);
            /* Checked before the conversion, which is undefined out of range. */
            if (fabs(value) >= NPY_F32_OVERFLOW) {
                int64_t index = base + first + (int64_t)i;
                return gat__fail(ctx, GAT_ERR_NONFINITE,
                                 "%s: value %g at row %lld, column %lld is beyond float32's "
                                 "range (it would become %sinf)",
                                 path, value, (long long)(index / cols),
                                 (long long)(index % cols), value < 0 ? "-" : "");
            }
            dst[i] = (float)value;
        }
    } else if (h->itemsize == 4) {
        int64_t *dst = (int64_t *)out + first;
        for (size_t i = 0; i < n; i++) {
            uint32_t bits = big ? gat__load_be32(in + 4 * i) : gat__load_le32(in + 4 * i);
            int32_t value;
            memcpy(&value, &bits, sizeof value);
            dst[i] = value;
        }
    } else {
        int64_t *dst = (int64_t *)out + first;
        for (size_t i = 0; i < n; i++) {
            uint64_t bits = big ? gat__load_be64(in + 8 * i) : gat__load_le64(in + 8 * i);
            memcpy(&dst[i], &bits, sizeof bits);
        }
    }
    return GAT_OK;
}

static gat_status read_data(gat_context *ctx, const char *path, FILE *fp, const npy_header *h,
                            int64_t data_start, int64_t count, int64_t cols, int64_t base,
                            void *out)
{
    unsigned char chunk[NPY_CHUNK];
    size_t per_chunk = NPY_CHUNK / (size_t)h->itemsize;
    for (int64_t done = 0; done < count;) {
        size_t n = count - done < (int64_t)per_chunk ? (size_t)(count - done) : per_chunk;
        size_t got = fread(chunk, (size_t)h->itemsize, n, fp);
        if (got != n)
            return short_read(ctx, path, fp, data_start + (done + (int64_t)got) * h->itemsize);
        gat_status status = convert(ctx, path, h, chunk, done, n, cols, base, out);
        if (status != GAT_OK)
            return status;
        done += (int64_t)n;
    }
    return GAT_OK;
}

/* gat_npy_read, or with first >= 0 only rows [first, first + rows) of a
 * 2-D array (an offset read); *total_rows (may be NULL) gets the file's rows. */
static gat_status npy_read(gat_context *ctx, const char *path, gat_dtype want, int64_t first,
                           int64_t rows, gat_array **out, int64_t *total_rows)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (out == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "gat_npy_read: out is NULL");
    *out = NULL;
    if (path == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "gat_npy_read: path is NULL");
    if (want != GAT_FLOAT32 && want != GAT_INT64)
        return gat__fail(ctx, GAT_ERR_INVALID, "%s: requested dtype %d is not GAT_FLOAT32 or "
                         "GAT_INT64", path, (int)want);

    gat_status status = GAT_OK;
    unsigned char *text = NULL;
    gat_array *array = NULL;
    npy_header header;
    memset(&header, 0, sizeof header);
    FILE *fp = NULL;
    int fd;
    struct stat info;
    status = gat__in_open(ctx, path, false, "a .npy file's size is checked against its header",
                          &fd, &info);
    if (status != GAT_OK)
        goto done;
    fp = fdopen(fd, "rb");
    if (fp == NULL) {
        status = gat__fail(ctx, GAT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
        goto done;
    }
    int64_t file_size = (int64_t)info.st_size, header_start = 0;
    uint32_t header_len = 0;
    int major = 0;
    status = read_preamble(ctx, path, fp, file_size, &major, &header_start, &header_len);
    if (status != GAT_OK)
        goto done;

    text = gat__alloc_array(ctx, header_len, 1, path, &status);
    if (text == NULL)
        goto done;
    if (fread(text, 1, header_len, fp) != header_len) {
        status = short_read(ctx, path, fp, header_start);
        goto done;
    }
    npy_parser parser = {ctx, path, text, header_len, 0, header_start, major <= 2};
    status = parse_header(&parser, &header);
    if (status != GAT_OK)
        goto done;
    status = check_header(ctx, path, &header, want);
    if (status != GAT_OK)
        goto done;

    int64_t data_start = header_start + header_len;
    int64_t count = 0;
    status = check_size(ctx, path, &header, data_start, file_size, &count);
    if (status != GAT_OK)
        goto done;

    array = gat__alloc_array(ctx, 1, sizeof *array, path, &status);
    if (array == NULL)
        goto done;
    memset(array, 0, sizeof *array);
    array->allocator_ = ctx->allocator;
    array->dtype = want;
    array->ndim = header.ndim;
    array->shape[0] = header.shape[0];
    array->shape[1] = header.ndim == 2 ? header.shape[1] : 1;
    if (total_rows != NULL)
        *total_rows = header.shape[0];
    int64_t base = 0;
    if (first >= 0) {
        if (header.ndim != 2 || rows < 0 || first > header.shape[0] ||
            rows > header.shape[0] - first) {
            status = gat__fail(ctx, GAT_ERR_RANGE, "%s: rows [%lld, %lld) are not inside the "
                               "array's %lld rows", path, (long long)first,
                               (long long)(first + rows), (long long)header.shape[0]);
            goto done;
        }
        base = first * array->shape[1];
        count = rows * array->shape[1];
        array->shape[0] = rows;
        if (fseeko(fp, (off_t)(data_start + base * header.itemsize), SEEK_SET) != 0) {
            status = gat__fail(ctx, GAT_ERR_IO, "%s: cannot seek to row %lld: %s", path,
                               (long long)first, strerror(errno));
            goto done;
        }
    }
    array->data = gat__alloc_array(ctx, count, want == GAT_FLOAT32 ? sizeof(float)
                                                                   : sizeof(int64_t),
                                   path, &status);
    if (array->data == NULL)
        goto done;
    status = read_data(ctx, path, fp, &header, data_start, count, array->shape[1], base,
                       array->data);

done:
    if (fp != NULL)
        fclose(fp);
    GAT_FREE(&ctx->allocator, text);
    if (status == GAT_OK)
        *out = array;
    else
        gat_array_destroy(&array);
    return status;
}

gat_status gat_npy_read(gat_context *ctx, const char *path, gat_dtype want, gat_array **out)
{
    return npy_read(ctx, path, want, -1, 0, out, NULL);
}

gat_status gat__npy_read_rows(gat_context *ctx, const char *path, int64_t first, int64_t rows,
                              gat_array **out, int64_t *total_rows)
{
    return npy_read(ctx, path, GAT_FLOAT32, first < 0 ? 0 : first, rows, out, total_rows);
}

gat_status gat_npy_read_rows(gat_context *ctx, const char *path, int64_t first, int64_t rows,
                             gat_array **out, int64_t *total_rows)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (path == NULL || out == NULL || first < 0 || rows < 0)
        return gat__fail(ctx, GAT_ERR_INVALID, "gat_npy_read_rows: path and out are required, "
                         "first and rows >= 0");
    return gat__npy_read_rows(ctx, path, first, rows, out, total_rows);
}

void gat_array_destroy(gat_array **array)
{
    if (array == NULL || *array == NULL)
        return;
    /* The struct holds the allocator: copy it out before freeing the struct. */
    gat_allocator allocator = (*array)->allocator_;
    gat__free_raw(&allocator, (*array)->data);
    gat__free_raw(&allocator, *array);
    *array = NULL;
}
