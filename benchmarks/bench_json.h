/* Writing gat-bench's JSON report so that it appears complete or not at all. */
#ifndef GAT_BENCH_JSON_H
#define GAT_BENCH_JSON_H

#include <jansson.h>

/* Dumps root to a unique temporary file beside path and renames it over
 * path. Returns 0, or an errno value (the temporary file is removed). */
int bench_json_write(json_t *root, const char *path);

#endif
