// The runtime of the CPU emulation (emu.h): the block scheduler (threads as coroutines on small
// stacks, switched by a few lines of x86-64 assembly), barriers and warp primitives, the checks
// (reported on stderr as "EMU-REPORT"), and host versions of the CUDA runtime and cuBLAS calls
// that kernels/cuda/*.cu and the GPU tests make. Streams are synchronous; a stream capture
// records the work instead and a graph launch replays it.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "emu.h"
#undef warpSize

extern "C" void emu_ctx_switch(void **save_sp, void *new_sp);
asm(R"(
.text
.globl emu_ctx_switch
.type emu_ctx_switch,@function
emu_ctx_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
.size emu_ctx_switch, .-emu_ctx_switch
.section .note.GNU-stack,"",@progbits
.text
)");

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define EMU_ASAN 1
#else
#define EMU_ASAN 0
#endif

namespace emu {

uint3 cur_tid, cur_bid;
dim3 cur_bdim, cur_gdim;

enum { T_READY, T_BAR, T_WARP, T_DONE };

struct Thread {
    void *sp;
    int state;
    uint3 tid;
    // block barrier
    int bar_kind, bar_pred, bar_res;
    const char *file;
    int line;
    // warp primitive
    int wkind, wparam, wwidth, wpred;
    unsigned wmask, wret;
    size_t wsize;
    unsigned char wval[16], wres[16];
};

struct SharedRegion {
    void *p;
    size_t bytes;
    unsigned long long gen;
};

struct LaunchState {
    const char *file = "", *name = "";
    int line = 0;
    dim3 grid, block;
    size_t shmem = 0;
    std::vector<unsigned char> dyn;
    bool failed = false;
    size_t static_shared = 0;
};

static Thread *threads;
static int nthreads;
static Thread *cur;
static void *sched_sp;
static char *stacks;
static size_t stack_bytes;
static const std::function<void()> *cur_body;
static LaunchState *L;  // the launch running now (NULL outside kernels)
static unsigned long long block_gen;
static std::map<void *, SharedRegion> shared_regions;
static bool reverse_order = getenv("EMU_REVERSE") && atoi(getenv("EMU_REVERSE"));
static bool poison_malloc = !getenv("EMU_POISON") || atoi(getenv("EMU_POISON"));
static long long n_launches, n_blocks, n_threads_run;

// ---- reports ------------------------------------------------------------------------------
struct ReportKey {
    std::string kind, file;
    int line;
    bool operator<(const ReportKey &o) const {
        if (kind != o.kind) return kind < o.kind;
        if (file != o.file) return file < o.file;
        return line < o.line;
    }
};
static std::map<ReportKey, long long> reports;
static std::map<std::string, long long> kernel_launches;  // "name (file:line)" -> launches
static long long n_errors;

static bool is_note(const char *kind) { return !strncmp(kind, "note", 4); }

// EMU_LOG_DIR (the emulated libmot-cuda.so under `run.sh suites`): every report and the summary
// also go to DIR/emu-PID.log; stderr then gets the error reports only (no notes, no summary),
// so the tests that read mot's stderr see what a GPU run would print plus the real findings.
static FILE *log_file;
static bool log_dir_set;
static void open_log() {
    const char *dir = getenv("EMU_LOG_DIR");
    if (!dir || !*dir) return;
    log_dir_set = true;
    char path[4096];
    snprintf(path, sizeof path, "%s/emu-%d.log", dir, (int)getpid());
    log_file = fopen(path, "a");
    if (!log_file) fprintf(stderr, "emu: cannot open %s (EMU_LOG_DIR): reports on stderr only\n", path);
}
// the line goes to the log file (if any) and, unless quiet, to stderr
static void emit(bool quiet, const char *fmt, ...) {
    va_list ap;
    if (log_file) {
        va_start(ap, fmt);
        vfprintf(log_file, fmt, ap);
        va_end(ap);
        fflush(log_file);
    }
    if (!quiet || !log_dir_set) {
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
    }
}

bool in_kernel() { return L != NULL && cur != NULL; }

void report(const char *kind, const char *file, int line, const char *fmt, ...) {
    ReportKey k{kind, file ? file : "?", line};
    long long &c = reports[k];
    c++;
    if (!is_note(kind)) n_errors++;
    if (c > 3) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (L && cur) {
        emit(is_note(kind), "EMU-REPORT [%s] %s:%d: %s (kernel %s launched at %s:%d, grid (%u,%u,%u) block (%u,%u,%u), in block (%u,%u,%u) thread (%u,%u,%u))\n",
                kind, k.file.c_str(), line, msg, L->name, L->file, L->line, L->grid.x, L->grid.y, L->grid.z,
                L->block.x, L->block.y, L->block.z, cur_bid.x, cur_bid.y, cur_bid.z, cur->tid.x, cur->tid.y,
                cur->tid.z);
    } else if (L) {
        emit(is_note(kind), "EMU-REPORT [%s] %s:%d: %s (kernel %s launched at %s:%d, grid (%u,%u,%u) block (%u,%u,%u), block (%u,%u,%u))\n",
                kind, k.file.c_str(), line, msg, L->name, L->file, L->line, L->grid.x, L->grid.y, L->grid.z,
                L->block.x, L->block.y, L->block.z, cur_bid.x, cur_bid.y, cur_bid.z);
    } else {
        emit(is_note(kind), "EMU-REPORT [%s] %s:%d: %s\n", kind, k.file.c_str(), line, msg);
    }
}

long long report_count(const char *kind) {
    long long n = 0;
    for (auto &r : reports)
        if (r.first.kind == kind) n += r.second;
    return n;
}

static void summary() {
    emit(true, "EMU-SUMMARY: %lld launches, %lld blocks, %lld threads; %lld error reports", n_launches, n_blocks,
         n_threads_run, n_errors);
    for (auto &r : reports) {
        emit(true, "\n  EMU-SUMMARY %s %s:%d x%lld", r.first.kind.c_str(), r.first.file.c_str(), r.first.line,
             r.second);
    }
    emit(true, "\n");
    for (auto &k : kernel_launches) emit(true, "  EMU-KERNEL %s x%lld\n", k.first.c_str(), k.second);
    if (log_file) fclose(log_file);
    log_file = NULL;
}

static void on_segv(int sig, siginfo_t *si, void *) {
    char buf[512];
    int n;
    if (L && cur) {
        n = snprintf(buf, sizeof buf,
                     "EMU-CRASH signal %d at address %p in kernel %s launched at %s:%d, block (%u,%u,%u) thread "
                     "(%u,%u,%u) (an out-of-bounds access, a host pointer, or a thread stack overflow)\n",
                     sig, si->si_addr, L->name, L->file, L->line, cur_bid.x, cur_bid.y, cur_bid.z, cur->tid.x,
                     cur->tid.y, cur->tid.z);
    } else {
        n = snprintf(buf, sizeof buf, "EMU-CRASH signal %d at address %p outside kernels\n", sig, si->si_addr);
    }
    if (write(2, buf, n) < 0) {
    }
    if (log_file && write(fileno(log_file), buf, n) < 0) {
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static struct Init {
    Init() {
        const char *kb = getenv("EMU_STACK_KB");
        stack_bytes = (size_t)(kb ? atoi(kb) : 256) << 10;
        const size_t page = 4096, per = stack_bytes + page;
        stacks = (char *)mmap(NULL, per * 1024, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                              -1, 0);
        if (stacks == MAP_FAILED) {
            perror("emu: mmap stacks");
            abort();
        }
        for (int i = 0; i < 1024; i++) {
            mprotect(stacks + i * per, page, PROT_NONE);  // guard below each stack
        }
        threads = new Thread[1024];
        static char altstack[65536];
        stack_t ss = {};
        ss.ss_sp = altstack;
        ss.ss_size = sizeof altstack;
        sigaltstack(&ss, NULL);
        struct sigaction sa = {};
        sa.sa_sigaction = on_segv;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigaction(SIGSEGV, &sa, NULL);
        sigaction(SIGBUS, &sa, NULL);
        open_log();
        atexit(summary);
    }
} init_;

// ---- the scheduler --------------------------------------------------------------------------
#if EMU_ASAN
static void *main_stack_bottom;
static size_t main_stack_size;
// ASan is told about every switch (its fiber interface), so it checks the right stack.
static void to_sched(Thread *t) {
    void *fake = NULL;
    __sanitizer_start_switch_fiber(t->state == T_DONE ? NULL : &fake, main_stack_bottom, main_stack_size);
    emu_ctx_switch(&t->sp, sched_sp);
    __sanitizer_finish_switch_fiber(fake, (const void **)&main_stack_bottom, &main_stack_size);
}
#else
static void to_sched(Thread *t) { emu_ctx_switch(&t->sp, sched_sp); }
#endif

static void thread_entry() {
#if EMU_ASAN
    __sanitizer_finish_switch_fiber(NULL, (const void **)&main_stack_bottom, &main_stack_size);
#endif
    (*cur_body)();
    cur->state = T_DONE;
    to_sched(cur);
    __builtin_unreachable();
}

static void yield() { to_sched(cur); }

static void init_thread(int i) {
    const size_t page = 4096, per = stack_bytes + page;
    uintptr_t *sp = (uintptr_t *)(stacks + (size_t)(i + 1) * per);
    *--sp = 0;                          // return address of thread_entry (never used)
    *--sp = (uintptr_t)&thread_entry;   // where the switch's ret goes
    for (int r = 0; r < 6; r++) *--sp = 0;
    threads[i].sp = sp;
    threads[i].state = T_READY;
}

#if EMU_ASAN
static void *thread_stack_bottom(Thread *t) {
    const size_t page = 4096, per = stack_bytes + page;
    return stacks + (size_t)(t - threads) * per + page;
}
#endif

static void run_thread(Thread *t) {
    cur = t;
    cur_tid = t->tid;
#if EMU_ASAN
    void *fake = NULL;
    __sanitizer_start_switch_fiber(&fake, thread_stack_bottom(t), stack_bytes);
    emu_ctx_switch(&sched_sp, t->sp);
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#else
    emu_ctx_switch(&sched_sp, t->sp);
#endif
    cur = NULL;
}

int block_barrier(int kind, int pred, const char *file, int line) {
    if (!cur) {
        report("barrier-outside-kernel", file, line, "__syncthreads called on the host");
        return pred;
    }
    cur->state = T_BAR;
    cur->bar_kind = kind;
    cur->bar_pred = pred;
    cur->file = file;
    cur->line = line;
    yield();
    return cur->bar_res;
}

unsigned active_mask() {
    // the lanes of the warp that have not returned (assumes converged execution)
    const int base = (int)(cur - threads) & ~31;
    unsigned m = 0;
    for (int l = 0; l < 32 && base + l < nthreads; l++) {
        if (threads[base + l].state != T_DONE) m |= 1u << l;
    }
    return m;
}

unsigned warp_op(int kind, unsigned mask, const void *val, size_t size, int param, int width, int pred, void *res,
                 const char *file, int line) {
    if (!cur) {
        report("warp-op-outside-kernel", file, line, "warp primitive called on the host");
        return 0;
    }
    Thread *t = cur;
    t->state = T_WARP;
    t->wkind = kind;
    t->wmask = mask;
    t->wparam = param;
    t->wwidth = width;
    t->wpred = pred;
    t->wsize = size;
    if (size) memcpy(t->wval, val, size);
    t->file = file;
    t->line = line;
    yield();
    if (size && res) memcpy(res, t->wres, size);
    return t->wret;
}

static const char *kind_name(int k) {
    static const char *n[] = {"__shfl_sync", "__shfl_xor_sync", "__shfl_up_sync", "__shfl_down_sync",
                              "__ballot_sync", "__any_sync", "__all_sync", "__syncwarp"};
    return k >= 0 && k < 8 ? n[k] : "?";
}

// Resolves the warps' primitives whose participants all arrived. Returns whether any did.
static bool resolve_warps() {
    bool any = false;
    for (int base = 0; base < nthreads; base += 32) {
        const int nl = nthreads - base < 32 ? nthreads - base : 32;
        const unsigned exist = nl == 32 ? 0xffffffffu : ((1u << nl) - 1);
        Thread *w = threads + base;
        unsigned waiting = 0, done = 0, bar = 0;
        for (int l = 0; l < nl; l++) {
            if (w[l].state == T_WARP) waiting |= 1u << l;
            if (w[l].state == T_DONE) done |= 1u << l;
            if (w[l].state == T_BAR) bar |= 1u << l;
        }
        unsigned handled = 0;
        for (int l0 = 0; l0 < nl; l0++) {
            if (!(waiting & (1u << l0)) || (handled & (1u << l0))) continue;
            Thread *a = &w[l0];
            cur = a;  // for the reports
            cur_tid = a->tid;
            const unsigned mask = a->wmask;
            if (!(mask & (1u << l0))) {
                report("warp-mask-excludes-caller", a->file, a->line, "%s with mask 0x%08x called by lane %d",
                       kind_name(a->wkind), mask, l0);
            }
            if (mask & ~exist) {
                report("warp-mask-nonexistent-lanes", a->file, a->line,
                       "%s with mask 0x%08x, but the warp has only lanes 0x%08x (blockDim %u)", kind_name(a->wkind),
                       mask, exist, nthreads);
            }
            const unsigned need = (mask | (1u << l0)) & exist;
            if ((need & bar) || (need & ~(waiting | done | bar))) {
                cur = NULL;
                continue;  // some participants are elsewhere (deadlock detection decides)
            }
            // lanes waiting with another mask: they are in a different group unless in ours
            unsigned group = need & waiting;
            for (int l = 0; l < nl; l++) {
                if (!(group & (1u << l))) continue;
                Thread *b = &w[l];
                if (b->wmask != mask || b->wkind != a->wkind || b->line != a->line || b->file != a->file) {
                    cur = b;
                    cur_tid = b->tid;
                    report("warp-op-mismatch", b->file, b->line,
                           "lane %d is at %s (mask 0x%08x) while lane %d is at %s %s:%d (mask 0x%08x)", l,
                           kind_name(b->wkind), b->wmask, l0, kind_name(a->wkind), a->file, a->line, mask);
                    cur = a;
                    cur_tid = a->tid;
                }
            }
            if (need & done) {
                report("warp-op-exited-lanes", a->file, a->line,
                       "%s with mask 0x%08x, but lanes 0x%08x of the warp have returned (undefined: hangs or garbage "
                       "on a GPU)",
                       kind_name(a->wkind), mask, need & done);
            }
            // results
            unsigned vote = 0;
            for (int l = 0; l < nl; l++) {
                if ((group & (1u << l)) && w[l].wpred) vote |= 1u << l;
            }
            for (int l = 0; l < nl; l++) {
                if (!(group & (1u << l))) continue;
                Thread *b = &w[l];
                cur = b;
                cur_tid = b->tid;
                switch (b->wkind) {
                case W_BALLOT: b->wret = vote; break;
                case W_ANY: b->wret = vote != 0; break;
                case W_ALL: b->wret = vote == group; break;
                case W_SYNCWARP: b->wret = 0; break;
                default: {
                    const int width = b->wwidth;
                    if (width <= 0 || width > 32 || (width & (width - 1))) {
                        report("shfl-bad-width", b->file, b->line, "width %d", width);
                    }
                    const int wd = width > 0 && width <= 32 ? width : 32;
                    const int seg = l & ~(wd - 1);
                    int src = l;
                    switch (b->wkind) {
                    case W_SHFL_IDX: src = seg + (b->wparam & (wd - 1)); break;
                    case W_SHFL_XOR: src = l ^ b->wparam; if (src >= seg + wd) src = l; break;
                    case W_SHFL_UP: src = (l - seg) >= b->wparam ? l - b->wparam : l; break;
                    case W_SHFL_DOWN: src = (l - seg) + b->wparam < wd ? l + b->wparam : l; break;
                    }
                    if (src < 0 || src >= 32 || !(group & (1u << src))) {
                        report("shfl-reads-inactive-lane", b->file, b->line,
                               "%s: lane %d reads lane %d, which is not taking part (mask 0x%08x, arrived 0x%08x)",
                               kind_name(b->wkind), l, src, b->wmask, group);
                        memset(b->wres, 0xff, sizeof b->wres);
                    } else {
                        if (w[src].wsize != b->wsize) {
                            report("shfl-size-mismatch", b->file, b->line, "lane %d shuffles %zu bytes, lane %d %zu",
                                   l, b->wsize, src, w[src].wsize);
                        }
                        memcpy(b->wres, w[src].wval, b->wsize);
                    }
                    b->wret = 0;
                }
                }
            }
            for (int l = 0; l < nl; l++) {
                if (group & (1u << l)) w[l].state = T_READY;
            }
            handled |= group;
            any = true;
            cur = NULL;
        }
    }
    return any;
}

static bool resolve_block() {
    int at_bar = 0, done = 0, other = 0;
    for (int i = 0; i < nthreads; i++) {
        if (threads[i].state == T_BAR) at_bar++;
        else if (threads[i].state == T_DONE) done++;
        else other++;
    }
    if (!at_bar || other) return false;
    Thread *a = NULL;
    int cnt = 0, orv = 0, andv = 1;
    for (int i = 0; i < nthreads; i++) {
        Thread *t = &threads[i];
        if (t->state != T_BAR) continue;
        if (!a) a = t;
        cnt += t->bar_pred;
        orv |= t->bar_pred;
        andv &= t->bar_pred;
        if (t->line != a->line || t->file != a->file || t->bar_kind != a->bar_kind) {
            cur = t;
            cur_tid = t->tid;
            report("syncthreads-divergent", t->file, t->line,
                   "thread waits at this barrier while thread (%u,%u,%u) waits at %s:%d (undefined on a GPU)", a->tid.x,
                   a->tid.y, a->tid.z, a->file, a->line);
            cur = NULL;
        }
    }
    if (done) {
        cur = a;
        cur_tid = a->tid;
        report("note-syncthreads-after-exit", a->file, a->line,
               "%d of %d threads of the block returned before this __syncthreads (fine on sm_70+ if whole warps "
               "returned; a partial warp is undefined)",
               done, nthreads);
        // a warp with some lanes done and some at the barrier
        for (int base = 0; base < nthreads; base += 32) {
            int d = 0, b = 0;
            for (int l = base; l < base + 32 && l < nthreads; l++) {
                d += threads[l].state == T_DONE;
                b += threads[l].state == T_BAR;
            }
            if (d && b) {
                report("syncthreads-partial-warp-exited", a->file, a->line,
                       "warp %d: %d lanes returned, %d wait at __syncthreads", base / 32, d, b);
                break;
            }
        }
        cur = NULL;
    }
    for (int i = 0; i < nthreads; i++) {
        Thread *t = &threads[i];
        if (t->state != T_BAR) continue;
        t->bar_res = t->bar_kind == 1 ? orv : t->bar_kind == 2 ? andv : t->bar_kind == 3 ? cnt : 0;
        t->state = T_READY;
    }
    return true;
}

static void deadlock() {
    std::string s;
    char buf[256];
    std::map<std::string, int> where;
    for (int i = 0; i < nthreads; i++) {
        Thread *t = &threads[i];
        if (t->state == T_DONE) {
            where["returned"]++;
        } else if (t->state == T_BAR) {
            snprintf(buf, sizeof buf, "__syncthreads %s:%d", t->file, t->line);
            where[buf]++;
        } else if (t->state == T_WARP) {
            snprintf(buf, sizeof buf, "%s %s:%d mask 0x%08x (warp %d)", kind_name(t->wkind), t->file, t->line, t->wmask,
                     i / 32);
            where[buf]++;
        }
    }
    for (auto &w : where) {
        snprintf(buf, sizeof buf, "%s%d threads at %s", s.empty() ? "" : "; ", w.second, w.first.c_str());
        s += buf;
    }
    report("deadlock", L->file, L->line, "the block cannot go on: %s", s.c_str());
    L->failed = true;
#if EMU_ASAN
    for (int i = 0; i < nthreads; i++) {
        if (threads[i].state != T_DONE) ASAN_UNPOISON_MEMORY_REGION(thread_stack_bottom(&threads[i]), stack_bytes);
    }
#endif
}

static void run_block(const std::function<void()> &body) {
    block_gen++;
    n_blocks++;
    for (int i = 0; i < nthreads; i++) init_thread(i);
    if (!L->dyn.empty()) memset(L->dyn.data(), 0xff, L->dyn.size());
    cur_body = &body;
    for (;;) {
        if (reverse_order) {
            for (int i = nthreads - 1; i >= 0; i--)
                if (threads[i].state == T_READY) run_thread(&threads[i]);
        } else {
            for (int i = 0; i < nthreads; i++)
                if (threads[i].state == T_READY) run_thread(&threads[i]);
        }
        bool progress = resolve_warps();
        progress = resolve_block() || progress;
        if (progress) continue;
        bool all_done = true;
        for (int i = 0; i < nthreads; i++) all_done = all_done && threads[i].state == T_DONE;
        if (!all_done) deadlock();
        break;
    }
    n_threads_run += nthreads;
}

void shared_touch(void *p, size_t bytes, const char *file, int line) {
    if (!L) return;
    auto it = shared_regions.find(p);
    if (it == shared_regions.end()) {
        shared_regions[p] = SharedRegion{p, bytes, block_gen};
        memset(p, 0xff, bytes);  // NaN / -1: reads of never-written shared memory show
        return;
    }
    if (it->second.gen != block_gen) {
        it->second.gen = block_gen;
        memset(p, 0xff, bytes);
    }
}

// static shared bytes of a launch: the regions touched during it
static size_t launch_static_shared(unsigned long long first_gen) {
    size_t s = 0;
    for (auto &r : shared_regions)
        if (r.second.gen >= first_gen) s += r.second.bytes;
    return s;
}

void *dyn_shared(const char *file, int line) {
    if (!L || L->dyn.empty()) {
        report("dynamic-shared-without-bytes", file, line, "extern __shared__ used by a launch with 0 bytes of it");
        return NULL;
    }
    return L->dyn.data();
}

void launch_bounds(unsigned max_threads, const char *file, int line) {
    if (L && L->block.x * L->block.y * L->block.z > max_threads) {
        report("launch-bounds-exceeded", file, line, "block of %u threads, __launch_bounds__(%u): the launch fails",
               L->block.x * L->block.y * L->block.z, max_threads);
        L->failed = true;
    }
}

void check_vector_ptr(const void *p, size_t align, const char *type, const char *file, int line, bool is_cast) {
    if (is_cast) {
        if (align > 1 && ((uintptr_t)p % align) != 0) {
            report("note-misaligned-vector-cast", file, line,
                   "(%s) cast of %p, not %zu-byte aligned (an error only if dereferenced without __ldg: a direct "
                   "load/store of it faults here with EMU-CRASH, or silently works)",
                   type, p, align);
        }
        return;
    }
    if (align > 1 && ((uintptr_t)p % align) != 0) {
        report("misaligned-vector-access", file, line, "%s at %p is not %zu-byte aligned (misaligned address error)",
               type, p, align);
        if (L) L->failed = true;
    }
}

// ---- device memory ---------------------------------------------------------------------------
struct Alloc {
    size_t bytes;
    int kind;  // 0 device, 1 pinned host
};
static std::map<uintptr_t, Alloc> allocs;

static bool is_device_ptr(const void *p, size_t *left = NULL) {
    const uintptr_t a = (uintptr_t)p;
    auto it = allocs.upper_bound(a);
    if (it == allocs.begin()) return false;
    --it;
    if (a <= it->first + it->second.bytes) {
        if (left) *left = it->first + it->second.bytes - a;
        return true;
    }
    return false;
}

void check_kernel_arg(const void *p, int index, const char *kernel, const char *file, int line) {
    if (p && !is_device_ptr(p)) {
        report("kernel-arg-not-device-memory", file, line,
               "kernel %s argument #%d = %p is not in any cudaMalloc'd allocation (host memory?)", kernel, index, p);
    }
}

static void *dev_alloc(size_t bytes, int kind) {
    // 256-byte aligned as cudaMalloc's; exactly `bytes` long, so that ASan (EMU_ASAN=1) sees
    // any access past the end (a GPU would read whatever follows)
    void *p = NULL;
    if (posix_memalign(&p, 256, bytes ? bytes : 1) != 0) return NULL;
    if (poison_malloc) memset(p, 0xff, bytes);
    allocs[(uintptr_t)p] = Alloc{bytes, kind};
    return p;
}

static bool dev_free(void *p) {
    if (!p) return true;
    auto it = allocs.find((uintptr_t)p);
    if (it == allocs.end()) return false;
    allocs.erase(it);
    free(p);
    return true;
}

// ---- streams, capture, graphs ----------------------------------------------------------------
// A capture: begun on its origin stream; other streams join it by waiting on an event recorded
// in it (the fork), and must be joined back into the origin (the origin waits on an event
// recorded on them after their last work) before the origin ends it, as CUDA requires. Streams
// are synchronous, so the order of submission is a valid order of the graph's nodes.
struct Stream;
struct Capture {
    Stream *origin;
    std::vector<Stream *> members;  // the origin first
    std::vector<std::function<void()>> ops;
    bool invalidated = false;
};
struct Stream {
    bool capturing = false;
    Capture *cap = NULL;
    long long seq = 0;         // work submitted while capturing
    long long joined_seq = 0;  // the seq an event the capture waited on was recorded at
};
struct Graph {
    std::vector<std::function<void()>> ops;
};
struct Event {
    double t;
    Capture *cap;  // recorded in this capture (NULL: outside any)
    Stream *from;
    long long seq;
};
static std::vector<Capture *> captures;  // active
static int n_capturing;
static cudaError_t last_error = cudaSuccess;
static cudaError_t sticky = cudaSuccess;

static Stream *S(cudaStream_t s) {
    if (s == 0 || s == cudaStreamLegacy || s == cudaStreamPerThread) return NULL;
    return (Stream *)s;
}

static cudaError_t set_err(cudaError_t e) {
    if (e != cudaSuccess) last_error = e;
    return e;
}

// A call not allowed while a stream captures in global mode.
static bool capture_forbids(const char *what) {
    if (n_capturing > 0) {
        report("unsafe-call-during-capture", what, 0,
               "%s while a stream is capturing (global mode): cudaErrorStreamCaptureUnsupported, the capture is "
               "invalidated",
               what);
        for (Capture *c : captures) c->invalidated = true;
        return true;
    }
    return false;
}

static void submit(cudaStream_t s, std::function<void()> f) {
    // The scheduler's state is global: work from a second host thread (legal on CUDA) is not
    // emulated; say so rather than corrupt a running launch.
    static pthread_t owner;
    static bool owner_set;
    if (!owner_set) {
        owner = pthread_self();
        owner_set = true;
    } else if (!pthread_equal(owner, pthread_self())) {
        report("second-host-thread", "submit", 0, "CUDA work submitted from a second host thread (not emulated)");
    }
    Stream *st = S(s);
    if (st && st->capturing) {
        st->seq++;
        st->cap->ops.push_back(std::move(f));
        return;
    }
    if (!st && n_capturing > 0) {
        report("legacy-stream-during-capture", "stream0", 0, "work on the legacy default stream while capturing");
    }
    f();
}

void launch_grid(const char *file, int line, const char *name, dim3 grid, dim3 block, size_t shmem, cudaStream_t s,
                 std::function<void()> body) {
    if (cur) {
        report("launch-inside-kernel", file, line, "dynamic parallelism is not emulated");
        return;
    }
    const unsigned long long threads_per = (unsigned long long)block.x * block.y * block.z;
    if (threads_per == 0 || threads_per > 1024 || block.z > 64 || grid.x == 0 || grid.y == 0 || grid.z == 0 ||
        grid.y > 65535 || grid.z > 65535 || grid.x > 2147483647u || shmem > 48 * 1024) {
        report("invalid-launch-config", file, line, "%s<<<(%u,%u,%u), (%u,%u,%u), %zu>>>: cudaErrorInvalidConfiguration",
               name, grid.x, grid.y, grid.z, block.x, block.y, block.z, shmem);
        set_err(cudaErrorInvalidConfiguration);
        return;
    }
    submit(s, [=]() {
        LaunchState ls;
        ls.file = file;
        ls.line = line;
        ls.name = name;
        ls.grid = grid;
        ls.block = block;
        ls.shmem = shmem;
        ls.dyn.assign(shmem, 0xff);
        L = &ls;
        n_launches++;
        kernel_launches[std::string(name) + " (" + file + ":" + std::to_string(line) + ")"]++;
        cur_gdim = grid;
        cur_bdim = block;
        nthreads = (int)threads_per;
        for (int i = 0; i < nthreads; i++) {
            threads[i].tid = make_uint3(i % block.x, (i / block.x) % block.y, i / (block.x * block.y));
        }
        const unsigned long long first_gen = block_gen + 1;
        const unsigned long long nb = (unsigned long long)grid.x * grid.y * grid.z;
        for (unsigned long long b = 0; b < nb && !ls.failed; b++) {
            const unsigned long long bb = reverse_order ? nb - 1 - b : b;
            cur_bid = make_uint3((unsigned)(bb % grid.x), (unsigned)((bb / grid.x) % grid.y),
                                 (unsigned)(bb / ((unsigned long long)grid.x * grid.y)));
            run_block(body);
            if (b == 0) {
                const size_t sh = launch_static_shared(first_gen);
                if (sh + shmem > 48 * 1024) {
                    report("too-much-shared-memory", file, line, "%s: %zu bytes of static + %zu dynamic shared memory",
                           name, sh, shmem);
                    ls.failed = true;
                }
            }
        }
        if (ls.failed) {
            sticky = cudaErrorLaunchFailure;
            last_error = cudaErrorLaunchFailure;
        }
        L = NULL;
    });
}

}  // namespace emu

using namespace emu;

// ---- the CUDA runtime API ----------------------------------------------------------------------
extern "C" {

cudaError_t cudaGetDeviceCount(int *n) {
    *n = 1;
    return cudaSuccess;
}
cudaError_t cudaSetDevice(int) { return cudaSuccess; }
cudaError_t cudaGetDevice(int *d) {
    *d = 0;
    return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int) {
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "CPU emulation of a CUDA device");
    p->totalGlobalMem = (size_t)80 << 30;
    p->major = 9;
    p->minor = 0;
    p->multiProcessorCount = 132;
    p->warpSize = 32;
    p->maxThreadsPerBlock = 1024;
    p->sharedMemPerBlock = 48 << 10;
    return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int) {
    *v = a == cudaDevAttrMultiProcessorCount ? 132 : a == cudaDevAttrMaxThreadsPerBlock ? 1024 : 0;
    return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t *free_b, size_t *total) {
    *total = (size_t)80 << 30;
    *free_b = *total;
    return cudaSuccess;
}
const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument (emulated)";
    case cudaErrorLaunchFailure: return "unspecified launch failure (emulated: see EMU-REPORT)";
    case cudaErrorMemoryAllocation: return "out of memory (emulated)";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing (emulated)";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture (emulated)";
    case cudaErrorInvalidValue: return "invalid argument (emulated)";
    case cudaErrorNotSupported: return "operation not supported (emulated)";
    default: return "emulated CUDA error";
    }
}
const char *cudaGetErrorName(cudaError_t e) { return cudaGetErrorString(e); }
cudaError_t cudaGetLastError(void) {
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}
cudaError_t cudaPeekAtLastError(void) { return last_error; }

