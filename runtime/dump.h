/* The dump (SPEC 2.3): what a run computed, as one safetensors file. Each expert gives
 * tokens.{name} i32 [N + T] (its prompt, then its sampled tokens) and logits.{name} f32
 * [T, vocab] (row 0 after prefill, row t after feeding token t-1). Written through
 * common/safe_write.h: the path must be absent or a regular file unless force (--force). */
#ifndef MOT_RUNTIME_DUMP_H
#define MOT_RUNTIME_DUMP_H

#include "runtime/mot_generate.h"

/* One expert alone (mot run -m): its two entries. */
mot_status mot_dump_single(const char *path, const char *name, const int *prompt, int n_prompt,
                           const mot_token_log *sampled, int vocab, int force);

/* A finished MoT session: route.scores f32 [M] (when the router ran), route.active i32 [K],
 * then the two entries of every active expert, primary first. */
mot_status mot_session_dump(const mot_session *s, const char *path, int force);

#endif
