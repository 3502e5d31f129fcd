# The CUDA quantized kernels' decoding and staging (kernels/cuda/quant_decode.h), run on the
# CPU against ops/ref_quant.c: needs no GPU, so it runs everywhere.
add_executable(test_quant_decode tests/cuda/test_quant_decode.c tests/ops/quant_blocks.c)
target_link_libraries(test_quant_decode PRIVATE motlib)
add_test(NAME cuda_quant_decode COMMAND test_quant_decode)

# CUDA kernels vs the CPU references: built whenever the CUDA backend is (so CI compiles it);
# run only where a GPU is present, otherwise reported as skipped (exit 77).
if(TARGET motcuda)
  add_executable(test_cuda_ops tests/cuda/test_cuda_ops.c tests/cuda/gpu_fixture.c)
  target_link_libraries(test_cuda_ops PRIVATE motcuda motlib)
  add_test(NAME cuda_ops COMMAND test_cuda_ops)
  set_tests_properties(cuda_ops PROPERTIES SKIP_RETURN_CODE 77)
  # The decode GEMV (kernels/cuda/matmul_gemv.cu) and exact GEMMs over f16/bf16 weights.
  add_executable(test_cuda_gemv tests/cuda/test_cuda_gemv.c tests/cuda/gpu_fixture.c tests/ops/quant_blocks.c)
  target_link_libraries(test_cuda_gemv PRIVATE motcuda motlib)
  add_test(NAME cuda_gemv COMMAND test_cuda_gemv)
  set_tests_properties(cuda_gemv PROPERTIES SKIP_RETURN_CODE 77 LABELS "gpu;cuda" TIMEOUT 300)
  # The training backward kernels (kernels/cuda/cuda_backward.h) vs the CPU ones.
  add_executable(test_cuda_backward tests/cuda/test_cuda_backward.c)
  target_link_libraries(test_cuda_backward PRIVATE motcuda motlib)
  add_test(NAME cuda_backward COMMAND test_cuda_backward)
  set_tests_properties(cuda_backward PROPERTIES SKIP_RETURN_CODE 77 LABELS "gpu;cuda;train" TIMEOUT 300)
endif()

# Plan ops through the real mot_gpu_api table (kernels/cuda/gpu_api_cuda.cu) vs the CPU.
if(TARGET motcuda)
  foreach(t test_cuda_plan_ops test_cuda_sample test_cuda_quant)
    add_executable(${t} tests/cuda/${t}.c tests/cuda/gpu_fixture.c tests/ops/quant_blocks.c)
    target_link_libraries(${t} PRIVATE motcuda motlib)
    string(REPLACE "test_" "" name ${t})
    add_test(NAME ${name} COMMAND ${t})
    set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77)
  endforeach()
  # the split-key decode attention with its separate combine kernel too (the default merges
  # in the last split block: docs/architecture.md)
  add_test(NAME cuda_plan_ops_combine_kernel COMMAND test_cuda_plan_ops)
  set_tests_properties(cuda_plan_ops_combine_kernel PROPERTIES SKIP_RETURN_CODE 77
                       ENVIRONMENT MOT_CUDA_ATTENTION_COMBINE=kernel)
endif()

# Whole runs, CUDA vs CPU: every logits row of the e2e-style models and MoT pools (f32 rel
# <= 1e-4; bf16/f16 <= 2e-2 and the same greedy tokens for 32 steps). Skipped without a GPU.
add_test(NAME cuda_vs_cpu
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/compare_backends.py $<TARGET_FILE:mot> ${CMAKE_BINARY_DIR}/cuda-vs-cpu)
set_tests_properties(cuda_vs_cpu PROPERTIES SKIP_RETURN_CODE 77 LABELS "cuda;python" TIMEOUT 900)

