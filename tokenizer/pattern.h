/* Patterns of the Split / Replace components ({"Regex": ...} compiled once with PCRE2 in
 * UTF + UCP mode, or {"String": ...} literals) and HF's split behaviours. */
#ifndef MOT_TOKENIZER_PATTERN_H
#define MOT_TOKENIZER_PATTERN_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <pcre2.h>

#include "tokenizer/tok_buf.h"

typedef struct {
    pcre2_code *re; /* NULL for a literal */
    char *literal;
    size_t literal_len;
} tok_pattern;

typedef enum {
    TOK_SPLIT_REMOVED,
    TOK_SPLIT_ISOLATED,
    TOK_SPLIT_MERGED_WITH_PREVIOUS,
    TOK_SPLIT_MERGED_WITH_NEXT,
    TOK_SPLIT_CONTIGUOUS
} tok_split_behavior;

/* where: "DIR/tokenizer.json: pre_tokenizer Split" etc., for messages. */
mot_status tok_pattern_regex(tok_pattern *p, const char *regex, const char *where);
mot_status tok_pattern_literal(tok_pattern *p, const char *s, size_t len);
/* {"Regex": "..."} or {"String": "..."}. */
mot_status tok_pattern_from_json(tok_pattern *p, const json_t *j, const char *where);
void tok_pattern_free(tok_pattern *p);

/* Behaviour names as HF writes them ("Isolated", ...). */
mot_status tok_split_behavior_parse(const char *name, tok_split_behavior *out, const char *where);

/* Splits piece `in` at the matches of p (invert: the matches are the kept parts), keeping
 * non-empty parts as HF's NormalizedString::split does; appends them to out. */
mot_status tok_split(const tok_pattern *p, int invert, tok_split_behavior behavior, const tok_piece *in,
                     tok_pieces *out);

/* Replaces every match of p in s[0..n) with `with`, appending the result to out. When the
 * result would be longer than cap bytes, appends nothing and returns MOT_ERR_ARG with no
 * message (the caller names what grew; (size_t)-1: no cap). */
mot_status tok_replace_all(const tok_pattern *p, const char *s, size_t n, const char *with, size_t cap,
                           tok_buf *out);

#endif
