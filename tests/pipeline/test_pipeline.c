/* Pipeline files (graph/): every error class with its full "FILE:LINE:COL: error: ..." line,
 * good files in flow and block style, defaults, path resolution, placement numbers checked
 * against hand-computed values, the expanded form's round trip and the dot output. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mapped_file.h"
#include "graph/pipeline.h"
#include "tests/loading/test_support.h"

static const char *dir;     /* the temporary folder every file is written into */
static char real_dir[PATH_MAX];

static const char *write_file(const char *name, const char *text) {
    static char path[1024];
    test_path(path, dir, name);
    test_write_text(path, text);
    return path;
}

/* The file must fail to load with exactly "DIR/NAME" + tail as the message. */
static void expect_error_at(int line, const char *name, const char *text, mot_status want,
                            const char *tail) {
    const char *path = write_file(name, text);
    char expected[2048];
    snprintf(expected, sizeof expected, "%s%s", path, tail);
    mot_pipeline *p = NULL;
    mot_status st = mot_pipeline_load(path, &p);
    if (st == MOT_OK) {
        fprintf(stderr, "%s:%d: %s loaded; expected the error\n  %s\n", __FILE__, line, name, expected);
        test_failures++;
        mot_pipeline_free(p);
        return;
    }
    if (st != want || strcmp(mot_last_error(), expected) != 0) {
        fprintf(stderr, "%s:%d: %s: got %s\n  %s\nexpected %s\n  %s\n", __FILE__, line, name,
                mot_status_name(st), mot_last_error(), mot_status_name(want), expected);
        test_failures++;
    }
    if (p) {
        fprintf(stderr, "%s:%d: %s: failed load left a pipeline\n", __FILE__, line, name);
        test_failures++;
    }
}
#define EXPECT_ERROR(name, text, tail) expect_error_at(__LINE__, name, text, MOT_ERR_FORMAT, tail)
/* A one-expert pipeline (text and tail_i in scope) whose sampler section is `sampler`. */
#define EXPECT_SAMPLER_ERROR(name, sampler, tail)                                                                      \
    do {                                                                                                               \
        snprintf(text, sizeof text,                                                                                    \
                 "name: p\nexperts: [{name: a, path: a}]\nrouter: {expert: a, hidden: 8, top_k: 1}\n%s" sampler,  \
                 tail_i);                                                                                              \
        EXPECT_ERROR(name, text, tail);                                                                                \
    } while (0)

static mot_pipeline *load_ok(const char *name, const char *text) {
    mot_pipeline *p = NULL;
    CHECK_OK(mot_pipeline_load(write_file(name, text), &p));
    return p;
}

/* The SPEC section 3 example, in flow style. */
static const char spec_example[] =
    "name: tiny-mot\n"
    "experts:                      # order = router output order\n"
    "  - {name: math, path: ../models/math}            # paths relative to this file\n"
    "  - {name: code, path: ../models/code, template: \"### Task\\n{prompt}\\n### Answer\\n\"}\n"
    "  - {name: chat, path: ../models/chat}\n"
    "router: {encoder: mean-embed, expert: chat, hidden: 64, top_k: 2}\n"
    "interaction: {stacks: 4, placement: uniform, shared_dim: 128, heads: 4, norm: none}\n"
    "weights: ../models/tiny-mot.safetensors\n"
    "sampler: {temperature: 0, top_k: 0, top_p: 1.0, seed: 0, max_tokens: 64}\n"
    "schedule: ../schedules/default.yaml   # optional\n";

/* Block style, only the required keys (every default applies). */
static const char block_minimal[] =
    "name: block\n"
    "experts:\n"
    "  - name: math\n"
    "    path: ./m/math\n"
    "  - name: code\n"
    "    path: /abs/code\n"
    "router:\n"
    "  expert: code\n"
    "  hidden: 16\n"
    "  top_k: 1\n"
    "interaction:\n"
    "  stacks: 2\n"
    "  shared_dim: 32\n"
    "  heads: 2\n";

static void test_good_files(void) {
    char want[PATH_MAX + 64];
    mot_pipeline *p = load_ok("spec.yaml", spec_example);
    if (p) {
        CHECK(!strcmp(p->name, "tiny-mot"));
        CHECK(p->n_experts == 3);
        CHECK(!strcmp(p->experts[0].name, "math") && !strcmp(p->experts[2].name, "chat"));
        /* "../models/math" from DIR/spec.yaml: DIR's parent, folded. */
        char parent[PATH_MAX];
        snprintf(parent, sizeof parent, "%s", real_dir);
        *strrchr(parent, '/') = '\0';
        snprintf(want, sizeof want, "%s/models/math", parent);
        CHECK(!strcmp(p->experts[0].path, want));
        snprintf(want, sizeof want, "%s/models/tiny-mot.safetensors", parent);
        CHECK(p->weights && !strcmp(p->weights, want));
        snprintf(want, sizeof want, "%s/schedules/default.yaml", parent);
        CHECK(p->schedule && !strcmp(p->schedule, want));
        CHECK(p->experts[0].template_text == NULL);
        CHECK(p->experts[1].template_text &&
              !strcmp(p->experts[1].template_text, "### Task\n{prompt}\n### Answer\n"));
        CHECK(!strcmp(p->router.encoder, "mean-embed"));
        CHECK(p->router.expert == 2 && p->router.hidden == 64 && p->router.top_k == 2);
        CHECK(p->interaction.stacks == 4 && p->interaction.placement == MOT_PLACEMENT_UNIFORM);
        CHECK(p->interaction.shared_dim == 128 && p->interaction.heads == 4);
        CHECK(p->interaction.norm == MOT_LATENT_NORM_NONE);
        CHECK(p->sampler.temperature == 0 && p->sampler.top_k == 0 && p->sampler.top_p == 1.0f);
        CHECK(p->sampler.seed == 0 && p->sampler.max_tokens == 64);
        CHECK(mot_pipeline_find_expert(p, "code") == 1 && mot_pipeline_find_expert(p, "x") == -1);
        CHECK(p->experts[1].pos.line == 4 && p->experts[1].pos.col == 5);
        mot_pipeline_free(p);
    }
    p = load_ok("block.yaml", block_minimal);
    if (p) {
        snprintf(want, sizeof want, "%s/m/math", real_dir);
        CHECK(!strcmp(p->experts[0].path, want));
        CHECK(!strcmp(p->experts[1].path, "/abs/code")); /* absolute paths stay */
        CHECK(!strcmp(p->router.encoder, "mean-embed") && p->router.expert == 1);
        CHECK(p->interaction.placement == MOT_PLACEMENT_UNIFORM);
        CHECK(p->interaction.norm == MOT_LATENT_NORM_NONE);
        CHECK(p->weights == NULL && p->schedule == NULL);
        CHECK(p->sampler.temperature == 0 && p->sampler.top_k == 0 && p->sampler.top_p == 1.0f);
        CHECK(p->sampler.seed == 0 && p->sampler.max_tokens == 64);
        CHECK(p->experts[0].pos.line == 3 && p->experts[0].pos.col == 5);
        mot_pipeline_free(p);
    }
    p = load_ok("settings.yaml",
                "name: s\n"
                "experts: [{name: a_1, path: a}, {name: B-2, path: b}]\n"
                "router: {expert: B-2, hidden: 8, top_k: 2}\n"
                "interaction: {stacks: 1, placement: deep, shared_dim: 12, heads: 3, norm: layernorm}\n"
                "sampler: {temperature: 0.7, top_k: 40, top_p: 0.95, min_p: 0.05, seed: 18446744073709551615, max_tokens: 5,\n"
                "          repeat_penalty: 1.1, repeat_last_n: -1, presence_penalty: -0.5, frequency_penalty: 0.25}\n");
    if (p) {
        CHECK(p->sampler.min_p == 0.05f);
        CHECK(p->sampler.repeat_penalty == 1.1f && p->sampler.repeat_last_n == -1);
        CHECK(p->sampler.presence_penalty == -0.5f && p->sampler.frequency_penalty == 0.25f);
        CHECK(p->interaction.placement == MOT_PLACEMENT_DEEP);
        CHECK(p->interaction.norm == MOT_LATENT_NORM_LAYERNORM);
        CHECK(p->sampler.temperature == 0.7f && p->sampler.top_k == 40 && p->sampler.top_p == 0.95f);
        CHECK(p->sampler.seed == 18446744073709551615ULL && p->sampler.max_tokens == 5);
        mot_pipeline_free(p);
    }
}

