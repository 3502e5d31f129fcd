/* Rotary frequencies with the config's scaling (HF _compute_default/linear/llama3). */
#ifndef MOT_RUNTIME_ROPE_FREQ_H
#define MOT_RUNTIME_ROPE_FREQ_H

#include "model/config.h"

/* inv_freq [hd/2]: 1 / theta^(2i/hd), then scaled: linear divides by factor (same as dividing
 * the positions); llama3 divides low frequencies by factor and blends the middle band. */
void mot_rope_inv_freq(const mot_config *cfg, float *inv_freq);

#endif
