# Checkpoint loading: safetensors (one file, sharded, writing, damaged headers), GGUF (valid,
# one malformation at a time, random damage) and config.json.
set(MOT_LOADING_TESTS test_safetensors_file test_safetensors_dir test_safetensors_fuzz test_config
    test_gguf_file test_gguf_fuzz)
foreach(name ${MOT_LOADING_TESTS})
  add_executable(${name} tests/loading/${name}.c tests/loading/test_support.c tests/loading/gguf_builder.c)
  target_link_libraries(${name} PRIVATE motlib)
  add_test(NAME loading.${name} COMMAND ${name})
  set_tests_properties(loading.${name} PROPERTIES LABELS loading TIMEOUT 60)
endforeach()
