// Self-test of the emulation (run.sh selftest): kernels with known results and known bugs,
// each bug expected to be reported. Exit 0 when every check holds.
#include <cstdio>
#include <cstdlib>
#include <cmath>

static int failures;
#define CHECK(cond, what)                                                   \
    do {                                                                    \
        const bool ok_ = (cond);                                            \
        printf("%s %s\n", ok_ ? "ok  " : "FAIL", what);                     \
        failures += !ok_;                                                   \
    } while (0)

__device__ float warp_sum(float v) {
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

__global__ void __launch_bounds__(256) block_sum_kernel(float *out, const float *x, int n) {
    __shared__ float sh[32];
    float v = 0.0f;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) v += x[i];
    v = warp_sum(v);
    if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
    __syncthreads();
    if (threadIdx.x < 32) {
        v = threadIdx.x < blockDim.x / 32 ? sh[threadIdx.x] : 0.0f;
        v = warp_sum(v);
        if (threadIdx.x == 0) out[blockIdx.x] = v;
    }
}

__global__ void scan_kernel(int *out) {  // inclusive scan of 1s by __shfl_up_sync, and a ballot
    int v = 1;
    for (int off = 1; off < 32; off <<= 1) {
        int o = __shfl_up_sync(0xffffffffu, v, off);
        if ((int)(threadIdx.x & 31) >= off) v += o;
    }
    unsigned b = __ballot_sync(0xffffffffu, threadIdx.x & 1);
    out[threadIdx.x] = v + (b == 0xaaaaaaaau ? 1000 : 0);
}

__global__ void exited_shfl_kernel(float *out) {
    if (threadIdx.x >= 20) return;           // bug: the full-mask shuffle below misses lanes 20..31
    out[threadIdx.x] = warp_sum(1.0f);
}

__global__ void misaligned_kernel(float *out, const float *x) {
    float4 v = __ldg((const float4 *)(x + 1));  // bug: x + 1 is not 16-byte aligned
    out[threadIdx.x] = v.x;
}

__global__ void uninit_shared_kernel(float *out) {
    __shared__ float sh[64];
    if (threadIdx.x < 32) sh[threadIdx.x] = 1.0f;  // bug: 32..63 never written
    __syncthreads();
    out[threadIdx.x] = sh[threadIdx.x];
}

__global__ void deadlock_kernel(float *out) {
    float v = 1.0f;
    if ((threadIdx.x & 31) < 16) {
        v = __shfl_xor_sync(0xffffffffu, v, 1);  // bug: lanes 16..31 wait at the barrier instead
    } else {
        __syncthreads();
    }
    out[threadIdx.x] = v;
}

__global__ void plain_kernel(float *out, const float *x) { out[threadIdx.x] = x[threadIdx.x] * 2.0f; }

int main() {
    float *x, *out;
    int *iout;
    const int n = 10000;
    cudaMalloc((void **)&x, n * sizeof(float));
    cudaMalloc((void **)&out, 1024 * sizeof(float));
    cudaMalloc((void **)&iout, 1024 * sizeof(int));
    float *h = (float *)malloc(n * sizeof(float));
    double ref = 0;
    for (int i = 0; i < n; i++) h[i] = (float)(i % 7) - 3.0f, ref += h[i];
    cudaMemcpy(x, h, n * sizeof(float), cudaMemcpyHostToDevice);

    block_sum_kernel<<<1, 256>>>(out, x, n);
    float got;
    cudaMemcpy(&got, out, 4, cudaMemcpyDeviceToHost);
    CHECK(fabs(got - ref) < 1e-3, "block sum by shuffles and shared memory");

    scan_kernel<<<1, 64>>>(iout);
    int hi[64];
    cudaMemcpy(hi, iout, sizeof hi, cudaMemcpyDeviceToHost);
    int scan_ok = 1;
    for (int i = 0; i < 64; i++) scan_ok &= hi[i] == (i & 31) + 1 + 1000;
    CHECK(scan_ok, "__shfl_up_sync scan and __ballot_sync");

    exited_shfl_kernel<<<1, 32>>>(out);
    cudaDeviceSynchronize();
    CHECK(emu::report_count("warp-op-exited-lanes") > 0, "a full-mask shuffle after lanes returned is reported");

    misaligned_kernel<<<1, 32>>>(out, x);
    CHECK(cudaDeviceSynchronize() != cudaSuccess && emu::report_count("misaligned-vector-access") > 0,
          "a misaligned float4 load is reported and fails the launch");

    uninit_shared_kernel<<<2, 64>>>(out);
    cudaMemcpy(h, out, 64 * sizeof(float), cudaMemcpyDeviceToHost);
    CHECK(h[0] == 1.0f && std::isnan(h[40]), "never-written shared memory reads as NaN");

    deadlock_kernel<<<1, 64>>>(out);
    CHECK(cudaDeviceSynchronize() != cudaSuccess && emu::report_count("deadlock") > 0,
          "a shuffle whose lanes wait at __syncthreads is a reported deadlock");

    block_sum_kernel<<<1, 512>>>(out, x, n);
    CHECK(cudaDeviceSynchronize() != cudaSuccess && emu::report_count("launch-bounds-exceeded") > 0,
          "a block larger than __launch_bounds__ fails");

    plain_kernel<<<1, 32>>>(out, h);
    cudaDeviceSynchronize();
    CHECK(emu::report_count("kernel-arg-not-device-memory") > 0, "a host pointer passed to a kernel is reported");

    plain_kernel<<<1, 2048>>>(out, x);
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration, "2048 threads a block: invalid configuration");

    printf("%s\n", failures ? "selftest: some checks failed" : "selftest passed");
    return failures ? 1 : 0;
}
