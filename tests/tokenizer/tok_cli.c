/* mot-tok: a small driver over the tokenizer for tests and for looking at tokenizers.
 *   mot-tok encode DIR [--raw]           stdin: one JSON string per line; stdout: JSON id arrays
 *                                        (--raw: without BOS/EOS)
 *   mot-tok decode DIR [--skip-special]  stdin: one JSON id array per line; stdout: JSON strings
 *   mot-tok info DIR                     {"vocab_size", "bos_id", "eos_id", "chat_template"}
 * With --vocab, DIR is instead a JSON vocabulary (vocab_json.c) built with
 * mot_tokenizer_from_vocab, as from a GGUF file.
 * Errors: "error: <message>" on stderr, exit status 1. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"
#include "vocab_json.h"

static int fail(const char *what) {
    fprintf(stderr, "error: %s\n", what);
    return 1;
}

static int encode_line(const mot_tokenizer *tok, const json_t *in, int add_special) {
    if (!json_is_string(in)) {
        return fail("encode: each input line must be a JSON string");
    }
    int *ids, n;
    if (mot_tokenizer_encode(tok, json_string_value(in), add_special, &ids, &n) != MOT_OK) {
        return fail(mot_last_error());
    }
    putchar('[');
    for (int i = 0; i < n; i++) {
        printf(i ? ", %d" : "%d", ids[i]);
    }
    puts("]");
    free(ids);
    return 0;
}

static int decode_line(const mot_tokenizer *tok, const json_t *in, int skip_special) {
    if (!json_is_array(in)) {
        return fail("decode: each input line must be a JSON array of ids");
    }
    size_t n = json_array_size(in);
    int *ids = malloc((n ? n : 1) * sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        ids[i] = (int)json_integer_value(json_array_get(in, i));
    }
    char *text;
    size_t len;
    mot_status st = mot_tokenizer_decode_len(tok, ids, (int)n, skip_special, &text, &len);
    free(ids);
    if (st != MOT_OK) {
        return fail(mot_last_error());
    }
    json_t *s = json_stringn_nocheck(text, len);
    char *out = json_dumps(s, JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
    puts(out);
    free(out);
    json_decref(s);
    free(text);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s encode|decode|info DIR [--raw] [--skip-special] [--vocab]\n", argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    int raw = 0, skip_special = 0, vocab = 0;
    for (int i = 3; i < argc; i++) {
        raw |= strcmp(argv[i], "--raw") == 0;
        skip_special |= strcmp(argv[i], "--skip-special") == 0;
        vocab |= strcmp(argv[i], "--vocab") == 0;
    }
    mot_tokenizer *tok;
    if ((vocab ? vocab_json_load(argv[2], &tok) : mot_tokenizer_load(argv[2], &tok)) != MOT_OK) {
        return fail(mot_last_error());
    }
    int rc = 0;
    if (strcmp(mode, "info") == 0) {
        const char *tmpl = mot_tokenizer_chat_template(tok);
        json_t *t = tmpl ? json_string(tmpl) : json_null();
        char *tmpl_json = json_dumps(t, JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
        printf("{\"vocab_size\": %d, \"bos_id\": %d, \"eos_id\": %d, \"chat_template\": %s}\n",
               mot_tokenizer_vocab_size(tok), mot_tokenizer_bos_id(tok), mot_tokenizer_eos_id(tok), tmpl_json);
        free(tmpl_json);
        json_decref(t);
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while (rc == 0 && (len = getline(&line, &cap, stdin)) > 0) {
            json_error_t err;
            json_t *in = json_loadb(line, (size_t)len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
            if (!in) {
                rc = fail("input line is not JSON");
                break;
            }
            rc = strcmp(mode, "encode") == 0   ? encode_line(tok, in, !raw)
                 : strcmp(mode, "decode") == 0 ? decode_line(tok, in, skip_special)
                                               : fail("mode must be encode, decode or info");
            json_decref(in);
            fflush(stdout);
        }
        free(line);
    }
    mot_tokenizer_free(tok);
    return rc;
}
