/* Post-processors: what encode(add_special_tokens=True) wraps around the ids of one
 * sequence. TemplateProcessing (its "single" template), RobertaProcessing and
 * BertProcessing (cls A sep), ByteLevel (offsets only: adds nothing) and Sequence. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "tokenizer/tok_internal.h"

/* Appends the ids of template special token `name` (from "special_tokens"). */
static mot_status template_special(const json_t *specials, const char *name, const char *file, tok_ids *out) {
    const json_t *ids = json_object_get(json_object_get(specials, name), "ids");
    if (!json_is_array(ids)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: post_processor TemplateProcessing: special token '%s' has no 'ids'", file,
                        name);
    }
    for (size_t i = 0; i < json_array_size(ids); i++) {
        const json_t *id = json_array_get(ids, i);
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) > INT_MAX) {
            return mot_fail(MOT_ERR_FORMAT, "%s: post_processor TemplateProcessing: special token '%s': bad id", file,
                            name);
        }
        MOT_TRY(tok_ids_push(out, (int)json_integer_value(id)));
    }
    return MOT_OK;
}

/* The "single" template: special tokens before $A go to prefix, after it to suffix. */
static mot_status load_template(const json_t *j, const char *file, tok_ids *prefix, tok_ids *suffix) {
    const json_t *single = json_object_get(j, "single");
    const json_t *specials = json_object_get(j, "special_tokens");
    if (!json_is_array(single)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: post_processor TemplateProcessing: 'single' must be an array", file);
    }
    int seen_sequence = 0;
    for (size_t i = 0; i < json_array_size(single); i++) {
        const json_t *item = json_array_get(single, i);
        const json_t *special = json_object_get(item, "SpecialToken");
        if (json_object_get(item, "Sequence")) {
            seen_sequence = 1;
        } else if (json_is_string(json_object_get(special, "id"))) {
            MOT_TRY(template_special(specials, json_string_value(json_object_get(special, "id")), file,
                                     seen_sequence ? suffix : prefix));
        } else {
            return mot_fail(MOT_ERR_FORMAT, "%s: post_processor TemplateProcessing: single[%zu] is neither a "
                            "SpecialToken nor a Sequence", file, i);
        }
    }
    return MOT_OK;
}

/* RobertaProcessing / BertProcessing: ["token", id] pairs for cls and sep. */
static mot_status pair_id(const json_t *j, const char *key, const char *file, const char *type, tok_ids *out) {
    const json_t *p = json_object_get(j, key);
    const json_t *id = json_array_get(p, 1);
    if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) > INT_MAX) {
        return mot_fail(MOT_ERR_FORMAT, "%s: post_processor %s: '%s' must be [\"token\", id]", file, type, key);
    }
    return tok_ids_push(out, (int)json_integer_value(id));
}

/* Loads one processor; its additions wrap what earlier ones in a Sequence added. */
static mot_status load_one(const json_t *j, const char *file, tok_post *out) {
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!type) {
        return mot_fail(MOT_ERR_FORMAT, "%s: post_processor: missing 'type'", file);
    }
    if (strcmp(type, "Sequence") == 0) {
        const json_t *list = json_object_get(j, "processors");
        if (!json_is_array(list)) {
            return mot_fail(MOT_ERR_FORMAT, "%s: post_processor Sequence: 'processors' must be an array", file);
        }
        for (size_t i = 0; i < json_array_size(list); i++) {
            MOT_TRY(load_one(json_array_get(list, i), file, out));
        }
        return MOT_OK;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        return MOT_OK;
    }
    tok_ids prefix = {0}, suffix = {0};
    mot_status st;
    if (strcmp(type, "TemplateProcessing") == 0) {
        st = load_template(j, file, &prefix, &suffix);
    } else if (strcmp(type, "RobertaProcessing") == 0 || strcmp(type, "BertProcessing") == 0) {
        st = pair_id(j, "cls", file, type, &prefix);
        if (st == MOT_OK) {
            st = pair_id(j, "sep", file, type, &suffix);
        }
    } else {
        st = mot_fail(MOT_ERR_UNSUPPORTED, "%s: post_processor type '%s' is not supported", file, type);
    }
    /* new prefix = this prefix + old prefix; new suffix = old suffix + this suffix */
    if (st == MOT_OK) {
        st = tok_ids_append(&prefix, out->prefix.data, out->prefix.len);
    }
    if (st == MOT_OK) {
        st = tok_ids_append(&out->suffix, suffix.data, suffix.len);
    }
    if (st == MOT_OK) {
        tok_ids_free(&out->prefix);
        out->prefix = prefix;
        prefix = (tok_ids){0};
    }
    tok_ids_free(&prefix);
    tok_ids_free(&suffix);
    return st;
}

mot_status tok_post_load(const json_t *j, const char *file, tok_post *out) {
    *out = (tok_post){0};
    if (!j || json_is_null(j)) {
        return MOT_OK;
    }
    if (!json_is_object(j)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: post_processor: expected an object or null", file);
    }
    out->present = 1;
    return load_one(j, file, out);
}

void tok_post_free(tok_post *p) {
    tok_ids_free(&p->prefix);
    tok_ids_free(&p->suffix);
}
