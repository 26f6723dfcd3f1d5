/*
 * sfn_native: BLAS-backed kernels for SFN-Lite training on the TensorFlow.js wasm backend.
 *
 * Every function works in place on the wasm heap: the caller passes the heap as one Float32Array and
 * every tensor as an element offset into it, so nothing is copied. Built against OpenBLAS
 * (cblas_sgemm), single-threaded by default (deterministic: OpenBLAS never splits the K reduction).
 *
 *   init(threads)                    -> string describing the BLAS in use
 *   gemm(heap, transA, transB, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc, batch, strideA, strideB, strideC)
 *                                    C_i = alpha op(A_i) op(B_i) + beta C_i, row-major, i < batch
 *   attnFwd(heap, B, H, n, nm, D, scale, q, kx, vx, km, vm, mask, out, p)
 *   attnBwd(heap, B, H, n, nm, D, scale, dout, q, kx, vx, km, vm, p, dq, dkx, dvx, dkm, dvm)
 *   sumMid(heap, x, outer, mid, inner, out)   out[o, i] = sum_r x[o, r, i] (float, r ascending)
 *   sumSquares(heap, x, n)           -> sum of x^2 (double accumulator)
 *   linearFwd(heap, x, w, b, M, K, N, out)       out = x w + b            (x [M, K], w [K, N], b [N])
 *   linearBwd(heap, dy, x, w, M, K, N, dx, dw, db) dx = dy w^T, dw = x^T dy, db = column sums of dy
 *   normFwd(heap, x, rows, D, eps, y, rstd)     y = (x - mean) / sqrt(var + eps) per row, rstd = 1 / sqrt(var + eps)
 *   normBwd(heap, dy, y, rstd, rows, D, dx)     dx = rstd (dy - mean(dy) - y mean(dy y))
 *   siluFwd(heap, x, n, y)  /  siluBwd(heap, dy, x, n, dx)    y = x sigmoid(x)
 *   adamw(heap, n, p, m, v, g, pOut, mOut, vOut, scale, beta1, beta2, bc1, bc2, eps, lr, decay)
 *                                    one AdamW step, float32, the same operations in the same order
 *                                    as src/train/optimizer.ts
 *
 * Attention (see src/model/sfn.ts): per sample b and head h, with dh = D / H and L = n + nm,
 *   Q = q[b*n.., h*dh..] [n, dh], K = [kx[b*n..]; km[b*nm..]] [L, dh], V likewise,
 *   P = softmax(scale Q K^T + mask) [n, L] (stored in p at ((b*H + h)*n) * L), out = P V.
 * mask (or -1): additive [n, L], the same for every sample and head.
 */
#include <math.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum CBLAS_ORDER { CblasRowMajor = 101 };
enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112 };
void cblas_sgemm(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, enum CBLAS_TRANSPOSE, int, int, int, float, const float *, int,
                 const float *, int, float, float *, int);
void openblas_set_num_threads(int);
char *openblas_get_config(void);
int openblas_get_num_threads(void);

#define MAXARGS 24

/* x86-64: an AVX2 build of the elementwise loops beside the baseline one, picked at load time */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__)
#define SFN_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SFN_CLONES
#endif

static napi_status args_of(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = MAXARGS;
  napi_status s = napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (s != napi_ok) return s;
  if (argc < want) {
    napi_throw_type_error(env, NULL, "sfn_native: too few arguments");
    return napi_invalid_arg;
  }
  return napi_ok;
}

/* heap Float32Array -> pointer and length (elements) */
static int heap_of(napi_env env, napi_value v, float **data, size_t *len) {
  napi_typedarray_type type;
  void *p;
  size_t n;
  if (napi_get_typedarray_info(env, v, &type, &n, &p, NULL, NULL) != napi_ok || type != napi_float32_array) {
    napi_throw_type_error(env, NULL, "sfn_native: the heap must be a Float32Array");
    return 0;
  }
  *data = (float *)p;
  *len = n;
  return 1;
}

static int64_t i64(napi_env env, napi_value v) {
  int64_t x = 0;
  napi_get_value_int64(env, v, &x);
  return x;
}

static double f64(napi_env env, napi_value v) {
  double x = 0;
  napi_get_value_double(env, v, &x);
  return x;
}

