# Short libFuzzer runs of the parsers (ASan + UBSan; scripts/fuzz.sh, which also does long runs
# by hand): 30 s each, after replaying tests/fuzz/regressions/TARGET-*. Skipped when clang's
# libFuzzer is missing.
foreach(target gguf safetensors index config tokenizer pipeline schedule kld openai)
  add_test(NAME fuzz_${target}_short
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/run_short.sh ${target} 30
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(fuzz_${target}_short PROPERTIES LABELS "fuzz" TIMEOUT 300
    SKIP_RETURN_CODE 77)
endforeach()
