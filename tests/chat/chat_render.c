/* For oracle_test.py: the chat text mot writes for a template file.
 * usage: chat_render TEMPLATE.jinja BOS USER [SYSTEM]
 * stdout: the rendered text (bytes, no newline added); stderr: the detected format's name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/mapped_file.h"
#include "tokenizer/chat_format.h"

int main(int argc, char **argv) {
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: chat_render TEMPLATE.jinja BOS USER [SYSTEM]\n");
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
    if (mot_chat_render(f, argv[2], argc == 5 ? argv[4] : NULL, argv[3], &out) != MOT_OK) {
        fprintf(stderr, "error: %s\n", mot_last_error());
        return 1;
    }
    fwrite(out, 1, strlen(out), stdout);
    free(out);
    return 0;
}
