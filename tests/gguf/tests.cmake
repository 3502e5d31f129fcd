# GGUF (SPEC 2.4): tiny HF checkpoints converted to GGUF by tests/tools/make_gguf.py, run with
# `mot run -m FILE.gguf --dump` and compared with the float64 reference over the same file
# (tests/reference/gguf_ref.py); malformed files (tests/tools/malformed_gguf.py); the real
# SmolLM2-135M-Instruct Q4_1 (scripts/fetch-models.sh; skipped when absent).
set(MOT_GGUF_DIR ${CMAKE_CURRENT_LIST_DIR})
set(MOT_GGUF_MODELS ${CMAKE_BINARY_DIR}/test-models/gguf)
set(MOT_GGUF_WORK ${CMAKE_BINARY_DIR}/gguf-dumps)
set(MOT_GGUF_REAL ${CMAKE_SOURCE_DIR}/models/SmolLM2-135M-Instruct.Q4_1.gguf)

# The test tools themselves, no mot binary: writer -> reference round trip, malformed files.
foreach(group exact quant config tokenizer compare)
  add_test(NAME gguf_tools_${group}
    COMMAND ${MOT_PYTHON} ${MOT_GGUF_DIR}/test_gguf_roundtrip.py
            ${CMAKE_BINARY_DIR}/gguf-tools-test/${group} ${group})
  set_tests_properties(gguf_tools_${group} PROPERTIES LABELS "gguf;reference;python" TIMEOUT 180)
endforeach()
add_test(NAME gguf_malformed_files
  COMMAND ${MOT_PYTHON} ${MOT_GGUF_DIR}/test_malformed.py --self-check ${CMAKE_BINARY_DIR}/gguf-malformed-files)
set_tests_properties(gguf_malformed_files PROPERTIES LABELS "gguf;python" TIMEOUT 120)

# mot on them.
foreach(case f32 f16 bf16 q8_0 q4_0 q4_1 q4_k q5_k q6_k q5_0 q5_1 q2_k q3_k iq4_nl iq4_xs
             q8_0_sp_tied q4_k_sp_tied f16_metaspace mixed mixed_sp_tied mixed_q3_k mixed_q2_k_sp_tied
             q8_0_head_dim f32_rope_llama3 q8_0_rope_linear q8_0_mistral_window)
  add_test(NAME gguf_e2e_${case}
    COMMAND ${MOT_PYTHON} ${MOT_GGUF_DIR}/run_gguf_case.py --mot $<TARGET_FILE:mot>
            --models ${MOT_GGUF_MODELS} --work ${MOT_GGUF_WORK} --backend cpu ${case})
  # RESOURCE_LOCK: gguf_cuda_${case} below makes the same files
  set_tests_properties(gguf_e2e_${case} PROPERTIES LABELS "gguf;e2e;python" TIMEOUT 180
                       RESOURCE_LOCK gguf_${case})
endforeach()

# The cases again with --backend cuda (kernels/cuda/quant.cu: the decode GEMV, the prefill's
# dequantized tiles + SGEMM, quantized embedding rows) against the same float64 reference:
# quantized and F32 <= 1e-4, F16/BF16 to SPEC 1.7's fast bounds. Skipped without a CUDA device.
foreach(case f32 f16 bf16 q8_0 q4_0 q4_1 q4_k q5_k q6_k q5_0 q5_1 q2_k q3_k iq4_nl iq4_xs
             q4_k_sp_tied mixed mixed_sp_tied mixed_q3_k mixed_q2_k_sp_tied)
  add_test(NAME gguf_cuda_${case}
    COMMAND ${MOT_PYTHON} ${MOT_GGUF_DIR}/run_gguf_case.py --mot $<TARGET_FILE:mot>
            --models ${MOT_GGUF_MODELS} --work ${MOT_GGUF_WORK}/cuda --backend cuda ${case})
  set_tests_properties(gguf_cuda_${case} PROPERTIES LABELS "gguf;e2e;cuda;gpu;python" TIMEOUT 180
                       SKIP_RETURN_CODE 77 RESOURCE_LOCK gguf_${case})
endforeach()

