/* Loading DIR/tokenizer.json and DIR/tokenizer_config.json into a mot_tokenizer (a GGUF file:
 * tokenizer_gguf.c). The object's tables, accessors and free: tokenizer_tables.c. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/gguf.h"
#include "common/json.h"
#include "common/mapped_file.h"
#include "tokenizer/tok_internal.h"

/* bos_token / eos_token in tokenizer_config.json: a string or an AddedToken object. */
static mot_status config_token(const json_t *cfg, const char *key, const char *cfg_path, const mot_tokenizer *tok,
                               int *id) {
    const json_t *v = json_object_get(cfg, key);
    if (json_is_object(v)) {
        v = json_object_get(v, "content");
    }
    if (!v || json_is_null(v)) {
        return MOT_OK;
    }
    if (!json_is_string(v)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: '%s' must be a string or an object with 'content'", cfg_path, key);
    }
    *id = tok_token_to_id(tok, json_string_value(v));
    if (*id < 0) {
        return mot_fail(MOT_ERR_FORMAT, "%s: %s '%s' is not in the vocabulary", cfg_path, key, json_string_value(v));
    }
    return MOT_OK;
}

static int first_known(const mot_tokenizer *tok, const char *const *names) {
    for (; *names; names++) {
        int id = tok_token_to_id(tok, *names);
        if (id >= 0) {
            return id;
        }
    }
    return -1;
}

/* BOS/EOS ids and whether encode adds them when the post-processor adds nothing; the chat
 * template.
 * The rule (it matches transformers on real Llama-2/3 and Mistral checkpoints):
 *   - a post_processor that adds special tokens (Llama-3's TemplateProcessing) decides;
 *   - otherwise tokenizer_config.json's add_bos_token / add_eos_token decide, add_bos_token
 *     defaulting to true for Llama tokenizer classes (LlamaTokenizerFast's default) and to
 *     false otherwise, add_eos_token to false. */
static mot_status load_config(mot_tokenizer *tok, const char *dir) {
    static const char *const bos_names[] = {"<s>", "<|begin_of_text|>", NULL};
    static const char *const eos_names[] = {"</s>", "<|end_of_text|>", "<|endoftext|>", NULL};
    tok->bos_id = tok->post.prefix.len ? tok->post.prefix.data[0] : first_known(tok, bos_names);
    tok->eos_id = first_known(tok, eos_names);
    char *path = mot_path_join(dir, "tokenizer_config.json");
    if (!path) {
        return tok_nomem();
    }
    mot_status st = MOT_OK;
    json_t *cfg = NULL;
    if (mot_file_exists(path)) {
        st = mot_json_load(path, &cfg);
        if (st == MOT_OK && !json_is_object(cfg)) {
            st = mot_fail(MOT_ERR_FORMAT, "%s: expected a JSON object", path);
        }
        const char *cls = json_string_value(json_object_get(cfg, "tokenizer_class"));
        tok->add_bos = cls && strstr(cls, "Llama") != NULL;
        if (st == MOT_OK) {
            st = mot_json_opt_bool(cfg, "add_bos_token", path, &tok->add_bos);
        }
        if (st == MOT_OK) {
            st = mot_json_opt_bool(cfg, "add_eos_token", path, &tok->add_eos);
        }
        if (st == MOT_OK) {
            st = config_token(cfg, "bos_token", path, tok, &tok->bos_id);
        }
        if (st == MOT_OK) {
            st = config_token(cfg, "eos_token", path, tok, &tok->eos_id);
        }
    }
    if (st == MOT_OK) {
        st = tok_load_chat_template(cfg, path, dir, &tok->chat_template);
    }
    json_decref(cfg);
    free(path);
    return st;
}

/* The post-processor's ids go into every encoding: one past the vocabulary would index past
 * the embedding table (found by tests/fuzz/fuzz_tokenizer.c). */
static mot_status check_post_ids(const mot_tokenizer *tok) {
    const tok_ids *lists[] = {&tok->post.prefix, &tok->post.suffix};
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; i < lists[l]->len; i++) {
            if (lists[l]->data[i] >= tok->vocab_size) {
                return mot_fail(MOT_ERR_FORMAT, "%s: post_processor: token id %d is not in the vocabulary (%d ids)",
                                tok->file, lists[l]->data[i], tok->vocab_size);
            }
        }
    }
    return MOT_OK;
}

static mot_status load_parts(mot_tokenizer *tok, const json_t *root, const char *dir) {
    const char *f = tok->file;
    MOT_TRY(tok_bpe_load(&tok->bpe, json_object_get(root, "model"), f));
    MOT_TRY(tok_added_load(json_object_get(root, "added_tokens"), f, tok->bpe.vocab.count, &tok->added,
                           &tok->n_added));
    MOT_TRY(tok_normalizer_load(json_object_get(root, "normalizer"), f, &tok->norm, &tok->n_norm));
    MOT_TRY(tok_pretokenizer_load(json_object_get(root, "pre_tokenizer"), f, &tok->pre, &tok->n_pre));
    MOT_TRY(tok_post_load(json_object_get(root, "post_processor"), f, &tok->post));
    const json_t *dec = json_object_get(root, "decoder");
    tok->has_decoder = dec && !json_is_null(dec);
    MOT_TRY(tok_decoder_load(dec, f, &tok->dec, &tok->n_dec));
    MOT_TRY(tok_build_tables(tok));
    MOT_TRY(check_post_ids(tok));
    return load_config(tok, dir);
}

mot_status mot_tokenizer_load(const char *dir, mot_tokenizer **out) {
    *out = NULL;
    if (mot_gguf_is_gguf_path(dir)) {
        return mot_tokenizer_load_gguf(dir, out);
    }
    mot_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) {
        return tok_nomem();
    }
    tok->file = mot_path_join(dir, "tokenizer.json");
    if (!tok->file) {
        free(tok);
        return tok_nomem();
    }
    mot_status st;
    json_t *root = NULL;
    if (!mot_file_exists(tok->file)) {
        st = mot_fail(MOT_ERR_IO, "%s: no such file (a model folder needs its tokenizer.json)", tok->file);
    } else if ((st = mot_json_load(tok->file, &root)) == MOT_OK) {
        st = json_is_object(root) ? load_parts(tok, root, dir)
                                  : mot_fail(MOT_ERR_FORMAT, "%s: expected a JSON object", tok->file);
    }
    json_decref(root);
    if (st != MOT_OK) {
        mot_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return MOT_OK;
}