static cudaError_t sync_result() {
    cudaError_t e = sticky;
    sticky = cudaSuccess;
    return set_err(e);
}
cudaError_t cudaDeviceSynchronize(void) {
    if (capture_forbids("cudaDeviceSynchronize")) return set_err(cudaErrorStreamCaptureUnsupported);
    return sync_result();
}
cudaError_t cudaDeviceReset(void) { return cudaSuccess; }

cudaError_t cudaMalloc(void **p, size_t bytes) {
    if (capture_forbids("cudaMalloc")) return set_err(cudaErrorStreamCaptureUnsupported);
    *p = dev_alloc(bytes, 0);
    return *p ? cudaSuccess : set_err(cudaErrorMemoryAllocation);
}
cudaError_t cudaMallocAsync(void **p, size_t bytes, cudaStream_t) {
    *p = dev_alloc(bytes, 0);
    return *p ? cudaSuccess : set_err(cudaErrorMemoryAllocation);
}
cudaError_t cudaFree(void *p) {
    if (capture_forbids("cudaFree")) return set_err(cudaErrorStreamCaptureUnsupported);
    if (!dev_free(p)) {
        report("bad-free", "cudaFree", 0, "cudaFree(%p): not a device allocation", p);
        return set_err(cudaErrorInvalidValue);
    }
    return cudaSuccess;
}
cudaError_t cudaFreeAsync(void *p, cudaStream_t s) {
    Stream *st = S(s);
    if (st && st->capturing) return cudaSuccess;  // a graph free node: kept alive for the replays
    if (!dev_free(p)) {
        report("bad-free", "cudaFreeAsync", 0, "cudaFreeAsync(%p): not a device allocation", p);
        return set_err(cudaErrorInvalidValue);
    }
    return cudaSuccess;
}
cudaError_t cudaHostAlloc(void **p, size_t bytes, unsigned int) {
    *p = dev_alloc(bytes, 1);
    return *p ? cudaSuccess : set_err(cudaErrorMemoryAllocation);
}
cudaError_t cudaMallocHost(void **p, size_t bytes) { return cudaHostAlloc(p, bytes, 0); }
cudaError_t cudaFreeHost(void *p) { return dev_free(p) ? cudaSuccess : set_err(cudaErrorInvalidValue); }
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes *a, const void *p) {
    memset(a, 0, sizeof *a);
    auto it = allocs.upper_bound((uintptr_t)p);
    if (it != allocs.begin() && is_device_ptr(p)) {
        --it;
        a->type = it->second.kind == 1 ? cudaMemoryTypeHost : cudaMemoryTypeDevice;
        a->devicePointer = (void *)p;
        a->hostPointer = it->second.kind == 1 ? (void *)p : NULL;
    } else {
        a->type = cudaMemoryTypeUnregistered;
    }
    return cudaSuccess;
}

