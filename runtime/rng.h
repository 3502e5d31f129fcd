/* Small deterministic generators shared by the sampler, `mot init` and the benchmarks. */
#ifndef MOT_RUNTIME_RNG_H
#define MOT_RUNTIME_RNG_H

#include <stdint.h>

/* splitmix64: advances *x and returns a well-mixed 64-bit value (good for seeding). */
static inline uint64_t mot_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ids[n] uniform in [0, vocab) from the xorshift state *x (benchmark inputs, like llama-bench's
 * random tokens). */
static inline void mot_random_tokens(int *ids, int n, int vocab, uint64_t *x) {
    for (int i = 0; i < n; i++) {
        *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
        ids[i] = (int)(*x % (uint64_t)vocab);
    }
}

#endif
