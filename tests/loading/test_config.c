/* config.json and generation_config.json: defaults, overrides, rope scaling, and errors that
 * name the file and the key. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/config.h"
#include "tests/loading/test_support.h"

static const char *root;
static int n_dirs;

#define REQUIRED                                                                                  \
    "\"hidden_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "                 \
    "\"intermediate_size\": 128, \"vocab_size\": 100"

/* A fresh model folder with config.json (and generation_config.json unless NULL). */
static const char *model_dir(char *dir, const char *config, const char *generation) {
    char name[32], path[1024];
    snprintf(name, sizeof name, "m%d", n_dirs++);
    test_subdir(dir, root, name);
    if (config) {
        test_write_text(test_path(path, dir, "config.json"), config);
    }
    if (generation) {
        test_write_text(test_path(path, dir, "generation_config.json"), generation);
    }
    return dir;
}

static void test_defaults(void) {
    char dir[1024];
    mot_config c;
    CHECK_OK(mot_config_load(model_dir(dir, "{\"model_type\": \"llama\", " REQUIRED "}", NULL), &c));
    CHECK(strcmp(c.arch, "llama") == 0);
    CHECK(c.hidden == 64 && c.n_layers == 2 && c.n_heads == 4 && c.ffn == 128 && c.vocab == 100);
    CHECK(c.n_kv_heads == 4 && c.head_dim == 16);
    CHECK(c.max_pos == 2048 && c.rms_eps == 1e-6f && c.rope_theta == 10000.0f);
    CHECK(c.rope_type == MOT_ROPE_NONE && c.tie_embeddings == 0 && c.sliding_window == 0);
    CHECK(c.bos_id == -1 && c.n_eos == 0 && !mot_config_is_eos(&c, 0));
}

static void test_full_llama3(void) {
    char dir[1024];
    mot_config c;
    const char *config =
        "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", " REQUIRED ", "
        "\"num_key_value_heads\": 2, \"head_dim\": 32, \"rms_norm_eps\": 1e-5, "
        "\"rope_theta\": 500000.0, \"max_position_embeddings\": 131072, "
        "\"tie_word_embeddings\": true, \"hidden_act\": \"silu\", \"attention_bias\": false, "
        "\"sliding_window\": 99, \"bos_token_id\": 1, \"eos_token_id\": [128001, 128008, 128009], "
        "\"rope_scaling\": {\"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, "
        "\"original_max_position_embeddings\": 8192, \"rope_type\": \"llama3\"}}";
    CHECK_OK(mot_config_load(model_dir(dir, config, NULL), &c));
    CHECK(c.n_kv_heads == 2 && c.head_dim == 32); /* head_dim given: need not be hidden/heads */
    CHECK(fabsf(c.rms_eps - 1e-5f) < 1e-12f && c.rope_theta == 500000.0f && c.max_pos == 131072);
    CHECK(c.tie_embeddings == 1);
    CHECK(c.sliding_window == 0); /* only Mistral reads sliding_window */
    CHECK(c.rope_type == MOT_ROPE_LLAMA3 && c.rope_factor == 8.0f);
    CHECK(c.rope_low_freq_factor == 1.0f && c.rope_high_freq_factor == 4.0f);
    CHECK(c.rope_orig_max_pos == 8192);
    CHECK(c.bos_id == 1 && c.n_eos == 3);
    CHECK(mot_config_is_eos(&c, 128008) && mot_config_is_eos(&c, 128009));
    CHECK(!mot_config_is_eos(&c, 128000));
}