/* A one-expert pipeline with the given interaction settings, loaded. */
static mot_pipeline *with_interaction(const char *interaction, const char *layers) {
    char text[1024];
    snprintf(text, sizeof text,
             "name: pl\nexperts: [{name: e, path: e%s%s}]\nrouter: {expert: e, hidden: 4, top_k: 1}\n"
             "interaction: {%s, shared_dim: 8, heads: 2}\n",
             layers ? ", layers: " : "", layers ? layers : "", interaction);
    return load_ok("placement.yaml", text);
}

static void check_placement(int line, const char *interaction, const char *layers, int L,
                            const char *want) {
    mot_pipeline *p = with_interaction(interaction, layers);
    if (!p) {
        return;
    }
    int ends[64];
    char got[1024] = "";
    mot_status st = mot_pipeline_placement(p, 0, L, ends);
    if (st != MOT_OK) {
        snprintf(got, sizeof got, "error: %s", mot_last_error());
    } else {
        for (int q = 0, k = 0; q < p->interaction.stacks; q++) {
            k += snprintf(got + k, sizeof got - k, "%s%d", q ? "," : "", ends[q]);
        }
    }
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "%s:%d: placement {%s} L=%d: got %s, expected %s\n", __FILE__, line,
                interaction, L, got, want);
        test_failures++;
    }
    mot_pipeline_free(p);
}
#define PLACEMENT(inter, layers, L, want) check_placement(__LINE__, inter, layers, L, want)

static void test_placement(void) {
    /* Hand-computed: end(q) = floor(a*L + (q+1)*(b-a)*L/Q) - 1. */
    PLACEMENT("stacks: 4", NULL, 30, "6,14,21,29");                       /* 7.5, 15, 22.5, 30 */
    PLACEMENT("stacks: 4, placement: uniform", NULL, 22, "4,10,15,21");   /* 5.5, 11, 16.5, 22 */
    PLACEMENT("stacks: 2, placement: deep", NULL, 22, "15,21");           /* 16.5, 22 */
    PLACEMENT("stacks: 3, placement: deep", NULL, 7, "3,4,6");            /* 4.67, 5.83, 7 */
    PLACEMENT("stacks: 4, placement: shallow", NULL, 32, "3,7,11,15");    /* 4, 8, 12, 16 */
    PLACEMENT("stacks: 3, placement: shallow", NULL, 6, "0,1,2");         /* 1, 2, 3 */
    PLACEMENT("stacks: 4, placement: intermediate", NULL, 32, "11,15,19,23"); /* 12..24 */
    PLACEMENT("stacks: 3, placement: intermediate", NULL, 22, "8,11,15"); /* 9.17, 12.83, 16.5 */
    PLACEMENT("stacks: 4", NULL, 4, "0,1,2,3");
    PLACEMENT("stacks: 1", NULL, 1, "0");
    PLACEMENT("stacks: 3, placement: explicit", "[2, 5, 9]", 10, "2,5,9");
    char want[512];
    /* Q > L (uniform): two interaction points coincide. */
    snprintf(want, sizeof want,
             "error: %s/placement.yaml:2:11: error: experts[0] (e): 4 stacks do not fit its 3 "
             "layers with the uniform placement: interaction 0 would follow layer -1, before the "
             "first layer (expected interaction.stacks <= 3, or another placement)", dir);
    PLACEMENT("stacks: 4", NULL, 3, want);
    snprintf(want, sizeof want,
             "error: %s/placement.yaml:2:11: error: experts[0] (e): 1 stacks do not fit its 1 "
             "layers with the shallow placement: interaction 0 would follow layer -1, before the "
             "first layer (no number of stacks fits, or another placement)", dir);
    PLACEMENT("stacks: 1, placement: shallow", NULL, 1, want);
    /* deep, L = 6, Q = 4: 3.75, 4.5, 5.25, 6 -> 2, 3, 4, 5 (the formula's first point may
     * precede the window); L = 7, Q = 5: 4.2, 4.9 -> 3, 3 coincide, while Q = 4 fits:
     * 4.375, 5.25, 6.125, 7 -> 3, 4, 5, 6. */
    PLACEMENT("stacks: 4, placement: deep", NULL, 6, "2,3,4,5");
    snprintf(want, sizeof want,
             "error: %s/placement.yaml:2:11: error: experts[0] (e): 5 stacks do not fit its 7 "
             "layers with the deep placement: interaction 1 would follow layer 3, as the one before "
             "it does (expected interaction.stacks <= 4, or another placement)", dir);
    PLACEMENT("stacks: 5, placement: deep", NULL, 7, want);
    PLACEMENT("stacks: 4, placement: deep", NULL, 7, "3,4,5,6");
    snprintf(want, sizeof want,
             "error: %s/placement.yaml:2:45: error: experts[0].layers[2]: layer 9 is out of range "
             "for 'e', which has 9 layers (expected 0..8)", dir);
    PLACEMENT("stacks: 3, placement: explicit", "[2, 5, 9]", 9, want);
}