# Kernel launches per decode step (issue 16: <= 5 a layer with the fused ops), counted on the
# CUDA emulation: run by cuda_emu.suites (tests/tools/cuda_emu/run.sh suites), skipped elsewhere
# (a GPU cannot count them without a profiler).
add_test(NAME cuda_launch_counts
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/launch_counts.py --mot $<TARGET_FILE:mot>
          --work ${CMAKE_BINARY_DIR}/cuda-launch-counts)
set_tests_properties(cuda_launch_counts PROPERTIES SKIP_RETURN_CODE 77 LABELS "cuda;python" TIMEOUT 120)

# tests/ops/test_backend_ops.c's cases on the device (label gpu; skipped without a GPU).
if(TARGET motcuda)
  add_executable(test_backend_ops_cuda tests/ops/test_backend_ops.c tests/ops/backend_ops_cuda.c)
  target_link_libraries(test_backend_ops_cuda PRIVATE motcuda motlib)
  add_test(NAME ops.backend.cuda COMMAND test_backend_ops_cuda)
  set_tests_properties(ops.backend.cuda PROPERTIES SKIP_RETURN_CODE 77 LABELS "gpu;cuda" TIMEOUT 300)
endif()

# The same kernel tests (cuda_*, ops.backend.cuda) on the CPU emulation of the CUDA device
# (tests/tools/cuda_emu: kernels rebuilt with g++, threads as coroutines), so the kernels are
# checked on every machine, GPU or not; build/'s libmot.a is linked as is. Needs the CUDA
# headers (not the driver), g++ and x86-64 (the coroutine switch). Not under a sanitizer build
# (run.sh has its own EMU_ASAN=1). Label emu: `ctest -LE emu` leaves it out (~2.5 min on 2 cores).
# Skipped where an NVIDIA device is present (EMU_SKIP_ON_GPU): the real cuda_* tests run there.
find_program(MOT_GXX g++)
set(MOT_EMU_CUDA_INC /usr/local/cuda/include)
if(CUDAToolkit_INCLUDE_DIRS)
  list(GET CUDAToolkit_INCLUDE_DIRS 0 MOT_EMU_CUDA_INC)
endif()
if(MOT_GXX AND EXISTS ${MOT_EMU_CUDA_INC}/cuda_runtime.h AND CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64"
   AND NOT MOT_SANITIZE)
  add_test(NAME cuda_emu.kernels
    COMMAND env OUT=${CMAKE_BINARY_DIR}/cuda-emu EMU_LIBMOT=$<TARGET_FILE:motlib> CUDA_INC=${MOT_EMU_CUDA_INC}
            EMU_SKIP_ON_GPU=1 bash ${CMAKE_SOURCE_DIR}/tests/tools/cuda_emu/run.sh)
  set_tests_properties(cuda_emu.kernels PROPERTIES LABELS "emu" TIMEOUT 1800 RUN_SERIAL TRUE SKIP_RETURN_CODE 77)
  # mot itself on the emulated module (build/cuda-emu/libmot-cuda.so): the gpu/cuda-labelled
  # Python suites above (e2e_cuda_*, gguf_cuda_*, mot_e2e_cuda_*, train.grads_*_cuda,
  # cuda_vs_cpu) and cli_bad_inputs, run with --backend cuda (tests/tools/cuda_emu/suites.py).
  # Needs a mot with the module loader (motcuda built). Serial: the suites share the models and
  # work folders of their CPU twins (which RESOURCE_LOCK keeps apart elsewhere). ~4 min.
  if(TARGET motcuda)
    add_test(NAME cuda_emu.suites
      COMMAND env OUT=${CMAKE_BINARY_DIR}/cuda-emu BUILD=${CMAKE_BINARY_DIR} CUDA_INC=${MOT_EMU_CUDA_INC}
              EMU_SKIP_ON_GPU=1 bash ${CMAKE_SOURCE_DIR}/tests/tools/cuda_emu/run.sh suites)
    set_tests_properties(cuda_emu.suites PROPERTIES LABELS "emu" TIMEOUT 2400 RUN_SERIAL TRUE SKIP_RETURN_CODE 77)
  endif()
endif()
