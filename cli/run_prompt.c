/* The prompt of `mot run`, from -p or -f, for both the single-expert and the pipeline paths. */
#include <stdlib.h>
#include <string.h>

#include "cli/run_options.h"
#include "common/error.h"
#include "common/mapped_file.h"

/* 16 MiB: about 4M tokens, past any context window (docs/models.md, "Limits"). */
#define MOT_MAX_PROMPT_FILE_BYTES ((size_t)16 << 20)

static mot_status read_prompt_file(const char *path, char **text) {
    size_t size;
    MOT_TRY(mot_read_file_max(path, MOT_MAX_PROMPT_FILE_BYTES, "prompt file", text, &size));
    size_t nul = strlen(*text);
    if (nul != size) {
        free(*text);
        *text = NULL;
        return mot_fail(MOT_ERR_ARG, "%s: the prompt file holds a NUL byte (at offset %zu); prompts are text", path,
                        nul);
    }
    return MOT_OK;
}

mot_status mot_run_prompt(const run_options *o, const char **prompt, char **buf) {
    *prompt = o->prompt;
    if (!o->prompt_file) {
        return MOT_OK;
    }
    mot_status st = read_prompt_file(o->prompt_file, buf);
    *prompt = *buf;
    return st;
}
