/* libFuzzer target: tokenizer.json loading (tokenizer/tokenizer_load.c, bpe_load.c,
 * normalize.c, pretokenize.c, post_process.c, added_tokens.c), then encoding and decoding.
 * One input is tokenizer.json, a NUL byte, the text to encode, and optionally another NUL and
 * tokenizer_config.json. When the tokenizer loads: the text is encoded (with and without
 * special tokens), every id must lie in [0, vocab size), the ids are decoded back (both
 * skip_special ways); the text's bytes, read as ids (some out of range), are decoded too.
 * Build and run: scripts/fuzz.sh tokenizer SECONDS. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "tests/fuzz/fuzz_files.h"
#include "tokenizer/tokenizer.h"

static void round_trip(const mot_tokenizer *tok, const char *text, int add_special) {
    int *ids = NULL, n = 0;
    if (mot_tokenizer_encode(tok, text, add_special, &ids, &n) != 0) {
        return;
    }
    int vocab = mot_tokenizer_vocab_size(tok);
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= vocab) {
            abort(); /* an id the model's embedding has no row for */
        }
        (void)mot_tokenizer_token(tok, ids[i]);
    }
    for (int skip = 0; skip < 2; skip++) {
        char *out = NULL;
        size_t len = 0;
        if (mot_tokenizer_decode_len(tok, ids, n, skip, &out, &len) == 0 && out[len] != '\0') {
            abort();
        }
        free(out);
    }
    free(ids);
}

/* Hostile ids, as a pipeline's sampler or a client could hand them over. */
static void decode_raw(const mot_tokenizer *tok, const uint8_t *bytes, size_t size) {
    int n = (int)(size / 2 < 64 ? size / 2 : 64);
    int ids[64];
    int vocab = mot_tokenizer_vocab_size(tok);
    for (int i = 0; i < n; i++) {
        ids[i] = (int)(bytes[2 * i] | bytes[2 * i + 1] << 8) % (vocab + 4) - 2;
    }
    char *out = NULL;
    (void)mot_tokenizer_decode(tok, ids, n, 0, &out);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *dir = fuzz_dir("tokenizer");
    fuzz_part parts[3];
    int n = fuzz_split(data, size, "", 1, parts, 3);
    int ok = fuzz_write("tokenizer.json", parts[0].data, parts[0].size) == 0;
    if (n == 3) {
        ok = ok && fuzz_write("tokenizer_config.json", parts[2].data, parts[2].size) == 0;
    } else {
        fuzz_remove("tokenizer_config.json");
    }
    mot_tokenizer *tok = NULL;
    if (ok && mot_tokenizer_load(dir, &tok) == 0) {
        fuzz_part text = n >= 2 ? parts[1] : (fuzz_part){(const uint8_t *)"", 0};
        char *s = fuzz_cstr(text);
        round_trip(tok, s, 0);
        round_trip(tok, s, 1);
        decode_raw(tok, text.data, text.size);
        (void)mot_tokenizer_chat_template(tok);
        const int *prefix;
        (void)mot_tokenizer_prefix(tok, &prefix);
        free(s);
    }
    mot_tokenizer_free(tok);
    return 0;
}