static int in_heap(napi_env env, int64_t off, int64_t count, size_t len) {
  if (off < 0 || count < 0 || (uint64_t)(off + count) > (uint64_t)len) {
    napi_throw_range_error(env, NULL, "sfn_native: tensor outside the heap");
    return 0;
  }
  return 1;
}

static napi_value js_init(napi_env env, napi_callback_info info) {
  napi_value argv[MAXARGS];
  if (args_of(env, info, 1, argv) != napi_ok) return NULL;
  int threads = (int)i64(env, argv[0]);
  if (threads < 1) threads = 1;
  openblas_set_num_threads(threads);
  napi_value out;
  const char *cfg = openblas_get_config();
  napi_create_string_utf8(env, cfg ? cfg : "openblas", NAPI_AUTO_LENGTH, &out);
  return out;
}

static napi_value js_gemm(napi_env env, napi_callback_info info) {
  napi_value argv[MAXARGS];
  if (args_of(env, info, 18, argv) != napi_ok) return NULL;
  float *h;
  size_t len;
  if (!heap_of(env, argv[0], &h, &len)) return NULL;
  int ta = (int)i64(env, argv[1]), tb = (int)i64(env, argv[2]);
  int64_t M = i64(env, argv[3]), N = i64(env, argv[4]), K = i64(env, argv[5]);
  float alpha = (float)f64(env, argv[6]);
  int64_t a = i64(env, argv[7]), lda = i64(env, argv[8]), b = i64(env, argv[9]), ldb = i64(env, argv[10]);
  float beta = (float)f64(env, argv[11]);
  int64_t c = i64(env, argv[12]), ldc = i64(env, argv[13]);
  int64_t batch = i64(env, argv[14]), sa = i64(env, argv[15]), sb = i64(env, argv[16]), sc = i64(env, argv[17]);
  if (M <= 0 || N <= 0 || batch <= 0) return NULL;
  int64_t aRows = ta ? K : M, bRows = tb ? N : K;
  int64_t last = batch - 1;
  if (!in_heap(env, a, last * sa + (aRows - 1) * lda + (ta ? M : K), len)) return NULL;
  if (!in_heap(env, b, last * sb + (bRows - 1) * ldb + (tb ? K : N), len)) return NULL;
  if (!in_heap(env, c, last * sc + (M - 1) * ldc + N, len)) return NULL;
  for (int64_t i = 0; i < batch; i++) {
    if (K == 0) {
      for (int64_t r = 0; r < M; r++) {
        float *row = h + c + i * sc + r * ldc;
        for (int64_t j = 0; j < N; j++) row[j] = beta == 0.0f ? 0.0f : beta * row[j];
      }
      continue;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K, alpha,
                h + a + i * sa, (int)lda, h + b + i * sb, (int)ldb, beta, h + c + i * sc, (int)ldc);
  }
  return NULL;
}

/*
 * exp(x) for the softmax (x <= 0 there: logits minus their row maximum). Cephes' expf polynomial
 * (|relative error| < 2e-7, about 1-2 ulp), written so that the compiler vectorises the loop: round
 * to nearest with the 1.5 * 2^23 trick, 2^n built in the exponent bits. Below -87 (masked entries,
 * -1e9) it returns 0 exactly, as expf does.
 */
static inline float exp_nonpos(float x) {
  const float big = 12582912.0f; /* 1.5 * 2^23 */
  float xc = x > -87.0f ? x : -87.0f;
  float t = xc * 1.44269504088896341f + big;
  float n = t - big;
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500E-4f;
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  float y = p * r * r + r + 1.0f;
  int32_t bits = ((int32_t)n + 127) << 23;
  bits = x < -87.0f ? 0 : bits;
  float sc;
  memcpy(&sc, &bits, sizeof sc);
  return y * sc;
}

/*
 * One softmax row in place: row = softmax(row * scale + mask). Built for AVX2 and for the baseline
 * (picked at load time); no FMA contraction, so both give the same bits.
 */
