/* One plan op on the CPU, run by every thread of the executing team (kernels/cpu/team.h). */
#ifndef MOT_EXECUTOR_CPU_OPS_H
#define MOT_EXECUTOR_CPU_OPS_H

#include "kernels/cpu/sampler.h"
#include "scheduler/plan.h"

/* arena: host base; samplers[lane] for SAMPLE. Returns after the team's barrier. */
void mot_cpu_run_op(const mot_plan_op *op, char *arena, mot_sampler *samplers);

/* Fusion: how many ops from the RUN instruction prog[i] on run as one decode GEMV at the
 * lane's current token count (mot_gemv_fusion): an RMSNORM and the MATMUL that reads its
 * output, a gate/up MATMUL and the SWIGLU on its outputs, or all three. 1 when none; the
 * ops fused are RUN instructions of one lane, one after another. The plan's meaning stays:
 * the norm's output is still written, and gate holds silu(gate) * up afterwards. */
int mot_cpu_fusion_span(const mot_plan *p, int i, const char *arena);

/* Runs the `span` ops from prog[i] on (mot_cpu_fusion_span's answer); returns after the
 * team's barrier. */
void mot_cpu_run_span(const mot_plan *p, int i, int span, char *arena, mot_sampler *samplers);

#endif
