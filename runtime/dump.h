/* The dump (SPEC 2.3): what a run computed, as one safetensors file. */
#ifndef MOT_RUNTIME_DUMP_H
#define MOT_RUNTIME_DUMP_H

#include "mot.h"

/* One expert alone (mot run -m): tokens.{name} i32 [N + T] (prompt, then sampled tokens) and
 * logits.{name} f32 [T, vocab] (row 0 after prefill, row t after feeding token t-1). */
mot_status mot_dump_single(const char *path, const char *name, const int *prompt, int n_prompt,
                           const int *sampled, int n_sampled, const float *logits, int vocab);

#endif
