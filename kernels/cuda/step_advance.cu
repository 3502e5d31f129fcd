// STEP_ADVANCE: the last op of a pass, after every lane has sampled. For each lane fed this pass
// (n_new > 0): pos += n_new, rows += n_new, and a non-primary that sampled one of its EOS ids
// dies (alive = 0, unless ignore_eos). Then every lane's next n_new = alive ? 1 : 0,
// prefill = 0, step += 1. The primary is never marked dead here (the host ends generation on
// its EOS). The EOS table is static per plan, so it travels by value as a kernel argument.
#include "kernels/cuda/op_common.cuh"

struct eos_table {
    int id[MOT_MAX_LANES][MOT_MAX_EOS];  // -1 padded
};

__global__ void step_advance_kernel(mot_step_state *step, eos_table eos, int ignore_eos) {
    if (threadIdx.x != 0 || blockIdx.x != 0) {
        return;
    }
    const int n_lanes = step->n_lanes < MOT_MAX_LANES ? step->n_lanes : MOT_MAX_LANES;
    for (int i = 0; i < n_lanes; i++) {
        mot_lane_step *ls = &step->lane[i];
        if (ls->n_new > 0) {
            ls->pos += ls->n_new;
            ls->rows += ls->n_new;
            if (i > 0 && !ignore_eos) {
                for (int e = 0; e < MOT_MAX_EOS; e++) {
                    if (eos.id[i][e] >= 0 && ls->token == eos.id[i][e]) {
                        ls->alive = 0;
                    }
                }
            }
        }
        ls->n_new = ls->alive ? 1 : 0;
    }
    step->prefill = 0;
    step->step += 1;
}

extern "C" mot_status mot_cuda_op_step_advance(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream) {
    eos_table eos;
    for (int i = 0; i < MOT_MAX_LANES; i++) {
        for (int e = 0; e < MOT_MAX_EOS; e++) {
            eos.id[i][e] = l->op->step_advance.eos[i][e];
        }
    }
    step_advance_kernel<<<1, 32, 0, (cudaStream_t)stream>>>(l->step, eos, l->op->step_advance.ignore_eos);
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}
