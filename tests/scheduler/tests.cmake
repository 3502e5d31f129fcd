# The scheduler, the CPU executor's lane modes and the CUDA executor on a recording fake of
# the CUDA runtime (no GPU needed), on a K=3 pool of tiny heterogeneous experts.
set(MOT_SCHED_POOL ${CMAKE_BINARY_DIR}/sched-pool)
add_test(NAME scheduler_pool
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/../tools/make_mot_pool.py --scenario hetero3_k3 --weights python ${MOT_SCHED_POOL})
set_tests_properties(scheduler_pool PROPERTIES FIXTURES_SETUP sched_pool LABELS "scheduler;python" TIMEOUT 300)

add_executable(test_scheduler tests/scheduler/test_scheduler.c tests/scheduler/fake_gpu.c)
target_link_libraries(test_scheduler PRIVATE motlib)
add_test(NAME scheduler COMMAND test_scheduler ${MOT_SCHED_POOL}/hetero3_k3.yaml)
set_tests_properties(scheduler PROPERTIES FIXTURES_REQUIRED sched_pool LABELS scheduler TIMEOUT 300)


# A training pass's plans (train/mot_pass.c) on the CUDA executor over the same fake: every op
# binds, the launches are ordered where they share memory (tests/train/test_train_plan.c).
add_executable(test_train_plan tests/train/test_train_plan.c tests/scheduler/fake_gpu.c)
target_link_libraries(test_train_plan PRIVATE motlib)
add_test(NAME train.plan_on_cuda_fake COMMAND test_train_plan ${MOT_SCHED_POOL}/hetero3_k3.yaml)
set_tests_properties(train.plan_on_cuda_fake PROPERTIES FIXTURES_REQUIRED sched_pool LABELS "train;scheduler" TIMEOUT 300)
