/* The CPU sampler (the SAMPLE op on the CPU; kernels/cuda/sampler.cu is the CUDA one).
 * Token sampling: greedy (temperature <= 0: arg-max, ties to the lower id), or
 * temperature -> top-k -> top-p -> min-p -> draw, in the order Hugging Face's generate applies
 * them.
 * Each sampler owns its random stream, so several experts sample independently. */
#ifndef MOT_KERNELS_CPU_SAMPLER_H
#define MOT_KERNELS_CPU_SAMPLER_H

#include <stdint.h>

#include "common/rng.h"
#include "mot.h"

typedef struct {
    float temperature; /* <= 0: greedy */
    int top_k;         /* <= 0: off */
    float top_p;       /* >= 1: off */
    uint64_t seed;
    float min_p;       /* <= 0: off; else keep p >= min_p * (the arg-max's p) */
} mot_sampler_params;

typedef struct {
    mot_sampler_params params;
    mot_rng rng;       /* its random stream */
    int vocab;
    int *idx;          /* [vocab] candidate ids */
    float *prob;       /* [vocab] candidate probabilities */
    int *tmp;          /* [3 vocab] the sort's second id buffer and its two key buffers */
} mot_sampler;

/* stream: which random stream of the seed (expert a_k uses stream k, SPEC 1.5). */
mot_status mot_sampler_init(mot_sampler *s, const mot_sampler_params *p, uint64_t stream, int vocab);
void mot_sampler_free(mot_sampler *s);
int mot_sample(mot_sampler *s, const float *logits);

/* Arg-max, ties to the lower id. */
int mot_argmax(const float *x, int n);
/* A uniform double in [0, 1) from the sampler's stream. */
double mot_sampler_uniform(mot_sampler *s);

#endif
