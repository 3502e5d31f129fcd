/* Incremental decoding for streamed output: each token's new text, at a cost that does not
 * grow with the length of the output (decoding the whole output after every token was
 * quadratic in a long generation: 2e8 tokens decoded for 20000).
 *
 * Why a window and not one token at a time: a token's text can depend on its neighbours
 * (SentencePiece drops the space of the first token; a multi-byte character can arrive in
 * byte-fallback <0x..> tokens or as byte-level pieces split across tokens; a run of byte
 * tokens decodes as a whole, all U+FFFD while any of it is invalid). So the stream decodes a
 * window: a few context tokens whose text was already given out, then the tokens since.
 * After a token whose text is all given out, the window restarts from the shortest context
 * (1..MOT_DECODE_STREAM_MAX_CONTEXT tokens) whose own decode is non-empty and equals the end
 * of the window's text: the tokens to come then decode as they would after the whole output.
 *
 * What comes out is what decoding everything and giving out the new bytes after each token
 * gave (holding back trailing U+FFFDs: a character whose last bytes have not arrived),
 * wherever the decode of the output so far began with the bytes given out before
 * (tests/tokenizer/test_decode_stream.c compares the two). Where it did not (a byte run that
 * is invalid until a character completes), the old way printed from an offset into a text
 * that had changed, parts of characters included; the stream holds such a run back while it
 * ends in U+FFFD, and otherwise goes on from the next character boundary, so output of valid
 * text streams as its decode and what is given out is always UTF-8. After
 * MOT_DECODE_STREAM_MAX_WINDOW tokens without a point to restart from (a long run of invalid
 * bytes or of skipped special tokens), what was held back is given out. */
#ifndef MOT_TOKENIZER_DECODE_STREAM_H
#define MOT_TOKENIZER_DECODE_STREAM_H

#include <stddef.h>

#include "tokenizer/tokenizer.h"

#define MOT_DECODE_STREAM_MAX_WINDOW 256
#define MOT_DECODE_STREAM_MAX_CONTEXT 8 /* tokens: a UTF-8 character in byte tokens, and specials */

typedef struct {
    const mot_tokenizer *tok;
    int skip_special;
    int *ids;         /* the window: context tokens, then the tokens since */
    int n, cap;
    char *text;       /* the window's decode (begins with the bytes given out, but while a
                       * run of byte tokens is invalid) */
    size_t len;
    char *spent;      /* the previous decode, while the bytes last given out point into it */
    size_t given;     /* bytes of the window's text given out */
    char *shown;      /* [given] those bytes */
    size_t shown_cap;
    long long work;   /* tokens decoded so far, all decodes together (for tests) */
} mot_decode_stream;

void mot_decode_stream_init(mot_decode_stream *s, const mot_tokenizer *tok, int skip_special);
/* Adds a token; *out and *out_len: its new text (possibly none), valid until the next call. */
mot_status mot_decode_stream_push(mot_decode_stream *s, int token, const char **out, size_t *out_len);
/* The text held back at the end. */
mot_status mot_decode_stream_finish(mot_decode_stream *s, const char **out, size_t *out_len);
void mot_decode_stream_free(mot_decode_stream *s);

#endif
