# MoT end-to-end (SPEC section 1): a pool of tiny heterogeneous experts (tests/tools/
# make_mot_pool.py, cached in mot-pool/), MoT weights from `mot init` or Python,
# `mot run PIPELINE --dump`, checked against the float64 reference (tests/reference/mot_ref.py).
set(MOT_MOT_E2E_DIR ${CMAKE_CURRENT_LIST_DIR})
set(MOT_MOT_POOL ${CMAKE_BINARY_DIR}/mot-pool)

# The reference itself, without the mot binary.
add_test(NAME mot_reference
  COMMAND ${MOT_PYTHON} ${MOT_MOT_E2E_DIR}/test_mot_ref.py ${MOT_MOT_POOL}
          ${CMAKE_BINARY_DIR}/mot-reference-test)
set_tests_properties(mot_reference PROPERTIES LABELS "mot_e2e;reference;python" TIMEOUT 180)

foreach(case hetero_k2 hetero_k3_f16 init_norm_biases_bf16 k1 uniform_q3 shallow intermediate
             deep explicit norm_bias_f16 norm_only_bf16 forced drop_primary eos_death
             template_lengths sampled demo gguf_experts graph_merged
             graph_no_interaction graph_listener graph_two_queries)
  add_test(NAME mot_e2e_${case}
    COMMAND ${MOT_PYTHON} ${MOT_MOT_E2E_DIR}/run_mot_case.py --mot $<TARGET_FILE:mot>
            --pool ${MOT_MOT_POOL} --work ${CMAKE_BINARY_DIR}/mot-e2e --backend cpu ${case})
  set_tests_properties(mot_e2e_${case} PROPERTIES LABELS "mot_e2e;python" TIMEOUT 180)
  # The same case on CUDA, held to SPEC 1.7's bound for the pool's dtypes; skipped without a device.
  add_test(NAME mot_e2e_cuda_${case}
    COMMAND ${MOT_PYTHON} ${MOT_MOT_E2E_DIR}/run_mot_case.py --mot $<TARGET_FILE:mot>
            --pool ${MOT_MOT_POOL} --work ${CMAKE_BINARY_DIR}/mot-e2e --backend cuda ${case})
  set_tests_properties(mot_e2e_cuda_${case} PROPERTIES LABELS "mot_e2e;python;gpu" TIMEOUT 180
                       SKIP_RETURN_CODE 77)
endforeach()
