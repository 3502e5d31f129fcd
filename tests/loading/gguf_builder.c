#include "tests/loading/gguf_builder.h"

#include <stdlib.h>
#include <string.h>

void gb_bytes(gguf_buf *b, const void *p, size_t n) {
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 256;
        b->data = realloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void gb_u32(gguf_buf *b, uint32_t v) { gb_bytes(b, &v, 4); }
void gb_u64(gguf_buf *b, uint64_t v) { gb_bytes(b, &v, 8); }

void gb_str(gguf_buf *b, const char *s) {
    gb_u64(b, strlen(s));
    gb_bytes(b, s, strlen(s));
}

void gb_pad(gguf_buf *b, size_t align) {
    static const unsigned char zero[64];
    gb_bytes(b, zero, (align - b->len % align) % align);
}

static void tensor_info(gguf_buf *b, const char *name, uint32_t dims, const uint64_t *ne, uint32_t type, uint64_t off) {
    gb_str(b, name);
    gb_u32(b, dims);
    for (uint32_t d = 0; d < dims; d++) {
        gb_u64(b, ne[d]);
    }
    gb_u32(b, type);
    gb_u64(b, off);
}

void gb_small(gguf_buf *b, const gguf_faults *f) {
    b->len = 0;
    gb_bytes(b, f->magic ? f->magic : "GGUF", 4);
    gb_u32(b, f->version ? f->version : 3);
    gb_u64(b, 3 + f->n_tensors_delta);
    gb_u64(b, 4 + (f->dup_key ? 1 : 0) + (f->nested_array ? 1 : 0));
    /* metadata */
    gb_str(b, "general.architecture");
    gb_u32(b, f->kv_type ? f->kv_type : 8);
    gb_str(b, "llama");
    gb_str(b, "llama.block_count");
    gb_u32(b, 4); /* u32 */
    gb_u32(b, 2);
    gb_str(b, "tokenizer.ggml.tokens");
    gb_u32(b, 9); /* array */
    gb_u32(b, 8); /* of strings */
    gb_u64(b, 3);
    gb_str(b, "a");
    gb_str(b, "b");
    gb_str(b, "ab");
    gb_str(b, "tokenizer.ggml.scores");
    gb_u32(b, 9);
    gb_u32(b, 6); /* of f32 */
    gb_u64(b, 3);
    const float scores[3] = {-1, -2, -0.5f};
    gb_bytes(b, scores, sizeof scores);
    if (f->dup_key) {
        gb_str(b, "general.architecture");
        gb_u32(b, 8);
        gb_str(b, "llama");
    }
    if (f->nested_array) {
        gb_str(b, "nested");
        gb_u32(b, 9);
        gb_u32(b, 9);
        gb_u64(b, 1);
    }
    /* tensor infos: a F32 [4, 8] = 128 B at 0; b Q8_0 [2, 64] = 4 blocks of 34 = 136 B at 128;
     * c Q4_K [256] = 144 B at 288 */
    tensor_info(b, "a", 2, (const uint64_t[]){8, 4}, 0, 0);
    const uint64_t ne1[8] = {f->t1_ne0 ? f->t1_ne0 : 64, f->t1_zero_dim ? 0 : 2, 1, 1, 1, 1, 1, 1};
    tensor_info(b, "b", f->t1_dims ? f->t1_dims : 2, ne1, f->t1_f32 ? 0 : f->t1_type ? f->t1_type : 8, 128 + f->t1_offset_delta);
    tensor_info(b, f->dup_name ? "a" : "c", 1, (const uint64_t[]){256}, 12, 288);
    gb_pad(b, 32);
    unsigned char data[432];
    for (int i = 0; i < (int)sizeof data; i++) {
        data[i] = (unsigned char)i;
    }
    gb_bytes(b, data, sizeof data);
    if (f->truncate_to && f->truncate_to < b->len) {
        b->len = f->truncate_to;
    }
}
