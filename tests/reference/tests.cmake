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

# The float64 training reference (SPEC 5): forward vs the inference reference, finite
# differences of every loss term, L_con with equal noise, AdamW vs a hand-written loop.
add_test(NAME reference_train
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_train_ref.py ${CMAKE_BINARY_DIR}/reference-test/train)
set_tests_properties(reference_train PROPERTIES LABELS "reference;python" TIMEOUT 120)
