/* Binding checked safetensors tensors to what the kernels take: the expert loader and the
 * MoT weights share these, so every weight goes through the same checks and messages. */
#ifndef MOT_RUNTIME_WEIGHT_BIND_H
#define MOT_RUNTIME_WEIGHT_BIND_H

#include "kernels/cpu/kernels.h"
#include "model/safetensors.h"

/* A required 2-D tensor [rows, cols] as a view into the mapping (no copy). */
mot_status mot_st_expect_weight(const mot_st_set *set, const char *name, int64_t rows, int64_t cols,
                                mot_weight *out);
/* A required 1-D tensor [n] as a malloc'd f32 copy: vectors are tiny, and the kernels then
 * see one dtype. */
mot_status mot_st_expect_f32_vector(const mot_st_set *set, const char *name, int64_t n, float **out);

#endif
