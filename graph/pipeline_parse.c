/* The pipeline file (SPEC section 3): YAML document -> mot_pipeline, with the position of
 * every value kept for the checks that come after (pipeline_validate.c, placement.c). */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "graph/graph_nodes.h"
#include "graph/pipeline_internal.h"
#include "tokenizer/chat_format.h"

static const char *const top_keys[] = {"name", "experts", "router", "interaction", "weights",
                                       "sampler", "train", "schedule", "graph", NULL};
static const char *const expert_keys[] = {"name", "path", "template", "chat", "chat_template", "layers",
                                          "depth", NULL};
static const char *const bool_names[] = {"false", "true", NULL};
static const char *const router_keys[] = {"encoder", "expert", "hidden", "top_k", NULL};
static const char *const interaction_keys[] = {"stacks", "placement", "shared_dim", "heads",
                                               "norm", NULL};
static const char *const sampler_keys[] = {"temperature", "top_k", "top_p", "min_p", "seed", "max_tokens",
                                           "repeat_penalty", "repeat_last_n", "presence_penalty",
                                           "frequency_penalty", NULL};
static const char *const encoder_kinds[] = {"mean-embed", NULL};
static const char *const train_keys[] = {"tau", "l_ent", "l_bal", "l_con", "l_route", "dropout", "lr", "weight_decay",
                                         "clip", "warmup", "steps", "batch", "seed", NULL};

/* Sizes beyond any model this runtime loads; they keep later allocations bounded.
 * MAX_EXPERT_STACKS bounds the expanded graph (experts x stacks): 256 experts x 1024 stacks,
 * each within its own limit, made a 10 KB file expand into a 94 MB `mot graph`. */
enum { MAX_EXPERTS = 256, MAX_STACKS = 1024, MAX_EXPERT_STACKS = 16384, MAX_DIM = 1 << 20 };

/* A path value, resolved against the pipeline file's folder. */
static mot_status read_path(yaml_tree *t, yaml_node_t *n, const char *what, char **out) {
    char *rel = NULL;
    MOT_TRY(yaml_tree_string(t, n, what, &rel));
    if (!*rel) {
        free(rel);
        return yaml_tree_fail(t, yaml_tree_pos(n), "%s: expected a path, found an empty string", what);
    }
    *out = mot_pipeline_resolve_path(t->file, rel);
    free(rel);
    return *out ? MOT_OK : mot_fail(MOT_ERR_NOMEM, "%s: out of memory", t->file);
}

static mot_status read_layers(yaml_tree *t, yaml_node_t *n, const char *what,
                              mot_pipeline_expert *e, int *count) {
    MOT_TRY(yaml_tree_expect_sequence(t, n, what));
    int len = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (len > MAX_STACKS) {
        return yaml_tree_fail(t, yaml_tree_pos(n), "%s: %d entries (expected at most %d)", what,
                              len, MAX_STACKS);
    }
    e->layers = calloc((size_t)len + 1, sizeof *e->layers);
    e->layer_item_pos = calloc((size_t)len + 1, sizeof *e->layer_item_pos);
    if (!e->layers || !e->layer_item_pos) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", t->file);
    }
    for (int i = 0; i < len; i++) {
        yaml_node_t *item = yaml_tree_node(t, n->data.sequence.items.start[i]);
        char item_what[128];
        snprintf(item_what, sizeof item_what, "%s[%d]", what, i);
        MOT_TRY(yaml_tree_int(t, item, item_what, 0, INT_MAX, &e->layers[i]));
        e->layer_item_pos[i] = yaml_tree_pos(item);
    }
    *count = len;
    return MOT_OK;
}

/* chat: true | false, chat_template: NAME. One way to wrap the prompt: with `template` too
 * the error points at the chat key. */
