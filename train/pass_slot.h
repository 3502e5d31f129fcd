/* Where training passes run: a backend kept across the passes of a run (one per pass alive at a
 * time), so that CUDA uploads the pool's experts and makes its lanes once, and every pass
 * after reuses them; the arena grows to the largest pass seen. The trainable values are
 * copied again before each pass where the backend has its own memory (AdamW changed them). */
#ifndef MOT_TRAIN_PASS_SLOT_H
#define MOT_TRAIN_PASS_SLOT_H

#include "executor/backend.h"
#include "runtime/mot_model.h"
#include "train/train_params.h"

typedef struct mot_pass_slot mot_pass_slot;
struct mot_gpu_api; /* kernels/cuda/gpu_api.h */

/* A slot for passes of model m over the trainable values of view w on `kind` (CUDA: the real
 * runtime, or `api` when given: the tests' recording fake). Nothing is created until the
 * first pass. */
mot_status mot_pass_slot_create(const mot_model *m, const mot_train_view *w, mot_backend_kind kind,
                                const struct mot_gpu_api *api, mot_pass_slot **out);
/* The same for passes of up to k experts (a slot holds the router's top_k by default). */
mot_status mot_pass_slot_create_k(const mot_model *m, const mot_train_view *w, mot_backend_kind kind,
                                  const struct mot_gpu_api *api, int k, mot_pass_slot **out);
void mot_pass_slot_free(mot_pass_slot *s);

/* The backend for a pass of n_lanes lanes (lane i runs expert[i] = ex[i] over rows[i] rows)
 * and an arena of `bytes`: created and opened on first use (which uploads the values), opened
 * again when its arena is smaller, and after the first pass the trainable values copied again
 * before each. The arena's contents are the last pass's: a pass zeroes what it accumulates
 * into. */
mot_status mot_pass_slot_ready(mot_pass_slot *s, int n_lanes, const mot_expert *const *ex, const int *expert,
                               const int *rows, size_t bytes, mot_backend **be);

#endif
