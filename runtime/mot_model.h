/* A loaded MoT pipeline: the expert pool (weights mapped, tokenizers), each expert's
 * interaction points, and the trained MoT weights (router + interaction layers, SPEC 2.2). */
#ifndef MOT_RUNTIME_MOT_MODEL_H
#define MOT_RUNTIME_MOT_MODEL_H

#include "graph/graph_nodes.h"
#include "graph/pipeline.h"
#include "tokenizer/chat_format.h"
#include "runtime/expert.h"
#include "tokenizer/tokenizer.h"

typedef struct {
    mot_pipeline *pipe;
    int n_experts;             /* M */
    mot_expert **experts;      /* [M] */
    mot_tokenizer **tokenizers;/* [M] */
    mot_chat_format *chat;     /* [M] the chat format of experts with chat (NONE: no chat) */
    mot_graph graph;           /* the dataflow graph the scheduler lowers: the pipeline file's
                                  `graph:` section, else the expansion of its settings */
    mot_st_set *st;            /* the MoT weights file (NULL before mot init) */
    mot_linear router_fc1;     /* [h_r, d_z] */
    mot_linear router_fc2;     /* [M, h_r] */
    mot_interaction_weights *inter; /* [Q] */
    int allow_nonfinite;       /* route on NaN/inf router scores (--allow-nonfinite); else an error */
} mot_model;

/* Loads the pipeline, every expert and tokenizer, resolves the chat format of experts with
 * chat (an error at the chat key when the model has no template mot knows), checks placements
 * against depths, and
 * (when load_weights) the MoT weights with every shape checked:
 * "W.safetensors: tensor 'interaction.0.forward.math.weight': expected [128, 64], found [128, 32]". */
mot_status mot_model_load(const char *pipeline_path, int load_weights, mot_model **out);
/* The same with the MoT weights read from weights_path instead of the pipeline's `weights:`
 * (`mot eval --weights`, `mot train --init`); NULL: the pipeline's. */
mot_status mot_model_load_with(const char *pipeline_path, const char *weights_path, int load_weights,
                               mot_model **out);
void mot_model_free(mot_model *m);

/* y[n, out] = x[n, in] W^T + b. */
void mot_linear_apply(const mot_linear *l, const float *x, float *y, int n);

/* The expected MoT tensors: calls fn(name, ndim, shape, optional, user) for each, in file
 * order (router, then interaction q = 0..Q-1). `mot init` writes them; the loader checks them. */
typedef void (*mot_tensor_visitor)(const char *name, int ndim, const int64_t *shape, int optional,
                                   void *user);
void mot_model_visit_tensors(const mot_model *m, mot_tensor_visitor fn, void *user);

#endif
