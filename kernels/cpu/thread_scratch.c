#include "kernels/cpu/thread_scratch.h"

#include <stdlib.h>

typedef struct {
    float *data;
    size_t floats;
} buffer;

static void buffer_free(void *p) {
    buffer *b = p;
    free(b->data);
    free(b);
}

/* Keys are created once, under one lock (pthread_once takes no argument to say which). */
static pthread_mutex_t key_lock = PTHREAD_MUTEX_INITIALIZER;

static int ensure_key(mot_thread_scratch *s) {
    pthread_mutex_lock(&key_lock);
    if (!s->ready && pthread_key_create(&s->key, buffer_free) == 0) {
        __atomic_store_n(&s->ready, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&key_lock);
    return s->ready;
}

static size_t limit_floats; /* 0: none */

void mot_thread_scratch_limit(size_t floats) { __atomic_store_n(&limit_floats, floats, __ATOMIC_RELEASE); }

float *mot_thread_scratch_get(mot_thread_scratch *s, size_t floats) {
    const size_t limit = __atomic_load_n(&limit_floats, __ATOMIC_ACQUIRE);
    if (limit && floats > limit) {
        return NULL;
    }
    if (!__atomic_load_n(&s->ready, __ATOMIC_ACQUIRE) && !ensure_key(s)) {
        return NULL;
    }
    buffer *b = pthread_getspecific(s->key);
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b || pthread_setspecific(s->key, b) != 0) {
            free(b);
            return NULL;
        }
    }
    if (floats > b->floats) {
        free(b->data);
        b->data = aligned_alloc(64, (floats * sizeof(float) + 63) / 64 * 64);
        b->floats = b->data ? floats : 0;
    }
    return b->data;
}
