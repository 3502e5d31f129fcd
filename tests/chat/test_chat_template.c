/* Chat formats: detection on real templates' texts (fixtures/), names, and the rendered text
 * for a system + user turn and a user turn, written out here byte for byte (oracle_test.py
 * checks the same against Jinja itself).
 * usage: test_chat_template FIXTURE_DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mapped_file.h"
#include "tokenizer/chat_format.h"

static int failures;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: FAIL %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                    \
        }                                                                  \
    } while (0)

static void expect_detect(const char *dir, const char *file, mot_chat_format want) {
    char path[4096], *text = NULL;
    size_t size;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (mot_read_file(path, &text, &size) != MOT_OK) {
        fprintf(stderr, "FAIL cannot read %s\n", path);
        failures++;
        return;
    }
    mot_chat_format got = mot_chat_detect(text);
    if (got != want) {
        fprintf(stderr, "FAIL %s: detected %s, expected %s\n", file, mot_chat_format_name(got),
                mot_chat_format_name(want));
        failures++;
    }
    free(text);
}

static void expect_render(mot_chat_format f, const char *bos, const char *system, const char *user,
                          const char *want) {
    char *got = NULL;
    if (mot_chat_render(f, bos, system, user, &got) != MOT_OK || strcmp(got, want) != 0) {
        fprintf(stderr, "FAIL %s (system %s): got\n  [%s]\nexpected\n  [%s]\n", mot_chat_format_name(f),
                system ? system : "none", got ? got : "(error)", want);
        failures++;
    }
    free(got);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_chat_template FIXTURE_DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    expect_detect(dir, "chatml-smollm2.jinja", MOT_CHAT_CHATML);
    expect_detect(dir, "chatml-openhermes.jinja", MOT_CHAT_CHATML);
    expect_detect(dir, "llama2-chat.jinja", MOT_CHAT_LLAMA2);
    expect_detect(dir, "llama3-instruct.jinja", MOT_CHAT_LLAMA3);
    expect_detect(dir, "mistral-instruct-v0.1.jinja", MOT_CHAT_MISTRAL);
    expect_detect(dir, "mistral-v1.jinja", MOT_CHAT_MISTRAL_V1);
    expect_detect(dir, "mistral-v3.jinja", MOT_CHAT_MISTRAL_V3);
    expect_detect(dir, "mistral-v3-tekken.jinja", MOT_CHAT_MISTRAL_V3_TEKKEN);
    expect_detect(dir, "gemma3.jinja", MOT_CHAT_GEMMA);
    expect_detect(dir, "phi3-mini.jinja", MOT_CHAT_PHI3);
    expect_detect(dir, "phi4-not-chatml.jinja", MOT_CHAT_NONE);
    expect_detect(dir, "mistral-v7-unknown.jinja", MOT_CHAT_NONE);
    expect_detect(dir, "vicuna-unknown.jinja", MOT_CHAT_NONE);
    CHECK(mot_chat_detect(NULL) == MOT_CHAT_NONE);
    CHECK(mot_chat_detect("") == MOT_CHAT_NONE);

    /* Names round-trip; unknown names are NONE. */
    for (int f = MOT_CHAT_NONE + 1; f < MOT_CHAT_COUNT; f++) {
        CHECK(mot_chat_format_from_name(mot_chat_format_name((mot_chat_format)f)) == f);
        CHECK(strstr(mot_chat_format_names(), mot_chat_format_name((mot_chat_format)f)) != NULL);
    }
    CHECK(mot_chat_format_from_name("bogus") == MOT_CHAT_NONE);
    CHECK(mot_chat_format_from_name("none") == MOT_CHAT_NONE);
    CHECK(mot_chat_format_from_name(NULL) == MOT_CHAT_NONE);
    char *out = (char *)1;
    CHECK(mot_chat_apply(MOT_CHAT_NONE, NULL, "x", &out) != MOT_OK && out == NULL);

    const char *q = "What is the capital of France?", *sys = "You are a helpful assistant.";
    expect_render(MOT_CHAT_CHATML, NULL, NULL, q,
                  "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n");
    expect_render(MOT_CHAT_CHATML, NULL, sys, q,
                  "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                  "What is the capital of France?<|im_end|>\n<|im_start|>assistant\n");
    expect_render(MOT_CHAT_LLAMA2, NULL, NULL, q, "<s>[INST] What is the capital of France? [/INST]");
    expect_render(MOT_CHAT_LLAMA2, NULL, sys, q,
                  "<s>[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\nWhat is the capital of France? [/INST]");
    /* Meta's template strips the whole first message, <<SYS>> block included: with a system
     * message only the user's trailing spaces go, and the system's stay. */
    expect_render(MOT_CHAT_LLAMA2, NULL, " sys ", "  hi \n",
                  "<s>[INST] <<SYS>>\n sys \n<</SYS>>\n\n  hi [/INST]");
    expect_render(MOT_CHAT_LLAMA2, NULL, NULL, "  hi \n", "<s>[INST] hi [/INST]");
    expect_render(MOT_CHAT_LLAMA3, NULL, NULL, q,
                  "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is the capital of France?"
                  "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
    expect_render(MOT_CHAT_LLAMA3, NULL, " You are a helpful assistant.\n", q,
                  "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant."
                  "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is the capital of France?"
                  "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
    expect_render(MOT_CHAT_MISTRAL, NULL, NULL, q, "<s>[INST] What is the capital of France? [/INST]");
    expect_render(MOT_CHAT_MISTRAL, NULL, sys, q,
                  "<s>[INST] You are a helpful assistant.\nWhat is the capital of France? [/INST]");
    expect_render(MOT_CHAT_MISTRAL_V1, NULL, sys, q,
                  "<s> [INST] You are a helpful assistant.\n\nWhat is the capital of France? [/INST]");
    expect_render(MOT_CHAT_MISTRAL_V3, NULL, sys, q,
                  "<s>[INST] You are a helpful assistant.\n\nWhat is the capital of France?[/INST]");
    expect_render(MOT_CHAT_MISTRAL_V3_TEKKEN, NULL, NULL, q, "<s>[INST]What is the capital of France?[/INST]");
    expect_render(MOT_CHAT_GEMMA, NULL, sys, " hi ",
                  "<bos><start_of_turn>user\nYou are a helpful assistant.\n\nhi<end_of_turn>\n<start_of_turn>model\n");
    expect_render(MOT_CHAT_PHI3, NULL, sys, q,
                  "<|system|>\nYou are a helpful assistant.<|end|>\n<|user|>\nWhat is the capital of France?<|end|>\n"
                  "<|assistant|>\n");
    /* The tokenizer's BOS text replaces the usual one; "" writes none; ChatML never writes one. */
    expect_render(MOT_CHAT_LLAMA2, "<|begin_of_text|>", NULL, "x", "<|begin_of_text|>[INST] x [/INST]");
    expect_render(MOT_CHAT_LLAMA3, "", NULL, "x",
                  "<|start_header_id|>user<|end_header_id|>\n\nx<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
    expect_render(MOT_CHAT_CHATML, "<s>", NULL, "x", "<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n");
    /* trim is Python's str.strip(): Unicode spaces (U+3000, U+00A0, U+2003) go, others stay. */
    expect_render(MOT_CHAT_LLAMA3, "", NULL, "\xe3\x80\x80\xc2\xa0 caf\xc3\xa9 \xe2\x80\x83\x1f",
                  "<|start_header_id|>user<|end_header_id|>\n\ncaf\xc3\xa9<|eot_id|><|start_header_id|>assistant"
                  "<|end_header_id|>\n\n");
    expect_render(MOT_CHAT_LLAMA3, "", NULL, "\xe2\x80\x8bzero-width\xe2\x80\x8b",
                  "<|start_header_id|>user<|end_header_id|>\n\n\xe2\x80\x8bzero-width\xe2\x80\x8b<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\n");
    expect_render(MOT_CHAT_LLAMA2, NULL, NULL, " \t\n", "<s>[INST]  [/INST]");
    CHECK(mot_chat_format_writes_bos(MOT_CHAT_LLAMA3) && !mot_chat_format_writes_bos(MOT_CHAT_CHATML));

    /* Conversations: the roles must alternate after an optional system message, as the
     * templates' raise_exception says; the error names the message. */
    const mot_chat_message two_users[2] = {{MOT_CHAT_USER, "a"}, {MOT_CHAT_USER, "b"}};
    CHECK(mot_chat_render_messages(MOT_CHAT_CHATML, NULL, NULL, two_users, 2, 1, &out) != MOT_OK && out == NULL &&
          strstr(mot_last_error(), "message 1 is user") != NULL);
    const mot_chat_message late_system[3] = {{MOT_CHAT_USER, "a"}, {MOT_CHAT_ASSISTANT, "b"}, {MOT_CHAT_SYSTEM, "c"}};
    CHECK(mot_chat_render_messages(MOT_CHAT_LLAMA3, NULL, NULL, late_system, 3, 1, &out) != MOT_OK &&
          strstr(mot_last_error(), "message 2 is system") != NULL);
    const mot_chat_message assistant_first[1] = {{MOT_CHAT_ASSISTANT, "a"}};
    CHECK(mot_chat_render_messages(MOT_CHAT_GEMMA, NULL, NULL, assistant_first, 1, 1, &out) != MOT_OK);
    const mot_chat_message no_text[2] = {{MOT_CHAT_SYSTEM, NULL}, {MOT_CHAT_USER, "a"}};
    CHECK(mot_chat_render_messages(MOT_CHAT_PHI3, NULL, NULL, no_text, 2, 1, &out) != MOT_OK);
    /* A whole Llama-2 conversation: BOS before every user turn, " answer </s>" after each
     * answer (the eos given), no generation prompt of its own. */
    const mot_chat_message conv[4] = {{MOT_CHAT_USER, "Hi"}, {MOT_CHAT_ASSISTANT, " Hello! "}, {MOT_CHAT_USER, "Bye"}};
    CHECK(mot_chat_render_messages(MOT_CHAT_LLAMA2, "<s>", "</s>", conv, 3, 1, &out) == MOT_OK &&
          !strcmp(out, "<s>[INST] Hi [/INST] Hello! </s><s>[INST] Bye [/INST]"));
    free(out);

    if (failures) {
        fprintf(stderr, "%d failed\n", failures);
        return 1;
    }
    printf("chat templates: all checks passed\n");
    return 0;
}
