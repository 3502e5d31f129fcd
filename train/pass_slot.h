/* Where training passes run: a slot keeps backends across the passes of a run, one per pass
 * alive at a time (a "seat": an example's two routed passes are alive together, SPEC 5's
 * L_con), so that CUDA uploads the pool's experts and the trainable values once for all seats
 * (they share that memory), makes each seat's lanes once, and every pass after reuses them; a
 * seat's arena grows to the largest pass it has run. The trainable values are copied again
 * only after mot_pass_slot_values_changed (AdamW changed them). */
#ifndef MOT_TRAIN_PASS_SLOT_H
#define MOT_TRAIN_PASS_SLOT_H

#include "executor/backend.h"
#include "runtime/mot_model.h"
#include "train/train_params.h"

#define MOT_PASS_SEATS 2

typedef struct mot_pass_slot mot_pass_slot;
struct mot_gpu_api; /* kernels/cuda/gpu_api.h */
struct mot_trace;   /* profiling/trace.h */

/* A slot for passes of up to k experts (0: the router's top_k) of model m over the trainable
 * values of view w, on `kind` (CUDA: the real runtime, or `api` when given: the tests'
 * recording fake). Nothing is created until a seat's first pass. */
mot_status mot_pass_slot_create(const mot_model *m, const mot_train_view *w, mot_backend_kind kind,
                                const struct mot_gpu_api *api, int k, mot_pass_slot **out);
void mot_pass_slot_free(mot_pass_slot *s);

/* The backend of `seat` (0 .. MOT_PASS_SEATS-1) for a pass of n_lanes lanes (lane i runs
 * expert[i] = ex[i] over rows[i] rows) and an arena of `bytes`: created on first use (sharing
 * the uploads of a seat that has a backend, else uploading), opened again when its arena is
 * smaller, the trainable values copied first when they changed since the last copy. The
 * arena's contents are the seat's last pass's: a pass zeroes what it accumulates into. On an
 * error every seat's backend is dropped (the next pass starts afresh). */
mot_status mot_pass_slot_ready(mot_pass_slot *s, int seat, int n_lanes, const mot_expert *const *ex,
                               const int *expert, const int *rows, size_t bytes, mot_backend **be);

/* The trainable values in host memory have changed (an optimizer step, a checkpoint read):
 * the next pass copies them to the device first. */
void mot_pass_slot_values_changed(mot_pass_slot *s);

/* Profiling (`mot train --profile`): the seats' backends record a slice per plan node per pass
 * into t (NULL: off); backends made before are dropped, so that the next pass makes them with
 * it. mot_pass_slot_trace: the slot's trace, or NULL. */
void mot_pass_slot_set_trace(mot_pass_slot *s, struct mot_trace *t);
struct mot_trace *mot_pass_slot_trace(const mot_pass_slot *s);

/* Counts the times the seats' backends were dropped: a pass whose backend was handed out
 * before a drop must not use it. */
uint64_t mot_pass_slot_epoch(const mot_pass_slot *s);

#endif
