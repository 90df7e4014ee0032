/*
 * The vector vocabulary (src/simd/simd.h) and the register kernels written
 * over it, against their twins in this build: each operation lane by lane
 * against the scalar operations the plain loops use (bitwise: the kernels
 * promise the plain loops' bits), the exp against the float64 exp, and the
 * training edge kernels at 8 heads x 8 channels against their plain loops
 * (bitwise, forward and backward, with every dropout). Each build runs its
 * own back end (GAT_V_BACKEND): the native, x86-64-v3, x86-64 and
 * -DGAT_SIMD_SCALAR builds cover AVX-512, AVX2, generic vectors, scalar.
 */
#include "support.h"

#include "fast_exp.h"
#include "internal.h"
#include "simd.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { W = GAT_V_LANES };

static bool same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

static float from_bits(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* Lane l of input k of a sweep over every 61st non-positive float (then
 * NaN and -inf). */
static float sweep(uint64_t k, int l)
{
    const uint64_t u = 0x80000000u + (k * W + (uint64_t)l) * 61u;
    if (u <= 0xffffffffu)
        return from_bits((uint32_t)u);
    return l % 2 ? NAN : -INFINITY;
}

/* The vector exp is the scalar one lane by lane, bit for bit, and within
 * 4e-7 of exp() in float64 where the result is normal (the polynomial's
 * error is about 2 ulp = 2.4e-7 relative; 4e-7 leaves room for the final
 * rounding); 0 below the normal range, NaN for NaN. */
Test(kernels, exp_same_bits_as_scalar_and_close_to_float64)
{
    cr_log_info("vector back end: %s, %d lanes", GAT_V_BACKEND, W);
    float in[W], out[W];
    double worst = 0.0;
    const uint64_t inputs = (UINT64_C(0x80000000) / 61 + 2 * W) / W;
    for (uint64_t k = 0; k < inputs; k++) {
        for (int l = 0; l < W; l++)
            in[l] = sweep(k, l);
        gat_v_store(out, gat_v_exp_nonpositive(gat_v_load(in)));
        for (int l = 0; l < W; l++) {
            const float want = gat__exp_nonpositive_fma(in[l]);
            cr_assert(same_bits(out[l], want), "exp(%a): vector %a, scalar %a", in[l], out[l],
                      want);
            if (isnan(in[l])) {
                cr_assert(isnan(out[l]));
            } else if (in[l] >= GAT_EXP_LOWEST) {
                const double ref = exp((double)in[l]);
                const double err = fabs((double)out[l] - ref) / ref;
                worst = err > worst ? err : worst;
                cr_assert(err <= 4e-7, "exp(%a) = %a, float64 %.17g", in[l], out[l], ref);
            } else {
                cr_assert(out[l] == 0.0f, "exp(%a) below the normal range gives %a", in[l],
                          out[l]);
            }
        }
    }
    cr_log_info("exp: worst relative error %.3g", worst);
}

/* Values with the cases the operations distinguish: signs, zeros of both
 * signs, NaN, infinities, equal pairs. */
static float value(int k)
{
    static const float special[] = {0.0f, -0.0f, NAN, INFINITY, -INFINITY, 1.0f, -1.0f, 2.5f};
    if (k % 5 == 0)
        return special[(k / 5) % 8];
    return (float)((k * 7919) % 2001 - 1000) / 37.0f;
}

Test(kernels, operations_lane_by_lane_as_scalar)
{
    float a[W], b[W], c[W], out[W];
    const float slope = 0.2f;
    for (int round = 0; round < 400; round++) {
        for (int l = 0; l < W; l++) {
            a[l] = value(round * 3 + l * 11);
            b[l] = value(round * 5 + l * 3 + 1);
            c[l] = value(round * 7 + l + 2);
        }
        if (round % 3 == 0)
            memcpy(b, a, sizeof b); /* equal pairs */
        const gat_v va = gat_v_load(a), vb = gat_v_load(b), vc = gat_v_load(c);
        gat_v_store(out, gat_v_fma(va, vb, vc));
        for (int l = 0; l < W; l++)
            cr_assert(same_bits(out[l], GAT_FMA(a[l], b[l], c[l])) ||
                          (isnan(out[l]) && isnan(GAT_FMA(a[l], b[l], c[l]))),
                      "fma lane %d", l);
        gat_v_store(out, gat_v_max(va, vb));
        for (int l = 0; l < W; l++)
            cr_assert(same_bits(out[l], a[l] > b[l] ? a[l] : b[l]), "max(%a, %a) = %a", a[l],
                      b[l], out[l]);
        gat_v_store(out, gat_v_leaky_relu(va, gat_v_splat(slope)));
        for (int l = 0; l < W; l++) {
            const float want = a[l] > 0.0f ? a[l] : a[l] * slope;
            cr_assert(same_bits(out[l], want) || (isnan(want) && isnan(out[l])),
                      "leaky_relu(%a) = %a", a[l], out[l]);
        }
        gat_v_store(out, gat_v_select(gat_v_gt(va, vb), vc, va));
        for (int l = 0; l < W; l++)
            cr_assert(same_bits(out[l], a[l] > b[l] ? c[l] : a[l]), "select lane %d", l);
        bool any = false;
        for (int l = 0; l < W; l++)
            any = any || a[l] != 0.0f;
        cr_assert_eq(gat_vm_any(gat_v_ne(va, gat_v_zero())), any);
    }
}

/* The 8-head operations against their definitions (simd.h). */
Test(kernels, head_operations)
{
    enum { HR = GAT_V_HEAD_REGS, R = GAT_V_ROW8 };
    float row[64], heads[8], out[64];
    for (int k = 0; k < 64; k++)
        row[k] = (float)(k + 1);
    for (int h = 0; h < 8; h++)
        heads[h] = (float)(100 + h);
    gat_v v[R], t[R], hv[HR];
    for (int u = 0; u < R; u++)
        v[u] = gat_v_load(row + W * u);
    gat_v_transpose8(v, t);
    for (int u = 0; u < R; u++)
        gat_v_store(out + W * u, t[u]);
    for (int r = 0; r < 8; r++)
        for (int c = 0; c < 8; c++)
            cr_assert_eq(out[c * 8 + r], row[r * 8 + c], "transpose (%d, %d)", r, c);
    for (int h = 0; h < HR; h++)
        hv[h] = gat_v_load_heads8(heads, h);
    /* A head register lines up with channel-major row registers: lane l of
     * row register u holds element u * W + l, head (u * W + l) % 8. */
    for (int u = 0; u < R; u++) {
        float lanes[W];
        gat_v_store(lanes, hv[u % HR]);
        for (int l = 0; l < W; l++)
            cr_assert_eq(lanes[l], heads[(u * W + l) % 8], "head register lane %d of %d", l, u);
        /* spread: register u of a head-major row, head (u * W + l) / 8 */
        gat_v_store(lanes, gat_v_spread_heads8(hv, u));
        for (int l = 0; l < W; l++)
            cr_assert_eq(lanes[l], heads[(u * W + l) / 8], "spread lane %d of %d", l, u);
    }
    for (int c = 0; c < 8; c++)
        for (int h = 0; h < HR; h++) {
            float lanes[W];
            gat_v_store(lanes, gat_v_channel_heads8(v, c, h));
            for (int l = 0; l < W; l++)
                cr_assert_eq(lanes[l], row[c * 8 + (h * W + l) % 8], "channel %d", c);
        }
    for (unsigned bits = 0; bits < 256; bits += 37)
        for (int h = 0; h < HR; h++) {
            float lanes[W];
            gat_v_store(lanes, gat_v_select(gat_v_head_bits8(bits, h), gat_v_splat(1.0f),
                                            gat_v_zero()));
            for (int l = 0; l < W; l++)
                cr_assert_eq(lanes[l], (float)((bits >> ((h * W + l) % 8)) & 1u), "bits %u", bits);
        }
    float stored[8] = {0};
    for (int h = 0; h < HR; h++)
        gat_v_store_heads8(stored, hv[h], h);
    cr_assert_arr_eq(stored, heads, sizeof heads);
    uint8_t bytes[64];
    for (int k = 0; k < 64; k++)
        bytes[k] = (uint8_t)(k * 5);
    for (int u = 0; u < R; u++) {
        float lanes[W];
        gat_v_store(lanes, gat_v_load_u8(bytes + W * u));
        for (int l = 0; l < W; l++)
            cr_assert_eq(lanes[l], (float)bytes[W * u + l]);
    }
}

/* One training step's forward and backward on a random graph, into
 * outputs [N, out_w], dx [N, F] and every gradient, concatenated. */
typedef struct step_result {
    float *out, *dx, *grads;
    int64_t grad_count;
} step_result;

enum { N = 300, E = 2400, F = 12 };

static step_result run_step(bool plain, double dropout, double attention, double projected,
                            gat_input_format format, int threads)
{
    gat_context *ctx = test_context(threads, NULL);
    test_parallel_always(ctx);
    test_plain_kernels(ctx, plain);
    int64_t src[E], dst[E];
    uint64_t s = 12345;
    for (int k = 0; k < E; k++) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        src[k] = (int64_t)((s >> 33) % N);
        dst[k] = (int64_t)((s >> 13) % N);
    }
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_create(ctx, &g, N, E, src, dst), GAT_OK);
    gat_layer_config c[2];
    gat_layer_config_init(&c[0], F, 8, 8);
    gat_layer_config_init(&c[1], 64, 1, 7);
    c[1].concat = false;
    gat_model *m = NULL;
    cr_assert_eq(gat_model_create(ctx, &m, 2, c, GAT_ACT_ELU), GAT_OK);
    test_randomize_model(m, 0.5f, 7);
    float *x = malloc(N * F * sizeof *x), *r = malloc(N * 7 * sizeof *r);
    test_fill_uniform(x, N * F, -1.0f, 1.0f, 8);
    if (format == GAT_INPUT_SPARSE)
        for (int k = 0; k < N * F; k++)
            if (k % 3 != 0)
                x[k] = 0.0f;
    test_fill_uniform(r, N * 7, -1.0f, 1.0f, 9);
    gat_trainer_options to;
    gat_trainer_options_init(&to);
    to.dropout = dropout;
    to.attention_dropout = attention;
    to.projected_dropout = projected;
    to.seed = 3;
    to.input_format = format;
    gat_trainer *t = NULL;
    cr_assert_eq(gat_trainer_create(ctx, &t, m, g, x, N, F, &to), GAT_OK, "%s",
                 gat_context_message(ctx));
    step_result res = {malloc(N * 7 * sizeof(float)), malloc(N * F * sizeof(float)), NULL, 0};
    cr_assert_eq(gat_trainer_forward(ctx, t, true, res.out), GAT_OK);
    cr_assert_eq(gat_trainer_backward(ctx, t, r, res.dx), GAT_OK);
    res.grads = malloc((64 * F + 3 * 64 + 7 * 64 + 3 * 7) * sizeof(float));
    for (int l = 0; l < 2; l++) {
        gat_layer_params p;
        cr_assert_eq(gat_trainer_gradients(t, l, &p), GAT_OK);
        const int64_t hc = c[l].heads * c[l].channels;
        const struct { const float *data; int64_t n; } parts[] = {
            {p.weight, hc * c[l].in_features}, {p.att_src, hc}, {p.att_dst, hc},
            {p.bias, c[l].concat ? hc : c[l].channels}};
        for (int k = 0; k < 4; k++) {
            memcpy(res.grads + res.grad_count, parts[k].data, (size_t)parts[k].n * sizeof(float));
            res.grad_count += parts[k].n;
        }
    }
    gat_trainer_destroy(&t);
    gat_model_destroy(&m);
    gat_graph_destroy(&g);
    gat_context_destroy(&ctx);
    free(x), free(r);
    return res;
}

