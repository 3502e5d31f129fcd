/* Training and evaluation data (SPEC 5): JSON Lines, one {"prompt": ..., "completion": ...}
 * an example. Each example is tokenized once for every expert of the pool: the expert's
 * prompt as generation builds it (template or chat format, BOS as its tokenizer adds it),
 * then the completion without special tokens; and the router's prompt encoding z. */
#ifndef MOT_TRAIN_TRAIN_DATA_H
#define MOT_TRAIN_TRAIN_DATA_H

#include <stddef.h>

#include "runtime/mot_model.h"

/* A line longer than this is refused (a whole corpus on one line is a mistake). */
#define MOT_TRAIN_LINE_MAX (16u << 20)

typedef struct {
    int line;             /* 1-based line in the file */
    int *ids;             /* [n_experts][...]: per expert, its prompt then completion tokens */
    int *n;               /* [M] R_m: tokens of the whole sequence */
    int *n_prompt;        /* [M] N_m: of which the prompt */
    size_t *offset;       /* [M] where expert m's tokens start in ids */
    float *z;             /* [d_z] the router encoder's output for the raw prompt */
    size_t completion_bytes; /* UTF-8 bytes of the completion (bits per byte in eval) */
    int route_target;     /* L_route's target: the expert best alone on it; -1 until scored */
} mot_train_example;

typedef struct {
    char *path;
    int n;
    mot_train_example *ex;
} mot_train_data;

/* Reads and tokenizes PATH. Errors name the file and line: "D.jsonl:7: expected a JSON object
 * with string fields \"prompt\" and \"completion\"", "D.jsonl:3: the completion is empty",
 * "D.jsonl:9: 812 tokens for expert 'math', longer than its context (512)". max_tokens > 0
 * lowers that limit (for every expert). Progress goes to stderr for large files. */
mot_status mot_train_data_load(const mot_model *m, const char *path, int max_tokens, mot_train_data *d);
void mot_train_data_free(mot_train_data *d);

/* Expert m's tokens of an example. */
static inline const int *mot_train_example_ids(const mot_train_example *e, int m) { return e->ids + e->offset[m]; }

#endif