static mot_status read_chat(yaml_tree *t, yaml_node_t *n, const char *what, mot_pipeline_expert *e) {
    char key[96];
    yaml_node_t *chat = yaml_tree_get(t, n, "chat", NULL);
    yaml_node_t *name = yaml_tree_get(t, n, "chat_template", NULL);
    if (chat && name) {
        return yaml_tree_fail(t, yaml_tree_pos(name), "%s: give chat or chat_template, not both (chat_template "
                              "implies chat)", what);
    }
    if (chat) {
        snprintf(key, sizeof key, "%s.chat", what);
        MOT_TRY(yaml_tree_choice(t, chat, key, bool_names, &e->chat));
        e->chat_pos = yaml_tree_pos(chat);
    }
    if (name) {
        snprintf(key, sizeof key, "%s.chat_template", what);
        MOT_TRY(yaml_tree_string(t, name, key, &e->chat_template));
        e->chat_pos = yaml_tree_pos(name);
        e->chat = 1;
        if (!mot_chat_format_from_name(e->chat_template)) {
            return yaml_tree_fail(t, e->chat_pos, "%s: unknown chat template '%s' (expected one of %s)", key,
                                  e->chat_template, mot_chat_format_names());
        }
    }
    if (e->chat && e->template_text) {
        return yaml_tree_fail(t, e->chat_pos, "%s: give template or %s, not both (each wraps the prompt)", what,
                              name ? "chat_template" : "chat");
    }
    return MOT_OK;
}

static mot_status read_expert(yaml_tree *t, yaml_node_t *n, int index, mot_pipeline_expert *e,
                              int *n_layers) {
    char what[64], key[96];
    snprintf(what, sizeof what, "experts[%d]", index);
    MOT_TRY(yaml_tree_expect_mapping(t, n, what));
    MOT_TRY(yaml_tree_check_keys(t, n, what, expert_keys));
    e->pos = yaml_tree_pos(n);
    *n_layers = -1;

    yaml_node_t *v;
    MOT_TRY(yaml_tree_require(t, n, what, "name", &v));
    snprintf(key, sizeof key, "%s.name", what);
    MOT_TRY(yaml_tree_string(t, v, key, &e->name));
    e->name_pos = yaml_tree_pos(v);
    if (!mot_pipeline_valid_name(e->name)) {
        return yaml_tree_fail(t, e->name_pos,
                              "%s: '%s' is not a valid expert name (expected letters, digits, '_' "
                              "and '-' only: it appears in tensor names)", key, e->name);
    }
    MOT_TRY(yaml_tree_require(t, n, what, "path", &v));
    snprintf(key, sizeof key, "%s.path", what);
    MOT_TRY(read_path(t, v, key, &e->path));
    if ((v = yaml_tree_get(t, n, "template", NULL))) {
        snprintf(key, sizeof key, "%s.template", what);
        MOT_TRY(yaml_tree_string(t, v, key, &e->template_text));
        if (!strstr(e->template_text, "{prompt}")) {
            return yaml_tree_fail(t, yaml_tree_pos(v), "%s: expected a string containing {prompt}",
                                  key);
        }
    }
    MOT_TRY(read_chat(t, n, what, e));
    if ((v = yaml_tree_get(t, n, "depth", NULL))) {
        snprintf(key, sizeof key, "%s.depth", what);
        MOT_TRY(yaml_tree_int(t, v, key, 1, INT_MAX, &e->depth));
        e->depth_pos = yaml_tree_pos(v);
    }
    if ((v = yaml_tree_get(t, n, "layers", NULL))) {
        snprintf(key, sizeof key, "%s.layers", what);
        e->layers_pos = yaml_tree_pos(v);
        MOT_TRY(read_layers(t, v, key, e, n_layers));
    }
    return MOT_OK;
}

/* experts: fills p->experts; layer_counts gets each explicit list's length (-1: none). */
static mot_status read_experts(yaml_tree *t, yaml_node_t *n, mot_pipeline *p, int **layer_counts) {
    MOT_TRY(yaml_tree_expect_sequence(t, n, "experts"));
    int count = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count < 1) {
        return yaml_tree_fail(t, yaml_tree_pos(n), "experts: expected at least one expert, found none");
    }
    if (count > MAX_EXPERTS) {
        return yaml_tree_fail(t, yaml_tree_pos(n), "experts: %d experts (expected at most %d)",
                              count, MAX_EXPERTS);
    }
    p->experts = calloc((size_t)count, sizeof *p->experts);
    *layer_counts = calloc((size_t)count, sizeof **layer_counts);
    if (!p->experts || !*layer_counts) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", t->file);
    }
    p->n_experts = count;
    for (int i = 0; i < count; i++) {
        yaml_node_t *item = yaml_tree_node(t, n->data.sequence.items.start[i]);
        MOT_TRY(read_expert(t, item, i, &p->experts[i], &(*layer_counts)[i]));
    }
    return MOT_OK;
}