static void check_range(const void *p, size_t bytes, const char *what, bool device) {
    if (!bytes || !device) return;
    size_t left = 0;
    if (!is_device_ptr(p, &left)) {
        report("copy-not-device-memory", what, 0, "%s: %p (%zu bytes) is not device memory", what, p, bytes);
    } else if (left < bytes) {
        report("copy-out-of-bounds", what, 0, "%s: %p + %zu bytes runs %zu bytes past its allocation", what, p, bytes,
               bytes - left);
    }
}

static void check_copy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, const char *what) {
    const bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    const bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    check_range(dst, bytes, what, dst_dev);
    check_range(src, bytes, what, src_dev);
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    if (capture_forbids("cudaMemcpy")) return set_err(cudaErrorStreamCaptureUnsupported);
    check_copy(dst, src, bytes, kind, "cudaMemcpy");
    if (bytes) memmove(dst, src, bytes);
    return sync_result();
}
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s) {
    check_copy(dst, src, bytes, kind, "cudaMemcpyAsync");
    submit(s, [=]() {
        if (bytes) memmove(dst, src, bytes);
    });
    return cudaSuccess;
}
cudaError_t cudaMemset(void *p, int v, size_t bytes) {
    if (capture_forbids("cudaMemset")) return set_err(cudaErrorStreamCaptureUnsupported);
    check_range(p, bytes, "cudaMemset", true);
    memset(p, v, bytes);
    return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void *p, int v, size_t bytes, cudaStream_t s) {
    check_range(p, bytes, "cudaMemsetAsync", true);
    submit(s, [=]() { memset(p, v, bytes); });
    return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t *s) {
    *s = (cudaStream_t) new Stream();
    return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int) { return cudaStreamCreate(s); }