static void test_errors(void) {
    char tail[1024];
    snprintf(tail, sizeof tail, ": error: cannot read the pipeline file (%s/missing.yaml: cannot open: No such file or directory)", dir);
    {
        char path[1024], expected[2048];
        test_path(path, dir, "missing.yaml");
        snprintf(expected, sizeof expected, "%s%s", path, tail);
        mot_pipeline *p = NULL;
        mot_status st = mot_pipeline_load(path, &p);
        CHECK(st == MOT_ERR_IO && !strcmp(mot_last_error(), expected) && !p);
    }
    EXPECT_ERROR("empty.yaml", "", ":1:1: error: empty document (expected a mapping with name, experts, router, interaction)");
    EXPECT_ERROR("comment.yaml", "# nothing here\n", ":1:1: error: empty document (expected a mapping with name, experts, router, interaction)");
    EXPECT_ERROR("syntax.yaml", "name: x\nexperts: [a, b\n",
                 ":3:1: error: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence at 2:10)");
    EXPECT_ERROR("indent.yaml", "name: x\n  bad: 1\n",
                 ":2:6: error: invalid YAML: mapping values are not allowed in this context");
    EXPECT_ERROR("two_docs.yaml", "name: x\n---\nname: y\n",
                 ":3:1: error: a second YAML document (a pipeline file holds one)");
    EXPECT_ERROR("empty_name.yaml", "name: ''\n", ":1:7: error: name: expected the pipeline's name, found an empty string");
    EXPECT_ERROR("scalar_top.yaml", "hello\n", ":1:1: error: the pipeline: expected a mapping, found 'hello'");
    EXPECT_ERROR("unknown_top.yaml", "name: x\nexpert: []\n",
                 ":2:1: error: unknown key 'expert' in the pipeline (expected name, experts, router, "
                 "interaction, weights, sampler, train, schedule, graph)");
    EXPECT_ERROR("dup_top.yaml", "name: x\nname: y\n",
                 ":2:1: error: duplicate key 'name' in the pipeline (first at 1:1)");
    {   /* 32 experts x 1024 stacks: each within its limit, the expanded graph too large. */
        static char big[8192];
        int n = snprintf(big, sizeof big, "name: x\nexperts:\n");
        for (int i = 0; i < 32; i++) {
            n += snprintf(big + n, sizeof big - (size_t)n, "  - {name: e%d, path: m}\n", i);
        }
        snprintf(big + n, sizeof big - (size_t)n, "router: {expert: e0, hidden: 8, top_k: 2}\n"
                 "interaction: {stacks: 1024, shared_dim: 8, heads: 2}\n");
        EXPECT_ERROR("graph_too_big.yaml", big,
                     ":36:23: error: interaction.stacks: 32 experts x 1024 stacks is more than the 16384 "
                     "expert stacks a pipeline may have (expected fewer stacks or experts)");
    }
    EXPECT_ERROR("missing_top.yaml", "name: x\nexperts: [{name: a, path: a}]\ninteraction: {stacks: 1, shared_dim: 4, heads: 1}\n",
                 ":1:1: error: the pipeline: missing required key 'router'");
    /* The brief's examples, in block style. */
    const char *head = "name: p\n"
                       "experts:\n"
                       "  - {name: math, path: m}\n"
                       "  - {name: code, path: c}\n"
                       "  - {name: chat, path: h}\n"
                       "router: {expert: chat, hidden: 8, top_k: 2}\n";
    char text[2048];
    snprintf(text, sizeof text, "%sinteraction:\n    stack: 4\n    shared_dim: 8\n    heads: 2\n", head);
    EXPECT_ERROR("unknown_key.yaml", text,
                 ":8:5: error: unknown key 'stack' in interaction (expected stacks, placement, "
                 "shared_dim, heads, norm)");
    snprintf(text, sizeof text, "%sinteraction:\n    stacks: four\n    shared_dim: 8\n    heads: 2\n", head);
    EXPECT_ERROR("not_int.yaml", text, ":8:13: error: interaction.stacks: expected an integer, found 'four'");
    snprintf(text, sizeof text, "%sinteraction:\n    stacks: 0\n    shared_dim: 8\n    heads: 2\n", head);
    EXPECT_ERROR("zero_stacks.yaml", text, ":8:13: error: interaction.stacks: 0 is out of range (expected 1..1024)");
    snprintf(text, sizeof text, "%sinteraction: {stacks: 4, placement: uniform, shared_dim: 128, heads: 3}\n", head);
    EXPECT_ERROR("heads.yaml", text, ":7:70: error: interaction.heads 3 does not divide shared_dim 128");
    snprintf(text, sizeof text, "%sinteraction: {stacks: 4, shared_dim: 8, heads: 2, placement: middle}\n", head);
    EXPECT_ERROR("placement_name.yaml", text,
                 ":7:62: error: interaction.placement: unknown value 'middle' (expected one of "
                 "uniform, shallow, intermediate, deep, explicit)");
    snprintf(text, sizeof text, "%sinteraction: {stacks: 4, shared_dim: 8, heads: 2, norm: rms}\n", head);
    EXPECT_ERROR("norm_name.yaml", text,
                 ":7:57: error: interaction.norm: unknown value 'rms' (expected one of none, layernorm)");
    snprintf(text, sizeof text, "%sinteraction: {stacks: 4, shared_dim: 8}\n", head);
    EXPECT_ERROR("missing_heads.yaml", text, ":7:14: error: interaction: missing required key 'heads'");

    const char *tail_i = "interaction: {stacks: 2, shared_dim: 8, heads: 2}\n";
    snprintf(text, sizeof text,
             "name: p\nexperts:\n  - {name: math, path: m}\n  - {name: math, path: c}\n"
             "router: {expert: math, hidden: 8, top_k: 1}\n%s", tail_i);
    EXPECT_ERROR("dup_name.yaml", text,
                 ":4:12: error: experts[1].name: duplicate expert name 'math' (first at 3:12)");
    snprintf(text, sizeof text,
             "name: p\nexperts:\n  - {name: math, path: m}\n  - {name: code, path: c}\n  - {name: chat, path: h}\n"
             "router:\n  expert: chat\n  hidden: 8\n  top_k: 4\n%s", tail_i);
    EXPECT_ERROR("top_k.yaml", text, ":9:10: error: router.top_k 4 exceeds the number of experts (3)");
    snprintf(text, sizeof text,
             "name: p\nexperts:\n  - {name: math, path: m}\n  - {name: code, path: c}\n  - {name: chat, path: h}\n"
             "router: {expert: chaat, hidden: 8, top_k: 1}\n%s", tail_i);
    EXPECT_ERROR("router_expert.yaml", text,
                 ":6:18: error: router.expert 'chaat' is not an expert (expected one of math, code, chat)");
    snprintf(text, sizeof text,
             "name: p\nexperts: [{name: a, path: a}]\nrouter: {encoder: bert, expert: a, hidden: 8, top_k: 1}\n%s", tail_i);
    EXPECT_ERROR("encoder.yaml", text,
                 ":3:19: error: router.encoder: unknown value 'bert' (expected one of mean-embed)");
    snprintf(text, sizeof text, "name: p\nexperts: [{name: a, path: a}]\nrouter: a\n%s", tail_i);
    EXPECT_ERROR("router_scalar.yaml", text, ":3:9: error: router: expected a mapping, found 'a'");
    snprintf(text, sizeof text, "name: p\nexperts: {name: a}\nrouter: {expert: a, hidden: 8, top_k: 1}\n%s", tail_i);
    EXPECT_ERROR("experts_map.yaml", text, ":2:10: error: experts: expected a sequence, found a mapping");
    snprintf(text, sizeof text, "name: p\nexperts: []\nrouter: {expert: a, hidden: 8, top_k: 1}\n%s", tail_i);
    EXPECT_ERROR("no_experts.yaml", text, ":2:10: error: experts: expected at least one expert, found none");
    snprintf(text, sizeof text, "name: p\nexperts: [{name: a b, path: a}]\nrouter: {expert: a, hidden: 8, top_k: 1}\n%s", tail_i);
    EXPECT_ERROR("bad_name.yaml", text,
                 ":2:18: error: experts[0].name: 'a b' is not a valid expert name (expected letters, "
                 "digits, '_' and '-' only: it appears in tensor names)");
    snprintf(text, sizeof text, "name: p\nexperts: [{name: a}]\nrouter: {expert: a, hidden: 8, top_k: 1}\n%s", tail_i);
    EXPECT_ERROR("no_path.yaml", text, ":2:11: error: experts[0]: missing required key 'path'");
    snprintf(text, sizeof text, "name: p\nexperts: [{name: a, path: a, templat: x}]\nrouter: {expert: a, hidden: 8, top_k: 1}\n%s", tail_i);
    EXPECT_ERROR("expert_key.yaml", text,
                 ":2:30: error: unknown key 'templat' in experts[0] (expected name, path, template, chat, chat_template, layers, depth)");
    /* Chat keys: one way to wrap the prompt; a known format name; a boolean. */
    snprintf(text, sizeof text, "name: p\nexperts: [{name: a, path: a, template: \"Q: {prompt}\", chat: true}]\nrouter: {expert: a, hidden: 8, top_k: 1}\n%s", tail_i);
    EXPECT_ERROR("chat_and_template.yaml", text,
                 ":2:61: error: experts[0]: give template or chat, not both (each wraps the prompt)");
    snprintf(text, sizeof text, "name: p\nexperts: [{name: a, path: a, chat: true, chat_template: chatml}]\nrouter: {expert: a, hidden: 8, top_k: 1}\n%s", tail_i);
    EXPECT_ERROR("chat_both_keys.yaml", text,
                 ":2:57: error: experts[0]: give chat or chat_template, not both (chat_template implies chat)");
    snprintf(text, sizeof text, "name: p\nexperts: [{name: a, path: a, chat_template: llama9}]\nrouter: {expert: a, hidden: 8, top_k: 1}\n%s", tail_i);
    EXPECT_ERROR("chat_name.yaml", text,
                 ":2:45: error: experts[0].chat_template: unknown chat template 'llama9' (expected one of chatml, "
                 "llama2, llama3, mistral, mistral-v1, mistral-v3, mistral-v3-tekken, gemma, phi3)");
    snprintf(text, sizeof text, "name: p\nexperts: [{name: a, path: a, chat: 1}]\nrouter: {expert: a, hidden: 8, top_k: 1}\n%s", tail_i);
    EXPECT_ERROR("chat_bool.yaml", text, ":2:36: error: experts[0].chat: unknown value '1' (expected one of false, true)");
    snprintf(text, sizeof text, "name: p\nexperts: [{name: a, path: a, template: \"Q: {question}\"}]\nrouter: {expert: a, hidden: 8, top_k: 1}\n%s", tail_i);
    EXPECT_ERROR("template.yaml", text, ":2:40: error: experts[0].template: expected a string containing {prompt}");
    snprintf(text, sizeof text, "name: p\nexperts: [{name: a, path: \"\"}]\nrouter: {expert: a, hidden: 8, top_k: 1}\n%s", tail_i);
    EXPECT_ERROR("empty_path.yaml", text, ":2:27: error: experts[0].path: expected a path, found an empty string");
    snprintf(text, sizeof text, "name: p\nexperts: [{name: a, path: [x]}]\nrouter: {expert: a, hidden: 8, top_k: 1}\n%s", tail_i);
    EXPECT_ERROR("path_seq.yaml", text, ":2:27: error: experts[0].path: expected a string, found a sequence");
    EXPECT_SAMPLER_ERROR("top_p.yaml", "sampler: {top_p: 0}\n",
                         ":5:18: error: sampler.top_p: 0 is out of range (expected 0 < top_p <= 1)");
    EXPECT_SAMPLER_ERROR("min_p.yaml", "sampler: {min_p: 1.5}\n",
                         ":5:18: error: sampler.min_p: 1.5 is out of range (expected 0 <= min_p <= 1; 0 is off)");
    EXPECT_SAMPLER_ERROR("repeat_penalty.yaml", "sampler: {repeat_penalty: 0}\n",
                         ":5:27: error: sampler.repeat_penalty: 0 is out of range (expected > 0; 1 is off)");
    EXPECT_SAMPLER_ERROR("repeat_last_n.yaml", "sampler: {repeat_last_n: -2}\n",
                         ":5:26: error: sampler.repeat_last_n: -2 is out of range (expected -1..16777216)");
    EXPECT_SAMPLER_ERROR("presence_penalty.yaml", "sampler: {presence_penalty: 1e7}\n",
                         ":5:29: error: sampler.presence_penalty: 1e+07 is out of range (expected -1e6 .. 1e6; 0 is off)");
    EXPECT_SAMPLER_ERROR("temp.yaml", "sampler: {temperature: -1}\n",
                         ":5:24: error: sampler.temperature: -1 is out of range (expected >= 0; 0 is greedy)");
    EXPECT_SAMPLER_ERROR("seed.yaml", "sampler: {seed: -3}\n",
                         ":5:17: error: sampler.seed: expected a non-negative integer, found '-3'");
    EXPECT_SAMPLER_ERROR("max_tokens.yaml", "sampler: {max_tokens: }\n",
                         ":5:23: error: sampler.max_tokens: expected an integer, found an empty value");

    /* Explicit placement lists. */
    const char *r = "router: {expert: a, hidden: 8, top_k: 1}\n";
    snprintf(text, sizeof text, "name: p\nexperts: [{name: a, path: a, layers: [1, 2]}]\n%s%s", r, tail_i);
    EXPECT_ERROR("layers_uniform.yaml", text,
                 ":2:38: error: experts[0].layers: only allowed with interaction.placement explicit (placement is uniform)");
    snprintf(text, sizeof text, "name: p\nexperts: [{name: a, path: a}]\n%sinteraction: {stacks: 2, placement: explicit, shared_dim: 8, heads: 2}\n", r);
    EXPECT_ERROR("explicit_missing.yaml", text,
                 ":2:11: error: experts[0] (a): interaction.placement explicit needs a 'layers' list of 2 layer indices");
    snprintf(text, sizeof text, "name: p\nexperts: [{name: a, path: a, layers: [1, 2, 3]}]\n%sinteraction: {stacks: 2, placement: explicit, shared_dim: 8, heads: 2}\n", r);
    EXPECT_ERROR("explicit_length.yaml", text,
                 ":2:38: error: experts[0].layers: 3 entries, expected 2 (one per stack, interaction.stacks)");
    snprintf(text, sizeof text, "name: p\nexperts: [{name: a, path: a, layers: [3, 3]}]\n%sinteraction: {stacks: 2, placement: explicit, shared_dim: 8, heads: 2}\n", r);
    EXPECT_ERROR("explicit_order.yaml", text,
                 ":2:42: error: experts[0].layers[1]: layer 3 does not come after layer 3 (expected "
                 "strictly increasing layer indices: two interaction points cannot coincide)");
    snprintf(text, sizeof text, "name: p\nexperts: [{name: a, path: a, layers: [3, x]}]\n%sinteraction: {stacks: 2, placement: explicit, shared_dim: 8, heads: 2}\n", r);
    EXPECT_ERROR("explicit_item.yaml", text, ":2:42: error: experts[0].layers[1]: expected an integer, found 'x'");
    /* A declared depth is checked at load time. */
    snprintf(text, sizeof text, "name: p\nexperts: [{name: a, path: a, depth: 4, layers: [3, 4]}]\n%sinteraction: {stacks: 2, placement: explicit, shared_dim: 8, heads: 2}\n", r);
    EXPECT_ERROR("explicit_depth.yaml", text,
                 ":2:52: error: experts[0].layers[1]: layer 4 is out of range for 'a', which has 4 layers (expected 0..3)");
}