# precision: fast (int8 activations against the quantized weights, docs/schedules.md): its own
# bound, 5e-2 of max|ref| per logits row and for the greedy margin. Measured when it was set
# (these tiny random-weight models, 16 steps): Q4_0 1.7e-2, Q8_0 1.4e-2, Q4_1 1.4e-2, Q4_K
# 2.6e-2, Q5_K 3.0e-2, Q6_K 2.8e-2, mixed 2.6e-2; the greedy runs that left the reference's
# arg-max did so at margins of 0.1-1.4% of max|ref|. The exact runs of the same files: <= 2e-6.
# The types added later: Q5_0 1.8e-2, Q5_1 1.7e-2, Q2_K 2.4e-2, Q3_K 2.5e-2, IQ4_NL 1.5e-2,
# IQ4_XS 2.5e-2, mixed_q3_k 2.5e-2 (exact: <= 1.5e-6).
foreach(case q8_0 q4_0 q4_1 q4_k q5_k q6_k mixed q5_0 q5_1 q2_k q3_k iq4_nl iq4_xs mixed_q3_k)
  add_test(NAME gguf_fast_${case}
    COMMAND ${MOT_PYTHON} ${MOT_GGUF_DIR}/run_gguf_case.py --mot $<TARGET_FILE:mot>
            --models ${MOT_GGUF_MODELS} --work ${MOT_GGUF_WORK} --precision fast --tol 5e-2 ${case})
  set_tests_properties(gguf_fast_${case} PROPERTIES LABELS "gguf;e2e;python" TIMEOUT 180
                       RESOURCE_LOCK gguf_${case})
endforeach()

# precision: fast on CUDA: prefill GEMMs over quantized weights on bf16 tiles and the tensor
# cores with x in bf16 (kernels/cuda/matmul.cu); decode's GEMVs keep f32 x. SPEC 1.7's bf16
# bound, 2e-2, per logits row and for the greedy margin. Skipped without a CUDA device. On the
# CPU emulation of the kernels (tests/tools/cuda_emu) the worst row, the prompt's last, was
# 5.6e-3 (Q4_0) to 8.7e-3 (mixed); the exact runs of the same files <= 2e-6.
foreach(case q8_0 q4_0 q4_k q6_k mixed)
  add_test(NAME gguf_cuda_fast_${case}
    COMMAND ${MOT_PYTHON} ${MOT_GGUF_DIR}/run_gguf_case.py --mot $<TARGET_FILE:mot>
            --models ${MOT_GGUF_MODELS} --work ${MOT_GGUF_WORK}/cuda --backend cuda --precision fast --tol 2e-2
            ${case})
  set_tests_properties(gguf_cuda_fast_${case} PROPERTIES LABELS "gguf;e2e;cuda;gpu;python" TIMEOUT 180
                       SKIP_RETURN_CODE 77 RESOURCE_LOCK gguf_${case})
endforeach()

add_test(NAME gguf_malformed_mot
  COMMAND ${MOT_PYTHON} ${MOT_GGUF_DIR}/test_malformed.py --mot $<TARGET_FILE:mot>
          ${CMAKE_BINARY_DIR}/gguf-malformed-mot)
set_tests_properties(gguf_malformed_mot PROPERTIES LABELS "gguf;cli;python" TIMEOUT 300)

foreach(test greedy chat conversation perplexity serve)
  add_test(NAME gguf_smollm2_${test}
    COMMAND ${MOT_PYTHON} ${MOT_GGUF_DIR}/run_real_model.py --mot $<TARGET_FILE:mot>
            --model ${MOT_GGUF_REAL} --work ${MOT_GGUF_WORK} ${test})
  set_tests_properties(gguf_smollm2_${test} PROPERTIES LABELS "gguf;e2e;python"
                       TIMEOUT 600 SKIP_RETURN_CODE 77)
endforeach()

# Quantized stays quantized: peak RSS of a real-model run within file + KV + 10%.
add_test(NAME gguf_smollm2_rss
  COMMAND ${MOT_PYTHON} ${MOT_GGUF_DIR}/test_gguf_rss.py $<TARGET_FILE:mot> ${MOT_GGUF_REAL})
set_tests_properties(gguf_smollm2_rss PROPERTIES LABELS "gguf;cli;python;rss" TIMEOUT 300 SKIP_RETURN_CODE 77)
# Peak RSS under ASan counts its shadow memory and quarantine: not run in sanitized builds.
if(MOT_SANITIZE)
  set_tests_properties(gguf_smollm2_rss PROPERTIES DISABLED TRUE)
endif()
