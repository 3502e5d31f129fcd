/* The CPU sampler (the SAMPLE op on the CPU; kernels/cuda/sampler.cu is the CUDA one).
 * Token sampling: greedy (temperature <= 0: arg-max, ties to the lower id), or
 * temperature -> top-k -> top-p -> min-p -> draw, in the order Hugging Face's generate applies
 * them; before all of it (greedy too) llama.cpp's repetition penalties over the last tokens
 * the sampler saw (the prompt's, accepted, and its own draws).
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
    /* Penalties (llama.cpp's --repeat-penalty, --presence-penalty, --frequency-penalty) on
     * the logit of every token among the last repeat_last_n seen, c times: x / r when x > 0,
     * else x * r, then - c * frequency - presence. repeat_penalty 0 or 1: off; repeat_last_n 0:
     * all off, -1: every token seen. */
    float repeat_penalty, presence_penalty, frequency_penalty;
    int repeat_last_n;
} mot_sampler_params;

/* Whether p asks for any penalty. */
int mot_sampler_penalizes(const mot_sampler_params *p);

typedef struct {
    mot_sampler_params params;
    mot_rng rng;       /* its random stream */
    int vocab;
    int *idx;          /* [vocab] candidate ids */
    float *prob;       /* [vocab] candidate probabilities */
    int *tmp;          /* [3 vocab] the sort's second id buffer and its two key buffers */
    /* the penalties' history (allocated only when the params penalize): */
    int *hist;         /* the last tokens seen: a ring of repeat_last_n, or all of them (-1) */
    int hist_n, hist_cap, hist_head; /* held, room (grows to the window), the oldest's slot
                                        once the ring is full */
    int *count;        /* [vocab] occurrences in hist */
    long long n_seen;  /* tokens accepted since the last reset (the window may hold fewer) */
    float *pen;        /* [vocab] the logits with the penalties applied */
} mot_sampler;

/* stream: which random stream of the seed (expert a_k uses stream k, SPEC 1.5). */
mot_status mot_sampler_init(mot_sampler *s, const mot_sampler_params *p, uint64_t stream, int vocab);
void mot_sampler_free(mot_sampler *s);
/* Draws a token from logits (penalized first when the params say so). The history is the
 * caller's to keep (runtime/engine.c accepts each lane's draw after the pass). */
int mot_sample(mot_sampler *s, const float *logits);
/* The penalties' history: a token seen (a prompt's, or one drawn), and forgetting them all (a
 * new request). No-ops when the params do not penalize. */
void mot_sampler_accept(mot_sampler *s, int token);
void mot_sampler_reset_history(mot_sampler *s);
/* The window as distinct (token, count) pairs, pairs[2 i], pairs[2 i + 1], in the order the
 * tokens were first met in it (what the CUDA sampler applies); returns how many (0 when the
 * params do not penalize). pairs: room for 2 * vocab ints. */
int mot_sampler_penalty_pairs(mot_sampler *s, int *pairs);
/* Forgets the n newest tokens seen (a conversation's cache rewound: the tokens after the
 * common prefix are fed again). Tokens the window had already let go do not come back. */
void mot_sampler_forget(mot_sampler *s, long long n);

/* Arg-max, ties to the lower id. */
int mot_argmax(const float *x, int n);
/* A uniform double in [0, 1) from the sampler's stream. */
double mot_sampler_uniform(mot_sampler *s);

#endif
