/* Private to runtime/expert_load*.c: the two ways an expert's weights are bound. */
#ifndef MOT_RUNTIME_EXPERT_LOAD_INTERNAL_H
#define MOT_RUNTIME_EXPERT_LOAD_INTERNAL_H

#include "runtime/expert.h"

/* Bytes of a weight in its stored dtype (quantized ones: whole blocks). */
size_t mot_weight_bytes(const mot_weight *w);

/* ex->dir is a GGUF file and ex->cfg is read: opens it into ex->gguf and binds every weight. */
mot_status mot_expert_bind_gguf(mot_expert *ex);

#endif
