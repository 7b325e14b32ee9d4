// Reparameterization and the closed-form KL, forward and backward, one pass each.
//
// sigma = exp(logvar / 2), as everywhere in minivae (minivae/reparam.py).
// NumPy semantics: minivae/backend/kernels/reference.py (reparam_kl_forward/backward);
// every operation below is in the reference's order, so with --fmad=false the
// results differ from it only by the rounding of exp.
//
// Built by CuPy's NVRTC (minivae/backend/kernels/cuda.py) and, standalone, by nvcc
// (tests/test_nvcc.py): no #include; extern "C" entry points for float (_f32)
// and double (_f64). Sizes are int: cuda.py checks that N * D < 2^31.

#define WARP 32
#define FULL_MASK 0xffffffffu

// The sum of v over the 32 lanes of a warp; every lane receives it.
__device__ __forceinline__ double warp_sum(double v) {
    for (int offset = WARP / 2; offset > 0; offset /= 2)
        v += __shfl_xor_sync(FULL_MASK, v, offset);
    return v;
}

// z_nj  = mu_nj + sigma_nj eps_nj
// kl_n  = 1/2 sum_j (sigma_nj^2 - logvar_nj + mu_nj^2 - 1)
// One warp per row n (blockDim.x a multiple of 32); the row sum is kept in double.
// mu, logvar, eps, z: (N, D); kl: (N,).
template <typename T>
__device__ void reparam_kl_forward(const T* mu, const T* logvar, const T* eps,
                                   T* z, T* kl, int n_rows, int d) {
    int row = (blockIdx.x * blockDim.x + threadIdx.x) / WARP;
    int lane = threadIdx.x % WARP;
    if (row >= n_rows) return;                  // the whole warp leaves together
    int base = row * d;
    double acc = 0.0;
    for (int j = lane; j < d; j += WARP) {
        T m = mu[base + j];
        T lv = logvar[base + j];
        T sigma = exp(T(0.5) * lv);
        z[base + j] = sigma * eps[base + j] + m;
        acc += (double)(((sigma * sigma - lv) + m * m) - T(1));
    }
    acc = warp_sum(acc);
    if (lane == 0) kl[row] = (T)acc * T(0.5);
}

// dmu_nj     = mu_nj w_j + dz_nj
// dlogvar_nj = 1/2 ((sigma_nj^2 - 1) w_j + sigma_nj eps_nj dz_nj)
// w = dLoss/dKL_n: w_step = 1 reads w[j] (a (D,) vector), 0 reads w[0] (a 0-d
// device array), -1 uses w_scalar (w is then not read). One thread per element.
template <typename T>
__device__ void reparam_kl_backward(const T* dz, const T* mu, const T* logvar, const T* eps,
                                    const T* w, int w_step, T w_scalar,
                                    T* dmu, T* dlogvar, int n, int d) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        T wj = w_step < 0 ? w_scalar : w[(i % d) * w_step];
        T g = dz[i];
        T sigma = exp(T(0.5) * logvar[i]);
        T kl_part = (sigma * sigma - T(1)) * wj;
        T sample_part = (sigma * eps[i]) * g;
        dmu[i] = mu[i] * wj + g;
        dlogvar[i] = (kl_part + sample_part) * T(0.5);
    }
}

extern "C" {

__global__ void reparam_kl_forward_f32(const float* mu, const float* logvar, const float* eps,
                                       float* z, float* kl, int n_rows, int d) {
    reparam_kl_forward<float>(mu, logvar, eps, z, kl, n_rows, d);
}

__global__ void reparam_kl_forward_f64(const double* mu, const double* logvar, const double* eps,
                                       double* z, double* kl, int n_rows, int d) {
    reparam_kl_forward<double>(mu, logvar, eps, z, kl, n_rows, d);
}

__global__ void reparam_kl_backward_f32(const float* dz, const float* mu, const float* logvar,
                                        const float* eps, const float* w, int w_step, float w_scalar,
                                        float* dmu, float* dlogvar, int n, int d) {
    reparam_kl_backward<float>(dz, mu, logvar, eps, w, w_step, w_scalar, dmu, dlogvar, n, d);
}

__global__ void reparam_kl_backward_f64(const double* dz, const double* mu, const double* logvar,
                                        const double* eps, const double* w, int w_step, double w_scalar,
                                        double* dmu, double* dlogvar, int n, int d) {
    reparam_kl_backward<double>(dz, mu, logvar, eps, w, w_step, w_scalar, dmu, dlogvar, n, d);
}

}  // extern "C"
