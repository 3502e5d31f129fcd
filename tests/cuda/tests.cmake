# CUDA kernels vs the CPU references: built whenever the CUDA backend is (so CI compiles it);
# run only where a GPU is present, otherwise reported as skipped (exit 77).
if(TARGET motcuda)
  add_executable(test_cuda_ops tests/cuda/test_cuda_ops.c)
  target_link_libraries(test_cuda_ops PRIVATE motcuda motlib)
  add_test(NAME cuda_ops COMMAND test_cuda_ops)
  set_tests_properties(cuda_ops PROPERTIES SKIP_RETURN_CODE 77)
endif()