SFN_CLONES static void softmax_row(float *row, const float *mrow, int64_t L, float scale) {
  float m8[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
  for (int64_t j = 0; j < L; j++) row[j] = row[j] * scale;
  if (mrow)
    for (int64_t j = 0; j < L; j++) row[j] = row[j] + mrow[j];
  int64_t j = 0;
  for (; j + 8 <= L; j += 8)
    for (int k = 0; k < 8; k++) m8[k] = row[j + k] > m8[k] ? row[j + k] : m8[k];
  float mx = m8[0];
  for (int k = 1; k < 8; k++) mx = m8[k] > mx ? m8[k] : mx;
  for (; j < L; j++) mx = row[j] > mx ? row[j] : mx;
  for (j = 0; j < L; j++) row[j] = exp_nonpos(row[j] - mx);
  float sum = 0.0f;
  for (j = 0; j < L; j++) sum += row[j];
  const float inv = 1.0f / sum;
  for (j = 0; j < L; j++) row[j] *= inv;
}

/* dS = scale * P (dP - rowsum(dP P)), one row in place over dP */
SFN_CLONES static void softmax_grad_row(float *row, const float *prow, int64_t L, float scale) {
  float dot = 0.0f;
  for (int64_t j = 0; j < L; j++) dot += row[j] * prow[j];
  for (int64_t j = 0; j < L; j++) row[j] = scale * prow[j] * (row[j] - dot);
}

SFN_CLONES static void norm_fwd_row(const float *x, float *y, float *rstd, int64_t D, float eps) {
  float sum = 0.0f;
  for (int64_t j = 0; j < D; j++) sum += x[j];
  const float mean = sum / (float)D;
  float sq = 0.0f;
  for (int64_t j = 0; j < D; j++) {
    const float c = x[j] - mean;
    sq += c * c;
  }
  const float r = 1.0f / sqrtf(sq / (float)D + eps);
  for (int64_t j = 0; j < D; j++) y[j] = (x[j] - mean) * r;
  *rstd = r;
}

SFN_CLONES static void norm_bwd_row(const float *dy, const float *y, float rstd, int64_t D, float *dx) {
  float a = 0.0f, b = 0.0f;
  for (int64_t j = 0; j < D; j++) {
    a += dy[j];
    b += dy[j] * y[j];
  }
  a = a / (float)D;
  b = b / (float)D;
  for (int64_t j = 0; j < D; j++) dx[j] = rstd * (dy[j] - a - y[j] * b);
}

/* sigmoid(x) from exp(-|x|) (never overflows) */
static inline float sigmoidf_(float x) {
  const float e = exp_nonpos(x < 0.0f ? x : -x);
  const float s = 1.0f / (1.0f + e);
  return x >= 0.0f ? s : e * s;
}

SFN_CLONES static void silu_fwd(const float *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = x[i] * sigmoidf_(x[i]);
}

SFN_CLONES static void silu_bwd(const float *dy, const float *x, float *dx, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const float s = sigmoidf_(x[i]);
    dx[i] = dy[i] * (s + x[i] * s * (1.0f - s));
  }
}

typedef struct {
  int64_t B, H, n, nm, D;
  float scale;
} AttnShape;

static int attn_shape(napi_env env, napi_value *argv, size_t len, AttnShape *s) {
  s->B = i64(env, argv[1]);
  s->H = i64(env, argv[2]);
  s->n = i64(env, argv[3]);
  s->nm = i64(env, argv[4]);
  s->D = i64(env, argv[5]);
  s->scale = (float)f64(env, argv[6]);
  if (s->B <= 0 || s->H <= 0 || s->n <= 0 || s->nm < 0 || s->D <= 0 || s->D % s->H != 0) {
    napi_throw_range_error(env, NULL, "sfn_native: bad attention shape");
    return 0;
  }
  (void)len;
  return 1;
}

/* scratch buffers (grown on demand, reused; per thread, as worker threads may load the addon too):
 * K and V of one sample-head, their gradients, dP */
static _Thread_local float *scr[5] = {NULL, NULL, NULL, NULL, NULL};
static _Thread_local size_t scr_len[5] = {0, 0, 0, 0, 0};

static float *scratch_at(int i, size_t n) {
  if (n > scr_len[i]) {
    free(scr[i]);
    scr[i] = (float *)malloc(n * sizeof(float));
    scr_len[i] = scr[i] ? n : 0;
  }
  return scr[i];
}

/* rows [x (n rows); m (nm rows)] of width dh, each with row stride D -> contiguous [n + nm, dh] */
static void gather_rows(float *dst, const float *x, int64_t n, const float *m, int64_t nm, int64_t D, int64_t dh) {
  for (int64_t r = 0; r < n; r++) memcpy(dst + r * dh, x + r * D, (size_t)dh * sizeof(float));
  for (int64_t r = 0; r < nm; r++) memcpy(dst + (n + r) * dh, m + r * D, (size_t)dh * sizeof(float));
}

