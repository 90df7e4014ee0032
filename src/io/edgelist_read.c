/*
 * SNAP-style text edge lists: one "src dst" pair of decimal node ids per
 * line, '#' comment lines, blank lines, spaces/tabs, CRLF, plain or gzip.
 *
 * Everything is read in large chunks, straight from the file or through
 * zlib's inflate when the file starts with the gzip magic; complete lines are parsed by a hand-written scanner and the
 * partial last line is carried over to the next chunk. The scanner only
 * detects that a line is wrong; diagnose_line() then re-reads that one line
 * slowly and writes the message ("PATH:LINE: what was found").
 */
#include "file_read.h"
#include "graph.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Bytes of text read (or inflated) at a time; a line longer than this is still read
 * (comments are skipped, long data lines are compacted). Overridable so
 * that the fuzzer (tests/fuzz) reaches chunk boundaries and over-long
 * lines with small inputs. */
#ifndef EDGELIST_CHUNK
#define EDGELIST_CHUNK ((size_t)4 << 20)
#endif
/* Compressed bytes read at a time for .gz input (plain files are read
 * straight into the chunk). */
#ifndef EDGELIST_GZBUFFER
#define EDGELIST_GZBUFFER (1u << 20)
#endif
#define EDGELIST_FIRST_CAPACITY 4096
/* Node ids are 31-bit. */
#define EDGELIST_ID_LIMIT ((uint64_t)1 << 31)
/* Bytes of a token shown in a message. */
#define EDGELIST_SHOW 40

typedef struct reader {
    gat_context *ctx;
    const char *path;
    int64_t num_nodes; /* < 0: no limit other than 2^31 */
    uint64_t limit;    /* ids must be < limit: min(num_nodes, 2^31) */
    int64_t line;      /* lines consumed so far */
    int64_t *src;
    int64_t *dst;
    int64_t count;
    int64_t capacity;
    int64_t max_id;
    int64_t file_size; /* bytes on disk; -1 when not a regular file */
} reader;

/* Where the text comes from: the file itself, or inflate over it. Our own
 * loop rather than zlib's gzread: gzread (zlib 1.2.13) reports a clean end
 * of file for a stream cut short when its last inflate call happens to fill
 * the caller's buffer exactly, so a truncated .gz could read as a shorter
 * valid list (found by fuzzing). Here the end of the file inside a gzip
 * member is always an error. inflate's memory comes from the context's
 * allocator. */
typedef struct source {
    int fd;
    bool gzip;          /* the file starts with the gzip magic 1f 8b */
    bool eof;           /* read() has returned 0 */
    bool in_member;     /* inside a gzip member whose trailer is not yet read */
    bool z_ready;       /* inflateInit2 done: inflateEnd due */
    unsigned char head[2];
    size_t head_len;    /* the first bytes, read to sniff, not yet handed out */
    z_stream z;
    unsigned char *in;  /* compressed input, EDGELIST_GZBUFFER bytes */
    int64_t consumed;   /* file bytes read so far */
    int64_t members;    /* gzip members read to their end */
} source;

static inline bool is_blank(unsigned char c) { return c == ' ' || c == '\t'; }
static inline bool is_digit(unsigned char c) { return (unsigned)(c - '0') < 10u; }

/* ------------------------------------------------------------------------ */
/* Messages                                                                 */
/* ------------------------------------------------------------------------ */

/* Quotes up to EDGELIST_SHOW bytes of [s, e) into out, escaping anything
 * that is not printable ASCII. */
