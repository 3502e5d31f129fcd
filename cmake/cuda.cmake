# CUDA backend (kernels/cuda): built when nvcc and cuBLAS are found; the CPU build never
# needs it. Architectures default to Ampere and Hopper (A100, H100/H200).
if(MOT_CUDA)
  # The toolkit's usual home, for shells whose PATH lacks it (CI runs with a plain environment).
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  find_package(CUDAToolkit QUIET)
  if(CMAKE_CUDA_COMPILER AND CUDAToolkit_FOUND AND TARGET CUDA::cublas)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 80 90)
    endif()
    enable_language(CUDA)
    file(GLOB MOT_CUDA_SOURCES CONFIGURE_DEPENDS kernels/cuda/*.cu)
    # Compiled once (position-independent) into two libraries:
    add_library(motcuda_objects OBJECT ${MOT_CUDA_SOURCES})
    set_target_properties(motcuda_objects PROPERTIES POSITION_INDEPENDENT_CODE ON)
    target_include_directories(motcuda_objects PUBLIC include ${CMAKE_CURRENT_SOURCE_DIR})
    target_link_libraries(motcuda_objects PUBLIC CUDA::cudart CUDA::cublas)
    target_compile_options(motcuda_objects PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-O3>)
    # - libmot-cuda.so, which mot loads with dlopen on --backend cuda (executor/cuda_module.c).
    #   Its mot_* references (errors, names) resolve against the executable, which exports
    #   its symbols (ENABLE_EXPORTS in CMakeLists.txt), so there is one error state.
    add_library(motcuda_module MODULE $<TARGET_OBJECTS:motcuda_objects>)
    set_target_properties(motcuda_module PROPERTIES OUTPUT_NAME mot-cuda)
    target_link_libraries(motcuda_module PRIVATE CUDA::cudart CUDA::cublas)
    target_compile_definitions(motlib PRIVATE MOT_HAVE_CUDA_MODULE=1)
    # - motcuda, linked statically into the GPU tests (tests/cuda), which call it directly.
    add_library(motcuda STATIC $<TARGET_OBJECTS:motcuda_objects>)
    target_include_directories(motcuda PUBLIC include ${CMAKE_CURRENT_SOURCE_DIR})
    target_link_libraries(motcuda PUBLIC CUDA::cudart CUDA::cublas motlib)
    message(STATUS "mot: CUDA backend enabled (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, archs ${CMAKE_CUDA_ARCHITECTURES})")
  else()
    message(STATUS "mot: CUDA backend disabled (nvcc or cuBLAS not found)")
  endif()
endif()
