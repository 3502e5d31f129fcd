/* libyaml's document API behind typed reads with "FILE:LINE:COL: error:" messages. */
#include "graph/yaml_tree.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/mapped_file.h"
#include "graph/yaml_limits.h"

mot_src_pos yaml_tree_pos(const yaml_node_t *n) {
    return (mot_src_pos){(int)n->start_mark.line + 1, (int)n->start_mark.column + 1};
}

mot_status yaml_tree_fail(const yaml_tree *t, mot_src_pos pos, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mot_status st = mot_vfail_at(t->file, pos.line, pos.col, fmt, ap);
    va_end(ap);
    return st;
}

/* libyaml's messages read "did not find expected key" + "while parsing a block mapping". */
static mot_status syntax_error(const yaml_tree *t, const yaml_parser_t *ps) {
    mot_src_pos at = {(int)ps->problem_mark.line + 1, (int)ps->problem_mark.column + 1};
    const char *problem = ps->problem ? ps->problem : "invalid YAML";
    if (ps->context) {
        return yaml_tree_fail(t, at, "invalid YAML: %s (%s at %d:%d)", problem, ps->context,
                              (int)ps->context_mark.line + 1, (int)ps->context_mark.column + 1);
    }
    return yaml_tree_fail(t, at, "invalid YAML: %s", problem);
}

mot_status yaml_tree_load(yaml_tree *t, const char *file, const char *kind) {
    memset(t, 0, sizeof *t);
    t->file = file;
    char *text = NULL;
    size_t size = 0;
    if (mot_read_file_max(file, MOT_YAML_MAX_FILE_BYTES, "YAML file", &text, &size) != MOT_OK) {
        char why[512]; /* copied: mot_fail writes over the message it would read */
        snprintf(why, sizeof why, "%s", mot_last_error());
        return mot_fail(MOT_ERR_IO, "%s: error: cannot read the %s file (%s)", file, kind, why);
    }
    /* Before libyaml builds the document: its time grows with the square of the nesting. */
    if (yaml_limits_check(file, (const unsigned char *)text, size) != MOT_OK) {
        free(text);
        return MOT_ERR_FORMAT;
    }
    yaml_parser_t ps;
    if (!yaml_parser_initialize(&ps)) {
        free(text);
        return mot_fail(MOT_ERR_NOMEM, "%s: error: cannot start the YAML parser", file);
    }
    yaml_parser_set_input_string(&ps, (const unsigned char *)text, size);
    mot_status st = MOT_OK;
    if (!yaml_parser_load(&ps, &t->doc)) {
        st = syntax_error(t, &ps);
    } else {
        t->loaded = 1;
        /* Only one document: a second one is most likely a pasting mistake. */
        yaml_document_t extra;
        if (!yaml_parser_load(&ps, &extra)) {
            st = syntax_error(t, &ps);
        } else {
            yaml_node_t *root = yaml_document_get_root_node(&extra);
            if (root) {
                st = yaml_tree_fail(t, yaml_tree_pos(root),
                                    "a second YAML document (a %s file holds one)", kind);
            }
            yaml_document_delete(&extra);
        }
    }
    yaml_parser_delete(&ps);
    free(text);
    if (st != MOT_OK) {
        yaml_tree_free(t);
    }
    return st;
}

void yaml_tree_free(yaml_tree *t) {
    if (t->loaded) {
        yaml_document_delete(&t->doc);
        t->loaded = 0;
    }
}

yaml_node_t *yaml_tree_root(yaml_tree *t) { return yaml_document_get_root_node(&t->doc); }

yaml_node_t *yaml_tree_node(yaml_tree *t, int index) {
    return yaml_document_get_node(&t->doc, index);
}

static int is_null_scalar(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return 0;
    }
    const char *s = (const char *)n->data.scalar.value;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

