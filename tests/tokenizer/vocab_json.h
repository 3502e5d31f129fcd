/* A mot_vocab_spec read from a JSON file, for the tests (see vocab_json.c for the format). */
#ifndef MOT_TESTS_TOKENIZER_VOCAB_JSON_H
#define MOT_TESTS_TOKENIZER_VOCAB_JSON_H

#include <jansson.h>

#include "tokenizer/tokenizer.h"

/* Builds the tokenizer with mot_tokenizer_from_vocab; its errors are the library's. */
mot_status vocab_json_load(const char *path, mot_tokenizer **out);

#endif
