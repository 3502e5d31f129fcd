# CPU kernels against the plain references in ops/ (tests/ops/test_ops.c), and the kernel
# micro-benchmark (built, not run by ctest: `build/bench_kernels`).
add_executable(test_ops ${CMAKE_CURRENT_LIST_DIR}/test_ops.c ${CMAKE_CURRENT_LIST_DIR}/op_check.c)
target_link_libraries(test_ops PRIVATE motlib)
add_test(NAME ops.kernels_vs_reference COMMAND test_ops)
set_tests_properties(ops.kernels_vs_reference PROPERTIES TIMEOUT 60)

add_executable(bench_kernels ${CMAKE_CURRENT_LIST_DIR}/bench_kernels.c)
target_link_libraries(bench_kernels PRIVATE motlib)

# The quantized-weight kernels (Q8_0 ... Q6_K) against ops/ref_quant.c, and that against the
# gguf package's dequantization (tests/ops/quant_fixture.h).
add_executable(test_quant ${CMAKE_CURRENT_LIST_DIR}/test_quant.c ${CMAKE_CURRENT_LIST_DIR}/op_check.c
  ${CMAKE_CURRENT_LIST_DIR}/quant_blocks.c)
target_link_libraries(test_quant PRIVATE motlib)
add_test(NAME ops.quant_vs_reference COMMAND test_quant)
set_tests_properties(ops.quant_vs_reference PROPERTIES TIMEOUT 120)

# Every plan op kind against its reference in ops/, as the backend's executor runs it (ggml's
# test-backend-ops): the CPU here; the same cases on CUDA in tests/cuda/tests.cmake.
add_executable(test_backend_ops ${CMAKE_CURRENT_LIST_DIR}/test_backend_ops.c ${CMAKE_CURRENT_LIST_DIR}/backend_ops_cpu.c)
target_link_libraries(test_backend_ops PRIVATE motlib)
add_test(NAME ops.backend COMMAND test_backend_ops)
set_tests_properties(ops.backend PROPERTIES TIMEOUT 300)
