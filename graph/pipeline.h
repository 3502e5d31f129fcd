/* A MoT pipeline file (SPEC section 3), parsed with libyaml and validated; the compact form
 * and the expanded form (the dataflow graph written out, `mot graph`) both load into this. */
#ifndef MOT_GRAPH_PIPELINE_H
#define MOT_GRAPH_PIPELINE_H

#include <stdio.h>

#include "mot.h"

/* Where a value came from, for "file:line:column: error: ..." messages (1-based). */
typedef struct {
    int line, col;
} mot_src_pos;

typedef struct {
    char *name;           /* unique within the pipeline */
    char *path;           /* the model folder, resolved relative to the pipeline file */
    char *template_text;  /* NULL when absent; contains "{prompt}" */
    int chat;             /* `chat: true` or `chat_template: NAME`: the prompt goes through a chat
                             template (tokenizer/chat_format.h); never with template_text */
    char *chat_template;  /* `chat_template: NAME` (a known format name), NULL: the model's own */
    mot_src_pos chat_pos; /* of the chat or chat_template value */
    int *layers;          /* explicit placement only: [stacks] layer indices, else NULL */
    mot_src_pos pos;      /* of the expert's entry */
    mot_src_pos layers_pos;
    /* Added for error positions and the expanded form: */
    mot_src_pos name_pos;
    mot_src_pos *layer_item_pos; /* [stacks] when layers is set: each index's position */
    int depth;            /* optional key `depth` (layers of the model; written by `mot graph`),
                             0 when absent; checked against the model's config when known */
    mot_src_pos depth_pos;
} mot_pipeline_expert;

typedef enum {
    MOT_PLACEMENT_UNIFORM = 0, /* [0, 1) */
    MOT_PLACEMENT_SHALLOW,     /* [0, 0.5) */
    MOT_PLACEMENT_INTERMEDIATE,/* [0.25, 0.75) */
    MOT_PLACEMENT_DEEP,        /* [0.5, 1) */
    MOT_PLACEMENT_EXPLICIT     /* per-expert layer lists */
} mot_placement;

typedef enum { MOT_LATENT_NORM_NONE = 0, MOT_LATENT_NORM_LAYERNORM } mot_latent_norm;

typedef struct {
    char *file;                 /* the pipeline file as given */
    char *name;
    int n_experts;
    mot_pipeline_expert *experts; /* router output order */

    struct {
        char *encoder;          /* "mean-embed" */
        int expert;             /* index of the expert whose tokenizer + embeddings encode */
        int hidden;             /* h_r */
        int top_k;              /* K, 1 <= K <= n_experts */
        mot_src_pos pos;
        mot_src_pos expert_pos, top_k_pos; /* added: where those values are */
    } router;

    struct {
        int stacks;             /* Q >= 1 */
        mot_placement placement;
        int shared_dim;         /* d_s */
        int heads;              /* H, divides d_s */
        mot_latent_norm norm;
        mot_src_pos pos;
        mot_src_pos heads_pos;  /* added: where heads is */
    } interaction;

    char *weights;              /* MoT weights (SPEC 2.2), resolved; NULL when absent */
    mot_src_pos weights_pos;

    struct {
        float temperature;      /* default 0 */
        int top_k;              /* default 0 */
        float top_p;            /* default 1 */
        float min_p;            /* default 0 (off) */
        float repeat_penalty;   /* default 1 (off) */
        int repeat_last_n;      /* default 64; -1: every token seen */
        float presence_penalty, frequency_penalty; /* default 0 */
        unsigned long long seed;/* default 0 */
        int max_tokens;         /* default 64 */
    } sampler;

    /* `train:` (SPEC 5; docs/training.md): the defaults `mot train` takes, which its flags
     * override. A field is used only when its bit in `given` is set (MOT_TRAIN_KEY_*). */
    struct {
        double tau, l_ent, l_bal, l_con, l_route, dropout, lr, weight_decay, clip;
        int warmup, steps, batch;
        unsigned long long seed;
        unsigned given;
        mot_src_pos pos;
    } train;

    char *schedule;             /* resolved; NULL when absent */

    /* The file's `graph:` section, loaded and checked (graph/graph_load.c): what runs instead
     * of the expansion of the settings. NULL when the file has none. */
    struct mot_graph *graph;
    mot_src_pos graph_pos;
} mot_pipeline;

enum {
    MOT_TRAIN_KEY_TAU = 1 << 0, MOT_TRAIN_KEY_L_ENT = 1 << 1, MOT_TRAIN_KEY_L_BAL = 1 << 2,
    MOT_TRAIN_KEY_L_CON = 1 << 3, MOT_TRAIN_KEY_DROPOUT = 1 << 4, MOT_TRAIN_KEY_LR = 1 << 5,
    MOT_TRAIN_KEY_WEIGHT_DECAY = 1 << 6, MOT_TRAIN_KEY_CLIP = 1 << 7, MOT_TRAIN_KEY_WARMUP = 1 << 8,
    MOT_TRAIN_KEY_STEPS = 1 << 9, MOT_TRAIN_KEY_BATCH = 1 << 10, MOT_TRAIN_KEY_SEED = 1 << 11,
    MOT_TRAIN_KEY_L_ROUTE = 1 << 12
};

/* Parses and validates. Errors: "FILE:LINE:COL: error: ..." (one line) — unknown keys, wrong
 * types, missing or duplicate expert names, top_k > number of experts, heads not dividing
 * shared_dim, an explicit placement without a list for every expert, etc. */
mot_status mot_pipeline_load(const char *path, mot_pipeline **out);
void mot_pipeline_free(mot_pipeline *p);

/* The layer after which interaction q runs for an expert of `n_layers` layers (SPEC 1.2):
 *   end(q) = floor(a*L + (q+1)*(b-a)*L/Q) - 1   (explicit: its list).
 * Checks (at load time, once the experts' depths are known): every index in [0, L), strictly
 * increasing (no two interaction points coincide). Error names the file, line and column of
 * the expert (or its layers list) and what was expected. ends: [stacks]. */
mot_status mot_pipeline_placement(const mot_pipeline *p, int expert, int n_layers, int *ends);

int mot_pipeline_find_expert(const mot_pipeline *p, const char *name); /* -1 when absent */

/* Added: the names used in messages and in the expanded form. */
const char *mot_placement_name(mot_placement pl);
const char *mot_latent_norm_name(mot_latent_norm n);

/* The expanded dataflow graph (router, per-expert stack / forward projector / reverse
 * projector nodes, per-stack attention nodes, per-expert sampler nodes) as YAML that
 * mot_pipeline_load accepts again, or as Graphviz dot. depths: [n_experts] layers per expert. */
mot_status mot_pipeline_write_yaml(const mot_pipeline *p, const int *depths, FILE *out);
mot_status mot_pipeline_write_dot(const mot_pipeline *p, const int *depths, FILE *out);

#endif
