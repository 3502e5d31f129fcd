/* The CUDA backend library (libmot-cuda.so: kernels/cuda, the CUDA runtime and cuBLAS) is
 * loaded with dlopen only when a run asks for CUDA. Linked into mot, cuBLAS alone put ~200 MiB
 * into the resident set of every run at start-up, CPU runs included. */
#ifndef MOT_EXECUTOR_CUDA_MODULE_H
#define MOT_EXECUTOR_CUDA_MODULE_H

#include "kernels/cuda/gpu_api.h"
#include "mot.h"

/* The real mot_gpu_api table on `device`, from the library: $MOT_CUDA_MODULE if set, else
 * libmot-cuda.so beside the running executable, else the dynamic linker's search path.
 * Fails with one line (the library that could not be loaded and why, or the library's own
 * error, e.g. no device) when any of that is missing. */
mot_status mot_cuda_module_create(int device, mot_gpu_api *out);

/* Whether the NVIDIA driver library (libcuda.so.1) can be loaded: --backend auto tries CUDA
 * only then, so that a CPU-only machine never maps cuBLAS. */
int mot_cuda_driver_present(void);

#endif
