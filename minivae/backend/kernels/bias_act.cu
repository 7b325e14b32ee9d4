// Bias add + activation forward, and the activation's backward, fused.
//
// NumPy semantics: minivae/backend/kernels/reference.py (bias_act_forward,
// act_backward), every operation in the reference's order. The activation is
// an int argument, numbered as reference.ACTS (cuda.py checks the numbering).
// act' is written through the output y (minivae/activations.py's table).
//
// Built by CuPy's NVRTC (minivae/backend/kernels/cuda.py) and, standalone, by nvcc
// (tests/test_nvcc.py): no #include; extern "C" entry points for float (_f32)
// and double (_f64). Sizes are int: cuda.py checks that N * D < 2^31.

#define ACT_IDENTITY 0
#define ACT_RELU 1
#define ACT_LEAKY_RELU 2
#define ACT_TANH 3
#define ACT_SIGMOID 4
#define LEAKY_SLOPE 0.01

// y = act(v)
template <typename T>
__device__ __forceinline__ T activate(T v, int act) {
    switch (act) {
        case ACT_RELU: return fmax(v, T(0));                        // max(v, 0)
        case ACT_LEAKY_RELU: return fmax(v, v * T(LEAKY_SLOPE));     // max(v, slope v)
        case ACT_TANH: return tanh(v);
        case ACT_SIGMOID: {                                          // e = exp(-|v|) <= 1
            T e = exp(-fabs(v));
            return v >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
        }
        default: return v;                                           // identity
    }
}

// act'(x) written through y = act(x)
template <typename T>
__device__ __forceinline__ T act_grad(T y, int act) {
    switch (act) {
        case ACT_RELU: return y > T(0) ? T(1) : T(0);               // 1[y > 0]
        case ACT_LEAKY_RELU: return y > T(0) ? T(1) : T(LEAKY_SLOPE);
        case ACT_TANH: return T(1) - y * y;                          // 1 - y^2
        case ACT_SIGMOID: return (T(1) - y) * y;                     // y (1 - y)
        default: return T(1);                                        // identity
    }
}

// y_nd = act(a_nd + b_d);  a, y: (N, D) (y may be a), b: (D,). n = N * D.
template <typename T>
__device__ void bias_act_forward(const T* a, const T* b, T* y, int n, int d, int act) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        y[i] = activate(a[i] + b[i % d], act);
}

// dx_nd = dy_nd act'(x_nd);  dy, y, dx: (N, D) (dx may be dy). n = N * D.
template <typename T>
__device__ void act_backward(const T* dy, const T* y, T* dx, int n, int act) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        dx[i] = act == ACT_IDENTITY ? dy[i] : dy[i] * act_grad(y[i], act);
}

extern "C" {

__global__ void bias_act_forward_f32(const float* a, const float* b, float* y, int n, int d, int act) {
    bias_act_forward<float>(a, b, y, n, d, act);
}

__global__ void bias_act_forward_f64(const double* a, const double* b, double* y, int n, int d, int act) {
    bias_act_forward<double>(a, b, y, n, d, act);
}

__global__ void act_backward_f32(const float* dy, const float* y, float* dx, int n, int act) {
    act_backward<float>(dy, y, dx, n, act);
}

__global__ void act_backward_f64(const double* dy, const double* y, double* dx, int n, int act) {
    act_backward<double>(dy, y, dx, n, act);
}

}  // extern "C"
