/* One expert: a Llama/Mistral decoder bound to its mapped weights (settings and weights here;
 * the run state lives in the engine's arena). Its forward pass is compiled into plan ops by
 * the scheduler (scheduler/plan_compile.c). */
#ifndef MOT_RUNTIME_EXPERT_H
#define MOT_RUNTIME_EXPERT_H

#include "kernels/cpu/kernels.h"
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

/* Loads DIR (config.json, weights, no tokenizer), or a GGUF file (its weights stay in their
 * stored, possibly quantized, types). Every tensor is checked by name and shape:
 * "DIR/model.safetensors: tensor 'model.norm.weight': expected [64], found [32]". */
mot_status mot_expert_load(const char *dir, mot_expert **out);
void mot_expert_free(mot_expert *ex);

/* The weights one decode step reads, in the order it reads them: every layer's seven
 * projections, then the LM head (norms and the one embedding row are left out: < 0.1%).
 * Writes MOT_EXPERT_DECODE_SPANS(ex) spans to out and returns their total bytes, which is
 * less than weight_bytes when the embedding is untied (decode reads one row of it). */
#define MOT_EXPERT_DECODE_SPANS(ex) (7 * (ex)->cfg.n_layers + 1)
size_t mot_expert_decode_spans(const mot_expert *ex, mot_read_span *out);

/* Whether any of its weights is block-quantized (a GGUF file's Q4_K, ...). */
int mot_expert_has_quantized(const mot_expert *ex);

/* Bytes of a KV cache of n_ctx positions (f32 keys and values, every layer). */
size_t mot_expert_kv_bytes(const mot_expert *ex, int n_ctx);

#endif