static mot_status read_router(yaml_tree *t, yaml_node_t *n, mot_pipeline *p) {
    MOT_TRY(yaml_tree_expect_mapping(t, n, "router"));
    MOT_TRY(yaml_tree_check_keys(t, n, "router", router_keys));
    p->router.pos = yaml_tree_pos(n);
    yaml_node_t *v;
    int kind = 0;
    if ((v = yaml_tree_get(t, n, "encoder", NULL))) {
        MOT_TRY(yaml_tree_choice(t, v, "router.encoder", encoder_kinds, &kind));
    }
    p->router.encoder = strdup(encoder_kinds[kind]);
    /* mean-embed reads one expert's tokenizer and embeddings: that expert must be named. */
    MOT_TRY(yaml_tree_require(t, n, "router", "expert", &v));
    char *name = NULL;
    MOT_TRY(yaml_tree_string(t, v, "router.expert", &name));
    p->router.expert_pos = yaml_tree_pos(v);
    p->router.expert = mot_pipeline_find_expert(p, name);
    if (p->router.expert < 0) {
        char list[512];
        size_t k = 0;
        list[0] = '\0';
        for (int i = 0; i < p->n_experts && k < sizeof list; i++) {
            k += snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "", p->experts[i].name);
        }
        mot_status st = yaml_tree_fail(t, p->router.expert_pos,
                                       "router.expert '%s' is not an expert (expected one of %s)",
                                       name, list);
        free(name);
        return st;
    }
    free(name);
    MOT_TRY(yaml_tree_require(t, n, "router", "hidden", &v));
    MOT_TRY(yaml_tree_int(t, v, "router.hidden", 1, MAX_DIM, &p->router.hidden));
    MOT_TRY(yaml_tree_require(t, n, "router", "top_k", &v));
    MOT_TRY(yaml_tree_int(t, v, "router.top_k", 1, INT_MAX, &p->router.top_k));
    p->router.top_k_pos = yaml_tree_pos(v);
    return MOT_OK;
}

static mot_status read_interaction(yaml_tree *t, yaml_node_t *n, mot_pipeline *p) {
    MOT_TRY(yaml_tree_expect_mapping(t, n, "interaction"));
    MOT_TRY(yaml_tree_check_keys(t, n, "interaction", interaction_keys));
    p->interaction.pos = yaml_tree_pos(n);
    yaml_node_t *v;
    MOT_TRY(yaml_tree_require(t, n, "interaction", "stacks", &v));
    MOT_TRY(yaml_tree_int(t, v, "interaction.stacks", 1, MAX_STACKS, &p->interaction.stacks));
    if ((long)p->n_experts * p->interaction.stacks > MAX_EXPERT_STACKS) {
        return yaml_tree_fail(t, yaml_tree_pos(v), "interaction.stacks: %d experts x %d stacks is more than "
                              "the %d expert stacks a pipeline may have (expected fewer stacks or experts)",
                              p->n_experts, p->interaction.stacks, MAX_EXPERT_STACKS);
    }
    int choice = 0;
    if ((v = yaml_tree_get(t, n, "placement", NULL))) {
        MOT_TRY(yaml_tree_choice(t, v, "interaction.placement", mot_placement_names, &choice));
    }
    p->interaction.placement = (mot_placement)choice;
    MOT_TRY(yaml_tree_require(t, n, "interaction", "shared_dim", &v));
    MOT_TRY(yaml_tree_int(t, v, "interaction.shared_dim", 1, MAX_DIM, &p->interaction.shared_dim));
    MOT_TRY(yaml_tree_require(t, n, "interaction", "heads", &v));
    MOT_TRY(yaml_tree_int(t, v, "interaction.heads", 1, MAX_DIM, &p->interaction.heads));
    p->interaction.heads_pos = yaml_tree_pos(v);
    choice = 0;
    if ((v = yaml_tree_get(t, n, "norm", NULL))) {
        MOT_TRY(yaml_tree_choice(t, v, "interaction.norm", mot_latent_norm_names, &choice));
    }
    p->interaction.norm = (mot_latent_norm)choice;
    return MOT_OK;
}

