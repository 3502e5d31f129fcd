/* Byte-pair encoding of one pre-token, as HF's BPE model does it: start from characters
 * (with byte fallback or unk for characters outside the vocab), then repeatedly apply the
 * lowest-ranked merge, leftmost first. Symbols form a linked list and candidate merges sit
 * in a binary min-heap keyed by (rank, position): O(n log n) per word. Stale heap entries
 * are recognised when popped (their pair no longer merges into the same token). */
#include <stdlib.h>

#include "common/error.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/utf8.h"

struct tok_symbol {
    int id;         /* -1 once merged into its left neighbour */
    int prev, next; /* -1 at the ends */
};

struct tok_merge_cand {
    int rank, pos, merged_id;
};

static int cand_less(const struct tok_merge_cand *a, const struct tok_merge_cand *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

typedef struct {
    struct tok_merge_cand *items;
    size_t len, cap;
} heap;

static void heap_push(heap *h, struct tok_merge_cand c) {
    size_t i = h->len++;
    h->items[i] = c;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!cand_less(&h->items[i], &h->items[parent])) {
            break;
        }
        struct tok_merge_cand t = h->items[i];
        h->items[i] = h->items[parent];
        h->items[parent] = t;
        i = parent;
    }
}

static struct tok_merge_cand heap_pop(heap *h) {
    struct tok_merge_cand top = h->items[0];
    h->items[0] = h->items[--h->len];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->len && cand_less(&h->items[l], &h->items[m])) {
            m = l;
        }
        if (r < h->len && cand_less(&h->items[r], &h->items[m])) {
            m = r;
        }
        if (m == i) {
            break;
        }
        struct tok_merge_cand t = h->items[i];
        h->items[i] = h->items[m];
        h->items[m] = t;
        i = m;
    }
    return top;
}

/* Appends symbol id to the list (n symbols so far). */
static void add_symbol(struct tok_symbol *syms, int *n, int id) {
    syms[*n] = (struct tok_symbol){id, *n - 1, -1};
    if (*n > 0) {
        syms[*n - 1].next = *n;
    }
    (*n)++;
}

/* The initial symbols: one per character, HF's merge_word. A character outside the vocab
 * becomes its <0xNN> byte tokens (byte_fallback), else unk (consecutive unks fused when
 * fuse_unk), else it is dropped. */
static int initial_symbols(const tok_bpe *m, const char *w, size_t len, struct tok_symbol *syms) {
    int n = 0;
    int pending_unk = 0; /* an unk waiting to be emitted (fusing) */
    for (size_t i = 0; i < len;) {
        size_t clen;
        tok_utf8_decode(w + i, &clen);
        int id = tok_str_map_get(&m->vocab, w + i, clen);
        if (id >= 0) {
            if (pending_unk) {
                add_symbol(syms, &n, m->unk_id);
                pending_unk = 0;
            }
            add_symbol(syms, &n, id);
            i += clen;
            continue;
        }
        int all_bytes = m->byte_fallback;
        for (size_t k = 0; all_bytes && k < clen; k++) {
            all_bytes = m->byte_ids[(unsigned char)w[i + k]] >= 0;
        }
        if (all_bytes) {
            /* HF leaves a pending unk in place here, to be emitted later; so do we. */
            for (size_t k = 0; k < clen; k++) {
                add_symbol(syms, &n, m->byte_ids[(unsigned char)w[i + k]]);
            }
        } else if (m->unk_id >= 0) {
            if (pending_unk && !m->fuse_unk) {
                add_symbol(syms, &n, m->unk_id);
            }
            pending_unk = 1;
        }
        i += clen;
    }
    if (pending_unk) {
        add_symbol(syms, &n, m->unk_id);
    }
    return n;
}

static void push_pair(const tok_bpe *m, heap *h, const struct tok_symbol *syms, int pos) {
    if (pos < 0 || syms[pos].next < 0) {
        return;
    }
    const tok_pair_slot *s = tok_pair_map_get(&m->merges, syms[pos].id, syms[syms[pos].next].id);
    if (s) {
        heap_push(h, (struct tok_merge_cand){s->rank, pos, s->merged_id});
    }
}

mot_status tok_bpe_encode_word(const tok_bpe *m, const char *word, size_t len, tok_bpe_scratch *scratch,
                               tok_ids *out) {
    if (len == 0) {
        return MOT_OK;
    }
    if (m->ignore_merges) {
        int id = tok_str_map_get(&m->vocab, word, len);
        if (id >= 0) {
            return tok_ids_push(out, id);
        }
    }
    /* At most 4 symbols per character (byte fallback), i.e. one per byte. */
    MOT_TRY(tok_grow((void **)&scratch->syms, &scratch->syms_cap, len, sizeof(struct tok_symbol)));
    struct tok_symbol *syms = scratch->syms;
    int n = initial_symbols(m, word, len, syms);

    /* Every merge adds at most two candidates and removes one symbol: n + 2n bounds the heap. */
    MOT_TRY(tok_grow((void **)&scratch->heap, &scratch->heap_cap, 3 * (size_t)n + 1, sizeof(struct tok_merge_cand)));
    heap h = {scratch->heap, 0, scratch->heap_cap};
    for (int i = 0; i + 1 < n; i++) {
        push_pair(m, &h, syms, i);
    }
    while (h.len > 0) {
        struct tok_merge_cand c = heap_pop(&h);
        struct tok_symbol *left = &syms[c.pos];
        if (left->id < 0 || left->next < 0) {
            continue;
        }
        int right_pos = left->next;
        const tok_pair_slot *s = tok_pair_map_get(&m->merges, left->id, syms[right_pos].id);
        if (!s || s->merged_id != c.merged_id) {
            continue; /* stale: one side changed since this candidate was queued */
        }
        left->id = c.merged_id;
        left->next = syms[right_pos].next;
        syms[right_pos].id = -1;
        if (left->next >= 0) {
            syms[left->next].prev = c.pos;
        }
        push_pair(m, &h, syms, left->prev);
        push_pair(m, &h, syms, c.pos);
    }
    for (int i = n > 0 ? 0 : -1; i >= 0; i = syms[i].next) {
        MOT_TRY(tok_ids_push(out, syms[i].id));
    }
    return MOT_OK;
}

void tok_bpe_scratch_free(tok_bpe_scratch *s) {
    free(s->syms);
    free(s->heap);
    *s = (tok_bpe_scratch){0};
}
