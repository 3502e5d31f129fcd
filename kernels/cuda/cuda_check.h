/* Checks that turn a CUDA or cuBLAS failure into a mot_status with file:line and the call. */
#ifndef MOT_KERNELS_CUDA_CHECK_H
#define MOT_KERNELS_CUDA_CHECK_H

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "common/error.h"

#define MOT_CUDA_CHECK(call)                                                                   \
    do {                                                                                       \
        cudaError_t mot_cuda_err_ = (call);                                                    \
        if (mot_cuda_err_ != cudaSuccess) {                                                    \
            return mot_fail(MOT_ERR_INTERNAL, "%s:%d: %s: %s", __FILE__, __LINE__, #call,      \
                            cudaGetErrorString(mot_cuda_err_));                                \
        }                                                                                      \
    } while (0)

#define MOT_CUBLAS_CHECK(call)                                                                 \
    do {                                                                                       \
        cublasStatus_t mot_cublas_st_ = (call);                                                \
        if (mot_cublas_st_ != CUBLAS_STATUS_SUCCESS) {                                         \
            return mot_fail(MOT_ERR_INTERNAL, "%s:%d: %s: %s", __FILE__, __LINE__, #call,      \
                            cublasGetStatusString(mot_cublas_st_));                            \
        }                                                                                      \
    } while (0)

/* After a kernel launch: configuration errors surface here. */
#define MOT_CUDA_LAUNCHED() MOT_CUDA_CHECK(cudaGetLastError())

#endif
