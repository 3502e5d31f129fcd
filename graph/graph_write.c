/* Writes the expanded pipeline: YAML that mot_pipeline_load reads back (every key, defaults
 * filled in, placement as explicit lists, the `graph:` nodes), or a Graphviz digraph. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "graph/graph_nodes.h"

/* Plain when it cannot be misread (by us or another YAML reader), else double-quoted. */
static void write_scalar(FILE *out, const char *s) {
    int plain = *s && *s != '-';
    for (const char *c = s; *c && plain; c++) {
        plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                strchr("_./+-", *c);
    }
    static const char *const words[] = {"null", "Null", "NULL", "true", "True", "TRUE", "false",
                                        "False", "FALSE", "yes", "no", "on", "off", NULL};
    for (int i = 0; plain && words[i]; i++) {
        plain = strcmp(s, words[i]) != 0;
    }
    if (plain) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        /* YAML's Unicode line breaks (NEL, LS, PS) are folded into a space when read back
         * raw inside quotes; escaped they survive (found by tests/fuzz/fuzz_pipeline.c). */
        if (c[0] == 0xc2 && c[1] == 0x85) {
            fputs("\\N", out);
            c += 1;
            continue;
        }
        if (c[0] == 0xe2 && c[1] == 0x80 && (c[2] == 0xa8 || c[2] == 0xa9)) {
            fputs(c[2] == 0xa8 ? "\\L" : "\\P", out);
            c += 2;
            continue;
        }
        switch (*c) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\t': fputs("\\t", out); break;
        case '\r': fputs("\\r", out); break;
        default:
            if (*c < 0x20 || *c == 0x7f) {
                fprintf(out, "\\x%02x", *c);
            } else {
                fputc(*c, out); /* UTF-8 bytes pass through: double quotes allow them */
            }
        }
    }
    fputc('"', out);
}

/* The shortest decimal that reads back as the same float, so a second round trip is identical. */
static void write_float(FILE *out, float v) {
    char buf[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtof(buf, NULL) == v) {
            break;
        }
    }
    fputs(buf, out);
}

static void write_field(FILE *out, const mot_graph_field *f) {
    fprintf(out, ", %s: ", f->key);
    if (f->is_list) {
        fputc('[', out);
    }
    for (int i = 0; i < f->n_items; i++) {
        if (i) {
            fputs(", ", out);
        }
        write_scalar(out, f->items[i]);
    }
    if (f->is_list) {
        fputc(']', out);
    }
}

static void write_experts(FILE *out, const mot_pipeline *p, const int *depths, const int *ends) {
    int Q = p->interaction.stacks;
    fputs("experts:                      # order = router output order\n", out);
    for (int m = 0; m < p->n_experts; m++) {
        const mot_pipeline_expert *e = &p->experts[m];
        fputs("  - {name: ", out);
        write_scalar(out, e->name);
        fputs(", path: ", out);
        write_scalar(out, e->path);
        if (e->template_text) {
            fputs(", template: ", out);
            write_scalar(out, e->template_text);
        }
        if (e->chat_template) {
            fputs(", chat_template: ", out);
            write_scalar(out, e->chat_template);
        } else if (e->chat) {
            fputs(", chat: true", out);
        }
        fprintf(out, ", depth: %d, layers: [", depths[m]);
        for (int q = 0; q < Q; q++) {
            fprintf(out, "%s%d", q ? ", " : "", ends[(size_t)m * Q + q]);
        }
        fputs("]}\n", out);
    }
}

