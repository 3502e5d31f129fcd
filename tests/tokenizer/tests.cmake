# Tokenizer tests: fixed expectations, an oracle comparison against HF `tokenizers`, bad inputs.
add_executable(mot-tok ${CMAKE_CURRENT_LIST_DIR}/tok_cli.c)
target_link_libraries(mot-tok PRIVATE motlib)

add_executable(test_tokenizer_fixed ${CMAKE_CURRENT_LIST_DIR}/test_tokenizer_fixed.c)
target_link_libraries(test_tokenizer_fixed PRIVATE motlib)
add_test(NAME tokenizer.fixed
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/run_fixed.py $<TARGET_FILE:test_tokenizer_fixed>
          ${CMAKE_CURRENT_BINARY_DIR}/tok_fixed)

add_executable(test_tokenizer_errors ${CMAKE_CURRENT_LIST_DIR}/test_tokenizer_errors.c)
target_link_libraries(test_tokenizer_errors PRIVATE motlib)
add_test(NAME tokenizer.errors
  COMMAND test_tokenizer_errors ${CMAKE_CURRENT_BINARY_DIR}/tok_errors)

add_test(NAME tokenizer.oracle
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/oracle_test.py $<TARGET_FILE:mot-tok>
          ${CMAKE_CURRENT_BINARY_DIR}/tok_oracle)
set_tests_properties(tokenizer.oracle PROPERTIES TIMEOUT 120)
