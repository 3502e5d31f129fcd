# CPU kernels against the plain references in ops/ (tests/ops/test_ops.c), and the kernel
# micro-benchmark (built, not run by ctest: `build/bench_kernels`).
add_executable(test_ops ${CMAKE_CURRENT_LIST_DIR}/test_ops.c ${CMAKE_CURRENT_LIST_DIR}/op_check.c)
target_link_libraries(test_ops PRIVATE motlib)
add_test(NAME ops.kernels_vs_reference COMMAND test_ops)
set_tests_properties(ops.kernels_vs_reference PROPERTIES TIMEOUT 60)

add_executable(bench_kernels ${CMAKE_CURRENT_LIST_DIR}/bench_kernels.c)
target_link_libraries(bench_kernels PRIVATE motlib)
