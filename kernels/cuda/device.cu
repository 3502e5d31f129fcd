// Device discovery: a machine without a driver or GPU simply has 0 devices.
#include <cstdio>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"

extern "C" int mot_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky "no driver" error
        return 0;
    }
    return n;
}

extern "C" mot_status mot_cuda_device_describe(int device, char *buf, size_t cap) {
    cudaDeviceProp prop;
    MOT_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    snprintf(buf, cap, "%s, %.1f GiB, sm_%d%d", prop.name, prop.totalGlobalMem / 1073741824.0, prop.major,
             prop.minor);
    return MOT_OK;
}
