# CUDA backend (kernels/cuda): filled in below; empty until then.
