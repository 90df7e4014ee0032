/* Status codes and the context's error message. */
#include "internal.h"

#include <stdio.h>

const char *gat_status_str(gat_status status)
{
    switch (status) {
    case GAT_OK: return "GAT_OK: success";
    case GAT_ERR_INVALID: return "GAT_ERR_INVALID: invalid argument";
    case GAT_ERR_NOMEM: return "GAT_ERR_NOMEM: out of memory";
    case GAT_ERR_IO: return "GAT_ERR_IO: input/output error";
    case GAT_ERR_FORMAT: return "GAT_ERR_FORMAT: malformed input";
    case GAT_ERR_RANGE: return "GAT_ERR_RANGE: value out of range";
    case GAT_ERR_NONFINITE: return "GAT_ERR_NONFINITE: NaN or infinity";
    case GAT_ERR_UNSUPPORTED: return "GAT_ERR_UNSUPPORTED: unsupported input";
    case GAT_ERR_OVERFLOW: return "GAT_ERR_OVERFLOW: size overflow";
    }
    return "unknown gat_status";
}

gat_status gat__fail(gat_context *ctx, gat_status status, const char *format, ...)
{
    if (ctx != NULL) {
        va_list args;
        va_start(args, format);
        vsnprintf(ctx->message, sizeof ctx->message, format, args);
        va_end(args);
    }
    return status;
}

void gat__clear_message(gat_context *ctx)
{
    if (ctx != NULL)
        ctx->message[0] = '\0';
}

const char *gat_context_message(const gat_context *ctx)
{
    return ctx != NULL ? ctx->message : "no context";
}
