# The float64 reference checked against direct formulas, and compare_dump.py against dumps
# it must accept and reject. Needs no mot binary. Grouped so torch is imported few times.
set(MOT_REFERENCE_GROUPS
  "math:bf16 llama3 rope attention rmsnorm"
  "models:causal dtypes"
  "compare:compare")
foreach(group ${MOT_REFERENCE_GROUPS})
  string(REPLACE ":" ";" parts "${group}")
  list(GET parts 0 group_name)
  list(GET parts 1 group_cases)
  separate_arguments(group_cases)
  add_test(NAME reference_${group_name}
    COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_reference.py
            ${CMAKE_BINARY_DIR}/reference-test/${group_name} ${group_cases})
  set_tests_properties(reference_${group_name} PROPERTIES LABELS "reference;python" TIMEOUT 120)
endforeach()