static mot_status read_sampler(yaml_tree *t, yaml_node_t *n, mot_pipeline *p) {
    MOT_TRY(yaml_tree_expect_mapping(t, n, "sampler"));
    MOT_TRY(yaml_tree_check_keys(t, n, "sampler", sampler_keys));
    /* the numeric keys in the order they are checked (the first bad one is reported), each
     * with its range (lo excluded where lo_open) and what its error says was expected; ints
     * say their range themselves (yaml_tree_int) */
    static const struct {
        const char *key;
        size_t at;
        int is_int, lo_open;
        double lo, hi;
        const char *expected;
    } nums[] = {
        {"temperature", offsetof(mot_pipeline, sampler.temperature), 0, 0, 0, 1e6, ">= 0; 0 is greedy"},
        {"top_k", offsetof(mot_pipeline, sampler.top_k), 1, 0, 0, INT_MAX, NULL},
        {"top_p", offsetof(mot_pipeline, sampler.top_p), 0, 1, 0, 1, "0 < top_p <= 1"},
        {"min_p", offsetof(mot_pipeline, sampler.min_p), 0, 0, 0, 1, "0 <= min_p <= 1; 0 is off"},
        {"repeat_penalty", offsetof(mot_pipeline, sampler.repeat_penalty), 0, 1, 0, 1e6, "> 0; 1 is off"},
        {"repeat_last_n", offsetof(mot_pipeline, sampler.repeat_last_n), 1, 0, -1, 1 << 24, NULL},
        {"presence_penalty", offsetof(mot_pipeline, sampler.presence_penalty), 0, 0, -1e6, 1e6,
         "-1e6 .. 1e6; 0 is off"},
        {"frequency_penalty", offsetof(mot_pipeline, sampler.frequency_penalty), 0, 0, -1e6, 1e6,
         "-1e6 .. 1e6; 0 is off"},
    };
    yaml_node_t *v;
    char what[40];
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        if (!(v = yaml_tree_get(t, n, nums[i].key, NULL))) continue;
        snprintf(what, sizeof what, "sampler.%s", nums[i].key);
        if (nums[i].is_int) {
            MOT_TRY(yaml_tree_int(t, v, what, (int)nums[i].lo, (int)nums[i].hi, (int *)((char *)p + nums[i].at)));
            continue;
        }
        double x;
        MOT_TRY(yaml_tree_float(t, v, what, &x)); /* finite */
        if (!((nums[i].lo_open ? x > nums[i].lo : x >= nums[i].lo) && x <= nums[i].hi)) {
            return yaml_tree_fail(t, yaml_tree_pos(v), "%s: %g is out of range (expected %s)", what, x,
                                  nums[i].expected);
        }
        *(float *)((char *)p + nums[i].at) = (float)x;
    }
    if ((v = yaml_tree_get(t, n, "seed", NULL))) {
        MOT_TRY(yaml_tree_u64(t, v, "sampler.seed", &p->sampler.seed));
    }
    if ((v = yaml_tree_get(t, n, "max_tokens", NULL))) {
        MOT_TRY(yaml_tree_int(t, v, "sampler.max_tokens", 1, INT_MAX, &p->sampler.max_tokens));
    }
    return MOT_OK;
}

/* train: the real-valued keys with their ranges, then the integers (SPEC 5's defaults live in
 * train/, which the flags and these override). */
