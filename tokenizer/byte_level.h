/* GPT-2's byte-to-unicode map: every byte becomes a printable code point (printable Latin-1
 * bytes map to themselves, the others to U+0100 onwards), so that byte-level BPE works on
 * strings. */
#ifndef MOT_TOKENIZER_BYTE_LEVEL_H
#define MOT_TOKENIZER_BYTE_LEVEL_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tok_buf.h"

/* The code point that stands for byte b. */
uint32_t tok_byte_to_cp(unsigned char b);
/* The byte a code point stands for, or -1 when cp is not in the map. */
int tok_cp_to_byte(uint32_t cp);
/* Appends the mapped form of s[0..n) (every byte as its code point, UTF-8 encoded). */
mot_status tok_bytes_to_unicode(tok_buf *out, const char *s, size_t n);
/* Maps token text back to bytes; 0 when some character is outside the map (the caller then
 * keeps the text as it is, like HF). */
int tok_unicode_to_bytes(const char *s, size_t n, tok_buf *out, mot_status *st);

/* GPT-2's pre-tokenizer regex (the one ByteLevel use_regex applies). */
#define TOK_GPT2_REGEX "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
extern const char tok_gpt2_regex[];

#endif