const char *yaml_tree_describe(const yaml_node_t *n, char *buf, size_t size) {
    if (n->type == YAML_MAPPING_NODE) {
        snprintf(buf, size, "a mapping");
    } else if (n->type == YAML_SEQUENCE_NODE) {
        snprintf(buf, size, "a sequence");
    } else if (is_null_scalar(n)) {
        snprintf(buf, size, "an empty value");
    } else {
        const char *s = (const char *)n->data.scalar.value;
        size_t len = strlen(s);
        /* Shorten long scalars and keep the message on one line. */
        char shown[48];
        size_t k = 0;
        for (size_t i = 0; i < len && k < 40; i++) {
            shown[k++] = (s[i] == '\n' || s[i] == '\r' || s[i] == '\t') ? ' ' : s[i];
        }
        shown[k] = '\0';
        snprintf(buf, size, "'%s%s'", shown, len > k ? "..." : "");
    }
    return buf;
}

static mot_status expect_type(yaml_tree *t, yaml_node_t *n, const char *what,
                              yaml_node_type_t type, const char *expected) {
    if (n->type == type) {
        return MOT_OK;
    }
    char found[64];
    return yaml_tree_fail(t, yaml_tree_pos(n), "%s: expected %s, found %s", what, expected,
                          yaml_tree_describe(n, found, sizeof found));
}

mot_status yaml_tree_expect_mapping(yaml_tree *t, yaml_node_t *n, const char *what) {
    return expect_type(t, n, what, YAML_MAPPING_NODE, "a mapping");
}

mot_status yaml_tree_expect_sequence(yaml_tree *t, yaml_node_t *n, const char *what) {
    return expect_type(t, n, what, YAML_SEQUENCE_NODE, "a sequence");
}

const char *yaml_tree_join(const char *const *list, char *buf, size_t size) {
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; list[i] && k < size; i++) {
        k += snprintf(buf + k, size - k, "%s%s", i ? ", " : "", list[i]);
    }
    return buf;
}

mot_status yaml_tree_check_keys(yaml_tree *t, yaml_node_t *m, const char *what,
                                const char *const *allowed) {
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_tree_node(t, p->key);
        if (k->type != YAML_SCALAR_NODE) {
            char found[64];
            return yaml_tree_fail(t, yaml_tree_pos(k), "%s: expected a key name, found %s", what,
                                  yaml_tree_describe(k, found, sizeof found));
        }
        const char *name = (const char *)k->data.scalar.value;
        int known = 0;
        for (int i = 0; allowed[i]; i++) {
            known |= !strcmp(allowed[i], name);
        }
        if (!known) {
            char list[256];
            return yaml_tree_fail(t, yaml_tree_pos(k), "unknown key '%s' in %s (expected %s)",
                                  name, what, yaml_tree_join(allowed, list, sizeof list));
        }
        for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *prev = yaml_tree_node(t, q->key);
            if (prev->type == YAML_SCALAR_NODE && !strcmp((const char *)prev->data.scalar.value, name)) {
                mot_src_pos first = yaml_tree_pos(prev);
                return yaml_tree_fail(t, yaml_tree_pos(k), "duplicate key '%s' in %s (first at %d:%d)",
                                      name, what, first.line, first.col);
            }
        }
    }
    return MOT_OK;
}

yaml_node_t *yaml_tree_get(yaml_tree *t, yaml_node_t *m, const char *key, mot_src_pos *key_pos) {
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_tree_node(t, p->key);
        if (k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key)) {
            if (key_pos) {
                *key_pos = yaml_tree_pos(k);
            }
            return yaml_tree_node(t, p->value);
        }
    }
    return NULL;
}

mot_status yaml_tree_require(yaml_tree *t, yaml_node_t *m, const char *what, const char *key,
                             yaml_node_t **out) {
    *out = yaml_tree_get(t, m, key, NULL);
    if (!*out) {
        return yaml_tree_fail(t, yaml_tree_pos(m), "%s: missing required key '%s'", what, key);
    }
    return MOT_OK;
}

