/* Private to runtime/expert_load*.c: the two ways an expert's weights are bound. */
#ifndef MOT_RUNTIME_EXPERT_LOAD_INTERNAL_H
#define MOT_RUNTIME_EXPERT_LOAD_INTERNAL_H

#include "runtime/expert.h"

/* Bytes of a weight in its stored dtype (quantized ones: whole blocks). */
size_t mot_weight_bytes(const mot_weight *w);

/* How one format names and reads its tensors: the parts that differ between a folder and a
 * GGUF file. layer binds ex->layers[i] (its seven weights and two norms, checked by name and
 * shape); mot_expert_bind does the rest the same way for both. */
typedef struct {
    const char *embed, *final_norm, *lm_head; /* tensor names */
    mot_status (*weight)(mot_expert *ex, const char *name, int64_t rows, int64_t cols, mot_weight *out);
    mot_status (*vector)(mot_expert *ex, const char *name, int64_t n, float **out);
    mot_status (*layer)(mot_expert *ex, int i);
} mot_expert_binder;

/* The embedding, final norm, LM head (or the tied embedding), every layer, their byte and
 * parameter counts, and the rotary frequencies. */
mot_status mot_expert_bind(mot_expert *ex, const mot_expert_binder *b);

/* ex->dir is a GGUF file and ex->cfg is read: opens it into ex->gguf and binds every weight. */
mot_status mot_expert_bind_gguf(mot_expert *ex);

#endif
