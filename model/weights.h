/* A model's weights as plain data: one expert (a Llama/Mistral decoder: settings and its
 * weights bound to the mapped file) and the MoT interaction layers. The runtime loads them
 * (runtime/expert_load.c, runtime/mot_model.c); the scheduler compiles plan ops from them
 * (scheduler/plan_source.h) without knowing how they were loaded. */
#ifndef MOT_MODEL_WEIGHTS_H
#define MOT_MODEL_WEIGHTS_H

#include "common/weight.h"
#include "model/config.h"
#include "model/safetensors.h"

typedef struct {
    float *attn_norm;  /* [d] f32 copy of input_layernorm */
    float *ffn_norm;   /* [d] f32 copy of post_attention_layernorm */
    mot_weight wq;     /* [n_heads*hd, d] */
    mot_weight wk;     /* [n_kv*hd, d] */
    mot_weight wv;     /* [n_kv*hd, d] */
    mot_weight wo;     /* [d, n_heads*hd] */
    mot_weight w_gate; /* [ffn, d] */
    mot_weight w_up;   /* [ffn, d] */
    mot_weight w_down; /* [d, ffn] */
} mot_layer_weights;

typedef struct {
    char *dir;
    char *name;              /* the folder's last path component (names the dump tensors) */
    mot_config cfg;
    mot_st_set *st;          /* owns the mappings the weights point into (a model folder) */
    struct mot_gguf *gguf;   /* or the GGUF file that does */
    mot_weight embed;        /* [vocab, d] */
    mot_weight lm_head;      /* [vocab, d]; the embedding when tied */
    float *final_norm;       /* [d] */
    float *inv_freq;         /* [hd/2] rotary frequencies, scaling applied */
    mot_layer_weights *layers;
    size_t weight_bytes;     /* bytes of all weights (tied counted once) */
    int64_t n_params;
} mot_expert;

/* Whether any of its weights is block-quantized (a GGUF file's Q4_K, ...). */
int mot_expert_has_quantized(const mot_expert *ex);
/* Whether any of its weight matrices is f16 or bf16. */
int mot_expert_has_lowp(const mot_expert *ex);

/* y = x W^T (+ b): an nn.Linear as stored. */
typedef struct {
    mot_weight w;    /* [out, in] */
    float *bias;     /* [out] f32 copy, NULL when the file has none */
} mot_linear;

typedef struct {
    mot_linear *forward;   /* [M] F_m: [d_s, d_m] */
    mot_linear *reverse;   /* [M] R_m: [d_m, d_s] */
    mot_linear q, k, v, o; /* [d_s, d_s] */
    float *norm_weight;    /* [d_s] when layernorm, else NULL */
    float *norm_bias;      /* [d_s] when layernorm, else NULL */
} mot_interaction_weights;

#endif
