# ---- CPU backward kernels (kernels/cpu/backward.h) -------------------------------------------
# Each kernel against a double forward's finite differences and a double analytic backward
# written in the test (tests/train/test_backward_ops.c).
add_executable(test_backward_ops ${CMAKE_CURRENT_LIST_DIR}/test_backward_ops.c
  ${CMAKE_SOURCE_DIR}/tests/ops/op_check.c ${CMAKE_SOURCE_DIR}/tests/ops/quant_blocks.c)
target_link_libraries(test_backward_ops PRIVATE motlib)
add_test(NAME train.backward_ops COMMAND test_backward_ops)
set_tests_properties(train.backward_ops PROPERTIES LABELS train TIMEOUT 120)
# ---- end of the CPU backward kernels ---------------------------------------------------------

# mot train / mot eval end to end: learning, bitwise resume, eval against the zero-reverse
# identity, bad inputs (tests/train/test_train_run.py).
add_test(NAME train.run
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_train_run.py --mot $<TARGET_FILE:mot>
          --pool ${CMAKE_BINARY_DIR}/mot-pool --work ${CMAKE_BINARY_DIR}/train-run)
# passive OpenMP waits: on the shared 2-core machine spinning team threads made a training step
# 5-7x slower (docs/benchmarks.md, issue 19), and this test ran past its timeout
set_tests_properties(train.run PROPERTIES LABELS "train;python" TIMEOUT 300
                     ENVIRONMENT OMP_WAIT_POLICY=passive)

# The gradient of every trainable tensor, per loss term, and three AdamW steps against the
# float64 reference (tests/reference/train_ref.py): K = 1, 2, 3; layernorm with and without
# biases; uniform, deep and explicit placements; f32, bf16 and f16 experts.
set(MOT_TRAIN_DIR ${CMAKE_CURRENT_LIST_DIR})
foreach(scenario k1 norm_bias norm_only uniform_q3 explicit deep)
  add_test(NAME train.grads_${scenario}
    COMMAND ${MOT_PYTHON} ${MOT_TRAIN_DIR}/test_train_grads.py --mot $<TARGET_FILE:mot>
            --pool ${CMAKE_BINARY_DIR}/train-test/pool --scenario ${scenario}
            --work ${CMAKE_BINARY_DIR}/train-test/grads-${scenario})
  set_tests_properties(train.grads_${scenario} PROPERTIES LABELS "train;python;reference" TIMEOUT 180
                       RESOURCE_LOCK train_pool ENVIRONMENT OMP_WAIT_POLICY=passive)
endforeach()
# The same on the GPU (`mot train --backend cuda`: the training plans on the CUDA backend), to the
# same bound (SPEC 1.7 exact: f32 activations); skipped (77) without an NVIDIA device.
foreach(scenario k1 norm_bias uniform_q3 deep)
  add_test(NAME train.grads_${scenario}_cuda
    COMMAND ${MOT_PYTHON} ${MOT_TRAIN_DIR}/test_train_grads.py --mot $<TARGET_FILE:mot>
            --pool ${CMAKE_BINARY_DIR}/train-test/pool --scenario ${scenario} --backend cuda
            --work ${CMAKE_BINARY_DIR}/train-test/grads-${scenario}-cuda)
  set_tests_properties(train.grads_${scenario}_cuda PROPERTIES LABELS "train;python;reference;gpu;cuda"
                       TIMEOUT 300 SKIP_RETURN_CODE 77 RESOURCE_LOCK train_pool)
endforeach()
# A peer that only listens (docs/pipeline.md): a listens at attention 0, c at attention 1; over
# the batch each is sometimes the primary (it queries), sometimes not (it is not attended).
add_test(NAME train.grads_listener
  COMMAND ${MOT_PYTHON} ${MOT_TRAIN_DIR}/test_train_grads.py --mot $<TARGET_FILE:mot>
          --pool ${CMAKE_BINARY_DIR}/train-test/pool --scenario uniform_q3 --listen 0:a,1:c
          --batch 4 --work ${CMAKE_BINARY_DIR}/train-test/grads-listener)
set_tests_properties(train.grads_listener PROPERTIES LABELS "train;python;reference" TIMEOUT 180
                     RESOURCE_LOCK train_pool ENVIRONMENT OMP_WAIT_POLICY=passive)
# L_route (mot's routing supervision, docs/training.md): its targets (each example's expert best
# alone) and its gradient into the router, beside the other terms.
add_test(NAME train.grads_route
  COMMAND ${MOT_PYTHON} ${MOT_TRAIN_DIR}/test_train_grads.py --mot $<TARGET_FILE:mot>
          --pool ${CMAKE_BINARY_DIR}/train-test/pool --scenario uniform_q3 --l-route 0.5
          --batch 4 --work ${CMAKE_BINARY_DIR}/train-test/grads-route)
set_tests_properties(train.grads_route PROPERTIES LABELS "train;python;reference" TIMEOUT 180
                     RESOURCE_LOCK train_pool ENVIRONMENT OMP_WAIT_POLICY=passive)
add_test(NAME train.adamw_norm_bias
  COMMAND ${MOT_PYTHON} ${MOT_TRAIN_DIR}/test_train_adamw.py --mot $<TARGET_FILE:mot>
          --pool ${CMAKE_BINARY_DIR}/train-test/pool --scenario norm_bias
          --work ${CMAKE_BINARY_DIR}/train-test/adamw-norm_bias)
set_tests_properties(train.adamw_norm_bias PROPERTIES LABELS "train;python;reference" TIMEOUT 180
                     RESOURCE_LOCK train_pool ENVIRONMENT OMP_WAIT_POLICY=passive)