static void write_settings(FILE *out, const mot_pipeline *p) {
    fputs("router: {encoder: ", out);
    write_scalar(out, p->router.encoder);
    fputs(", expert: ", out);
    write_scalar(out, p->experts[p->router.expert].name);
    fprintf(out, ", hidden: %d, top_k: %d}\n", p->router.hidden, p->router.top_k);
    fprintf(out, "interaction: {stacks: %d, placement: explicit, shared_dim: %d, heads: %d, norm: %s}\n",
            p->interaction.stacks, p->interaction.shared_dim, p->interaction.heads,
            mot_latent_norm_name(p->interaction.norm));
    if (p->weights) {
        fputs("weights: ", out);
        write_scalar(out, p->weights);
        fputc('\n', out);
    }
    fputs("sampler: {temperature: ", out);
    write_float(out, p->sampler.temperature);
    fprintf(out, ", top_k: %d, top_p: ", p->sampler.top_k);
    write_float(out, p->sampler.top_p);
    if (p->sampler.min_p > 0.0f) { /* written only when on: graphs without it read as before */
        fputs(", min_p: ", out);
        write_float(out, p->sampler.min_p);
    }
    fprintf(out, ", seed: %llu, max_tokens: %d", p->sampler.seed, p->sampler.max_tokens);
    /* the penalties, written only when set: graphs without them read as before */
    if (p->sampler.repeat_penalty != 1.0f) {
        fputs(", repeat_penalty: ", out);
        write_float(out, p->sampler.repeat_penalty);
    }
    if (p->sampler.repeat_last_n != 64) {
        fprintf(out, ", repeat_last_n: %d", p->sampler.repeat_last_n);
    }
    if (p->sampler.presence_penalty != 0.0f) {
        fputs(", presence_penalty: ", out);
        write_float(out, p->sampler.presence_penalty);
    }
    if (p->sampler.frequency_penalty != 0.0f) {
        fputs(", frequency_penalty: ", out);
        write_float(out, p->sampler.frequency_penalty);
    }
    fputs("}\n", out);
    if (p->schedule) {
        fputs("schedule: ", out);
        write_scalar(out, p->schedule);
        fputc('\n', out);
    }
}

/* The graph and every expert's interaction points; the caller frees both. */
static mot_status expand(const mot_pipeline *p, const int *depths, mot_graph *g, int **ends) {
    size_t n = (size_t)p->n_experts * (size_t)p->interaction.stacks;
    *ends = malloc(sizeof **ends * n);
    if (!*ends) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", p->file);
    }
    mot_status st = mot_pipeline_graph(p, depths, g);
    for (int m = 0; m < p->n_experts && st == MOT_OK; m++) {
        st = mot_pipeline_placement(p, m, depths[m], *ends + (size_t)m * p->interaction.stacks);
    }
    if (st != MOT_OK) {
        free(*ends);
        *ends = NULL;
    }
    return st;
}

mot_status mot_pipeline_write_yaml(const mot_pipeline *p, const int *depths, FILE *out) {
    mot_graph g;
    int *ends;
    MOT_TRY(expand(p, depths, &g, &ends));
    fputs("# The expanded form of a MoT pipeline (written by `mot graph`; mot reads it as input\n"
          "# too). Defaults are filled in, placement is written as explicit layer lists, and\n"
          "# `graph` lists the dataflow nodes in execution order (docs/pipeline.md).\n", out);
    fputs("name: ", out);
    write_scalar(out, p->name);
    fputc('\n', out);
    write_experts(out, p, depths, ends);
    write_settings(out, p);
    fputs("graph:\n", out);
    int stack = -2;
    for (int i = 0; i < g.n_nodes; i++) {
        const mot_graph_node *n = &g.nodes[i];
        /* Stack groups are marked for readers; the tail stack (q = Q) and samplers close. */
        if (n->stack != stack && !strcmp(n->kind, "stack")) {
            stack = n->stack;
            if (stack < p->interaction.stacks) {
                fprintf(out, "  # stack %d: layers, then interaction %d\n", stack, stack);
            } else {
                fputs("  # the layers after the last interaction\n", out);
            }
        }
        if (!strcmp(n->kind, "sampler") && stack != -1) {
            stack = -1;
            fputs("  # final norm, LM head and sampling; the primary's token is the output\n", out);
        }
        fputs("  - {id: ", out);
        write_scalar(out, n->id);
        fprintf(out, ", kind: %s", n->kind);
        for (int f = 0; f < n->n_fields; f++) {
            write_field(out, &n->fields[f]);
        }
        fputs("}\n", out);
    }
    free(ends);
    mot_graph_free(&g);
    return ferror(out) ? mot_fail(MOT_ERR_IO, "%s: cannot write the expanded graph", p->file) : MOT_OK;
}

