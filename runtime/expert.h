/* Loading one expert: a Llama/Mistral decoder bound to its mapped weights (the mot_expert
 * struct is model/weights.h, data the scheduler compiles from; the run state lives in the
 * engine's arena). */
#ifndef MOT_RUNTIME_EXPERT_H
#define MOT_RUNTIME_EXPERT_H

#include "kernels/cpu/kernels.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

/* Loads DIR (config.json, weights, no tokenizer), or a GGUF file (its weights stay in their
 * stored, possibly quantized, types). Every tensor is checked by name and shape:
 * "DIR/model.safetensors: tensor 'model.norm.weight': expected [64], found [32]". */
mot_status mot_expert_load(const char *dir, mot_expert **out);
void mot_expert_free(mot_expert *ex);
/* A model for a command that runs one (run -m, perplexity, serve): its settings checked first
 * (what is wrong with a model is said about config.json or the GGUF header), then its
 * tokenizer (building one from a large vocabulary takes transient memory that then does not
 * add to the weights': peak RSS, docs/models.md), then the expert. On an error, what was
 * loaded is left in *tok / *ex for the caller to free. */
mot_status mot_expert_load_with_tokenizer(const char *path, mot_tokenizer **tok, mot_expert **ex);

/* The weights one decode step reads, in the order it reads them: every layer's seven
 * projections, then the LM head (norms and the one embedding row are left out: < 0.1%).
 * Writes MOT_EXPERT_DECODE_SPANS(ex) spans to out and returns their total bytes, which is
 * less than weight_bytes when the embedding is untied (decode reads one row of it). */
#define MOT_EXPERT_DECODE_SPANS(ex) (7 * (ex)->cfg.n_layers + 1)
size_t mot_expert_decode_spans(const mot_expert *ex, mot_read_span *out);

/* Bytes of a KV cache of n_ctx positions (f32 keys and values, every layer). */
size_t mot_expert_kv_bytes(const mot_expert *ex, int n_ctx);

#endif
