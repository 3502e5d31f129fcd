# The float64 reference checked against direct formulas, and compare_dump.py against dumps
# it must accept and reject. Needs no mot binary.
foreach(case bf16 llama3 rope attention rmsnorm causal dtypes compare)
  add_test(NAME reference_${case}
    COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_reference.py
            ${CMAKE_BINARY_DIR}/reference-test/${case} ${case})
  set_tests_properties(reference_${case} PROPERTIES LABELS "reference;python" TIMEOUT 120)
endforeach()
