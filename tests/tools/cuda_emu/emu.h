// CPU emulation of the CUDA device, for kernels/cuda/*.cu rewritten by rewrite.py and compiled
// by g++ (force-included with -include). The real toolkit headers give the types (dim3, float4,
// __half, __nv_bfloat16 with their host conversions, cudaError_t, cuBLAS enums); this adds the
// device side: threadIdx & co., barriers, warp primitives, loads, atomics, launches. The
// runtime behind it (scheduler, CUDA runtime and cuBLAS entry points) is emu_runtime.cpp.
//
// Execution model: a launch runs its blocks one after another; inside a block every thread is
// a coroutine (its own small stack) that runs until it reaches a barrier (__syncthreads, a warp
// primitive) or returns. Barriers are resolved once every thread that must take part arrived.
#ifndef MOT_CUDA_EMU_H
#define MOT_CUDA_EMU_H

#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <strings.h>
#include <tuple>
#include <type_traits>
#include <utility>

namespace emu {

// The running thread's coordinates (set by the scheduler at every switch).
extern uint3 cur_tid, cur_bid;
extern dim3 cur_bdim, cur_gdim;

enum WarpKind { W_SHFL_IDX, W_SHFL_XOR, W_SHFL_UP, W_SHFL_DOWN, W_BALLOT, W_ANY, W_ALL, W_SYNCWARP };

// Reports (deduplicated by kind and site): kind, site, one line of detail.
void report(const char *kind, const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
bool in_kernel();
long long report_count(const char *kind);  // reports of that kind so far (the self-test)

// Barriers; they return when every participant arrived.
int block_barrier(int kind, int pred, const char *file, int line);  // kind 0 plain, 1 or, 2 and, 3 count
// A warp primitive: val (size bytes) in, the lane's result out (res, size bytes); pred for votes.
unsigned warp_op(int kind, unsigned mask, const void *val, size_t size, int param, int width, int pred, void *res,
                 const char *file, int line);
unsigned active_mask();

void shared_touch(void *p, size_t bytes, const char *file, int line);
void *dyn_shared(const char *file, int line);
void launch_bounds(unsigned max_threads, const char *file, int line);
// A load (or the cast to a vector pointer, is_cast: only a note, as code may cast first and
// load only when aligned) of a vector type at p.
void check_vector_ptr(const void *p, size_t align, const char *type, const char *file, int line, bool is_cast = false);
void check_kernel_arg(const void *p, int index, const char *kernel, const char *file, int line);

// One launch: body runs once per thread, every block.
void launch_grid(const char *file, int line, const char *name, dim3 grid, dim3 block, size_t shmem, cudaStream_t s,
                 std::function<void()> body);

template <typename T> inline void check_arg(const T &, int, const char *, const char *, int) {}
template <typename T> inline void check_arg(T *const &p, int i, const char *name, const char *file, int line) {
    check_kernel_arg((const void *)p, i, name, file, line);
}

template <typename F> struct launcher_t {
    const char *file;
    int line;
    const char *name;
    F fn;
    dim3 grid, block;
    size_t shmem;
    cudaStream_t stream;
    template <typename... A> void operator()(A &&...a) const {
        // Arguments are evaluated and kept once, at the launch (a captured graph keeps them);
        // every thread then calls the kernel with them.
        std::tuple<typename std::decay<A>::type...> args(std::forward<A>(a)...);
        check_args(args, std::index_sequence_for<A...>());
        F f = fn;
        launch_grid(file, line, name, grid, block, shmem, stream, [f, args]() { std::apply(f, args); });
    }
    template <typename Tup, size_t... I> void check_args(const Tup &t, std::index_sequence<I...>) const {
        (check_arg(std::get<I>(t), (int)I, name, file, line), ...);
    }
};

template <typename F>
inline launcher_t<F> launcher(const char *file, int line, const char *name, F fn, dim3 grid, dim3 block,
                              size_t shmem = 0, cudaStream_t s = 0) {
    return launcher_t<F>{file, line, name, fn, grid, block, shmem, s};
}

template <typename T> inline T vcast(T p, const char *type, const char *file, int line) {
    typedef typename std::remove_cv<typename std::remove_pointer<T>::type>::type V;
    check_vector_ptr((const void *)p, alignof(V), type, file, line, true);
    return p;
}

template <typename T> inline T shfl(int kind, unsigned mask, T v, int param, int width, const char *file, int line) {
    static_assert(sizeof(T) <= 16, "shuffle of a large type");
    T r;
    warp_op(kind, mask, &v, sizeof(T), param, width, 0, &r, file, line);
    return r;
}

template <typename T> inline T ld(const T *p, const char *file, int line) {
    if (sizeof(T) >= 8) {
        check_vector_ptr((const void *)p, alignof(T), "__ldg", file, line);
    }
    return *p;
}

}  // namespace emu

#define threadIdx (::emu::cur_tid)
#define blockIdx (::emu::cur_bid)
#define blockDim (::emu::cur_bdim)
#define gridDim (::emu::cur_gdim)
#define warpSize 32

#define __launch_bounds__(...)
#define EMU_LAUNCH_BOUNDS(max_threads, ...) ::emu::launch_bounds((max_threads), __FILE__, __LINE__)
#define EMU_SHARED(name) ::emu::shared_touch((void *)&(name), sizeof(name), __FILE__, __LINE__)
#define EMU_VCAST(type, p) ::emu::vcast<type>((type)(p), #type, __FILE__, __LINE__)

#define __syncthreads() ((void)::emu::block_barrier(0, 1, __FILE__, __LINE__))
#define __syncthreads_or(p) ::emu::block_barrier(1, (p) ? 1 : 0, __FILE__, __LINE__)
#define __syncthreads_and(p) ::emu::block_barrier(2, (p) ? 1 : 0, __FILE__, __LINE__)
#define __syncthreads_count(p) ::emu::block_barrier(3, (p) ? 1 : 0, __FILE__, __LINE__)

#define EMU_SW_(mask, ...) ::emu::warp_op(::emu::W_SYNCWARP, (mask), 0, 0, 0, 32, 0, 0, __FILE__, __LINE__)
#define __syncwarp(...) ((void)EMU_SW_(__VA_ARGS__ + 0 ? __VA_ARGS__ + 0 : 0xffffffffu, 0))
#define __ballot_sync(mask, p) ::emu::warp_op(::emu::W_BALLOT, (mask), 0, 0, 0, 32, (p) ? 1 : 0, 0, __FILE__, __LINE__)
#define __any_sync(mask, p) ((int)::emu::warp_op(::emu::W_ANY, (mask), 0, 0, 0, 32, (p) ? 1 : 0, 0, __FILE__, __LINE__))
#define __all_sync(mask, p) ((int)::emu::warp_op(::emu::W_ALL, (mask), 0, 0, 0, 32, (p) ? 1 : 0, 0, __FILE__, __LINE__))
#define __activemask() ::emu::active_mask()

#define EMU_W_(x) (x)
#define EMU_SHFL_(kind, mask, v, param, width, ...) ::emu::shfl((kind), (mask), (v), (param), (width), __FILE__, __LINE__)
#define __shfl_sync(mask, v, ...) EMU_SHFL_(::emu::W_SHFL_IDX, mask, v, __VA_ARGS__, 32, 0)
#define __shfl_xor_sync(mask, v, ...) EMU_SHFL_(::emu::W_SHFL_XOR, mask, v, __VA_ARGS__, 32, 0)
#define __shfl_up_sync(mask, v, ...) EMU_SHFL_(::emu::W_SHFL_UP, mask, v, __VA_ARGS__, 32, 0)
#define __shfl_down_sync(mask, v, ...) EMU_SHFL_(::emu::W_SHFL_DOWN, mask, v, __VA_ARGS__, 32, 0)

#define __ldg(p) ::emu::ld((p), __FILE__, __LINE__)
#define __ldcg(p) ::emu::ld((p), __FILE__, __LINE__)
#define __ldca(p) ::emu::ld((p), __FILE__, __LINE__)
#define __ldcs(p) ::emu::ld((p), __FILE__, __LINE__)
#define __ldlu(p) ::emu::ld((p), __FILE__, __LINE__)
#define __ldcv(p) ::emu::ld((p), __FILE__, __LINE__)

// ---- plain device functions ---------------------------------------------------------------
inline void __threadfence() {}
inline void __threadfence_block() {}
inline void __threadfence_system() {}

inline float __uint_as_float(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, 4); return u; }
inline float __int_as_float(int u) { float f; memcpy(&f, &u, 4); return f; }
inline int __float_as_int(float f) { int u; memcpy(&u, &f, 4); return u; }
inline double __longlong_as_double(long long u) { double f; memcpy(&f, &u, 8); return f; }
inline long long __double_as_longlong(double f) { long long u; memcpy(&u, &f, 8); return u; }
inline int __ffs(int x) { return ffs(x); }
inline int __ffsll(long long x) { return ffsll(x); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x ? __builtin_clz((unsigned)x) : 32; }
inline int __clzll(long long x) { return x ? __builtin_clzll((unsigned long long)x) : 64; }
inline unsigned __brev(unsigned x) {
    unsigned r = 0;
    for (int i = 0; i < 32; i++) r |= ((x >> i) & 1u) << (31 - i);
    return r;
}
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
    return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((unsigned long long)a * b) >> 32); }