cudaError_t cudaStreamCreateWithPriority(cudaStream_t *s, unsigned int, int) { return cudaStreamCreate(s); }
cudaError_t cudaStreamDestroy(cudaStream_t s) {
    delete S(s);
    return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    Stream *st = S(s);
    if (st && st->capturing) {
        report("unsafe-call-during-capture", "cudaStreamSynchronize", 0, "synchronizing a capturing stream");
        st->cap->invalidated = true;
        return set_err(cudaErrorStreamCaptureUnsupported);
    }
    return sync_result();
}
cudaError_t cudaStreamQuery(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned int) {
    Stream *st = S(s);
    Event *ev = (Event *)e;
    if (!ev) return set_err(cudaErrorInvalidResourceHandle);
    Capture *c = ev->cap;
    if (c && std::find(captures.begin(), captures.end(), c) == captures.end()) c = NULL;  // ended since
    if (c) {
        if (!st) {
            report("legacy-stream-joins-capture", "cudaStreamWaitEvent", 0,
                   "the legacy stream waits on an event of a capture");
            c->invalidated = true;
            return set_err(cudaErrorStreamCaptureImplicit);
        }
        if (st->capturing && st->cap != c) {
            report("capture-isolation", "cudaStreamWaitEvent", 0, "a stream of one capture waits on another's event");
            st->cap->invalidated = c->invalidated = true;
            return set_err(cudaErrorStreamCaptureIsolation);
        }
        if (!st->capturing) {  // the fork: st joins the capture
            st->capturing = true;
            st->cap = c;
            st->seq = st->joined_seq = 0;
            c->members.push_back(st);
        }
        if (ev->from && ev->from != st && ev->seq == ev->from->seq) ev->from->joined_seq = ev->seq;
    }
    return cudaSuccess;
}
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode) {
    Stream *st = S(s);
    if (!st) return set_err(cudaErrorStreamCaptureUnsupported);
    if (st->capturing) return set_err(cudaErrorIllegalState);
    Capture *c = new Capture();
    c->origin = st;
    c->members.push_back(st);
    captures.push_back(c);
    st->capturing = true;
    st->cap = c;
    st->seq = st->joined_seq = 0;
    n_capturing++;
    return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *g) {
    Stream *st = S(s);
    *g = NULL;
    if (!st || !st->capturing) return set_err(cudaErrorIllegalState);
    Capture *c = st->cap;
    if (c->origin != st) {  // CUDA: the capture is invalidated, the origin's end fails too
        report("capture-end-not-origin", "cudaStreamEndCapture", 0, "ending a capture on a stream that joined it");
        c->invalidated = true;
        return set_err(cudaErrorStreamCaptureUnmatched);
    }
    cudaError_t err = cudaSuccess;
    for (Stream *m : c->members) {
        if (m != st && m->seq != m->joined_seq) {
            report("capture-unjoined", "cudaStreamEndCapture", 0,
                   "a stream forked into the capture was not joined back into the origin after its last work");
            err = cudaErrorStreamCaptureUnjoined;
        }
        m->capturing = false;
        m->cap = NULL;
    }
    captures.erase(std::find(captures.begin(), captures.end(), c));
    n_capturing--;
    if (err == cudaSuccess && c->invalidated) err = cudaErrorStreamCaptureInvalidated;
    if (err == cudaSuccess) {
        Graph *gr = new Graph();
        gr->ops.swap(c->ops);
        *g = (cudaGraph_t)gr;
    }
    delete c;
    return set_err(err);
}
cudaError_t cudaStreamIsCapturing(cudaStream_t s, cudaStreamCaptureStatus *st) {
    *st = S(s) && S(s)->capturing ? cudaStreamCaptureStatusActive : cudaStreamCaptureStatusNone;
    return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t *e, cudaGraph_t g, unsigned long long) {
    if (!g) return set_err(cudaErrorInvalidValue);
    *e = (cudaGraphExec_t) new Graph(*(Graph *)g);
    return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s) {
    Graph *g = (Graph *)e;
    for (auto &op : g->ops) submit(s, op);
    return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) {
    delete (Graph *)e;
    return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t g) {
    delete (Graph *)g;
    return cudaSuccess;
}

