/* UTF-8: code point decoding and encoding, validation, and the lossy repair HF applies
 * (Rust's String::from_utf8_lossy: one U+FFFD per maximal invalid subpart). */
#ifndef MOT_TOKENIZER_UTF8_H
#define MOT_TOKENIZER_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tok_buf.h"

/* Length of the valid sequence starting at s (n bytes available), 0 when invalid. */
size_t tok_utf8_valid_len(const unsigned char *s, size_t n);
/* 1 when s[0..n) is entirely valid UTF-8. */
int tok_utf8_is_valid(const char *s, size_t n);
/* Decodes the (valid) code point at s; *len gets its byte length. */
uint32_t tok_utf8_decode(const char *s, size_t *len);
/* Writes cp into out (at least 4 bytes); returns the byte count. */
size_t tok_utf8_encode(uint32_t cp, char *out);
/* Appends s[0..n) to out with invalid subparts replaced by U+FFFD. */
mot_status tok_utf8_append_lossy(tok_buf *out, const char *s, size_t n);
/* Unicode White_Space (Rust's char::is_whitespace). */
int tok_is_whitespace(uint32_t cp);
/* Letters, digits and '_' (approximation of a word character: every non-ASCII non-space
 * code point counts as one). */
int tok_is_word_char(uint32_t cp);

#endif