/* The scalar's text, or an error naming what was expected. */
static mot_status scalar_text(yaml_tree *t, yaml_node_t *n, const char *what,
                              const char *expected, const char **out) {
    if (n->type != YAML_SCALAR_NODE || is_null_scalar(n)) {
        char found[64];
        return yaml_tree_fail(t, yaml_tree_pos(n), "%s: expected %s, found %s", what, expected,
                              yaml_tree_describe(n, found, sizeof found));
    }
    *out = (const char *)n->data.scalar.value;
    return MOT_OK;
}

mot_status yaml_tree_string(yaml_tree *t, yaml_node_t *n, const char *what, char **out) {
    const char *s = NULL;
    MOT_TRY(scalar_text(t, n, what, "a string", &s));
    if (strlen(s) != n->data.scalar.length) {
        return yaml_tree_fail(t, yaml_tree_pos(n), "%s: the string contains a NUL character", what);
    }
    *out = strdup(s);
    if (!*out) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", t->file);
    }
    return MOT_OK;
}

mot_status yaml_tree_int(yaml_tree *t, yaml_node_t *n, const char *what, long long lo,
                         long long hi, int *out) {
    const char *s = NULL;
    MOT_TRY(scalar_text(t, n, what, "an integer", &s));
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || s[0] == ' ' || errno == ERANGE) {
        char found[64];
        return yaml_tree_fail(t, yaml_tree_pos(n), "%s: expected an integer, found %s", what,
                              yaml_tree_describe(n, found, sizeof found));
    }
    if (v < lo || v > hi) {
        if (hi >= INT_MAX) {
            return yaml_tree_fail(t, yaml_tree_pos(n), "%s: %lld is out of range (expected at least %lld)",
                                  what, v, lo);
        }
        return yaml_tree_fail(t, yaml_tree_pos(n), "%s: %lld is out of range (expected %lld..%lld)",
                              what, v, lo, hi);
    }
    *out = (int)v;
    return MOT_OK;
}

mot_status yaml_tree_u64(yaml_tree *t, yaml_node_t *n, const char *what,
                         unsigned long long *out) {
    const char *s = NULL;
    MOT_TRY(scalar_text(t, n, what, "a non-negative integer", &s));
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || errno == ERANGE || s[0] < '0' || s[0] > '9') {
        char found[64];
        return yaml_tree_fail(t, yaml_tree_pos(n), "%s: expected a non-negative integer, found %s",
                              what, yaml_tree_describe(n, found, sizeof found));
    }
    *out = v;
    return MOT_OK;
}

mot_status yaml_tree_float(yaml_tree *t, yaml_node_t *n, const char *what, double *out) {
    const char *s = NULL;
    MOT_TRY(scalar_text(t, n, what, "a number", &s));
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || s[0] == ' ' || errno == ERANGE || !isfinite(v)) {
        char found[64];
        return yaml_tree_fail(t, yaml_tree_pos(n), "%s: expected a number, found %s", what,
                              yaml_tree_describe(n, found, sizeof found));
    }
    *out = v;
    return MOT_OK;
}

mot_status yaml_tree_choice(yaml_tree *t, yaml_node_t *n, const char *what,
                            const char *const *choices, int *out) {
    char list[256];
    yaml_tree_join(choices, list, sizeof list);
    const char *s = NULL;
    char expected[300];
    snprintf(expected, sizeof expected, "one of %s", list);
    MOT_TRY(scalar_text(t, n, what, expected, &s));
    for (int i = 0; choices[i]; i++) {
        if (!strcmp(choices[i], s)) {
            *out = i;
            return MOT_OK;
        }
    }
    char found[64];
    return yaml_tree_fail(t, yaml_tree_pos(n), "%s: unknown value %s (expected one of %s)", what,
                          yaml_tree_describe(n, found, sizeof found), list);
}