static void scatter_rows(const float *src, float *x, int64_t n, float *m, int64_t nm, int64_t D, int64_t dh) {
  for (int64_t r = 0; r < n; r++) memcpy(x + r * D, src + r * dh, (size_t)dh * sizeof(float));
  for (int64_t r = 0; r < nm; r++) memcpy(m + r * D, src + (n + r) * dh, (size_t)dh * sizeof(float));
}

static napi_value js_attn_fwd(napi_env env, napi_callback_info info) {
  napi_value argv[MAXARGS];
  if (args_of(env, info, 15, argv) != napi_ok) return NULL;
  float *h;
  size_t len;
  if (!heap_of(env, argv[0], &h, &len)) return NULL;
  AttnShape s;
  if (!attn_shape(env, argv, len, &s)) return NULL;
  int64_t q = i64(env, argv[7]), kx = i64(env, argv[8]), vx = i64(env, argv[9]), km = i64(env, argv[10]), vm = i64(env, argv[11]);
  int64_t mask = i64(env, argv[12]), out = i64(env, argv[13]), p = i64(env, argv[14]);
  const int64_t B = s.B, H = s.H, n = s.n, nm = s.nm, D = s.D, dh = D / H, L = n + nm;
  if (!in_heap(env, q, B * n * D, len) || !in_heap(env, kx, B * n * D, len) || !in_heap(env, vx, B * n * D, len) ||
      !in_heap(env, km, B * nm * D, len) || !in_heap(env, vm, B * nm * D, len) || !in_heap(env, out, B * n * D, len) ||
      !in_heap(env, p, B * H * n * L, len) || (mask >= 0 && !in_heap(env, mask, n * L, len)))
    return NULL;
  float *K = scratch_at(0, (size_t)(L * dh)), *V = scratch_at(1, (size_t)(L * dh));
  if (!K || !V) {
    napi_throw_error(env, NULL, "sfn_native: out of memory");
    return NULL;
  }
  for (int64_t b = 0; b < B; b++)
    for (int64_t hh = 0; hh < H; hh++) {
      const float *Q = h + q + b * n * D + hh * dh;
      gather_rows(K, h + kx + b * n * D + hh * dh, n, h + km + b * nm * D + hh * dh, nm, D, dh);
      gather_rows(V, h + vx + b * n * D + hh * dh, n, h + vm + b * nm * D + hh * dh, nm, D, dh);
      float *P = h + p + (b * H + hh) * n * L;
      float *O = h + out + b * n * D + hh * dh;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)L, (int)dh, 1.0f, Q, (int)D, K, (int)dh, 0.0f, P, (int)L);
      for (int64_t i = 0; i < n; i++) softmax_row(P + i * L, mask >= 0 ? h + mask + i * L : NULL, L, s.scale);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)dh, (int)L, 1.0f, P, (int)L, V, (int)dh, 0.0f, O, (int)D);
    }
  return NULL;
}