static double now_ms() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
cudaError_t cudaEventCreate(cudaEvent_t *e) {
    *e = (cudaEvent_t) new Event{0, NULL, NULL, 0};
    return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned int) { return cudaEventCreate(e); }
cudaError_t cudaEventDestroy(cudaEvent_t e) {
    delete (Event *)e;
    return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
    Event *ev = (Event *)e;
    if (!ev) return set_err(cudaErrorInvalidResourceHandle);
    Stream *st = S(s);
    if (!st && n_capturing > 0) {  // the legacy stream synchronizes with the capturing ones
        report("unsafe-call-during-capture", "cudaEventRecord", 0, "recording on the legacy stream while capturing");
        for (Capture *c : captures) c->invalidated = true;
        return set_err(cudaErrorStreamCaptureImplicit);
    }
    ev->cap = st && st->capturing ? st->cap : NULL;
    ev->from = st;
    ev->seq = st ? st->seq : 0;
    submit(s, [ev]() { ev->t = now_ms(); });
    if (st && st->capturing) ev->seq = st->seq;  // the record node itself counts as the stream's last work
    return cudaSuccess;
}
cudaError_t cudaEventRecordWithFlags(cudaEvent_t e, cudaStream_t s, unsigned int flags) {
    Stream *st = S(s);
    if ((flags & cudaEventRecordExternal) && !(st && st->capturing)) return set_err(cudaErrorInvalidValue);
    return cudaEventRecord(e, s);
}
cudaError_t cudaEventSynchronize(cudaEvent_t) { return sync_result(); }
cudaError_t cudaEventQuery(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b) {
    *ms = (float)(((Event *)b)->t - ((Event *)a)->t);
    return cudaSuccess;
}
cudaError_t cudaFuncSetAttribute(const void *, cudaFuncAttribute, int) { return cudaSuccess; }

}  // extern "C"