static mot_status read_train(yaml_tree *t, yaml_node_t *n, mot_pipeline *p) {
    MOT_TRY(yaml_tree_expect_mapping(t, n, "train"));
    MOT_TRY(yaml_tree_check_keys(t, n, "train", train_keys));
    p->train.pos = yaml_tree_pos(n);
    static const struct {
        const char *key;
        size_t at;
        double lo, hi;
        unsigned bit;
    } reals[] = {
        {"tau", offsetof(mot_pipeline, train.tau), 1e-6, 1e6, MOT_TRAIN_KEY_TAU},
        {"l_ent", offsetof(mot_pipeline, train.l_ent), 0, 1e6, MOT_TRAIN_KEY_L_ENT},
        {"l_bal", offsetof(mot_pipeline, train.l_bal), 0, 1e6, MOT_TRAIN_KEY_L_BAL},
        {"l_con", offsetof(mot_pipeline, train.l_con), 0, 1e6, MOT_TRAIN_KEY_L_CON},
        {"l_route", offsetof(mot_pipeline, train.l_route), 0, 1e6, MOT_TRAIN_KEY_L_ROUTE},
        {"dropout", offsetof(mot_pipeline, train.dropout), 0, 0.99, MOT_TRAIN_KEY_DROPOUT},
        {"lr", offsetof(mot_pipeline, train.lr), 0, 10, MOT_TRAIN_KEY_LR},
        {"weight_decay", offsetof(mot_pipeline, train.weight_decay), 0, 10, MOT_TRAIN_KEY_WEIGHT_DECAY},
        {"clip", offsetof(mot_pipeline, train.clip), 0, 1e30, MOT_TRAIN_KEY_CLIP},
    };
    char what[64];
    yaml_node_t *v;
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) {
        if (!(v = yaml_tree_get(t, n, reals[i].key, NULL))) continue;
        double x;
        snprintf(what, sizeof what, "train.%s", reals[i].key);
        MOT_TRY(yaml_tree_float(t, v, what, &x));
        if (!(x >= reals[i].lo && x <= reals[i].hi)) {
            return yaml_tree_fail(t, yaml_tree_pos(v), "%s: %g is out of range (expected %g to %g)", what, x,
                                  reals[i].lo, reals[i].hi);
        }
        *(double *)((char *)p + reals[i].at) = x;
        p->train.given |= reals[i].bit;
    }
    if ((v = yaml_tree_get(t, n, "warmup", NULL))) {
        MOT_TRY(yaml_tree_int(t, v, "train.warmup", 0, INT_MAX, &p->train.warmup));
        p->train.given |= MOT_TRAIN_KEY_WARMUP;
    }
    if ((v = yaml_tree_get(t, n, "steps", NULL))) {
        MOT_TRY(yaml_tree_int(t, v, "train.steps", 1, INT_MAX / 4096, &p->train.steps));
        p->train.given |= MOT_TRAIN_KEY_STEPS;
    }
    if ((v = yaml_tree_get(t, n, "batch", NULL))) {
        MOT_TRY(yaml_tree_int(t, v, "train.batch", 1, 4096, &p->train.batch));
        p->train.given |= MOT_TRAIN_KEY_BATCH;
    }
    if ((v = yaml_tree_get(t, n, "seed", NULL))) {
        MOT_TRY(yaml_tree_u64(t, v, "train.seed", &p->train.seed));
        p->train.given |= MOT_TRAIN_KEY_SEED;
    }
    return MOT_OK;
}

/* Explicit lists only with explicit placement, and then one per expert, one index per stack. */
static mot_status check_explicit_lists(yaml_tree *t, const mot_pipeline *p, const int *counts) {
    int explicit_pl = p->interaction.placement == MOT_PLACEMENT_EXPLICIT;
    for (int i = 0; i < p->n_experts; i++) {
        const mot_pipeline_expert *e = &p->experts[i];
        if (!explicit_pl && e->layers) {
            return yaml_tree_fail(t, e->layers_pos,
                                  "experts[%d].layers: only allowed with interaction.placement "
                                  "explicit (placement is %s)",
                                  i, mot_placement_name(p->interaction.placement));
        }
        if (explicit_pl && !e->layers) {
            return yaml_tree_fail(t, e->pos,
                                  "experts[%d] (%s): interaction.placement explicit needs a "
                                  "'layers' list of %d layer indices",
                                  i, e->name, p->interaction.stacks);
        }
        if (explicit_pl && counts[i] != p->interaction.stacks) {
            return yaml_tree_fail(t, e->layers_pos,
                                  "experts[%d].layers: %d entries, expected %d (one per stack, "
                                  "interaction.stacks)",
                                  i, counts[i], p->interaction.stacks);
        }
    }
    return MOT_OK;
}

