/* Reads what a loader reads of an opened tensor set, so a tensor view past its file's mapping
 * or a broken name index faults under ASan (fuzz_safetensors.c, fuzz_index.c). */
#ifndef MOT_TESTS_FUZZ_FUZZ_ST_TOUCH_H
#define MOT_TESTS_FUZZ_FUZZ_ST_TOUCH_H

#include <stdlib.h>

#include "model/safetensors.h"

static void fuzz_st_touch(const mot_st_set *set) {
    volatile unsigned char sink = 0;
    for (int i = 0; i < mot_st_count(set); i++) {
        const mot_tensor *t = mot_st_at(set, i);
        for (size_t b = 0; t->data && b < t->nbytes; b += 61) {
            sink ^= ((const unsigned char *)t->data)[b];
        }
        if (t->data && t->nbytes) {
            sink ^= ((const unsigned char *)t->data)[t->nbytes - 1];
        }
        /* The name index finds every tensor (names are unique within a set). */
        if (mot_st_find(set, t->name) != t || !mot_st_file_of(set, t)) {
            abort();
        }
        const mot_tensor *same;
        (void)mot_st_expect(set, t->name, t->ndim, t->shape, &same);
    }
    (void)mot_st_find(set, "model.embed_tokens.weight");
    (void)sink;
}

#endif