/* Graphviz ids: every node id quoted (ids contain '/'). */
static void dot_node(FILE *out, const mot_graph_node *n, const char *indent) {
    fprintf(out, "%s\"%s\" [", indent, n->id);
    if (!strcmp(n->kind, "stack")) {
        fprintf(out, "shape=box, label=\"stack %d\\nlayers %d-%d\"", n->stack, n->first_layer,
                n->last_layer);
    } else if (!strcmp(n->kind, "projector")) {
        const char *dir = n->fields[0].items[0];
        fprintf(out, "shape=ellipse, label=\"%s %d\"", dir, n->stack);
    } else if (!strcmp(n->kind, "attention")) {
        fprintf(out, "shape=hexagon, style=filled, fillcolor=lightyellow, label=\"attention %d", n->stack);
        if (n->query > 0) { /* queried by the expert routed at that rank (docs/pipeline.md) */
            fprintf(out, "\\nquery %d", n->query);
        }
        fputc('"', out);
    } else if (!strcmp(n->kind, "sampler")) {
        fprintf(out, "shape=octagon, label=\"sampler\"");
    } else {
        fprintf(out, "shape=diamond, style=filled, fillcolor=lightblue, label=\"router\"");
    }
    fputs("];\n", out);
}

mot_status mot_pipeline_write_dot(const mot_pipeline *p, const int *depths, FILE *out) {
    mot_graph g;
    int *ends;
    MOT_TRY(expand(p, depths, &g, &ends));
    free(ends);
    fputs("digraph mot {\n  rankdir=TB;\n  node [fontname=\"Helvetica\"];\n", out);
    fputs("  label=\"", out);
    for (const char *c = p->name; *c; c++) {
        if (*c == '"' || *c == '\\') {
            fputc('\\', out);
        }
        fputc(*c, out);
    }
    fputs("\";\n", out);
    /* One cluster per expert: its stacks in order, its projectors and its sampler. */
    for (int m = 0; m < p->n_experts; m++) {
        fprintf(out, "  subgraph \"cluster_%s\" {\n    label=\"%s (%d layers)\";\n", p->experts[m].name,
                p->experts[m].name, depths[m]);
        for (int i = 0; i < g.n_nodes; i++) {
            if (g.nodes[i].expert == m) {
                dot_node(out, &g.nodes[i], "    ");
            }
        }
        fputs("  }\n", out);
    }
    /* The router and the attention nodes sit between the clusters. */
    for (int i = 0; i < g.n_nodes; i++) {
        if (g.nodes[i].expert < 0) {
            dot_node(out, &g.nodes[i], "  ");
        }
    }
    for (int i = 0; i < g.n_nodes; i++) {
        const mot_graph_node *n = &g.nodes[i];
        const int *in = mot_graph_node_inputs(n);
        for (int k = 0; k < n->n_inputs; k++) {
            const mot_graph_node *src = &g.nodes[in[k]];
            /* The reverse projector's z edge is the non-primary path: drawn dashed; a listener's
             * edge into its attention (a query when primary, never a key): dotted. */
            const int dashed = !strcmp(n->kind, "projector") && !strcmp(src->kind, "projector");
            const int listens = !strcmp(n->kind, "attention") && k >= n->n_inputs - n->n_listeners;
            fprintf(out, "  \"%s\" -> \"%s\"%s;\n", src->id, n->id,
                    dashed ? " [style=dashed]" : listens ? " [style=dotted, label=\"listens\"]" : "");
        }
    }
    fputs("}\n", out);
    mot_graph_free(&g);
    return ferror(out) ? mot_fail(MOT_ERR_IO, "%s: cannot write the dot graph", p->file) : MOT_OK;
}
