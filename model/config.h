/* The settings of one expert, read from a Hugging Face model folder:
 * config.json (+ generation_config.json for BOS/EOS when present). */
#ifndef MOT_MODEL_CONFIG_H
#define MOT_MODEL_CONFIG_H

#include "mot.h"

typedef enum { MOT_ROPE_NONE = 0, MOT_ROPE_LINEAR, MOT_ROPE_LLAMA3 } mot_rope_scaling_type;

#define MOT_MAX_EOS 8

/* The largest settings a model may have (config.json and GGUF alike), checked before anything
 * is sized from them. Far above every released Llama/Mistral (Llama-3.1-405B: hidden 16384,
 * intermediate 53248, 126 layers, 128 heads, vocabulary 128256, context 131072), far below
 * where sizes computed from them in 64 bits could overflow (docs/models.md, "Limits"). */
#define MOT_CONFIG_MAX_DIM (1 << 20)     /* hidden_size, intermediate_size, head_dim */
#define MOT_CONFIG_MAX_LAYERS 4096       /* num_hidden_layers */
#define MOT_CONFIG_MAX_HEADS 65536       /* num_attention_heads, num_key_value_heads */
#define MOT_CONFIG_MAX_VOCAB (1 << 24)   /* vocab_size */
#define MOT_CONFIG_MAX_CONTEXT (1 << 24) /* max_position_embeddings (and -c) */

typedef struct {
    char arch[16];          /* model_type: "llama" or "mistral" */
    int hidden;             /* hidden_size  d */
    int n_layers;           /* num_hidden_layers */
    int n_heads;            /* num_attention_heads */
    int n_kv_heads;         /* num_key_value_heads (defaults to n_heads) */
    int head_dim;           /* head_dim (defaults to hidden / n_heads) */
    int ffn;                /* intermediate_size */
    int vocab;              /* vocab_size */
    int max_pos;            /* max_position_embeddings: the default context */
    float rms_eps;          /* rms_norm_eps */
    float rope_theta;       /* rope_theta (default 10000) */
    mot_rope_scaling_type rope_type;
    float rope_factor;               /* linear and llama3 */
    float rope_low_freq_factor;      /* llama3 */
    float rope_high_freq_factor;     /* llama3 */
    int rope_orig_max_pos;           /* llama3: original_max_position_embeddings */
    int tie_embeddings;     /* tie_word_embeddings (default false) */
    int sliding_window;     /* 0 = none; else a query at p sees keys at p-w+1..p */
    int bos_id;             /* -1 = none */
    int n_eos;
    int eos_ids[MOT_MAX_EOS]; /* an EOS may be a list */
} mot_config;

/* Reads dir/config.json and dir/generation_config.json (optional; its bos/eos win), or,
 * when dir is a GGUF file, its llama.* and tokenizer.ggml.* keys (mot_config_from_gguf).
 * Errors name the file and key: "DIR/config.json: key 'hidden_size': missing". */
mot_status mot_config_load(const char *dir, mot_config *cfg);

/* The settings from an opened GGUF file (architecture llama): "FILE: key 'llama.block_count':
 * missing", "FILE: key 'general.architecture': 'qwen2' is not supported ...". */
struct mot_gguf;
mot_status mot_config_from_gguf(const struct mot_gguf *g, mot_config *cfg);

int mot_config_is_eos(const mot_config *cfg, int token);

/* Rotary frequencies with the config's scaling, inv_freq [head_dim / 2]: 1 / theta^(2i/hd),
 * then linear divides by factor (the same as dividing the positions); llama3 divides the low
 * frequencies by factor and blends the middle band (model/config_rope.c). */
void mot_rope_inv_freq(const mot_config *cfg, float *inv_freq);

#endif
