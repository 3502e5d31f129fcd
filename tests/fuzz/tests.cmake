# Short libFuzzer runs of the parsers (ASan + UBSan; scripts/fuzz.sh, which also does long runs
# by hand). Skipped when clang's libFuzzer is missing.
add_test(NAME fuzz_gguf_short
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/run_short.sh gguf 30
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(fuzz_gguf_short PROPERTIES LABELS "fuzz" TIMEOUT 300 SKIP_RETURN_CODE 77)
