/* One expert: a Llama/Mistral decoder bound to its mapped weights (Settings, Weights and
 * RunState kept apart, as in llama2.c), and its forward pass in pieces so that the MoT
 * interaction layers can run between layers later:
 *
 *   embed(tokens) -> x [n, d] -> layers[a, b) ... -> logits(x last row)
 */
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
    mot_st_set *st;          /* owns the mappings the weights point into */
    mot_weight embed;        /* [vocab, d] */
    mot_weight lm_head;      /* [vocab, d]; the embedding when tied */
    float *final_norm;       /* [d] */
    float *inv_freq;         /* [hd/2] rotary frequencies, scaling applied */
    mot_layer_weights *layers;
    size_t weight_bytes;     /* bytes of all weights (tied counted once) */
    int64_t n_params;
} mot_expert;

/* Run state: the KV cache and scratch for up to max_batch tokens per forward call. */
typedef struct {
    int n_ctx;      /* KV cache capacity in tokens */
    int max_batch;  /* tokens per chunk of a forward call */
    int pos;        /* tokens already in the cache */
    float *k_cache; /* [n_layers, n_ctx, n_kv*hd] */
    float *v_cache; /* [n_layers, n_ctx, n_kv*hd] */
    float *x;       /* [max_batch, d]     residual stream */
    float *xn;      /* [max_batch, d]     normed input of a block */
    float *q;       /* [max_batch, n_heads*hd] */
    float *att;     /* [max_batch, n_heads*hd] attention output */
    float *gate;    /* [max_batch, ffn] */
    float *up;      /* [max_batch, ffn] */
    float *logits;  /* [vocab] */
} mot_expert_state;

/* Loads DIR (config.json, weights, no tokenizer). Every tensor is checked by name and shape:
 * "DIR/model.safetensors: tensor 'model.norm.weight': expected [64], found [32]". */
mot_status mot_expert_load(const char *dir, mot_expert **out);
void mot_expert_free(mot_expert *ex);

mot_status mot_state_init(const mot_expert *ex, int n_ctx, int max_batch, mot_expert_state *st);
void mot_state_free(mot_expert_state *st);
size_t mot_state_kv_bytes(const mot_expert *ex, int n_ctx);

/* x [n, d] = embedding rows of tokens (ids checked by the caller). */
void mot_expert_embed(const mot_expert *ex, const int *tokens, int n, float *x);
/* Runs layers [from, to) on x [n, d] for tokens at positions st->pos .. st->pos+n-1 and
 * writes their keys/values into the cache. Does not advance st->pos. n <= max_batch. */
void mot_expert_layers(const mot_expert *ex, mot_expert_state *st, float *x, int n, int from, int to);
/* logits [vocab] = lm_head . final_norm(x_row [d]). */
void mot_expert_logits(const mot_expert *ex, mot_expert_state *st, const float *x_row, float *logits);

/* Feeds n tokens (any n, chunked by max_batch), advances st->pos, and leaves the logits of
 * the last token in st->logits. Errors: a token id out of range, the context full. */
mot_status mot_expert_forward(const mot_expert *ex, mot_expert_state *st, const int *tokens, int n);

#endif
