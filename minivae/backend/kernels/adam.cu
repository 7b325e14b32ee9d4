// The Adam update (Kingma & Ba 2015, Algorithm 1), in place, in one pass.
//
//   m <- m + (1 - beta1) (g - m)          (= beta1 m + (1 - beta1) g)
//   v <- v + (1 - beta2) (g^2 - v)        (= beta2 v + (1 - beta2) g^2)
//   p <- p - (lr / bc1) m / (sqrt(v / bc2) + eps),   bc_k = 1 - beta_k^t
//
// NumPy semantics: minivae/backend/kernels/reference.py (adam_update), every operation
// in the reference's order. The scalars one_minus_beta1 = 1 - beta1,
// one_minus_beta2 = 1 - beta2, inv_bc2 = 1 / bc2, eps and step = lr / bc1 are
// computed on the host, exactly as the reference does, in the arrays' dtype.
// Only p, m and v are written; g is read only (the reference's side effects).
//
// Built by CuPy's NVRTC (minivae/backend/kernels/cuda.py) and, standalone, by nvcc
// (tests/test_nvcc.py): no #include; extern "C" entry points for float (_f32)
// and double (_f64). Sizes are int: cuda.py checks that they are < 2^31.

template <typename T>
__device__ __forceinline__ void adam_element(T* p, const T* g, T* m, T* v, int i,
                                             T one_minus_beta1, T one_minus_beta2,
                                             T inv_bc2, T eps, T step) {
    T gi = g[i];
    T mi = m[i] + (gi - m[i]) * one_minus_beta1;
    T vi = v[i] + (gi * gi - v[i]) * one_minus_beta2;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] - (mi / (sqrt(vi * inv_bc2) + eps)) * step;
}

// One parameter: p, g, m, v all of n elements.
template <typename T>
__device__ void adam_update(T* p, const T* g, T* m, T* v, int n,
                            T one_minus_beta1, T one_minus_beta2, T inv_bc2, T eps, T step) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        adam_element(p, g, m, v, i, one_minus_beta1, one_minus_beta2, inv_bc2, eps, step);
}

// Many parameters in one launch (multi-tensor Adam). ptrs holds 4 K addresses,
// [p_0 .. p_{K-1}, g_0 .., m_0 .., v_0 ..]; tensor k owns the flat indices
// [offsets[k], offsets[k+1]) of the total = offsets[K]; a binary search over
// offsets finds k for each flat index.
template <typename T>
__device__ void adam_update_multi(const unsigned long long* ptrs, const int* offsets, int n_tensors,
                                  int total, T one_minus_beta1, T one_minus_beta2,
                                  T inv_bc2, T eps, T step) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
        int lo = 0, hi = n_tensors - 1;         // the last k with offsets[k] <= i
        while (lo < hi) {
            int mid = (lo + hi + 1) / 2;
            if (offsets[mid] <= i) lo = mid; else hi = mid - 1;
        }
        T* p = (T*)ptrs[lo];
        const T* g = (const T*)ptrs[n_tensors + lo];
        T* m = (T*)ptrs[2 * n_tensors + lo];
        T* v = (T*)ptrs[3 * n_tensors + lo];
        adam_element(p, g, m, v, i - offsets[lo], one_minus_beta1, one_minus_beta2, inv_bc2, eps, step);
    }
}

extern "C" {

__global__ void adam_update_f32(float* p, const float* g, float* m, float* v, int n,
                                float one_minus_beta1, float one_minus_beta2,
                                float inv_bc2, float eps, float step) {
    adam_update<float>(p, g, m, v, n, one_minus_beta1, one_minus_beta2, inv_bc2, eps, step);
}

__global__ void adam_update_f64(double* p, const double* g, double* m, double* v, int n,
                                double one_minus_beta1, double one_minus_beta2,
                                double inv_bc2, double eps, double step) {
    adam_update<double>(p, g, m, v, n, one_minus_beta1, one_minus_beta2, inv_bc2, eps, step);
}

__global__ void adam_update_multi_f32(const unsigned long long* ptrs, const int* offsets, int n_tensors,
                                      int total, float one_minus_beta1, float one_minus_beta2,
                                      float inv_bc2, float eps, float step) {
    adam_update_multi<float>(ptrs, offsets, n_tensors, total, one_minus_beta1, one_minus_beta2,
                             inv_bc2, eps, step);
}

__global__ void adam_update_multi_f64(const unsigned long long* ptrs, const int* offsets, int n_tensors,
                                      int total, double one_minus_beta1, double one_minus_beta2,
                                      double inv_bc2, double eps, double step) {
    adam_update_multi<double>(ptrs, offsets, n_tensors, total, one_minus_beta1, one_minus_beta2,
                              inv_bc2, eps, step);
}

}  // extern "C"
