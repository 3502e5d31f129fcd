/* One plan op on the CPU, run by every thread of the executing team (kernels/cpu/team.h). */
#ifndef MOT_EXECUTOR_CPU_OPS_H
#define MOT_EXECUTOR_CPU_OPS_H

#include "runtime/sampler.h"
#include "scheduler/plan.h"

/* arena: host base; samplers[lane] for SAMPLE. Returns after the team's barrier. */
void mot_cpu_run_op(const mot_plan_op *op, char *arena, mot_sampler *samplers);

#endif
