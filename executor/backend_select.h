/* Choosing a backend: above the backends (executor/cpu_backend.c, executor/cuda_backend.c),
 * which see only the interface (executor/backend.h). */
#ifndef MOT_EXECUTOR_BACKEND_SELECT_H
#define MOT_EXECUTOR_BACKEND_SELECT_H

#include "executor/backend.h"

/* kind AUTO: CUDA when a device is present, else the CPU. */
mot_status mot_backend_create(const mot_backend_options *o, mot_backend **out);
const char *mot_backend_kind_name(mot_backend_kind k);

#endif
