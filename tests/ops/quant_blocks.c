#include "tests/ops/quant_blocks.h"

#include <string.h>

#include "common/half.h"
#include "common/rng.h"

static float uniform(uint64_t *rng) { /* [-1, 1) */
    return (float)((double)(mot_splitmix64(rng) >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

static void put_f16(uint8_t *p, float v) {
    const uint16_t h = mot_f32_to_f16(v);
    memcpy(p, &h, 2);
}

/* a random finite f16: every sign, exponent (subnormals too) and mantissa but inf/NaN (an
 * all-ones exponent becomes 15) */
static void put_any_f16(uint8_t *p, uint64_t *rng) {
    uint16_t h = (uint16_t)mot_splitmix64(rng);
    if (((h >> 10) & 31) == 31) h &= (uint16_t)~(1u << 14);
    memcpy(p, &h, 2);
}

void quant_blocks_fill(mot_dtype dt, uint8_t *p, size_t bytes, int wild, uint64_t *rng) {
    for (size_t i = 0; i < bytes; i += 8) {
        const uint64_t v = mot_splitmix64(rng);
        memcpy(p + i, &v, bytes - i < 8 ? bytes - i : 8);
    }
    const size_t bb = mot_dtype_block_bytes(dt);
    /* where the f16 scale d (and the min or offset, where the type has one) sits */
    const int d_at = dt == MOT_DTYPE_Q6_K ? 208 : dt == MOT_DTYPE_Q2_K ? 80 : dt == MOT_DTYPE_Q3_K ? 108 : 0;
    const int m_at = dt == MOT_DTYPE_Q2_K                                                             ? 82
                     : dt == MOT_DTYPE_Q4_1 || dt == MOT_DTYPE_Q5_1 || dt == MOT_DTYPE_Q4_K || dt == MOT_DTYPE_Q5_K ? 2
                                                                                                       : -1;
    for (size_t b = 0; b < bytes / bb; b++) {
        uint8_t *blk = p + b * bb;
        uint8_t *d = blk + d_at, *m = m_at >= 0 ? blk + m_at : NULL;
        if (wild) {
            put_any_f16(d, rng);
            if (m) put_any_f16(m, rng);
            continue;
        }
        switch (dt) { /* scale ~ 1 / the largest code (times a sub-scale's for the K types) */
        case MOT_DTYPE_Q8_0: put_f16(d, uniform(rng) / 127.0f); break;
        case MOT_DTYPE_Q4_0: put_f16(d, uniform(rng) / 8.0f); break;
        case MOT_DTYPE_Q4_1: put_f16(d, uniform(rng) / 15.0f), put_f16(m, uniform(rng)); break;
        case MOT_DTYPE_Q5_0: put_f16(d, uniform(rng) / 16.0f); break;
        case MOT_DTYPE_Q5_1: put_f16(d, uniform(rng) / 31.0f), put_f16(m, uniform(rng)); break;
        case MOT_DTYPE_IQ4_NL: put_f16(d, uniform(rng) / 127.0f); break;
        case MOT_DTYPE_Q2_K: put_f16(d, uniform(rng) / 45.0f), put_f16(m, uniform(rng) / 15.0f); break;
        case MOT_DTYPE_Q3_K: put_f16(d, uniform(rng) / 128.0f); break;
        case MOT_DTYPE_Q4_K: put_f16(d, uniform(rng) / 900.0f), put_f16(m, uniform(rng) / 60.0f); break;
        case MOT_DTYPE_Q5_K: put_f16(d, uniform(rng) / 1900.0f), put_f16(m, uniform(rng) / 60.0f); break;
        case MOT_DTYPE_Q6_K: put_f16(d, uniform(rng) / 4000.0f); break;
        case MOT_DTYPE_IQ4_XS: put_f16(d, uniform(rng) / 4064.0f); break;
        default: break;
        }
    }
}