static napi_value js_attn_bwd(napi_env env, napi_callback_info info) {
  napi_value argv[MAXARGS];
  if (args_of(env, info, 19, argv) != napi_ok) return NULL;
  float *h;
  size_t len;
  if (!heap_of(env, argv[0], &h, &len)) return NULL;
  AttnShape s;
  if (!attn_shape(env, argv, len, &s)) return NULL;
  int64_t dout = i64(env, argv[7]), q = i64(env, argv[8]), kx = i64(env, argv[9]), vx = i64(env, argv[10]), km = i64(env, argv[11]),
          vm = i64(env, argv[12]), p = i64(env, argv[13]);
  int64_t dq = i64(env, argv[14]), dkx = i64(env, argv[15]), dvx = i64(env, argv[16]), dkm = i64(env, argv[17]), dvm = i64(env, argv[18]);
  const int64_t B = s.B, H = s.H, n = s.n, nm = s.nm, D = s.D, dh = D / H, L = n + nm;
  const int64_t big = B * n * D, small = B * nm * D;
  if (!in_heap(env, dout, big, len) || !in_heap(env, q, big, len) || !in_heap(env, kx, big, len) || !in_heap(env, vx, big, len) ||
      !in_heap(env, km, small, len) || !in_heap(env, vm, small, len) || !in_heap(env, p, B * H * n * L, len) ||
      !in_heap(env, dq, big, len) || !in_heap(env, dkx, big, len) || !in_heap(env, dvx, big, len) || !in_heap(env, dkm, small, len) ||
      !in_heap(env, dvm, small, len))
    return NULL;
  float *K = scratch_at(0, (size_t)(L * dh)), *V = scratch_at(1, (size_t)(L * dh)), *dK = scratch_at(2, (size_t)(L * dh)),
        *dV = scratch_at(3, (size_t)(L * dh)), *dS = scratch_at(4, (size_t)(n * L));
  if (!K || !V || !dK || !dV || !dS) {
    napi_throw_error(env, NULL, "sfn_native: out of memory");
    return NULL;
  }
  for (int64_t b = 0; b < B; b++)
    for (int64_t hh = 0; hh < H; hh++) {
      const int64_t ox = b * n * D + hh * dh, om = b * nm * D + hh * dh;
      const float *dO = h + dout + ox, *Q = h + q + ox;
      const float *P = h + p + (b * H + hh) * n * L;
      gather_rows(K, h + kx + ox, n, h + km + om, nm, D, dh);
      gather_rows(V, h + vx + ox, n, h + vm + om, nm, D, dh);
      /* dV = P^T dO */
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)L, (int)dh, (int)n, 1.0f, P, (int)L, dO, (int)D, 0.0f, dV, (int)dh);
      /* dP = dO V^T, then dS = scale * P (dP - rowsum(dP P)) */
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)L, (int)dh, 1.0f, dO, (int)D, V, (int)dh, 0.0f, dS, (int)L);
      for (int64_t i = 0; i < n; i++) softmax_grad_row(dS + i * L, P + i * L, L, s.scale);
      /* dQ = dS K, dK = dS^T Q */
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)dh, (int)L, 1.0f, dS, (int)L, K, (int)dh, 0.0f, h + dq + ox, (int)D);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)L, (int)dh, (int)n, 1.0f, dS, (int)L, Q, (int)D, 0.0f, dK, (int)dh);
      scatter_rows(dV, h + dvx + ox, n, h + dvm + om, nm, D, dh);
      scatter_rows(dK, h + dkx + ox, n, h + dkm + om, nm, D, dh);
    }
  return NULL;
}

static napi_value js_sum_mid(napi_env env, napi_callback_info info) {
  napi_value argv[MAXARGS];
  if (args_of(env, info, 6, argv) != napi_ok) return NULL;
  float *h;
  size_t len;
  if (!heap_of(env, argv[0], &h, &len)) return NULL;
  int64_t x = i64(env, argv[1]), outer = i64(env, argv[2]), mid = i64(env, argv[3]), inner = i64(env, argv[4]), out = i64(env, argv[5]);
  if (!in_heap(env, x, outer * mid * inner, len) || !in_heap(env, out, outer * inner, len)) return NULL;
  for (int64_t o = 0; o < outer; o++) {
    float *dst = h + out + o * inner;
    const float *src = h + x + o * mid * inner;
    if (inner == 1) {
      float acc = 0.0f;
      for (int64_t r = 0; r < mid; r++) acc += src[r];
      dst[0] = acc;
      continue;
    }
    for (int64_t i = 0; i < inner; i++) dst[i] = 0.0f;
    for (int64_t r = 0; r < mid; r++) {
      const float *row = src + r * inner;
      for (int64_t i = 0; i < inner; i++) dst[i] += row[i];
    }
  }
  return NULL;
}

static napi_value js_sum_squares(napi_env env, napi_callback_info info) {
  napi_value argv[MAXARGS];
  if (args_of(env, info, 3, argv) != napi_ok) return NULL;
  float *h;
  size_t len;
  if (!heap_of(env, argv[0], &h, &len)) return NULL;
  int64_t x = i64(env, argv[1]), n = i64(env, argv[2]);
  if (!in_heap(env, x, n, len)) return NULL;
  double acc = 0.0;
  for (int64_t i = 0; i < n; i++) acc += (double)h[x + i] * (double)h[x + i];
  napi_value out;
  napi_create_double(env, acc, &out);
  return out;
}