static mot_status read_document(yaml_tree *t, mot_pipeline *p) {
    yaml_node_t *root = yaml_tree_root(t);
    if (!root) {
        return yaml_tree_fail(t, (mot_src_pos){1, 1},
                              "empty document (expected a mapping with name, experts, router, "
                              "interaction)");
    }
    MOT_TRY(yaml_tree_expect_mapping(t, root, "the pipeline"));
    MOT_TRY(yaml_tree_check_keys(t, root, "the pipeline", top_keys));
    yaml_node_t *v;
    MOT_TRY(yaml_tree_require(t, root, "the pipeline", "name", &v));
    MOT_TRY(yaml_tree_string(t, v, "name", &p->name));
    if (!*p->name) {
        return yaml_tree_fail(t, yaml_tree_pos(v), "name: expected the pipeline's name, found an empty string");
    }
    MOT_TRY(yaml_tree_require(t, root, "the pipeline", "experts", &v));
    int *counts = NULL;
    mot_status st = read_experts(t, v, p, &counts);
    if (st == MOT_OK) {
        st = yaml_tree_require(t, root, "the pipeline", "router", &v);
    }
    if (st == MOT_OK) {
        st = read_router(t, v, p);
    }
    if (st == MOT_OK) {
        st = yaml_tree_require(t, root, "the pipeline", "interaction", &v);
    }
    if (st == MOT_OK) {
        st = read_interaction(t, v, p);
    }
    if (st == MOT_OK) {
        st = check_explicit_lists(t, p, counts);
    }
    free(counts);
    MOT_TRY(st);
    if ((v = yaml_tree_get(t, root, "weights", NULL))) {
        p->weights_pos = yaml_tree_pos(v);
        MOT_TRY(read_path(t, v, "weights", &p->weights));
    }
    if ((v = yaml_tree_get(t, root, "schedule", NULL))) {
        MOT_TRY(read_path(t, v, "schedule", &p->schedule));
    }
    if ((v = yaml_tree_get(t, root, "train", NULL))) {
        MOT_TRY(read_train(t, v, p));
    }
    if ((v = yaml_tree_get(t, root, "sampler", NULL))) {
        MOT_TRY(read_sampler(t, v, p));
    }
    MOT_TRY(mot_pipeline_validate(p));
    if ((v = yaml_tree_get(t, root, "graph", NULL))) {
        MOT_TRY(mot_pipeline_load_graph(t, v, p));
    }
    return MOT_OK;
}

mot_status mot_pipeline_load(const char *path, mot_pipeline **out) {
    *out = NULL;
    yaml_tree t;
    MOT_TRY(yaml_tree_load(&t, path, "pipeline"));
    mot_pipeline *p = calloc(1, sizeof *p);
    if (!p || !(p->file = strdup(path))) {
        free(p);
        yaml_tree_free(&t);
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", path);
    }
    p->sampler.top_p = 1.0f;
    p->sampler.max_tokens = 64;
    p->sampler.repeat_penalty = 1.0f;
    p->sampler.repeat_last_n = 64;
    mot_status st = read_document(&t, p);
    yaml_tree_free(&t);
    if (st != MOT_OK) {
        mot_pipeline_free(p);
        return st;
    }
    *out = p;
    return MOT_OK;
}

void mot_pipeline_free(mot_pipeline *p) {
    if (!p) {
        return;
    }
    for (int i = 0; i < p->n_experts; i++) {
        mot_pipeline_expert *e = &p->experts[i];
        free(e->name);
        free(e->path);
        free(e->template_text);
        free(e->chat_template);
        free(e->layers);
        free(e->layer_item_pos);
    }
    free(p->experts);
    free(p->file);
    free(p->name);
    free(p->router.encoder);
    free(p->weights);
    free(p->schedule);
    if (p->graph) {
        mot_graph_free(p->graph);
        free(p->graph);
    }
    free(p);
}
