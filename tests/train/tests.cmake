# Training (SPEC 5). The drivers compare `mot train` with the float64 reference
# (tests/reference/train_ref.py); until `mot train` exists they run their reference half
# only (--ref-only). Once it does, drop --ref-only and pass --mot $<TARGET_FILE:mot>.
set(MOT_TRAIN_DIR ${CMAKE_CURRENT_LIST_DIR})
foreach(scenario norm_bias uniform_q3)
  add_test(NAME train_grads_ref_${scenario}
    COMMAND ${MOT_PYTHON} ${MOT_TRAIN_DIR}/test_train_grads.py --ref-only
            --pool ${CMAKE_BINARY_DIR}/train-test/pool --scenario ${scenario}
            --work ${CMAKE_BINARY_DIR}/train-test/grads-${scenario})
  set_tests_properties(train_grads_ref_${scenario} PROPERTIES LABELS "train;python" TIMEOUT 120
                       RESOURCE_LOCK train_pool)
endforeach()
add_test(NAME train_adamw_ref_norm_bias
  COMMAND ${MOT_PYTHON} ${MOT_TRAIN_DIR}/test_train_adamw.py --ref-only
          --pool ${CMAKE_BINARY_DIR}/train-test/pool --scenario norm_bias
          --work ${CMAKE_BINARY_DIR}/train-test/adamw-norm_bias)
set_tests_properties(train_adamw_ref_norm_bias PROPERTIES LABELS "train;python" TIMEOUT 120
                     RESOURCE_LOCK train_pool)
