/* One engine answering prompt after prompt with its KV cache kept (llama-server's slot): a
 * conversation's turns, a server's requests. Each prompt reuses the longest prefix the cache
 * already holds (the cache is rewound to where they differ, at least the prompt's last token
 * is fed again, for its logits) and only the rest is prefilled.
 *
 *   open -> start(prompt) -> token / next ... -> start(next prompt) ... -> close
 *
 * The slot keeps the list of tokens whose keys the cache holds, in order: after start, the
 * prompt; then every token fed by next (or by reply). */
#ifndef MOT_RUNTIME_SLOT_H
#define MOT_RUNTIME_SLOT_H

#include "runtime/engine.h"
#include "runtime/generate.h"

typedef struct {
    const mot_expert *ex;
    int n_ctx, max_batch;
    mot_engine engine;
    int open;      /* the engine is open (close frees it) */
    int prefilled; /* a prompt has been fed */
    int *cache;    /* [n_ctx] the tokens the cache holds */
    int n_cache;
} mot_slot;

/* Opens the engine (the backend, its arena: the KV cache for n_ctx positions); max_batch:
 * prompt tokens per pass (<= 0 or more than n_ctx: n_ctx). On an error, close it. */
mot_status mot_slot_open(mot_slot *s, const mot_expert *ex, int n_ctx, int max_batch, const mot_engine_options *o);
/* Feeds prompt[0..n) (0 < n < n_ctx) and samples the reply's first token. sp: new sampling
 * parameters and seed for this prompt (the penalties' history: the prompt), or NULL to go on
 * with the sampler as it is (a conversation: one random stream over its turns). *n_reused:
 * the prompt's tokens the cache already held. On an error the slot holds a prefix of what it
 * held (a next start works). */
mot_status mot_slot_start(mot_slot *s, const int *prompt, int n, const mot_sampler_params *sp, int *n_reused);
/* The token the last pass sampled. */
int mot_slot_token(const mot_slot *s);
/* Feeds that token and samples the next (an error when the context is full: check
 * mot_slot_full first). */
mot_status mot_slot_next(mot_slot *s);
/* Whether the cache has no room for another token. */
int mot_slot_full(const mot_slot *s);
/* mot_generate_reply on the slot (a reply's loop: EOS, n_predict, the context's end), the
 * tokens it feeds kept in the slot's list. */
mot_status mot_slot_reply(mot_slot *s, const mot_generate_params *p, mot_generate_result *res);
void mot_slot_close(mot_slot *s);

#endif
