# Checkpoint loading: safetensors (one file, sharded, writing, damaged headers) and config.json.
set(MOT_LOADING_TESTS test_safetensors_file test_safetensors_dir test_safetensors_fuzz test_config)
foreach(name ${MOT_LOADING_TESTS})
  add_executable(${name} tests/loading/${name}.c tests/loading/test_support.c)
  target_link_libraries(${name} PRIVATE motlib)
  add_test(NAME loading.${name} COMMAND ${name})
  set_tests_properties(loading.${name} PROPERTIES LABELS loading TIMEOUT 60)
endforeach()