static napi_value js_adamw(napi_env env, napi_callback_info info) {
  napi_value argv[MAXARGS];
  if (args_of(env, info, 17, argv) != napi_ok) return NULL;
  float *h;
  size_t len;
  if (!heap_of(env, argv[0], &h, &len)) return NULL;
  int64_t n = i64(env, argv[1]);
  int64_t p = i64(env, argv[2]), m = i64(env, argv[3]), v = i64(env, argv[4]), g = i64(env, argv[5]);
  int64_t po = i64(env, argv[6]), mo = i64(env, argv[7]), vo = i64(env, argv[8]);
  const float scale = (float)f64(env, argv[9]), b1 = (float)f64(env, argv[10]), b2 = (float)f64(env, argv[11]);
  const float bc1 = (float)f64(env, argv[12]), bc2 = (float)f64(env, argv[13]), eps = (float)f64(env, argv[14]);
  const float lr = (float)f64(env, argv[15]), decay = (float)f64(env, argv[16]);
  const float c1 = (float)(1.0 - f64(env, argv[10])), c2 = (float)(1.0 - f64(env, argv[11]));
  if (!in_heap(env, p, n, len) || !in_heap(env, m, n, len) || !in_heap(env, v, n, len) || !in_heap(env, g, n, len) ||
      !in_heap(env, po, n, len) || !in_heap(env, mo, n, len) || !in_heap(env, vo, n, len))
    return NULL;
  for (int64_t i = 0; i < n; i++) {
    float gi = h[g + i];
    if (scale != 1.0f) gi = gi * scale;
    const float mi = h[m + i] * b1 + gi * c1;
    const float vi = h[v + i] * b2 + (gi * gi) * c2;
    const float update = (mi / bc1) / (sqrtf(vi / bc2) + eps);
    const float pi = h[p + i];
    h[po + i] = decay != 0.0f ? pi - (update * lr + pi * decay) : pi - update * lr;
    h[mo + i] = mi;
    h[vo + i] = vi;
  }
  return NULL;
}

static napi_value js_linear_fwd(napi_env env, napi_callback_info info) {
  napi_value argv[MAXARGS];
  if (args_of(env, info, 8, argv) != napi_ok) return NULL;
  float *h;
  size_t len;
  if (!heap_of(env, argv[0], &h, &len)) return NULL;
  int64_t x = i64(env, argv[1]), w = i64(env, argv[2]), b = i64(env, argv[3]), M = i64(env, argv[4]), K = i64(env, argv[5]), N = i64(env, argv[6]),
          out = i64(env, argv[7]);
  if (M <= 0 || N <= 0 || K <= 0 || !in_heap(env, x, M * K, len) || !in_heap(env, w, K * N, len) || !in_heap(env, b, N, len) ||
      !in_heap(env, out, M * N, len))
    return NULL;
  for (int64_t r = 0; r < M; r++) memcpy(h + out + r * N, h + b, (size_t)N * sizeof(float));
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, h + x, (int)K, h + w, (int)N, 1.0f, h + out, (int)N);
  return NULL;
}

static napi_value js_linear_bwd(napi_env env, napi_callback_info info) {
  napi_value argv[MAXARGS];
  if (args_of(env, info, 11, argv) != napi_ok) return NULL;
  float *h;
  size_t len;
  if (!heap_of(env, argv[0], &h, &len)) return NULL;
  int64_t dy = i64(env, argv[1]), x = i64(env, argv[2]), w = i64(env, argv[3]), M = i64(env, argv[4]), K = i64(env, argv[5]), N = i64(env, argv[6]);
  int64_t dx = i64(env, argv[7]), dw = i64(env, argv[8]), db = i64(env, argv[9]);
  int want_dx = (int)i64(env, argv[10]);
  if (M <= 0 || N <= 0 || K <= 0 || !in_heap(env, dy, M * N, len) || !in_heap(env, x, M * K, len) || !in_heap(env, w, K * N, len) ||
      (want_dx && !in_heap(env, dx, M * K, len)) || !in_heap(env, dw, K * N, len) || !in_heap(env, db, N, len))
    return NULL;
  if (want_dx)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)K, (int)N, 1.0f, h + dy, (int)N, h + w, (int)N, 0.0f, h + dx, (int)K);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)N, (int)M, 1.0f, h + x, (int)K, h + dy, (int)N, 0.0f, h + dw, (int)N);
  float *acc = h + db;
  for (int64_t j = 0; j < N; j++) acc[j] = 0.0f;
  for (int64_t r = 0; r < M; r++) {
    const float *row = h + dy + r * N;
    for (int64_t j = 0; j < N; j++) acc[j] += row[j];
  }
  return NULL;
}

