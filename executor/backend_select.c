#include "executor/backend_select.h"

#include "common/error.h"
#include "executor/cuda_module.h"

const char *mot_backend_kind_name(mot_backend_kind k) {
    return k == MOT_BACKEND_CPU ? "cpu" : k == MOT_BACKEND_CUDA ? "cuda" : "auto";
}

mot_status mot_backend_create(const mot_backend_options *o, mot_backend **out) {
    if (o->kind == MOT_BACKEND_CUDA) {
        return mot_backend_cuda_create(o, out);
    }
    /* auto: CUDA only where the NVIDIA driver is installed, else the CUDA library is not even
     * loaded (see executor/cuda_module.h) */
    if (o->kind == MOT_BACKEND_AUTO && mot_cuda_driver_present() && mot_backend_cuda_create(o, out) == MOT_OK) {
        return MOT_OK;
    }
    return mot_backend_cpu_create(o, out);
}