inline unsigned long long __float2ull_rz(float x) {
    if (x != x) return 0x8000000000000000ull;
    if (x <= 0.0f) return 0;
    if (x >= 18446744073709551616.0f) return ~0ull;
    return (unsigned long long)x;
}
inline long long __float2ll_rz(float x) { return (long long)x; }
inline int __float2int_rz(float x) { return (int)x; }
inline int __float2int_rn(float x) { return (int)nearbyintf(x); }
inline int __float2int_rd(float x) { return (int)floorf(x); }
inline int __float2int_ru(float x) { return (int)ceilf(x); }
inline unsigned __float2uint_rz(float x) { return x <= 0.0f ? 0u : (unsigned)x; }
inline float __int2float_rn(int x) { return (float)x; }
inline float __uint2float_rn(unsigned x) { return (float)x; }
inline float __ull2float_rn(unsigned long long x) { return (float)x; }
inline float __expf(float x) { return expf(x); }
inline float __exp10f(float x) { return powf(10.0f, x); }
inline float __logf(float x) { return logf(x); }
inline float __log2f(float x) { return log2f(x); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline void __sincosf(float x, float *s, float *c) { *s = sinf(x); *c = cosf(x); }
inline void sincosf_emu(float x, float *s, float *c) { *s = sinf(x); *c = cosf(x); }
inline float __powf(float a, float b) { return powf(a, b); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float a) { return 1.0f / a; }
inline float __fsqrt_rn(float a) { return sqrtf(a); }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline float __saturatef(float x) { return x != x ? 0.0f : (x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x)); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float exp10f(float x) { return powf(10.0f, x); }
inline float __tanf(float x) { return tanf(x); }

// Atomics: the overloads CUDA has (no others, so a call nvcc rejects fails here too).
#define EMU_ATOMIC_ADD_(T)                                                                      \
    inline T atomicAdd(T *p, T v) { T o = *p; *p = (T)(o + v); return o; }                       \
    inline T atomicAdd_block(T *p, T v) { return atomicAdd(p, v); }                              \
    inline T atomicAdd_system(T *p, T v) { return atomicAdd(p, v); }
EMU_ATOMIC_ADD_(int)
EMU_ATOMIC_ADD_(unsigned)
EMU_ATOMIC_ADD_(unsigned long long)
EMU_ATOMIC_ADD_(float)
EMU_ATOMIC_ADD_(double)
#define EMU_ATOMIC_INT_(T)                                                                      \
    inline T atomicSub(T *p, T v) { T o = *p; *p = o - v; return o; }                            \
    inline T atomicExch(T *p, T v) { T o = *p; *p = v; return o; }                               \
    inline T atomicMin(T *p, T v) { T o = *p; *p = v < o ? v : o; return o; }                    \
    inline T atomicMax(T *p, T v) { T o = *p; *p = v > o ? v : o; return o; }                    \
    inline T atomicCAS(T *p, T c, T v) { T o = *p; if (o == c) *p = v; return o; }               \
    inline T atomicAnd(T *p, T v) { T o = *p; *p = o & v; return o; }                            \
    inline T atomicOr(T *p, T v) { T o = *p; *p = o | v; return o; }                             \
    inline T atomicXor(T *p, T v) { T o = *p; *p = o ^ v; return o; }
EMU_ATOMIC_INT_(int)
EMU_ATOMIC_INT_(unsigned)
EMU_ATOMIC_INT_(unsigned long long)
inline float atomicExch(float *p, float v) { float o = *p; *p = v; return o; }
inline unsigned atomicInc(unsigned *p, unsigned lim) { unsigned o = *p; *p = o >= lim ? 0 : o + 1; return o; }
inline unsigned atomicDec(unsigned *p, unsigned lim) { unsigned o = *p; *p = (o == 0 || o > lim) ? lim : o - 1; return o; }

#endif