static napi_value js_norm_fwd(napi_env env, napi_callback_info info) {
  napi_value argv[MAXARGS];
  if (args_of(env, info, 7, argv) != napi_ok) return NULL;
  float *h;
  size_t len;
  if (!heap_of(env, argv[0], &h, &len)) return NULL;
  int64_t x = i64(env, argv[1]), rows = i64(env, argv[2]), D = i64(env, argv[3]);
  float eps = (float)f64(env, argv[4]);
  int64_t y = i64(env, argv[5]), rstd = i64(env, argv[6]);
  if (D <= 0 || !in_heap(env, x, rows * D, len) || !in_heap(env, y, rows * D, len) || !in_heap(env, rstd, rows, len)) return NULL;
  for (int64_t r = 0; r < rows; r++) norm_fwd_row(h + x + r * D, h + y + r * D, h + rstd + r, D, eps);
  return NULL;
}

static napi_value js_norm_bwd(napi_env env, napi_callback_info info) {
  napi_value argv[MAXARGS];
  if (args_of(env, info, 7, argv) != napi_ok) return NULL;
  float *h;
  size_t len;
  if (!heap_of(env, argv[0], &h, &len)) return NULL;
  int64_t dy = i64(env, argv[1]), y = i64(env, argv[2]), rstd = i64(env, argv[3]), rows = i64(env, argv[4]), D = i64(env, argv[5]),
          dx = i64(env, argv[6]);
  if (D <= 0 || !in_heap(env, dy, rows * D, len) || !in_heap(env, y, rows * D, len) || !in_heap(env, rstd, rows, len) ||
      !in_heap(env, dx, rows * D, len))
    return NULL;
  for (int64_t r = 0; r < rows; r++) norm_bwd_row(h + dy + r * D, h + y + r * D, h[rstd + r], D, h + dx + r * D);
  return NULL;
}

static napi_value js_silu_fwd(napi_env env, napi_callback_info info) {
  napi_value argv[MAXARGS];
  if (args_of(env, info, 4, argv) != napi_ok) return NULL;
  float *h;
  size_t len;
  if (!heap_of(env, argv[0], &h, &len)) return NULL;
  int64_t x = i64(env, argv[1]), n = i64(env, argv[2]), y = i64(env, argv[3]);
  if (!in_heap(env, x, n, len) || !in_heap(env, y, n, len)) return NULL;
  silu_fwd(h + x, h + y, n);
  return NULL;
}

static napi_value js_silu_bwd(napi_env env, napi_callback_info info) {
  napi_value argv[MAXARGS];
  if (args_of(env, info, 5, argv) != napi_ok) return NULL;
  float *h;
  size_t len;
  if (!heap_of(env, argv[0], &h, &len)) return NULL;
  int64_t dy = i64(env, argv[1]), x = i64(env, argv[2]), n = i64(env, argv[3]), dx = i64(env, argv[4]);
  if (!in_heap(env, dy, n, len) || !in_heap(env, x, n, len) || !in_heap(env, dx, n, len)) return NULL;
  silu_bwd(h + dy, h + x, h + dx, n);
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"init", NULL, js_init, NULL, NULL, NULL, napi_default, NULL},
      {"gemm", NULL, js_gemm, NULL, NULL, NULL, napi_default, NULL},
      {"attnFwd", NULL, js_attn_fwd, NULL, NULL, NULL, napi_default, NULL},
      {"attnBwd", NULL, js_attn_bwd, NULL, NULL, NULL, napi_default, NULL},
      {"sumMid", NULL, js_sum_mid, NULL, NULL, NULL, napi_default, NULL},
      {"sumSquares", NULL, js_sum_squares, NULL, NULL, NULL, napi_default, NULL},
      {"adamw", NULL, js_adamw, NULL, NULL, NULL, napi_default, NULL},
      {"linearFwd", NULL, js_linear_fwd, NULL, NULL, NULL, napi_default, NULL},
      {"linearBwd", NULL, js_linear_bwd, NULL, NULL, NULL, napi_default, NULL},
      {"normFwd", NULL, js_norm_fwd, NULL, NULL, NULL, napi_default, NULL},
      {"normBwd", NULL, js_norm_bwd, NULL, NULL, NULL, napi_default, NULL},
      {"siluFwd", NULL, js_silu_fwd, NULL, NULL, NULL, napi_default, NULL},
      {"siluBwd", NULL, js_silu_bwd, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
