# --profile: Chrome trace JSON with every plan node once per pass, and the summary.
add_test(NAME profiling_trace
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_trace.py $<TARGET_FILE:mot>
          ${CMAKE_BINARY_DIR}/sched-pool/hetero3_k3.yaml ${CMAKE_BINARY_DIR}/profiling-model
          ${CMAKE_BINARY_DIR}/profiling-work)
set_tests_properties(profiling_trace PROPERTIES FIXTURES_REQUIRED "sched_pool;profiling_model"
  LABELS "profiling;python" TIMEOUT 300)
add_test(NAME profiling_model
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/../tools/make_model.py --preset tiny-gqa ${CMAKE_BINARY_DIR}/profiling-model)
set_tests_properties(profiling_model PROPERTIES FIXTURES_SETUP profiling_model LABELS "profiling;python")