// ---- cuBLAS: the calls kernels/cuda makes ------------------------------------------------------
struct cublasContext {
    cudaStream_t stream;
    cublasMath_t math;
    void *workspace;
    size_t workspace_bytes;
};

extern "C" {

cublasStatus_t cublasCreate_v2(cublasHandle_t *h) {
    *h = new cublasContext{0, CUBLAS_DEFAULT_MATH, NULL, 0};
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy_v2(cublasHandle_t h) {
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream_v2(cublasHandle_t h, cudaStream_t s) {
    h->stream = s;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGetStream_v2(cublasHandle_t h, cudaStream_t *s) {
    *s = h->stream;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m) {
    h->math = m;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t h, void *w, size_t bytes) {
    if (bytes && !is_device_ptr(w)) {
        report("cublas-workspace-not-device", "cublasSetWorkspace", 0, "workspace %p is not device memory", w);
    }
    h->workspace = w;
    h->workspace_bytes = bytes;
    return CUBLAS_STATUS_SUCCESS;
}
const char *cublasGetStatusString(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE (emulated)";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED (emulated)";
    default: return "cuBLAS error (emulated)";
    }
}

static double load_elem(const void *p, cudaDataType t, size_t i) {
    switch (t) {
    case CUDA_R_32F: return ((const float *)p)[i];
    case CUDA_R_64F: return ((const double *)p)[i];
    case CUDA_R_16F: return __half2float(((const __half *)p)[i]);
    case CUDA_R_16BF: return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    default: return NAN;
    }
}
static void store_elem(void *p, cudaDataType t, size_t i, double v) {
    switch (t) {
    case CUDA_R_32F: ((float *)p)[i] = (float)v; break;
    case CUDA_R_64F: ((double *)p)[i] = v; break;
    case CUDA_R_16F: ((__half *)p)[i] = __float2half_rn((float)v); break;
    case CUDA_R_16BF: ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn((float)v); break;
    default: break;
    }
}
static size_t elem_size(cudaDataType t) {
    return t == CUDA_R_32F ? 4 : t == CUDA_R_64F ? 8 : (t == CUDA_R_16F || t == CUDA_R_16BF) ? 2 : 0;
}

// Column-major C[m, n] = alpha op(A) op(B) + beta C; (i, j) of op(A) is A[i + j * lda] for N,
// A[j + i * lda] for T. Double accumulation. beta == 0: C is not read.
static void gemm_ref(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, double alpha, const void *A,
                     cudaDataType at, int lda, const void *B, cudaDataType bt, int ldb, double beta, void *C,
                     cudaDataType ct, int ldc) {
    std::vector<double> a((size_t)m * k), b((size_t)k * n);
    for (int i = 0; i < m; i++)
        for (int p = 0; p < k; p++)
            a[(size_t)i * k + p] = load_elem(A, at, ta == CUBLAS_OP_N ? i + (size_t)p * lda : p + (size_t)i * lda);
    for (int p = 0; p < k; p++)
        for (int j = 0; j < n; j++)
            b[(size_t)j * k + p] = load_elem(B, bt, tb == CUBLAS_OP_N ? p + (size_t)j * ldb : j + (size_t)p * ldb);
    for (int j = 0; j < n; j++) {
        for (int i = 0; i < m; i++) {
            double s = 0;
            const double *ar = &a[(size_t)i * k], *bc = &b[(size_t)j * k];
            for (int p = 0; p < k; p++) s += ar[p] * bc[p];
            const size_t ci = i + (size_t)j * ldc;
            double v = alpha * s;
            if (beta != 0.0) v += beta * load_elem(C, ct, ci);
            store_elem(C, ct, ci, v);
        }
    }
}

static void check_matrix(const void *p, cudaDataType t, int rows, int cols, int ld, const char *name) {
    // the last element read: (rows - 1) + (cols - 1) * ld
    if (rows <= 0 || cols <= 0) return;
    const size_t need = ((size_t)(rows - 1) + (size_t)(cols - 1) * ld + 1) * elem_size(t);
    size_t left = 0;
    if (!is_device_ptr(p, &left)) {
        report("cublas-matrix-not-device", "cublasGemmEx", 0, "matrix %s at %p is not device memory", name, p);
    } else if (left < need) {
        report("cublas-out-of-bounds", "cublasGemmEx", 0,
               "matrix %s at %p: %d x %d (ld %d) needs %zu bytes, the allocation has %zu from there", name, p, rows, cols,
               ld, need, left);
    }
}

cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const void *alpha, const void *A, cudaDataType at, int lda, const void *B, cudaDataType bt,
                            int ldb, const void *beta, void *C, cudaDataType ct, int ldc,
                            cublasComputeType_t compute, cublasGemmAlgo_t) {
    const int arows = ta == CUBLAS_OP_N ? m : k, brows = tb == CUBLAS_OP_N ? k : n;
    if (!h || m < 0 || n < 0 || k < 0 || lda < (arows > 1 ? arows : 1) || ldb < (brows > 1 ? brows : 1) ||
        ldc < (m > 1 ? m : 1) || (ta != CUBLAS_OP_N && ta != CUBLAS_OP_T) || (tb != CUBLAS_OP_N && tb != CUBLAS_OP_T)) {
        report("cublas-invalid-value", "cublasGemmEx", 0, "m %d n %d k %d lda %d ldb %d ldc %d ta %d tb %d", m, n, k,
               lda, ldb, ldc, (int)ta, (int)tb);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    const bool ok_types = compute == CUBLAS_COMPUTE_32F &&
                          ((at == CUDA_R_32F && bt == CUDA_R_32F && ct == CUDA_R_32F) ||
                           (at == CUDA_R_16F && bt == CUDA_R_16F && (ct == CUDA_R_16F || ct == CUDA_R_32F)) ||
                           (at == CUDA_R_16BF && bt == CUDA_R_16BF && (ct == CUDA_R_16BF || ct == CUDA_R_32F)));
    if (!ok_types) {
        report("cublas-not-supported", "cublasGemmEx", 0, "types A %d B %d C %d compute %d", (int)at, (int)bt, (int)ct,
               (int)compute);
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    // alpha, beta: host pointers (the default pointer mode)
    const double al = *(const float *)alpha, be = *(const float *)beta;
    if (k > 0) {
        check_matrix(A, at, arows, ta == CUBLAS_OP_N ? k : m, lda, "A");
        check_matrix(B, bt, brows, tb == CUBLAS_OP_N ? n : k, ldb, "B");
    }
    check_matrix(C, ct, m, n, ldc, "C");
    submit(h->stream, [=]() { gemm_ref(ta, tb, m, n, k, al, A, at, lda, B, bt, ldb, be, C, ct, ldc); });
    return CUBLAS_STATUS_SUCCESS;
}

}  // extern "C"
