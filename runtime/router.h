/* The router (SPEC 1.1): prompt -> encoder -> z [d_z] -> s = W2 gelu(W1 z + b1) + b2 -> top-K.
 * Encoders sit behind a small interface so a sentence-encoder model can plug in later. */
#ifndef MOT_RUNTIME_ROUTER_H
#define MOT_RUNTIME_ROUTER_H

#include "runtime/mot_model.h"
#include "scheduler/plan_source.h"

typedef struct mot_prompt_encoder mot_prompt_encoder;
struct mot_prompt_encoder {
    const char *kind; /* "mean-embed" */
    int dim;          /* d_z */
    /* z [dim] for the raw prompt (never templated). */
    mot_status (*encode)(const mot_prompt_encoder *enc, const char *prompt, float *z);
    void (*destroy)(mot_prompt_encoder *enc);
    void *ctx;
};

/* The encoder the pipeline names (router.encoder). */
mot_status mot_prompt_encoder_create(const mot_model *m, mot_prompt_encoder **out);

typedef struct {
    int n_experts;   /* M */
    float *scores;   /* [M] router scores, pipeline order; NULL when the set was forced */
    int k;           /* |A| */
    int *active;     /* [k] expert indices, primary first */
} mot_route;

/* Routes the prompt. forced: "a,b,c" (primary first) or NULL; drop: names removed from
 * routing (top-K over the rest). Errors name the unknown expert. */
mot_status mot_route_prompt(const mot_model *m, const char *prompt, const char *forced,
                            const char *const *drop, int n_drop, mot_route *out);
void mot_route_free(mot_route *r);

/* The scheduler's view of a route: lanes from route->active (lane 0 = primary), the model's
 * expanded graph and the interaction weights. Sizes are left 0 for the caller. */
mot_status mot_plan_source_from_route(const mot_model *m, const mot_route *route, int ignore_eos,
                                      mot_plan_source *src);

#endif
