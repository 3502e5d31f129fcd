# ---- CPU backward kernels (kernels/cpu/backward.h) -------------------------------------------
# Each kernel against a double forward's finite differences and a double analytic backward
# written in the test (tests/train/test_backward_ops.c).
add_executable(test_backward_ops ${CMAKE_CURRENT_LIST_DIR}/test_backward_ops.c
  ${CMAKE_SOURCE_DIR}/tests/ops/op_check.c)
target_link_libraries(test_backward_ops PRIVATE motlib)
add_test(NAME train.backward_ops COMMAND test_backward_ops)
set_tests_properties(train.backward_ops PROPERTIES LABELS train TIMEOUT 120)
# ---- end of the CPU backward kernels ---------------------------------------------------------

# mot train / mot eval end to end: learning, bitwise resume, eval against the zero-reverse
# identity, bad inputs (tests/train/test_train_run.py).
add_test(NAME train.run
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_train_run.py --mot $<TARGET_FILE:mot>
          --pool ${CMAKE_BINARY_DIR}/mot-pool --work ${CMAKE_BINARY_DIR}/train-run)
set_tests_properties(train.run PROPERTIES LABELS "train;python" TIMEOUT 300)