/* Writes p expanded to DIR/name; returns the text (heap). */
static char *expand_to(const mot_pipeline *p, const int *depths, const char *name, int dot) {
    char path[1024];
    test_path(path, dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(2);
    }
    mot_status st = dot ? mot_pipeline_write_dot(p, depths, f) : mot_pipeline_write_yaml(p, depths, f);
    fclose(f);
    CHECK_OK(st);
    char *text = NULL;
    CHECK_OK(mot_read_file(path, &text, NULL));
    return text;
}

/* compact -> expanded -> load -> expanded again: identical text. */
static void round_trip(const char *label, const char *compact, const int *depths) {
    char name[128];
    snprintf(name, sizeof name, "%s.yaml", label);
    mot_pipeline *p = load_ok(name, compact);
    if (!p) {
        return;
    }
    snprintf(name, sizeof name, "%s.expanded.yaml", label);
    char *first = expand_to(p, depths, name, 0);
    mot_pipeline *q = NULL;
    char path[1024];
    CHECK_OK(mot_pipeline_load(test_path(path, dir, name), &q));
    if (q && first) {
        CHECK(q->interaction.placement == MOT_PLACEMENT_EXPLICIT);
        CHECK(q->sampler.top_p == p->sampler.top_p && q->sampler.min_p == p->sampler.min_p);
        CHECK(q->sampler.repeat_penalty == p->sampler.repeat_penalty &&
              q->sampler.repeat_last_n == p->sampler.repeat_last_n &&
              q->sampler.presence_penalty == p->sampler.presence_penalty &&
              q->sampler.frequency_penalty == p->sampler.frequency_penalty);
        snprintf(name, sizeof name, "%s.again.yaml", label);
        char *second = expand_to(q, depths, name, 0);
        if (second && strcmp(first, second) != 0) {
            fprintf(stderr, "%s: the expanded form changed on a second round trip:\n%s\n---\n%s\n",
                    label, first, second);
            test_failures++;
        }
        free(second);
    }
    free(first);
    mot_pipeline_free(q);
    mot_pipeline_free(p);
}

