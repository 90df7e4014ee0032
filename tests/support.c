/* Shared test helpers (see support.h). */
#include "support.h"

#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void test_parallel_always(gat_context *ctx) { ctx->parallel_min_work = 0; }

uint64_t test_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

float test_uniform(uint64_t *state, float lo, float hi)
{
    double u = (double)(test_next(state) >> 11) * 0x1.0p-53;
    return (float)(lo + (hi - lo) * u);
}

void test_fill_uniform(float *values, int64_t n, float lo, float hi, uint64_t seed)
{
    uint64_t state = seed;
    for (int64_t k = 0; k < n; k++)
        values[k] = test_uniform(&state, lo, hi);
}

void test_randomize_model(gat_model *model, float scale, uint64_t seed)
{
    for (int l = 0; l < gat_model_num_layers(model); l++) {
        gat_layer_config c;
        gat_layer_params p;
        gat_model_layer_config(model, l, &c);
        gat_model_layer_params(model, l, &p);
        int64_t hc = c.heads * c.channels;
        test_fill_uniform(p.weight, hc * c.in_features, -scale, scale, seed + 10 * (uint64_t)l);
        test_fill_uniform(p.att_src, hc, -scale, scale, seed + 10 * (uint64_t)l + 1);
        test_fill_uniform(p.att_dst, hc, -scale, scale, seed + 10 * (uint64_t)l + 2);
        if (p.bias != NULL)
            test_fill_uniform(p.bias, c.concat ? hc : c.channels, -scale, scale,
                              seed + 10 * (uint64_t)l + 3);
    }
}

int64_t test_first_mismatch(const float *got, const double *want, int64_t n, double rtol,
                            double atol)
{
    for (int64_t k = 0; k < n; k++)
        if (!(fabs((double)got[k] - want[k]) <= atol + rtol * fabs(want[k])))
            return k;
    return -1;
}

double test_max_abs(const double *values, int64_t n)
{
    double m = 0.0;
    for (int64_t k = 0; k < n; k++)
        if (fabs(values[k]) > m)
            m = fabs(values[k]);
    return m;
}

static void dense_layer(const gat_layer_config *c, const gat_layer_params *p, int64_t n,
                        int64_t num_edges, const int64_t *src, const int64_t *dst,
                        const double *x, double *out, double *attention)
{
    const int64_t f = c->in_features, heads = c->heads, ch = c->channels, hc = heads * ch;
    const int64_t width = c->concat ? hc : ch;
    double *h = calloc((size_t)(n * hc), sizeof *h);
    double *count = calloc((size_t)(n * n), sizeof *count); /* count[dst][src] */
    double *logit = calloc((size_t)(n * n), sizeof *logit);
    for (int64_t k = 0; k < num_edges; k++)
        if (!(c->add_self_loops && src[k] == dst[k]))
            count[dst[k] * n + src[k]] += 1.0;
    if (c->add_self_loops)
        for (int64_t i = 0; i < n; i++)
            count[i * n + i] = 1.0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < hc; o++)
            for (int64_t k = 0; k < f; k++)
                h[i * hc + o] += x[i * f + k] * p->weight[o * f + k];
    memset(out, 0, (size_t)(n * width) * sizeof *out);
    for (int64_t hh = 0; hh < heads; hh++) {
        for (int64_t i = 0; i < n; i++) {
            double sd = 0.0, mx = -INFINITY, sum = 0.0;
            for (int64_t q = 0; q < ch; q++)
                sd += h[i * hc + hh * ch + q] * p->att_dst[hh * ch + q];
            for (int64_t j = 0; j < n; j++) {
                double ss = 0.0;
                for (int64_t q = 0; q < ch; q++)
                    ss += h[j * hc + hh * ch + q] * p->att_src[hh * ch + q];
                double e = ss + sd;
                e = e > 0 ? e : e * c->negative_slope;
                logit[i * n + j] = count[i * n + j] > 0 ? e : -INFINITY;
                if (logit[i * n + j] > mx)
                    mx = logit[i * n + j];
            }
            for (int64_t j = 0; j < n; j++) {
                double w = count[i * n + j] > 0 ? count[i * n + j] * exp(logit[i * n + j] - mx)
                                                : 0.0;
                logit[i * n + j] = w;
                sum += w;
            }
            for (int64_t j = 0; j < n; j++) {
                double a = sum > 0 ? logit[i * n + j] / sum : 0.0;
                if (attention != NULL)
                    attention[(hh * n + i) * n + j] = a;
                for (int64_t q = 0; q < ch; q++) {
                    double v = a * h[j * hc + hh * ch + q];
                    if (c->concat)
                        out[i * width + hh * ch + q] += v;
                    else
                        out[i * width + q] += v / (double)heads;
                }
            }
        }
    }
    if (p->bias != NULL)
        for (int64_t i = 0; i < n; i++)
            for (int64_t o = 0; o < width; o++)
                out[i * width + o] += p->bias[o];
    free(h);
    free(count);
    free(logit);
}

void test_dense_forward(const gat_model *model, int64_t n, int64_t num_edges,
                        const int64_t *src, const int64_t *dst, const float *x, double *out,
                        double *attention)
{
    gat_layer_config c;
    gat_model_layer_config(model, 0, &c);
    int64_t width = c.in_features;
    double *input = malloc((size_t)(n * width) * sizeof *input);
    for (int64_t k = 0; k < n * width; k++)
        input[k] = x[k];
    int layers = gat_model_num_layers(model);
    for (int l = 0; l < layers; l++) {
        gat_layer_params p;
        gat_model_layer_config(model, l, &c);
        gat_model_layer_params((gat_model *)model, l, &p);
        width = c.concat ? c.heads * c.channels : c.channels;
        double *output = malloc((size_t)(n * width) * sizeof *output);
        dense_layer(&c, &p, n, num_edges, src, dst, input, output,
                    l + 1 == layers ? attention : NULL);
        if (l + 1 < layers)
            for (int64_t k = 0; k < n * width; k++) {
                double v = output[k];
                if (v <= 0)
                    output[k] = gat_model_activation(model) == GAT_ACT_ELU    ? expm1(v)
                                : gat_model_activation(model) == GAT_ACT_RELU ? 0.0
                                                                              : v;
            }
        free(input);
        input = output;
    }
    memcpy(out, input, (size_t)(n * width) * sizeof *out);
    free(input);
}
