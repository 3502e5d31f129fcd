/* For oracle_test.py: the chat text mot writes for a template file.
 * usage: chat_render TEMPLATE.jinja BOS USER [SYSTEM]
 *        chat_render TEMPLATE.jinja BOS --conversation EOS GEN ROLE TEXT [ROLE TEXT ...]
 *          (GEN: 1 = with the generation prompt; ROLE: system, user or assistant)
 * stdout: the rendered text (bytes, no newline added); stderr: the detected format's name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/mapped_file.h"
#include "tokenizer/chat_format.h"

#define MAX_MESSAGES 32

static int render(mot_chat_format f, int argc, char **argv, char **out) {
    if (argc < 4 || strcmp(argv[3], "--conversation") != 0) {
        return mot_chat_render(f, argv[2], argc == 5 ? argv[4] : NULL, argv[3], out) == MOT_OK;
    }
    mot_chat_message m[MAX_MESSAGES];
    int n = 0;
    for (int i = 6; i + 1 < argc && n < MAX_MESSAGES; i += 2, n++) {
        m[n].role = !strcmp(argv[i], "system") ? MOT_CHAT_SYSTEM
                    : !strcmp(argv[i], "user") ? MOT_CHAT_USER
                                               : MOT_CHAT_ASSISTANT;
        m[n].content = argv[i + 1];
    }
    return mot_chat_render_messages(f, argv[2], argv[4], m, n, atoi(argv[5]), out) == MOT_OK;
}

int main(int argc, char **argv) {
    const int conversation = argc >= 4 && !strcmp(argv[3], "--conversation");
    if (conversation ? argc < 8 || argc % 2 != 0 : argc != 4 && argc != 5) {
        fprintf(stderr, "usage: chat_render TEMPLATE.jinja BOS USER [SYSTEM]\n"
                        "       chat_render TEMPLATE.jinja BOS --conversation EOS GEN ROLE TEXT [ROLE TEXT ...]\n");
        return 2;
    }
    char *text = NULL, *out = NULL;
    size_t size;
    if (mot_read_file(argv[1], &text, &size) != MOT_OK) {
        fprintf(stderr, "error: %s\n", mot_last_error());
        return 1;
    }
    mot_chat_format f = mot_chat_detect(text);
    free(text);
    fprintf(stderr, "%s\n", mot_chat_format_name(f));
    if (!render(f, argc, argv, &out)) {
        fprintf(stderr, "error: %s\n", mot_last_error());
        return 1;
    }
    fwrite(out, 1, strlen(out), stdout);
    free(out);
    return 0;
}
