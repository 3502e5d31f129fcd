/* Random block-quantized weights for the tests (every GGUF type of common/tensor.h): random code
 * bytes, then every block's f16 scale (and min) set so that the values lie near [-1, 1], or,
 * `wild`, to any finite f16. One generator for the CPU, training and CUDA tests alike. */
#ifndef MOT_TESTS_OPS_QUANT_BLOCKS_H
#define MOT_TESTS_OPS_QUANT_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "common/tensor.h"

/* Fills p[bytes] (whole blocks of dt) from the splitmix64 state *rng. */
void quant_blocks_fill(mot_dtype dt, uint8_t *p, size_t bytes, int wild, uint64_t *rng);

#endif