static void expect_twins(double dropout, double attention, double projected,
                         gat_input_format format, int threads)
{
    step_result a = run_step(false, dropout, attention, projected, format, threads);
    step_result b = run_step(true, dropout, attention, projected, format, threads);
    cr_assert(memcmp(a.out, b.out, N * 7 * sizeof(float)) == 0, "forward outputs differ");
    cr_assert(memcmp(a.dx, b.dx, N * F * sizeof(float)) == 0, "input gradients differ");
    cr_assert_eq(a.grad_count, b.grad_count);
    for (int64_t k = 0; k < a.grad_count; k++)
        cr_assert(same_bits(a.grads[k], b.grads[k]), "gradient %lld: %a, plain %a",
                  (long long)k, a.grads[k], b.grads[k]);
    free(a.out), free(a.dx), free(a.grads), free(b.out), free(b.dx), free(b.grads);
}

/* The 8 x 8 register kernels (forward rows, backward passes A and B) give
 * their plain loops' bits: without dropout, with each dropout, through a
 * sparse input (row lists: only the receptive field is computed), on 1
 * and 2 threads. */
Test(kernels, training_8x8_kernels_same_bits_as_plain_loops)
{
    expect_twins(0, 0, 0, GAT_INPUT_DENSE, 1);
    expect_twins(0.3, 0.4, 0.5, GAT_INPUT_DENSE, 2);
    expect_twins(0.6, 0.6, 0.6, GAT_INPUT_SPARSE, 2);
    expect_twins(0, 0.5, 0, GAT_INPUT_SPARSE, 1);
}