static void show_token(char *out, size_t size, const unsigned char *s, const unsigned char *e)
{
    size_t n = 0;
    const unsigned char *stop = e - s > EDGELIST_SHOW ? s + EDGELIST_SHOW : e;
    for (const unsigned char *p = s; p < stop && n + 8 < size; p++) {
        unsigned char c = *p;
        if (c == '\t')
            n += (size_t)snprintf(out + n, size - n, "\\t");
        else if (c == '\r')
            n += (size_t)snprintf(out + n, size - n, "\\r");
        else if (c < 0x20 || c >= 0x7f || c == '\'' || c == '\\')
            n += (size_t)snprintf(out + n, size - n, "\\x%02x", c);
        else
            out[n++] = (char)c;
    }
    if (stop < e && n + 4 < size) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

/* The error for a token [s, e) in column `column` (0 or 1); GAT_OK when the
 * token is a valid id. partial: the token may continue past e (a line longer
 * than the buffer), so only report what more bytes cannot fix. */
static gat_status check_token(reader *r, int64_t line, int column, const unsigned char *s,
                              const unsigned char *e, bool partial)
{
    char shown[4 * EDGELIST_SHOW + 8];
    show_token(shown, sizeof shown, s, e);
    const char *what = column == 0 ? "source" : "destination";
    if (memchr(s, '\0', (size_t)(e - s)) != NULL)
        return gat__fail(r->ctx, GAT_ERR_FORMAT,
                         "%s:%lld: found a NUL byte in '%s': binary data, not a text edge list",
                         r->path, (long long)line, shown);
    const unsigned char *p = s;
    uint64_t value = 0;
    bool overflow = false;
    while (p < e && is_digit(*p)) {
        unsigned d = (unsigned)(*p - '0');
        if (value > ((uint64_t)INT64_MAX - d) / 10)
            overflow = true;
        else
            value = value * 10 + d;
        p++;
    }
    if (p == e && p > s) {
        if (overflow)
            return gat__fail(r->ctx, GAT_ERR_RANGE,
                             "%s:%lld: %s node id '%s' does not fit in a 64-bit integer",
                             r->path, (long long)line, what, shown);
        if (value >= EDGELIST_ID_LIMIT)
            return gat__fail(r->ctx, GAT_ERR_RANGE,
                             "%s:%lld: %s node id %llu is too large: node ids must be < 2^31 "
                             "(%llu)",
                             r->path, (long long)line, what, (unsigned long long)value,
                             (unsigned long long)EDGELIST_ID_LIMIT);
        if (r->num_nodes >= 0 && value >= (uint64_t)r->num_nodes)
            return gat__fail(r->ctx, GAT_ERR_RANGE,
                             "%s:%lld: %s node id %llu is out of range: num_nodes is %lld, so "
                             "ids must be < %lld",
                             r->path, (long long)line, what, (unsigned long long)value,
                             (long long)r->num_nodes, (long long)r->num_nodes);
        return GAT_OK;
    }
    if (partial && p == e)
        return GAT_OK; /* empty so far */
    if (*s == '-' && e - s > 1 && is_digit(s[1]))
        return gat__fail(r->ctx, GAT_ERR_FORMAT,
                         "%s:%lld: expected a non-negative %s node id, found '%s'", r->path,
                         (long long)line, what, shown);
    /* Digits with a '.' or an exponent: "1.5", "2.0", "1e5", ".5". */
    bool numeric = true, digits = false, point = false;
    for (const unsigned char *q = s; q < e; q++) {
        if (is_digit(*q))
            digits = true;
        else if (*q == '.' || *q == 'e' || *q == 'E')
            point = true;
        else if (!((*q == '+' || *q == '-') && q > s && (q[-1] == 'e' || q[-1] == 'E')))
            numeric = false;
    }
    if (numeric && digits && point)
        return gat__fail(r->ctx, GAT_ERR_FORMAT,
                         "%s:%lld: expected an integer %s node id, found '%s'", r->path,
                         (long long)line, what, shown);
    return gat__fail(r->ctx, GAT_ERR_FORMAT,
                     "%s:%lld: expected a %s node id (a non-negative decimal integer), found "
                     "'%s'",
                     r->path, (long long)line, what, shown);
}

/* Re-reads one line [s, e) (without its '\n') that the fast scanner
 * rejected and reports the first problem from the left. truncated: [s, e) is
 * only the start of a line longer than the buffer; GAT_OK then means that
 * nothing is wrong yet. */
static gat_status diagnose_line(reader *r, int64_t line, const unsigned char *s,
                                const unsigned char *e, bool truncated)
{
    if (e > s && e[-1] == '\r')
        e--; /* CRLF (or, when truncated, perhaps the start of one) */
    int columns = 0;
    const unsigned char *first = NULL, *first_end = NULL;
    const unsigned char *p = s;
    for (;;) {
        while (p < e && is_blank(*p))
            p++;
        if (p == e)
            break;
        const unsigned char *t = p;
        while (p < e && !is_blank(*p))
            p++;
        bool partial = truncated && p == e;
        if (columns == 0 && *t == '#')
            break; /* a comment: the scanner skips these itself */
        if (columns == 2) {
            char shown[4 * EDGELIST_SHOW + 8];
            show_token(shown, sizeof shown, t, p);
            if (memchr(t, '\0', (size_t)(p - t)) != NULL)
                return gat__fail(r->ctx, GAT_ERR_FORMAT,
                                 "%s:%lld: found a NUL byte in '%s': binary data, not a text "
                                 "edge list",
                                 r->path, (long long)line, shown);
            return gat__fail(r->ctx, GAT_ERR_FORMAT,
                             "%s:%lld: expected exactly two node ids (src dst), found a third "
                             "column '%s'%s",
                             r->path, (long long)line, shown,
                             *t == '#' ? " (comments must be on their own line)"
                                       : " (edge weights are not supported)");
        }
        gat_status status = check_token(r, line, columns, t, p, partial);
        if (status != GAT_OK)
            return status;
        if (columns == 0) {
            first = t;
            first_end = p;
        }
        columns++;
    }
    if (truncated)
        return GAT_OK;
    if (columns != 1) /* the scanner and this function disagree: a bug */
        return gat__fail(r->ctx, GAT_ERR_FORMAT, "%s:%lld: malformed line", r->path,
                         (long long)line);
    char shown[4 * EDGELIST_SHOW + 8];
    show_token(shown, sizeof shown, first, first_end);
    return gat__fail(r->ctx, GAT_ERR_FORMAT,
                     "%s:%lld: expected exactly two node ids (src dst), found one: '%s'", r->path,
                     (long long)line, shown);
}

static gat_status nul_in_comment(reader *r, int64_t line)
{
    return gat__fail(r->ctx, GAT_ERR_FORMAT,
                     "%s:%lld: found a NUL byte in a comment: binary data, not a text edge list",
                     r->path, (long long)line);
}

/* ------------------------------------------------------------------------ */
/* Output arrays                                                            */
/* ------------------------------------------------------------------------ */

/* Moves src and dst to arrays of `capacity` (>= count) entries: allocate,
 * copy, free. */
static gat_status resize(reader *r, int64_t capacity)
{
    gat_status status;
    int64_t *src = gat__alloc_array(r->ctx, capacity, sizeof *src, "edge list sources", &status);
    if (src == NULL)
        return status;
    int64_t *dst =
        gat__alloc_array(r->ctx, capacity, sizeof *dst, "edge list destinations", &status);
    if (dst == NULL) {
        GAT_FREE(&r->ctx->allocator, src);
        return status;
    }
    if (r->count > 0) {
        memcpy(src, r->src, (size_t)r->count * sizeof *src);
        memcpy(dst, r->dst, (size_t)r->count * sizeof *dst);
    }
    GAT_FREE(&r->ctx->allocator, r->src);
    GAT_FREE(&r->ctx->allocator, r->dst);
    r->src = src;
    r->dst = dst;
    r->capacity = capacity;
    return GAT_OK;
}

/* Doubles the capacity. */
static gat_status grow(reader *r)
{
    if (r->capacity == 0)
        return resize(r, EDGELIST_FIRST_CAPACITY);
    if (r->capacity > INT64_MAX / 2)
        return gat__fail(r->ctx, GAT_ERR_OVERFLOW, "%s: too many edges", r->path);
    return resize(r, r->capacity * 2);
}

/* After the first chunk: sizes the arrays for the whole file from the edges
 * per byte of file (compressed bytes for .gz) seen so far, plus 5%, so that a
 * large file is not copied log(E) times. Only a hint: if the allocation
 * fails, doubling goes on from the current arrays. */
static void presize(reader *r, const source *in)
{
    int64_t used = in->consumed - (in->gzip ? (int64_t)in->z.avail_in : 0);
    if (r->file_size <= 0 || used <= 0 || used >= r->file_size || r->count == 0)
        return;
    double estimate = (double)r->count * ((double)r->file_size / (double)used) * 1.05 + 4096.0;
    if (estimate <= (double)r->capacity || estimate >= 0x1p40)
        return;
    if (resize(r, (int64_t)estimate) != GAT_OK)
        gat__clear_message(r->ctx);
}

/* ------------------------------------------------------------------------ */
/* The scanner                                                              */
/* ------------------------------------------------------------------------ */

/* Parses the complete lines of [p, end); end[-1] is '\n', which stops every
 * inner loop, so no loop needs a bounds check. */
static gat_status parse_lines(reader *r, const unsigned char *p, const unsigned char *end)
{
    const uint64_t limit = r->limit;
    int64_t line = r->line;
    int64_t count = r->count;
    int64_t capacity = r->capacity;
    int64_t *src = r->src;
    int64_t *dst = r->dst;
    uint64_t max_id = r->max_id < 0 ? 0 : (uint64_t)r->max_id;
    bool any = r->max_id >= 0;
    gat_status status = GAT_OK;

    while (p < end) {
        const unsigned char *start = p;
        line++;
        while (is_blank(*p))
            p++;
        if (is_digit(*p)) {
            /* Every id is checked against limit (<= 2^31) digit by digit,
             * so the value can never wrap. */
            uint64_t a = (uint64_t)(*p++ - '0');
            while (is_digit(*p)) {
                a = a * 10 + (uint64_t)(*p++ - '0');
                if (a >= limit)
                    goto bad;
            }
            if (a >= limit || !is_blank(*p))
                goto bad;
            do
                p++;
            while (is_blank(*p));
            if (!is_digit(*p))
                goto bad;
            uint64_t b = (uint64_t)(*p++ - '0');
            while (is_digit(*p)) {
                b = b * 10 + (uint64_t)(*p++ - '0');
                if (b >= limit)
                    goto bad;
            }
            if (b >= limit)
                goto bad;
            while (is_blank(*p))
                p++;
            if (*p == '\r')
                p++;
            if (*p != '\n')
                goto bad;
            p++;
            if (count == capacity) {
                r->count = count;
                status = grow(r);
                if (status != GAT_OK)
                    goto done;
                capacity = r->capacity;
                src = r->src;
                dst = r->dst;
            }
            src[count] = (int64_t)a;
            dst[count] = (int64_t)b;
            count++;
            uint64_t m = a > b ? a : b;
            if (m > max_id)
                max_id = m;
            any = true;
            continue;
        }
        if (*p == '\n') {
            p++;
            continue;
        }
        if (*p == '\r' && p[1] == '\n') {
            p += 2;
            continue;
        }
        if (*p == '#') {
            const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
            if (memchr(p, '\0', (size_t)(nl - p)) != NULL) {
                status = nul_in_comment(r, line);
                goto done;
            }
            p = nl + 1;
            continue;
        }
    bad:;
        const unsigned char *nl = memchr(start, '\n', (size_t)(end - start));
        status = diagnose_line(r, line, start, nl, false);
        goto done;
    }
done:
    r->line = line;
    r->count = count;
    r->max_id = any ? (int64_t)max_id : -1;
    return status;
}

/* A line longer than the buffer that is not a comment, and whose start
 * [buf, buf + len) diagnose_line() found nothing wrong with, holds at most
 * two digit runs between blanks (and perhaps a final '\r'). Rewrites it in a
 * few bytes with the same meaning: leading zeros and blank runs shortened. */
static size_t compact_line(unsigned char *buf, size_t len)
{
    size_t out = 0, i = 0;
    bool blank = false;
    while (i < len) {
        if (is_blank(buf[i]) || buf[i] == '\r') {
            blank = blank || is_blank(buf[i]);
            if (buf[i] == '\r')
                buf[out++] = '\r';
            i++;
            continue;
        }
        if (out > 0 || blank)
            buf[out++] = ' ';
        blank = false;
        while (i + 1 < len && buf[i] == '0' && is_digit(buf[i + 1]))
            i++;
        while (i < len && is_digit(buf[i]))
            buf[out++] = buf[i++];
    }
    if (blank)
        buf[out++] = ' ';
    return out;
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                  */
/* ------------------------------------------------------------------------ */

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    size_t bytes;
    if (!gat__mul_size(items, size, &bytes))
        return Z_NULL;
    return gat__alloc_raw(&((gat_context *)opaque)->allocator, bytes);
}

static void z_free(voidpf opaque, voidpf ptr)
{
    gat__free_raw(&((gat_context *)opaque)->allocator, ptr);
}

/* Up to len bytes of the file into buf; fewer only at its end (*got 0:
 * the end). */
static gat_status file_read(reader *r, source *in, unsigned char *buf, size_t len, size_t *got)
{
    *got = 0;
    while (*got < len && !in->eof) {
        ssize_t n = read(in->fd, buf + *got, len - *got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return gat__fail(r->ctx, GAT_ERR_IO, "%s: read error after line %lld: %s",
                             r->path, (long long)r->line, strerror(errno));
        if (n == 0)
            in->eof = true;
        *got += (size_t)n;
        in->consumed += n;
    }
    return GAT_OK;
}

/* Opens the source on fd (owned from here on) and sniffs the gzip magic. */
static gat_status source_open(reader *r, source *in, int fd)
{
    in->fd = fd;
    gat_status status = file_read(r, in, in->head, 2, &in->head_len);
    if (status != GAT_OK)
        return status;
    in->gzip = in->head_len == 2 && in->head[0] == 0x1f && in->head[1] == 0x8b;
    if (!in->gzip)
        return GAT_OK;
    in->in = gat__alloc_array(r->ctx, EDGELIST_GZBUFFER, 1, "gzip input buffer", &status);
    if (in->in == NULL)
        return status;
    memcpy(in->in, in->head, 2);
    in->head_len = 0;
    in->z.next_in = in->in;
    in->z.avail_in = 2;
    in->z.zalloc = z_alloc;
    in->z.zfree = z_free;
    in->z.opaque = r->ctx;
    /* 15 + 16: a gzip wrapper, whose CRC and length inflate checks. */
    int rc = inflateInit2(&in->z, 15 + 16);
    if (rc != Z_OK)
        return rc == Z_MEM_ERROR
                   ? gat__fail(r->ctx, GAT_ERR_NOMEM, "%s: zlib is out of memory", r->path)
                   : gat__fail(r->ctx, GAT_ERR_FORMAT, "%s: cannot start zlib (%d)", r->path, rc);
    in->z_ready = true;
    return GAT_OK;
}

static void source_close(reader *r, source *in)
{
    if (in->z_ready)
        inflateEnd(&in->z);
    GAT_FREE(&r->ctx->allocator, in->in);
    if (in->fd >= 0)
        close(in->fd);
    in->fd = -1;
}

/* Up to len bytes of text into buf, fewer only at the end (*got 0: the
 * end). Concatenated gzip members are one stream, as for gzip -d. */
static gat_status source_read(reader *r, source *in, unsigned char *buf, size_t len, size_t *got)
{
    if (!in->gzip) {
        size_t head = in->head_len < len ? in->head_len : len;
        memcpy(buf, in->head, head);
        memmove(in->head, in->head + head, in->head_len - head);
        in->head_len -= head;
        gat_status status = file_read(r, in, buf + head, len - head, got);
        *got += head;
        return status;
    }
    z_stream *z = &in->z;
    z->next_out = buf;
    z->avail_out = (uInt)len;
    while (z->avail_out > 0) {
        if (z->avail_in == 0) {
            size_t n;
            gat_status status = file_read(r, in, in->in, EDGELIST_GZBUFFER, &n);
            if (status != GAT_OK)
                return status;
            z->next_in = in->in;
            z->avail_in = (uInt)n;
            if (n == 0) {
                if (in->in_member)
                    return gat__fail(r->ctx, GAT_ERR_FORMAT,
                                     "%s: truncated gzip file: it ends at byte %lld, inside "
                                     "compressed data (expected the rest of the stream and its "
                                     "8-byte trailer)",
                                     r->path, (long long)in->consumed);
                break; /* the end, between members */
            }
        }
        if (!in->in_member) { /* the next member's header starts here */
            if (inflateReset(z) != Z_OK)
                return gat__fail(r->ctx, GAT_ERR_FORMAT, "%s: zlib state is corrupt", r->path);
            in->in_member = true;
        }
        int rc = inflate(z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) {
            in->in_member = false;
            in->members++;
        } else if (rc == Z_MEM_ERROR) {
            return gat__fail(r->ctx, GAT_ERR_NOMEM, "%s: zlib is out of memory", r->path);
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            /* Where inflate stopped: the bytes read less those it left. */
            long long at = (long long)(in->consumed - (int64_t)z->avail_in);
            const char *why = z->msg != NULL ? z->msg : "invalid data";
            if (in->members > 0 && z->total_out == 0)
                return gat__fail(r->ctx, GAT_ERR_FORMAT,
                                 "%s: byte %lld: unexpected data after the end of the gzip "
                                 "stream (expected another gzip member or the end of the "
                                 "file): %s",
                                 r->path, at, why);
            return gat__fail(r->ctx, GAT_ERR_FORMAT, "%s: corrupt gzip data near byte %lld: %s",
                             r->path, at, why);
        }
    }
    *got = len - z->avail_out;
    return GAT_OK;
}

static gat_status read_all(reader *r, source *in, unsigned char *buf, size_t size)
{
    size_t carry = 0;        /* bytes of an unfinished line at buf[0] */
    bool in_comment = false; /* skipping the rest of a long comment line */
    bool presized = false;
    for (;;) {
        size_t got;
        gat_status status = source_read(r, in, buf + carry, size - carry, &got);
        if (status != GAT_OK)
            return status;
        if (got == 0) {
            if (in_comment || carry == 0)
                return GAT_OK;
            buf[carry] = '\n'; /* the last line has no '\n' */
            return parse_lines(r, buf, buf + carry + 1);
        }
        unsigned char *begin = buf;
        unsigned char *stop = buf + carry + got;
        if (in_comment) {
            unsigned char *nl = memchr(buf, '\n', (size_t)(stop - buf));
            unsigned char *text_end = nl != NULL ? nl : stop;
            if (memchr(buf, '\0', (size_t)(text_end - buf)) != NULL)
                return nul_in_comment(r, r->line);
            if (nl == NULL)
                continue; /* carry is still 0: drop it all */
            in_comment = false;
            begin = nl + 1;
        }
        unsigned char *last = stop;
        while (last > begin && last[-1] != '\n')
            last--;
        if (last > begin) {
            status = parse_lines(r, begin, last);
            if (status != GAT_OK)
                return status;
            if (!presized) {
                presize(r, in);
                presized = true;
            }
        }
        carry = (size_t)(stop - last);
        memmove(buf, last, carry);
        if (carry < size)
            continue;

        /* One line fills the whole buffer. */
        size_t i = 0;
        while (i < carry && is_blank(buf[i]))
            i++;
        if (i < carry && buf[i] == '#') {
            r->line++;
            if (memchr(buf, '\0', carry) != NULL)
                return nul_in_comment(r, r->line);
            in_comment = true;
            carry = 0;
            continue;
        }
        status = diagnose_line(r, r->line + 1, buf, buf + carry, true);
        if (status != GAT_OK)
            return status;
        carry = compact_line(buf, carry);
    }
}

gat_status gat_edgelist_read(gat_context *ctx, const char *path, int64_t num_nodes,
                             int64_t **src, int64_t **dst, int64_t *num_edges,
                             int64_t *max_id)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    if (src != NULL)
        *src = NULL;
    if (dst != NULL)
        *dst = NULL;
    if (num_edges != NULL)
        *num_edges = 0;
    if (max_id != NULL)
        *max_id = -1;
    gat__clear_message(ctx);
    if (path == NULL || src == NULL || dst == NULL || num_edges == NULL || max_id == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "gat_edgelist_read: NULL argument");

    reader r = {0};
    r.ctx = ctx;
    r.path = path;
    r.num_nodes = num_nodes < 0 ? -1 : num_nodes;
    r.limit = num_nodes >= 0 && (uint64_t)num_nodes < EDGELIST_ID_LIMIT ? (uint64_t)num_nodes
                                                                         : EDGELIST_ID_LIMIT;
    r.max_id = -1;

    gat_status status = GAT_OK;
    source in = {.fd = -1};
    unsigned char *buf = NULL;
    int fd;
    struct stat info;
    status = gat__in_open(ctx, path, true, NULL, &fd, &info);
    if (status != GAT_OK)
        goto done;
    r.file_size = S_ISREG(info.st_mode) ? (int64_t)info.st_size : -1;
    status = source_open(&r, &in, fd);
    if (status != GAT_OK)
        goto done;
    /* One spare byte for the '\n' put after a last line that lacks one. */
    buf = gat__alloc_array(ctx, (int64_t)EDGELIST_CHUNK + 1, 1, "edge list read buffer",
                           &status);
    if (buf == NULL)
        goto done;
    status = read_all(&r, &in, buf, EDGELIST_CHUNK);
    /* A FIFO that no process had open for writing reads as empty at once;
     * an empty graph from it is far likelier a mistake than the intent. */
    if (status == GAT_OK && S_ISFIFO(info.st_mode) && in.consumed == 0)
        status = gat__fail(ctx, GAT_ERR_IO,
                           "%s: the FIFO or pipe gave no data: no process had it open for "
                           "writing (start the writer first), or it wrote nothing",
                           path);
    if (status == GAT_OK && r.src == NULL)
        status = resize(&r, 0); /* an empty list still gets (empty) arrays */

done:
    source_close(&r, &in);
    GAT_FREE(&ctx->allocator, buf);
    if (status != GAT_OK) {
        GAT_FREE(&ctx->allocator, r.src);
        GAT_FREE(&ctx->allocator, r.dst);
        return status;
    }
    *src = r.src;
    *dst = r.dst;
    *num_edges = r.count;
    *max_id = r.max_id;
    return GAT_OK;
}

gat_status gat_graph_read_edgelist(gat_context *ctx, gat_graph **graph, const char *path,
                                   int64_t num_nodes)
{
    if (ctx == NULL || graph == NULL)
        return GAT_ERR_INVALID;
    *graph = NULL;
    gat__clear_message(ctx);
    if (num_nodes > INT32_MAX)
        return gat__fail(ctx, GAT_ERR_UNSUPPORTED,
                         "%s: num_nodes %lld; a graph holds at most %d (node ids must fit in "
                         "31 bits)",
                         path != NULL ? path : "(null)", (long long)num_nodes, INT32_MAX);
    int64_t *src = NULL, *dst = NULL, num_edges = 0, max_id = -1;
    gat_status status = gat_edgelist_read(ctx, path, num_nodes, &src, &dst, &num_edges, &max_id);
    if (status != GAT_OK)
        return status;
    int64_t n = num_nodes >= 0 ? num_nodes : max_id + 1;
    if (n > INT32_MAX)
        status = gat__fail(ctx, GAT_ERR_UNSUPPORTED,
                           "%s: %lld nodes; a graph holds at most %d (node ids must fit "
                           "in 31 bits)",
                           path, (long long)n, INT32_MAX);
    else
        status = gat__graph_from_coo(ctx, graph, n, num_edges, src, dst);
    gat_free(ctx, src);
    gat_free(ctx, dst);
    return status;
}