static void test_expanded(void) {
    int depths3[] = {30, 8, 22};
    round_trip("rt_spec", spec_example, depths3);
    int depths2[] = {7, 5};
    /* NEL, LS and PS: YAML line breaks, folded into spaces unless written escaped (fuzzing). */
    round_trip("rt_unicode_breaks",
               "name: p\nexperts:\n  - {name: a, path: a, template: \"Q\\N{prompt}\\LA\\P\"}\n"
               "  - {name: b, path: b}\n"
               "router: {expert: b, hidden: 3, top_k: 2}\n"
               "interaction: {stacks: 2, placement: shallow, shared_dim: 6, heads: 3}\n",
               depths2);
    round_trip("rt_shallow",
               "name: \"needs: quoting\"\nexperts:\n  - {name: 'null', path: \"dir with space/a\", template: \"\\t\\\"{prompt}\\\"\\\\ é\\x01\"}\n"
               "  - {name: b, path: b}\n"
               "router: {expert: b, hidden: 3, top_k: 2}\n"
               "interaction: {stacks: 2, placement: shallow, shared_dim: 6, heads: 3, norm: layernorm}\n"
               "sampler: {temperature: 0.7, top_p: 0.9, min_p: 0.125, seed: 12345678901234, top_k: 5, max_tokens: 9,\n"
               "          repeat_penalty: 1.25, repeat_last_n: 32, frequency_penalty: -0.5}\n",
               depths2);

    /* The expanded text of the SPEC example: node order, ids and fields. */
    mot_pipeline *p = load_ok("spec.yaml", spec_example);
    if (!p) {
        return;
    }
    char *text = expand_to(p, depths3, "spec.expanded.yaml", 0);
    if (text) {
        static const char *const lines[] = {
            "interaction: {stacks: 4, placement: explicit, shared_dim: 128, heads: 4, norm: none}\n",
            "  - {name: math, path: ",
            ", depth: 30, layers: [6, 14, 21, 29]}\n",
            "template: \"### Task\\n{prompt}\\n### Answer\\n\", depth: 8, layers: [1, 3, 5, 7]}\n",
            "sampler: {temperature: 0, top_k: 0, top_p: 1, seed: 0, max_tokens: 64}\n",
            "graph:\n  - {id: router, kind: router, encoder: mean-embed, expert: chat}\n",
            "  - {id: math/stack0, kind: stack, expert: math, layers: [0, 6], inputs: [router]}\n",
            "  - {id: math/forward0, kind: projector, direction: forward, expert: math, stack: 0, inputs: [math/stack0]}\n",
            "  - {id: attention0, kind: attention, stack: 0, inputs: [math/forward0, code/forward0, chat/forward0]}\n",
            "  - {id: math/reverse0, kind: projector, direction: reverse, expert: math, stack: 0, inputs: [attention0, math/forward0]}\n",
            "  - {id: math/stack1, kind: stack, expert: math, layers: [7, 14], inputs: [math/reverse0]}\n",
            "  - {id: chat/stack3, kind: stack, expert: chat, layers: [16, 21], inputs: [chat/reverse2]}\n",
            "  - {id: math/sampler, kind: sampler, expert: math, inputs: [math/reverse3]}\n",
        };
        for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
            if (!strstr(text, lines[i])) {
                fprintf(stderr, "expanded form lacks: %s", lines[i]);
                test_failures++;
            }
        }
        /* 1 router + 4 stacks x (3 stack + 3 forward + 1 attention + 3 reverse) + 3 samplers */
        int nodes = 0;
        for (const char *s = text; (s = strstr(s, "  - {id: ")); s++) {
            nodes++;
        }
        CHECK(nodes == 1 + 4 * 10 + 3);
        free(text);
    }
    /* A shallow placement leaves layers after the last interaction: a tail stack node. */
    mot_pipeline *sh = with_interaction("stacks: 2, placement: shallow", NULL);
    if (sh) {
        int d[] = {8};
        text = expand_to(sh, d, "shallow.expanded.yaml", 0);
        CHECK(text && strstr(text, "  - {id: e/stack2, kind: stack, expert: e, layers: [4, 7], inputs: [e/reverse1]}\n"));
        CHECK(text && strstr(text, "  - {id: e/sampler, kind: sampler, expert: e, inputs: [e/stack2]}\n"));
        free(text);
        mot_pipeline_free(sh);
    }
    /* Depths the placement cannot take are reported by the writers too. */
    int too_shallow[] = {30, 3, 22};
    FILE *devnull = fopen("/dev/null", "w");
    CHECK(mot_pipeline_write_yaml(p, too_shallow, devnull) == MOT_ERR_FORMAT);
    CHECK(mot_pipeline_write_dot(p, too_shallow, devnull) == MOT_ERR_FORMAT);
    fclose(devnull);

    text = expand_to(p, depths3, "spec.dot", 1);
    if (text) {
        static const char *const parts[] = {
            "digraph mot {", "subgraph \"cluster_math\" {", "label=\"code (8 layers)\";",
            "\"math/stack0\" [shape=box, label=\"stack 0\\nlayers 0-6\"];",
            "\"chat/stack3\" [shape=box, label=\"stack 3\\nlayers 16-21\"];",
            "\"attention3\" [shape=hexagon", "\"router\" [shape=diamond",
            "\"router\" -> \"math/stack0\";", "\"math/forward0\" -> \"attention0\";",
            "\"attention0\" -> \"code/reverse0\";",
            "\"code/forward0\" -> \"code/reverse0\" [style=dashed];",
            "\"math/reverse3\" -> \"math/sampler\";",
        };
        for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
            if (!strstr(text, parts[i])) {
                fprintf(stderr, "dot output lacks: %s\n", parts[i]);
                test_failures++;
            }
        }
        CHECK(text[strlen(text) - 2] == '}');
        free(text);
    }
    mot_pipeline_free(p);
}

