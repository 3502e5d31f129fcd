/* The Llama/Mistral forward pass (HF LlamaDecoderLayer), split by layer range:
 *   h = x + o_proj(attn(rope(q_proj(n1)), rope(k_proj(n1)), v_proj(n1))),  n1 = rmsnorm(x)
 *   x = h + down(silu(gate(n2)) * up(n2)),                                 n2 = rmsnorm(h) */
#include <math.h>
#include <string.h>

#include "common/error.h"
#include "runtime/expert.h"

void mot_expert_embed(const mot_expert *ex, const int *tokens, int n, float *x) {
    const int d = ex->cfg.hidden;
    for (int t = 0; t < n; t++) {
        mot_cpu_embed_row(x + (size_t)t * d, &ex->embed, tokens[t]);
    }
}

static void attention_block(const mot_expert *ex, mot_expert_state *st, int layer, float *x, int n) {
    const mot_config *c = &ex->cfg;
    const mot_layer_weights *L = &ex->layers[layer];
    const int d = c->hidden, hd = c->head_dim, kv_dim = c->n_kv_heads * hd;
    const size_t cache_off = (size_t)layer * st->n_ctx * kv_dim;
    float *k_cache = st->k_cache + cache_off, *v_cache = st->v_cache + cache_off;
    float *k_new = k_cache + (size_t)st->pos * kv_dim; /* [n, kv_dim] rows written in place */
    float *v_new = v_cache + (size_t)st->pos * kv_dim;

    mot_cpu_rmsnorm(st->xn, x, L->attn_norm, n, d, c->rms_eps);
    const mot_matmul_job qkv[3] = {
        {st->q, &L->wq}, /* q: [n, n_heads*hd] */
        {k_new, &L->wk}, /* k: [n, kv_dim] */
        {v_new, &L->wv}, /* v: [n, kv_dim] */
    };
    mot_cpu_matmul_multi(qkv, 3, st->xn, n);
    mot_cpu_rope(st->q, n, c->n_heads, hd, st->pos, ex->inv_freq);
    mot_cpu_rope(k_new, n, c->n_kv_heads, hd, st->pos, ex->inv_freq);
    mot_cpu_attention(st->att, st->q, k_cache, v_cache, kv_dim, n, st->pos, c->n_heads,
                      c->n_kv_heads, hd, c->sliding_window, 1.0f / sqrtf((float)hd));
    mot_cpu_matmul(st->xn, st->att, &L->wo, n); /* [n, d] */
    for (size_t i = 0; i < (size_t)n * d; i++) {
        x[i] += st->xn[i];
    }
}

static void mlp_block(const mot_expert *ex, mot_expert_state *st, int layer, float *x, int n) {
    const mot_config *c = &ex->cfg;
    const mot_layer_weights *L = &ex->layers[layer];
    const int d = c->hidden;
    mot_cpu_rmsnorm(st->xn, x, L->ffn_norm, n, d, c->rms_eps);
    const mot_matmul_job gate_up[2] = {{st->gate, &L->w_gate}, {st->up, &L->w_up}}; /* [n, ffn] each */
    mot_cpu_matmul_multi(gate_up, 2, st->xn, n);
    mot_cpu_swiglu(st->gate, st->gate, st->up, n, c->ffn);
    mot_cpu_matmul(st->xn, st->gate, &L->w_down, n); /* [n, d] */
    for (size_t i = 0; i < (size_t)n * d; i++) {
        x[i] += st->xn[i];
    }
}

void mot_expert_layers(const mot_expert *ex, mot_expert_state *st, float *x, int n, int from, int to) {
    for (int l = from; l < to; l++) {
        attention_block(ex, st, l, x, n);
        mlp_block(ex, st, l, x, n);
    }
}

void mot_expert_logits(const mot_expert *ex, mot_expert_state *st, const float *x_row, float *logits) {
    mot_cpu_rmsnorm(st->xn, x_row, ex->final_norm, 1, ex->cfg.hidden, ex->cfg.rms_eps);
    mot_cpu_matmul(logits, st->xn, &ex->lm_head, 1);
}

mot_status mot_expert_forward(const mot_expert *ex, mot_expert_state *st, const int *tokens, int n) {
    const mot_config *c = &ex->cfg;
    if (n <= 0) {
        return mot_fail(MOT_ERR_ARG, "%s: nothing to evaluate (0 tokens)", ex->name);
    }
    if (st->pos + n > st->n_ctx) {
        return mot_fail(MOT_ERR_ARG, "%s: context full: %d tokens in the cache + %d new > context %d (raise -c)",
                        ex->name, st->pos, n, st->n_ctx);
    }
    for (int i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= c->vocab) {
            return mot_fail(MOT_ERR_ARG, "%s: token id %d is outside the vocabulary [0, %d)",
                            ex->name, tokens[i], c->vocab);
        }
    }
    for (int done = 0; done < n;) {
        int chunk = n - done < st->max_batch ? n - done : st->max_batch;
        mot_expert_embed(ex, tokens + done, chunk, st->x);
        mot_expert_layers(ex, st, st->x, chunk, 0, c->n_layers);
        st->pos += chunk;
        done += chunk;
        if (done == n) {
            mot_expert_logits(ex, st, st->x + (size_t)(chunk - 1) * c->hidden, st->logits);
        }
    }
    return MOT_OK;
}