static void test_mistral_and_generation_config(void) {
    char dir[1024];
    mot_config c;
    const char *config = "{\"model_type\": \"mistral\", " REQUIRED ", \"sliding_window\": 4096, "
                         "\"bos_token_id\": 1, \"eos_token_id\": 2, "
                         "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2}}";
    CHECK_OK(mot_config_load(model_dir(dir, config, NULL), &c));
    CHECK(strcmp(c.arch, "mistral") == 0 && c.sliding_window == 4096);
    CHECK(c.bos_id == 1 && c.n_eos == 1 && c.eos_ids[0] == 2 && mot_config_is_eos(&c, 2));
    CHECK(c.rope_type == MOT_ROPE_LINEAR && c.rope_factor == 2.0f);

    const char *null_window = "{\"model_type\": \"mistral\", " REQUIRED ", \"sliding_window\": null}";
    CHECK_OK(mot_config_load(model_dir(dir, null_window, NULL), &c));
    CHECK(c.sliding_window == 0);

    /* generation_config.json wins for bos/eos; keys it lacks keep config.json's values. */
    CHECK_OK(mot_config_load(model_dir(dir, config, "{\"eos_token_id\": [7, 8]}"), &c));
    CHECK(c.bos_id == 1 && c.n_eos == 2 && mot_config_is_eos(&c, 8) && !mot_config_is_eos(&c, 2));
    CHECK_OK(mot_config_load(
        model_dir(dir, config, "{\"bos_token_id\": 5, \"eos_token_id\": 6, \"do_sample\": true}"),
        &c));
    CHECK(c.bos_id == 5 && c.n_eos == 1 && c.eos_ids[0] == 6);
    CHECK_FAIL(mot_config_load(model_dir(dir, config, "{\"eos_token_id\": \"x\"}"), &c),
               MOT_ERR_FORMAT,
               "generation_config.json: key 'eos_token_id': expected an integer or a list");
    CHECK_FAIL(mot_config_load(model_dir(dir, config, "[1"), &c), MOT_ERR_FORMAT,
               "generation_config.json:1:");

    const char *rope_default = "{\"model_type\": \"llama\", " REQUIRED ", "
                               "\"rope_scaling\": {\"rope_type\": \"default\"}}";
    CHECK_OK(mot_config_load(model_dir(dir, rope_default, NULL), &c));
    CHECK(c.rope_type == MOT_ROPE_NONE);
}

/* config.json `text` must fail with `want` in the message; also checks the message names the
 * file. */
static void expect_bad(const char *text, mot_status want, const char *substr, int line) {
    char dir[1024];
    mot_config c;
    mot_status st = mot_config_load(model_dir(dir, text, NULL), &c);
    test_check_fail(st, want, substr, text, __FILE__, line);
    char file[1100];
    snprintf(file, sizeof file, "%s/config.json", dir);
    test_check(strstr(mot_last_error(), file) != NULL, "message names the file", __FILE__, line);
}
#define EXPECT_BAD(text, want, substr) expect_bad((text), (want), (substr), __LINE__)