/* An expanded file whose graph disagrees with its settings: edited copies of a good one. */
static void graph_error(int line, const char *expanded, const char *from, const char *to,
                        const char *tail) {
    const char *at = strstr(expanded, from);
    if (!at) {
        fprintf(stderr, "%s:%d: '%s' is not in the expanded text\n", __FILE__, line, from);
        test_failures++;
        return;
    }
    size_t n = strlen(expanded) + strlen(to) + 1;
    char *edited = malloc(n);
    snprintf(edited, n, "%.*s%s%s", (int)(at - expanded), expanded, to, at + strlen(from));
    expect_error_at(line, "edited.yaml", edited, MOT_ERR_FORMAT, tail);
    free(edited);
}
#define GRAPH_ERROR(from, to, tail) graph_error(__LINE__, text, from, to, tail)

static void test_graph_section(void) {
    static const char compact[] =
        "name: g\nexperts: [{name: math, path: m}, {name: code, path: c}]\n"
        "router: {expert: code, hidden: 4, top_k: 2}\n"
        "interaction: {stacks: 2, shared_dim: 8, heads: 2}\n";
    mot_pipeline *p = load_ok("g.yaml", compact);
    if (!p) {
        return;
    }
    int depths[] = {4, 6};
    char *text = expand_to(p, depths, "g.expanded.yaml", 0);
    mot_pipeline_free(p);
    if (!text) {
        return;
    }
    /* Lines: 1-3 comment, 4 name, 5-7 experts, 8 router, 9 interaction, 10 sampler, 11 graph,
     * 12 the router node, 13 a comment, 14 math/stack0, 15 code/stack0, 16 math/forward0, ...
     * Each malformed graph gives its FILE:LINE:COL (docs/pipeline.md, "The node and port
     * vocabulary"). */
    /* unknown input */
    GRAPH_ERROR("inputs: [math/stack0]}\n  - {id: code/forward0",
                "inputs: [math/stak0]}\n  - {id: code/forward0",
                ":16:95: error: graph[3] (math/forward0): inputs: no node has the id 'math/stak0'");
    /* cycle */
    GRAPH_ERROR("layers: [0, 1], inputs: [router]}",
                "layers: [0, 1], inputs: [math/reverse0]}",
                ":14:75: error: graph[1] (math/stack0): inputs: 'math/reverse0' reads this node (a cycle)");
    /* forward reference */
    GRAPH_ERROR("layers: [0, 1], inputs: [router]}",
                "layers: [0, 1], inputs: [code/stack0]}",
                ":14:75: error: graph[1] (math/stack0): inputs: 'code/stack0' comes later, at graph[2] (nodes are listed in execution order: an input comes first)");
    /* latent into a stack */
    GRAPH_ERROR("layers: [2, 3], inputs: [math/reverse0]}",
                "layers: [2, 3], inputs: [math/forward0]}",
                ":22:75: error: graph[8] (math/stack1): inputs: a port of the wrong shape: a stack reads math's hidden state, 'math/forward0' gives math's latent at stack 0");
    /* another expert's node */
    GRAPH_ERROR("stack: 0, inputs: [math/stack0]}",
                "stack: 0, inputs: [code/stack0]}",
                ":16:95: error: graph[3] (math/forward0): inputs: a port of the wrong shape: a projector reads math's hidden state, 'code/stack0' gives code's hidden state");
    /* attention without inputs */
    GRAPH_ERROR("stack: 0, inputs: [math/forward0, code/forward0]}",
                "stack: 0, inputs: []}",
                ":18:5: error: graph[5] (attention0): an attention reads the forward projectors of its stack, found no inputs");
    /* attention across stacks */
    GRAPH_ERROR("stack: 1, inputs: [math/forward1, code/forward1]}",
                "stack: 1, inputs: [math/forward1, code/forward0]}",
                ":26:73: error: graph[12] (attention1): inputs: 'code/forward0' is at stack 0, this attention at stack 1 (an attention's inputs come from its own stack)");
    /* attention with no query when code is the primary: code neither speaks nor listens */
    GRAPH_ERROR("stack: 0, inputs: [math/forward0, code/forward0]}",
                "stack: 0, inputs: [math/forward0]}",
                ":18:5: error: graph[5] (attention0): no input from code: when code is the primary this cross-attention has no query (give code's forward projector at stack 0 in inputs, or in listeners when code only listens)");
    /* listeners (a peer that only listens): nobody speaks */
    GRAPH_ERROR("stack: 0, inputs: [math/forward0, code/forward0]}",
                "stack: 0, inputs: [], listeners: [math/forward0, code/forward0]}",
                ":18:5: error: graph[5] (attention0): no expert speaks: every input is a listener, so this cross-attention has no keys (list at least one forward projector in inputs)");
    /* an expert that both speaks and listens */
    GRAPH_ERROR("stack: 0, inputs: [math/forward0, code/forward0]}",
                "stack: 0, inputs: [math/forward0, code/forward0], listeners: [code/forward0]}",
                ":18:101: error: graph[5] (attention0): listeners: code is also in inputs ('code/forward0'): an expert either speaks at an attention (inputs) or only listens (listeners)");
    /* a listener that is not a latent */
    GRAPH_ERROR("stack: 0, inputs: [math/forward0, code/forward0]}",
                "stack: 0, inputs: [math/forward0], listeners: [code/stack0]}",
                ":18:86: error: graph[5] (attention0): listeners: a port of the wrong shape: an attention reads latents (forward projectors), 'code/stack0' gives code's hidden state");
    /* a listener from another stack */
    GRAPH_ERROR("stack: 1, inputs: [math/forward1, code/forward1]}",
                "stack: 1, inputs: [math/forward1], listeners: [code/forward0]}",
                ":26:86: error: graph[12] (attention1): listeners: 'code/forward0' is at stack 0, this attention at stack 1 (an attention's inputs come from its own stack)");
    /* an unknown listener id */
    GRAPH_ERROR("stack: 0, inputs: [math/forward0, code/forward0]}",
                "stack: 0, inputs: [math/forward0], listeners: [code/forwrd0]}",
                ":18:86: error: graph[5] (attention0): listeners: no node has the id 'code/forwrd0'");
    /* listeners on a node that is not an attention */
    GRAPH_ERROR("stack: 0, inputs: [math/stack0]}",
                "stack: 0, inputs: [math/stack0], listeners: [math/stack0]}",
                ":16:109: error: unknown key 'listeners' in graph[3] (math/forward0) (expected id, kind, direction, expert, stack, inputs)");
    /* two primaries' worth of cross-attention (`query: R`, docs/pipeline.md): a rank that no
     * route has */
    GRAPH_ERROR("stack: 0, inputs: [math/forward0, code/forward0]}",
                "stack: 0, query: 2, inputs: [math/forward0, code/forward0]}",
                ":18:56: error: graph[5] (attention0): query: 2 is not a route rank (expected 0..1: 0 the primary, r the (r+1)-th routed expert; at most 2 experts are routed)");
    GRAPH_ERROR("stack: 0, inputs: [math/forward0, code/forward0]}",
                "stack: 0, query: first, inputs: [math/forward0, code/forward0]}",
                ":18:56: error: graph[5] (attention0): query: expected an integer, found 'first'");
    /* two attentions at a stack with the same query rank */
    GRAPH_ERROR("  - {id: math/reverse0,",
                "  - {id: attention0b, kind: attention, stack: 0, query: 0, inputs: [math/forward0, code/forward0]}\n"
                "  - {id: math/reverse0,",
                ":19:57: error: graph[6] (attention0b): a second attention at stack 0 with query 0 (the first is 'attention0'): the attentions at one stack query for distinct route ranks");
    /* a query: 1 attention that no reverse projector reads */
    GRAPH_ERROR("  - {id: math/reverse0,",
                "  - {id: attention0b, kind: attention, stack: 0, query: 1, inputs: [math/forward0, code/forward0]}\n"
                "  - {id: math/reverse0,",
                ":19:57: error: graph[6] (attention0b): query: 1, but no reverse projector reads this attention (list it in the inputs of the reverse projectors at stack 0, e.g. [attention0b, E's forward projector at stack 0]: E reads it when routed at rank 1)");
    /* a query: 1 attention without code: no query when code is routed second */
    GRAPH_ERROR("  - {id: math/reverse0,",
                "  - {id: attention0b, kind: attention, stack: 0, query: 1, inputs: [math/forward0]}\n"
                "  - {id: math/reverse0,",
                ":19:5: error: graph[6] (attention0b): no input from code: when code is routed at rank 1 (query: 1) this cross-attention has no query (give code's forward projector at stack 0 in inputs, or in listeners when code only listens)");
    /* a reverse projector reading the attention of another stack */
    GRAPH_ERROR("inputs: [attention1, math/forward1]}",
                "inputs: [attention0, math/forward1]}",
                ":27:95: error: graph[13] (math/reverse1): inputs: 'attention0' is the cross-attention at stack 0, this reverse projector at stack 1 (a reverse projector reads the attentions of its own stack)");
    /* the same attention twice */
    GRAPH_ERROR("inputs: [attention0, math/forward0]}",
                "inputs: [attention0, attention0, math/forward0]}",
                ":19:107: error: graph[6] (math/reverse0): inputs: 'attention0' twice");
    /* query on a node that is not an attention */
    GRAPH_ERROR("stack: 0, inputs: [math/stack0]}",
                "stack: 0, query: 1, inputs: [math/stack0]}",
                ":16:86: error: unknown key 'query' in graph[3] (math/forward0) (expected id, kind, direction, expert, stack, inputs)");
    /* reverse reads another's latent */
    GRAPH_ERROR("inputs: [attention0, math/forward0]}",
                "inputs: [attention0, code/forward0]}",
                ":19:107: error: graph[6] (math/reverse0): inputs: a port of the wrong shape: a reverse projector reads attention0's output or math's own latent at stack 0, 'code/forward0' gives code's latent at stack 0");
    /* reverse reads only the attention */
    GRAPH_ERROR("inputs: [attention0, math/forward0]}",
                "inputs: [attention0]}",
                ":19:5: error: graph[6] (math/reverse0): reads only 'attention0': when math is not the primary it reads its own latent, so give [attention0, math's forward projector at stack 0]");
    /* layer gap */
    GRAPH_ERROR("layers: [2, 3], inputs: [math/reverse0]}",
                "layers: [3, 3], inputs: [math/reverse0]}",
                ":22:58: error: graph[8] (math/stack1): layers: expected to start at layer 2 (the layer after the expert's previous stack), found [3, 3]");
    /* layers short of the depth */
    GRAPH_ERROR("layers: [2, 3], inputs: [math/reverse0]}",
                "layers: [2, 2], inputs: [math/reverse0]}",
                ":22:58: error: graph[8] (math/stack1): layers: math has 4 layers, its stacks cover [0, 2] (they must end at layer 3)");
    /* no sampler */
    GRAPH_ERROR("  - {id: code/sampler, kind: sampler, expert: code, inputs: [code/reverse1]}\n",
                "",
                ":28:5: error: graph[14] (code/reverse1): code's lane never reaches a sampler (no sampler node of code follows)");
    /* duplicate id */
    GRAPH_ERROR("{id: code/stack0,",
                "{id: math/stack0,",
                ":15:5: error: graph[2]: duplicate id 'math/stack0' (first at graph[1], 14:5)");
    /* unknown kind */
    GRAPH_ERROR("{id: math/stack1, kind: stack,",
                "{id: math/stack1, kind: stak,",
                ":22:29: error: graph[8] (math/stack1): kind: unknown value 'stak' (expected one of router, stack, projector, attention, sampler)");
    /* unknown direction */
    GRAPH_ERROR("direction: reverse, expert: code, stack: 1",
                "direction: sideways, expert: code, stack: 1",
                ":28:53: error: graph[14] (code/reverse1): direction: unknown value 'sideways' (expected one of forward, reverse)");
    /* unknown expert */
    GRAPH_ERROR("{id: math/sampler, kind: sampler, expert: math,",
                "{id: math/sampler, kind: sampler, expert: maths,",
                ":30:47: error: graph[15] (math/sampler): expert: no expert named 'maths' in experts");
    /* unknown key */
    GRAPH_ERROR("{id: router, kind: router, encoder: mean-embed, expert: code}",
                "{id: router, kind: router, encoder: mean-embed, expert: code, colour: red}",
                ":12:67: error: unknown key 'colour' in graph[0] (router) (expected id, kind, encoder, expert)");
    /* stack after the sampler */
    GRAPH_ERROR("  - {id: code/sampler, kind: sampler, expert: code, inputs: [code/reverse1]}\n",
                "  - {id: code/sampler, kind: sampler, expert: code, inputs: [code/reverse1]}\n  - {id: extra, kind: stack, expert: code, layers: [6, 6], inputs: [code/sampler]}\n",
                ":32:5: error: graph[17] (extra): comes after code's sampler 'code/sampler' (a sampler ends an expert's chain)");
    /* Topologies beyond MoT load, and `mot graph` writes them back as they were read. */
    static const char *const other[] = {
        "graph:\n"
        "  - {id: router, kind: router, encoder: mean-embed, expert: code}\n"
        "  - {id: math/stack0, kind: stack, expert: math, layers: [0, 3], inputs: [router]}\n"
        "  - {id: code/stack0, kind: stack, expert: code, layers: [0, 5], inputs: [router]}\n"
        "  - {id: math/sampler, kind: sampler, expert: math, inputs: [math/stack0]}\n"
        "  - {id: code/sampler, kind: sampler, expert: code, inputs: [code/stack0]}\n",
        "graph:\n"
        "  - {id: router, kind: router, encoder: mean-embed, expert: code}\n"
        "  - {id: math/stack0, kind: stack, expert: math, layers: [0, 2], inputs: [router]}\n"
        "  - {id: code/stack0, kind: stack, expert: code, layers: [0, 4], inputs: [router]}\n"
        "  - {id: code/forward1, kind: projector, direction: forward, expert: code, stack: 1, inputs: [code/stack0]}\n"
        "  - {id: math/forward1, kind: projector, direction: forward, expert: math, stack: 1, inputs: [math/stack0]}\n"
        "  - {id: attention1, kind: attention, stack: 1, inputs: [code/forward1, math/forward1]}\n"
        "  - {id: math/reverse1, kind: projector, direction: reverse, expert: math, stack: 1, inputs: [math/forward1, attention1]}\n"
        "  - {id: code/reverse1, kind: projector, direction: reverse, expert: code, stack: 1, inputs: [code/forward1]}\n"
        "  - {id: math/stack1, kind: stack, expert: math, layers: [3, 3], inputs: [math/reverse1]}\n"
        "  - {id: code/stack1, kind: stack, expert: code, layers: [5, 5], inputs: [code/reverse1]}\n"
        "  - {id: math/sampler, kind: sampler, expert: math, inputs: [math/stack1]}\n"
        "  - {id: code/sampler, kind: sampler, expert: code, inputs: [code/stack1]}\n",
        /* a peer that only listens: code queries attention0 when it is the primary, math's
         * latent is the only key */
        "graph:\n"
        "  - {id: router, kind: router, encoder: mean-embed, expert: code}\n"
        "  - {id: math/stack0, kind: stack, expert: math, layers: [0, 1], inputs: [router]}\n"
        "  - {id: code/stack0, kind: stack, expert: code, layers: [0, 2], inputs: [router]}\n"
        "  - {id: math/forward0, kind: projector, direction: forward, expert: math, stack: 0, inputs: [math/stack0]}\n"
        "  - {id: code/forward0, kind: projector, direction: forward, expert: code, stack: 0, inputs: [code/stack0]}\n"
        "  - {id: attention0, kind: attention, stack: 0, inputs: [math/forward0], listeners: [code/forward0]}\n"
        "  - {id: math/reverse0, kind: projector, direction: reverse, expert: math, stack: 0, inputs: [attention0, math/forward0]}\n"
        "  - {id: code/reverse0, kind: projector, direction: reverse, expert: code, stack: 0, inputs: [attention0, code/forward0]}\n"
        "  - {id: math/stack1, kind: stack, expert: math, layers: [2, 3], inputs: [math/reverse0]}\n"
        "  - {id: code/stack1, kind: stack, expert: code, layers: [3, 5], inputs: [code/reverse0]}\n"
        "  - {id: math/sampler, kind: sampler, expert: math, inputs: [math/stack1]}\n"
        "  - {id: code/sampler, kind: sampler, expert: code, inputs: [code/stack1]}\n",
        /* two primaries' worth of cross-attention: at stack 0 the expert routed second queries
         * attention0b; math reads it when routed second, code never (its z) */
        "graph:\n"
        "  - {id: router, kind: router, encoder: mean-embed, expert: code}\n"
        "  - {id: math/stack0, kind: stack, expert: math, layers: [0, 1], inputs: [router]}\n"
        "  - {id: code/stack0, kind: stack, expert: code, layers: [0, 2], inputs: [router]}\n"
        "  - {id: math/forward0, kind: projector, direction: forward, expert: math, stack: 0, inputs: [math/stack0]}\n"
        "  - {id: code/forward0, kind: projector, direction: forward, expert: code, stack: 0, inputs: [code/stack0]}\n"
        "  - {id: attention0, kind: attention, stack: 0, inputs: [math/forward0, code/forward0]}\n"
        "  - {id: attention0b, kind: attention, inputs: [math/forward0], listeners: [code/forward0], stack: 0, query: 1}\n"
        "  - {id: math/reverse0, kind: projector, direction: reverse, expert: math, stack: 0, inputs: [attention0, attention0b, math/forward0]}\n"
        "  - {id: code/reverse0, kind: projector, direction: reverse, expert: code, stack: 0, inputs: [attention0, code/forward0]}\n"
        "  - {id: math/stack1, kind: stack, expert: math, layers: [2, 3], inputs: [math/reverse0]}\n"
        "  - {id: code/stack1, kind: stack, expert: code, layers: [3, 5], inputs: [code/reverse0]}\n"
        "  - {id: math/sampler, kind: sampler, expert: math, inputs: [math/stack1]}\n"
        "  - {id: code/sampler, kind: sampler, expert: code, inputs: [code/stack1]}\n",
    };
    static const char *const written_back[] = {
        "layers: [0, 5], inputs: [router]",
        "inputs: [math/forward1, attention1]",
        "  - {id: attention0, kind: attention, stack: 0, inputs: [math/forward0], listeners: [code/forward0]}\n",
        "  - {id: attention0b, kind: attention, stack: 0, query: 1, inputs: [math/forward0], listeners: [code/forward0]}\n"
        "  - {id: math/reverse0, kind: projector, direction: reverse, expert: math, stack: 0, inputs: [attention0, attention0b, math/forward0]}\n",
    };
    const char *graph_start = strstr(text, "graph:\n");
    for (int k = 0; graph_start && k < 4; k++) {
        char head[8192], name[64];
        snprintf(head, sizeof head, "%.*s%s", (int)(graph_start - text), text, other[k]);
        snprintf(name, sizeof name, "other%d.yaml", k);
        mot_pipeline *o = load_ok(name, head);
        if (!o) {
            continue;
        }
        snprintf(name, sizeof name, "other%d.expanded.yaml", k);
        char *written = expand_to(o, depths, name, 0);
        mot_pipeline *o2 = load_ok(name, written ? written : "");
        snprintf(name, sizeof name, "other%d.again.yaml", k);
        char *again = o2 ? expand_to(o2, depths, name, 0) : NULL;
        CHECK(written && again && !strcmp(written, again));
        CHECK(written && strstr(written, written_back[k]));
        free(written), free(again);
        mot_pipeline_free(o), mot_pipeline_free(o2);
    }
    /* The graph section itself must be a sequence. */
    const char *graph_at = strstr(text, "graph:\n");
    if (graph_at) {
        char head[4096];
        snprintf(head, sizeof head, "%.*sgraph: {a: 1}\n", (int)(graph_at - text), text);
        EXPECT_ERROR("graph_map.yaml", head, ":11:8: error: graph: expected a sequence, found a mapping");
    }
    free(text);
}

int main(void) {
    dir = test_mkdtemp();
    if (!realpath(dir, real_dir)) {
        perror(dir);
        return 2;
    }
    test_good_files();
    test_placement();
    test_errors();
    test_expanded();
    test_graph_section();
    if (!getenv("KEEP")) {
        test_remove_tree(dir);
    }
    return test_finish("test_pipeline");
}
