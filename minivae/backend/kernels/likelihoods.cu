// The decoder likelihoods' negative log-likelihoods and their gradients, in one pass:
// Bernoulli from logits, Gaussian from means (fixed or per-pixel variance).
//
// NumPy semantics: minivae/backend/kernels/reference.py (bernoulli_nll_grad,
// gaussian_nll_grad), every operation in the reference's order. With
// e = exp(-|l|) <= 1 the Bernoulli pass overflows for no logit.
//
// Built by CuPy's NVRTC (minivae/backend/kernels/cuda.py) and, standalone, by nvcc
// (tests/test_nvcc.py): no #include; extern "C" entry points for float (_f32)
// and double (_f64). Sizes are int: cuda.py checks that N * D < 2^31.

#define WARP 32
#define FULL_MASK 0xffffffffu
#define LOG_2PI 1.8378770664093453

// The sum of v over the 32 lanes of a warp; every lane receives it.
__device__ __forceinline__ double warp_sum(double v) {
    for (int offset = WARP / 2; offset > 0; offset /= 2)
        v += __shfl_xor_sync(FULL_MASK, v, offset);
    return v;
}

// The sum of v over the block (blockDim.x a multiple of 32, at most 1024);
// thread 0 receives it. Every thread of the block must call it.
__device__ __forceinline__ double block_sum(double v) {
    __shared__ double warp_sums[32];
    int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
    v = warp_sum(v);
    if (lane == 0) warp_sums[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < blockDim.x / WARP ? warp_sums[lane] : 0.0;
        v = warp_sum(v);
    }
    return v;
}

// With e = exp(-|l|), r = 1 + e and q = e / r = sigmoid(-|l|):
//   nll_n       = sum_d [ log r + max(l_nd, 0) - x_nd l_nd ]     (= softplus(l) - x l)
//   dlogits_nd  = scale (sigmoid(l_nd) - x_nd),   sigmoid(l) = 1 - q if l >= 0 else q
// One block per row n; the row sum is kept in double.
// x, logits, dlogits: (N, D); nll: (N,).
template <typename T>
__device__ void bernoulli_nll_grad(const T* x, const T* logits, T scale,
                                   T* dlogits, T* nll, int d) {
    int row = blockIdx.x;
    int base = row * d;
    double acc = 0.0;
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        T l = logits[base + j];
        T xv = x[base + j];
        T e = exp(-fabs(l));
        T r = e + T(1);
        T q = e / r;
        T sig = l >= T(0) ? T(1) - q : q;
        dlogits[base + j] = (sig - xv) * scale;
        acc += (double)((log(r) + fmax(l, T(0))) - xv * l);
    }
    acc = block_sum(acc);
    if (threadIdx.x == 0) nll[row] = (T)acc;
}

// With r = x - mean and iv = exp(-logvar_d):
//   nll_n     = 1/2 sum_d [ r_nd^2 iv_d + logvar_d + log 2 pi ]
//   dmean_nd  = (mean_nd - x_nd) (iv_d scale)
// logvar_d = logvar[j] when lv_step is 1 (learned, one per pixel), lv_scalar when 0.
// One block per row n; the row sum is kept in double.
// x, mean, dmean: (N, D); logvar: (D,) or unread; nll: (N,).
template <typename T>
__device__ void gaussian_nll_grad(const T* x, const T* mean, const T* logvar, int lv_step, T lv_scalar,
                                  T scale, T* dmean, T* nll, int d) {
    int row = blockIdx.x;
    int base = row * d;
    double acc = 0.0;
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        T lv = lv_step ? logvar[j] : lv_scalar;
        T iv = exp(-lv);
        T m = mean[base + j] - x[base + j];
        dmean[base + j] = m * (iv * scale);
        acc += (double)(m * m * iv) + (double)lv + LOG_2PI;
    }
    acc = block_sum(acc);
    if (threadIdx.x == 0) nll[row] = (T)(0.5 * acc);
}

// The learned log-variance's gradient, one thread per pixel d:
//   dlogvar_d = scale * 1/2 sum_n (1 - r_nd^2 iv_d)
// x, mean: (N, D); logvar, dlogvar: (D,).
template <typename T>
__device__ void gaussian_dlogvar(const T* x, const T* mean, const T* logvar, T scale, T* dlogvar,
                                 int n, int d) {
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < d; j += gridDim.x * blockDim.x) {
        T iv = exp(-logvar[j]);
        double acc = 0.0;
        for (int i = 0; i < n; i++) {
            T r = x[i * d + j] - mean[i * d + j];
            acc += (double)(r * r * iv);
        }
        dlogvar[j] = (T)(((double)n - acc) * 0.5 * (double)scale);
    }
}

extern "C" {

__global__ void bernoulli_nll_grad_f32(const float* x, const float* logits, float scale,
                                       float* dlogits, float* nll, int d) {
    bernoulli_nll_grad<float>(x, logits, scale, dlogits, nll, d);
}

__global__ void bernoulli_nll_grad_f64(const double* x, const double* logits, double scale,
                                       double* dlogits, double* nll, int d) {
    bernoulli_nll_grad<double>(x, logits, scale, dlogits, nll, d);
}

__global__ void gaussian_nll_grad_f32(const float* x, const float* mean, const float* logvar, int lv_step,
                                      float lv_scalar, float scale, float* dmean, float* nll, int d) {
    gaussian_nll_grad<float>(x, mean, logvar, lv_step, lv_scalar, scale, dmean, nll, d);
}

__global__ void gaussian_nll_grad_f64(const double* x, const double* mean, const double* logvar, int lv_step,
                                      double lv_scalar, double scale, double* dmean, double* nll, int d) {
    gaussian_nll_grad<double>(x, mean, logvar, lv_step, lv_scalar, scale, dmean, nll, d);
}

__global__ void gaussian_dlogvar_f32(const float* x, const float* mean, const float* logvar, float scale,
                                     float* dlogvar, int n, int d) {
    gaussian_dlogvar<float>(x, mean, logvar, scale, dlogvar, n, d);
}

__global__ void gaussian_dlogvar_f64(const double* x, const double* mean, const double* logvar, double scale,
                                     double* dlogvar, int n, int d) {
    gaussian_dlogvar<double>(x, mean, logvar, scale, dlogvar, n, d);
}

}  // extern "C"
