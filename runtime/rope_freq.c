#include "runtime/rope_freq.h"

#include <math.h>

void mot_rope_inv_freq(const mot_config *cfg, float *inv_freq) {
    int half = cfg->head_dim / 2;
    for (int i = 0; i < half; i++) {
        /* HF computes this in f32: 1 / theta ** (arange(0, hd, 2).float() / hd). */
        double f = 1.0 / pow((double)cfg->rope_theta, (double)(2 * i) / (double)cfg->head_dim);
        if (cfg->rope_type == MOT_ROPE_LINEAR) {
            f /= cfg->rope_factor;
        } else if (cfg->rope_type == MOT_ROPE_LLAMA3) {
            double orig = cfg->rope_orig_max_pos;
            double low_wavelen = orig / cfg->rope_low_freq_factor;
            double high_wavelen = orig / cfg->rope_high_freq_factor;
            double wavelen = 2.0 * M_PI / f;
            if (wavelen > low_wavelen) {
                f /= cfg->rope_factor;
            } else if (wavelen >= high_wavelen) {
                double smooth = (orig / wavelen - cfg->rope_low_freq_factor) /
                                (cfg->rope_high_freq_factor - cfg->rope_low_freq_factor);
                f = (1.0 - smooth) * f / cfg->rope_factor + smooth * f;
            }
        }
        inv_freq[i] = (float)f;
    }
}