static void test_errors(void) {
    char dir[1024];
    mot_config c;
    CHECK_FAIL(mot_config_load(model_dir(dir, NULL, NULL), &c), MOT_ERR_IO, "config.json");
    EXPECT_BAD("{\"model_type\": \"llama\",\n \"hidden_size\": 64,\n \"vocab_size\": }",
               MOT_ERR_FORMAT, "config.json:3:");
    EXPECT_BAD("{\"model_type\": \"llama\",\n \"hidden_size\": 64,\n \"vocab_size\": }",
               MOT_ERR_FORMAT, "invalid JSON");
    EXPECT_BAD("[]", MOT_ERR_FORMAT, "expected a JSON object");
    EXPECT_BAD("{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 2, "
               "\"num_attention_heads\": 4, \"intermediate_size\": 128}",
               MOT_ERR_FORMAT, "config.json: key 'vocab_size': missing");
    EXPECT_BAD("{" REQUIRED "}", MOT_ERR_FORMAT, "key 'model_type': missing");
    EXPECT_BAD("{\"model_type\": 3, " REQUIRED "}", MOT_ERR_FORMAT,
               "key 'model_type': expected a string");
    EXPECT_BAD("{\"model_type\": \"gpt2\", " REQUIRED "}", MOT_ERR_UNSUPPORTED,
               "config.json: model_type 'gpt2' is not supported (expected llama or mistral)");
    EXPECT_BAD("{\"model_type\": \"llama\", \"hidden_size\": \"big\", \"num_hidden_layers\": 2, "
               "\"num_attention_heads\": 4, \"intermediate_size\": 128, \"vocab_size\": 100}",
               MOT_ERR_FORMAT, "key 'hidden_size': expected an integer");
    EXPECT_BAD("{\"model_type\": \"llama\", \"hidden_size\": -64, \"num_hidden_layers\": 2, "
               "\"num_attention_heads\": 4, \"intermediate_size\": 128, \"vocab_size\": 100}",
               MOT_ERR_FORMAT, "config.json: hidden_size = -64 is out of range (1..1048576)");
    /* Absurd sizes stop at the limits (model/config.h) before anything is sized from them. */
    EXPECT_BAD("{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 2147483647, "
               "\"num_attention_heads\": 4, \"intermediate_size\": 128, \"vocab_size\": 100}",
               MOT_ERR_FORMAT, "config.json: num_hidden_layers = 2147483647 is out of range (1..4096)");
    EXPECT_BAD("{\"model_type\": \"llama\", " REQUIRED ", \"max_position_embeddings\": 2147483647}",
               MOT_ERR_FORMAT, "config.json: max_position_embeddings = 2147483647 is out of range (1..16777216)");
    EXPECT_BAD("{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 2, "
               "\"num_attention_heads\": 4, \"intermediate_size\": 128, \"vocab_size\": 1000000000}",
               MOT_ERR_FORMAT, "config.json: vocab_size = 1000000000 is out of range (1..16777216)");
    EXPECT_BAD("{\"model_type\": \"llama\", " REQUIRED ", \"num_key_value_heads\": 3}",
               MOT_ERR_FORMAT, "num_attention_heads 4 is not a multiple of num_key_value_heads 3");
    EXPECT_BAD("{\"model_type\": \"llama\", " REQUIRED ", \"head_dim\": 15}", MOT_ERR_FORMAT,
               "head_dim 15 is odd");
    EXPECT_BAD("{\"model_type\": \"llama\", \"hidden_size\": 66, \"num_hidden_layers\": 2, "
               "\"num_attention_heads\": 4, \"intermediate_size\": 128, \"vocab_size\": 100}",
               MOT_ERR_FORMAT, "hidden_size 66 is not a multiple of num_attention_heads 4");
    EXPECT_BAD("{\"model_type\": \"llama\", " REQUIRED ", \"rms_norm_eps\": 0}", MOT_ERR_FORMAT,
               "key 'rms_norm_eps': 0 must be positive");
    /* Positive as a double, 0 or inf as the float the runtime keeps (found by fuzzing). */
    EXPECT_BAD("{\"model_type\": \"llama\", " REQUIRED ", \"rms_norm_eps\": 1e-55}", MOT_ERR_FORMAT,
               "key 'rms_norm_eps': 1e-55 is out of range (expected 1.17549e-38..3.40282e+38)");
    EXPECT_BAD("{\"model_type\": \"llama\", " REQUIRED ", \"rope_theta\": 1e39}", MOT_ERR_FORMAT,
               "key 'rope_theta': 1e+39 is out of range");
    EXPECT_BAD("{\"model_type\": \"llama\", " REQUIRED ", \"rope_scaling\": {\"rope_type\": "
               "\"llama3\", \"factor\": 8, \"low_freq_factor\": 1, \"high_freq_factor\": 4, "
               "\"original_max_position_embeddings\": 1e300}}",
               MOT_ERR_FORMAT, "key 'original_max_position_embeddings': 1e+300 is out of range");
    EXPECT_BAD("{\"model_type\": \"llama\", " REQUIRED ", \"rope_scaling\": {\"rope_type\": "
               "\"llama3\", \"factor\": 8, \"low_freq_factor\": 1, \"high_freq_factor\": 1.00000001, "
               "\"original_max_position_embeddings\": 8192}}",
               MOT_ERR_FORMAT, "high_freq_factor 1 must be greater than low_freq_factor 1");
    EXPECT_BAD("{\"model_type\": \"llama\", " REQUIRED ", \"tie_word_embeddings\": 1}",
               MOT_ERR_FORMAT, "key 'tie_word_embeddings': expected true or false");
    EXPECT_BAD("{\"model_type\": \"llama\", " REQUIRED ", \"hidden_act\": \"gelu\"}",
               MOT_ERR_UNSUPPORTED, "hidden_act 'gelu' is not supported (expected silu)");
    EXPECT_BAD("{\"model_type\": \"llama\", " REQUIRED ", \"attention_bias\": true}",
               MOT_ERR_UNSUPPORTED, "attention_bias true is not supported");
    EXPECT_BAD("{\"model_type\": \"mistral\", " REQUIRED ", \"sliding_window\": -1}",
               MOT_ERR_FORMAT, "config.json: sliding_window = -1 is out of range (0..2147483647)");
    EXPECT_BAD("{\"model_type\": \"llama\", " REQUIRED ", "
               "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}}",
               MOT_ERR_UNSUPPORTED,
               "config.json: rope_scaling type 'yarn' is not supported (expected linear, llama3 "
               "or default)");
    EXPECT_BAD("{\"model_type\": \"llama\", " REQUIRED ", \"rope_scaling\": {\"factor\": 4}}",
               MOT_ERR_FORMAT, "rope_scaling: key 'rope_type': missing or not a string");
    EXPECT_BAD("{\"model_type\": \"llama\", " REQUIRED ", \"rope_scaling\": 4}", MOT_ERR_FORMAT,
               "key 'rope_scaling': expected an object or null");
    EXPECT_BAD("{\"model_type\": \"llama\", " REQUIRED ", \"rope_scaling\": {\"rope_type\": "
               "\"llama3\", \"factor\": 8, \"low_freq_factor\": 1, \"high_freq_factor\": 4}}",
               MOT_ERR_FORMAT, "rope_scaling: key 'original_max_position_embeddings': missing");
    EXPECT_BAD("{\"model_type\": \"llama\", " REQUIRED ", \"rope_scaling\": {\"rope_type\": "
               "\"llama3\", \"factor\": 8, \"low_freq_factor\": 4, \"high_freq_factor\": 4, "
               "\"original_max_position_embeddings\": 8192}}",
               MOT_ERR_FORMAT, "high_freq_factor 4 must be greater than low_freq_factor 4");
    EXPECT_BAD("{\"model_type\": \"llama\", " REQUIRED ", "
               "\"rope_scaling\": {\"type\": \"linear\", \"factor\": -2}}",
               MOT_ERR_FORMAT, "rope_scaling: key 'factor': -2 must be positive");
    EXPECT_BAD("{\"model_type\": \"llama\", " REQUIRED ", \"eos_token_id\": [1, 2, 3, 4, 5, 6, 7, 8, 9]}",
               MOT_ERR_UNSUPPORTED, "key 'eos_token_id': 9 ids (at most 8)");
    EXPECT_BAD("{\"model_type\": \"llama\", " REQUIRED ", \"eos_token_id\": [1, -2]}",
               MOT_ERR_FORMAT, "key 'eos_token_id': entry 1 is not a non-negative integer");
    EXPECT_BAD("{\"model_type\": \"llama\", " REQUIRED ", \"bos_token_id\": \"<s>\"}",
               MOT_ERR_FORMAT, "key 'bos_token_id': expected a non-negative integer");
}

int main(void) {
    root = test_mkdtemp();
    test_defaults();
    test_full_llama3();
    test_mistral_and_generation_config();
    test_errors();
    test_remove_tree(root);
    return test_finish("test_config");
}
