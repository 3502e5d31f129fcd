# Pipeline files (graph/): parsing, validation with file:line:column errors, placement, the
# expanded form's round trip and dot output; and `mot graph` on expert folders that hold only
# a config.json.
add_executable(test_pipeline ${CMAKE_CURRENT_LIST_DIR}/test_pipeline.c
               ${CMAKE_SOURCE_DIR}/tests/loading/test_support.c)
target_link_libraries(test_pipeline PRIVATE motlib)
add_test(NAME pipeline.files COMMAND test_pipeline)
set_tests_properties(pipeline.files PROPERTIES LABELS pipeline TIMEOUT 30)

add_test(NAME pipeline.cmd_graph
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_cmd_graph.py $<TARGET_FILE:mot>
          ${CMAKE_BINARY_DIR}/pipeline-cmd-graph)
set_tests_properties(pipeline.cmd_graph PROPERTIES LABELS "pipeline;python" TIMEOUT 60)

# Hostile pipeline files (deep nesting, alias bombs, oversized files, FIFOs): refused fast.
add_test(NAME pipeline.yaml_limits
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_yaml_limits.py $<TARGET_FILE:mot>
          ${CMAKE_BINARY_DIR}/pipeline-yaml-limits)
set_tests_properties(pipeline.yaml_limits PROPERTIES LABELS "pipeline;python" TIMEOUT 120)
