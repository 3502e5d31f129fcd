#include "runtime/dump.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/safetensors.h"

mot_status mot_dump_single(const char *path, const char *name, const int *prompt, int n_prompt,
                           const int *sampled, int n_sampled, const float *logits, int vocab) {
    int32_t *tokens = malloc((size_t)(n_prompt + n_sampled + 1) * sizeof *tokens);
    if (!tokens) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", path);
    }
    for (int i = 0; i < n_prompt; i++) tokens[i] = prompt[i];
    for (int i = 0; i < n_sampled; i++) tokens[n_prompt + i] = sampled[i];
    char tokens_name[256], logits_name[256];
    snprintf(tokens_name, sizeof tokens_name, "tokens.%s", name);
    snprintf(logits_name, sizeof logits_name, "logits.%s", name);
    mot_st_entry entries[2] = {
        {.name = tokens_name, .dtype = MOT_DTYPE_I32, .ndim = 1, .shape = {n_prompt + n_sampled}, .data = tokens},
        {.name = logits_name, .dtype = MOT_DTYPE_F32, .ndim = 2, .shape = {n_sampled, vocab}, .data = logits},
    };
    mot_status st = mot_st_write(path, entries, 2);
    free(tokens);
    return st;
}
