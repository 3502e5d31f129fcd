/* Small deterministic generators shared by the samplers (CPU and CUDA), the step state,
 * `mot init` and the benchmarks. */
#ifndef MOT_COMMON_RNG_H
#define MOT_COMMON_RNG_H

#include <stdint.h>

/* Also compiled by nvcc (kernels/cuda/sampler.cu): host and device share the generator. */
#ifdef __CUDACC__
#define MOT_RNG_FN static inline __host__ __device__
#else
#define MOT_RNG_FN static inline
#endif

MOT_RNG_FN uint64_t mot_rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256**: the samplers' generator (state s[4]); returns the next 64 bits. */
MOT_RNG_FN uint64_t mot_xoshiro_next(uint64_t *s) {
    const uint64_t result = mot_rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = mot_rotl64(s[3], 45);
    return result;
}

/* A sampler's random stream: xoshiro256** state. One type wherever the stream lives (the CPU
 * sampler, the step state the CUDA sampler draws from), so it moves by plain assignment. */
typedef struct {
    uint64_t s[4];
} mot_rng;

/* The next draw of a stream. */
MOT_RNG_FN uint64_t mot_rng_next(mot_rng *r) { return mot_xoshiro_next(r->s); }

/* splitmix64: advances *x and returns a well-mixed 64-bit value (good for seeding). */
MOT_RNG_FN uint64_t mot_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ids[n] uniform in [0, vocab) from the xorshift state *x (benchmark inputs, like llama-bench's
 * random tokens). */
MOT_RNG_FN void mot_random_tokens(int *ids, int n, int vocab, uint64_t *x) {
    for (int i = 0; i < n; i++) {
        *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
        ids[i] = (int)(*x % (uint64_t)vocab);
    }
}

#endif
