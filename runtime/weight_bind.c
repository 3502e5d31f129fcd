#include "runtime/weight_bind.h"

#include "common/error.h"

mot_status mot_st_expect_weight(const mot_st_set *set, const char *name, int64_t rows, int64_t cols,
                                mot_weight *out) {
    const mot_tensor *t;
    MOT_TRY(mot_st_expect(set, name, 2, (const int64_t[]){rows, cols}, &t));
    *out = (mot_weight){t->dtype, t->data, rows, cols};
    return MOT_OK;
}

mot_status mot_st_expect_f32_vector(const mot_st_set *set, const char *name, int64_t n, float **out) {
    const mot_tensor *t;
    MOT_TRY(mot_st_expect(set, name, 1, (const int64_t[]){n}, &t));
    *out = mot_tensor_to_f32(t, n);
    return *out ? MOT_OK : mot_fail(MOT_ERR_NOMEM, "%s: out of memory", name);
}
