# Layers point down and files form no circles (scripts/check_layers.py; docs/architecture.md,
# "Layers"): an include from a lower layer to a higher one, or a cycle of files through their
# headers and the functions they define, fails the build's tests.
add_test(NAME layers COMMAND ${MOT_PYTHON} ${CMAKE_SOURCE_DIR}/scripts/check_layers.py ${CMAKE_SOURCE_DIR})
set_tests_properties(layers PROPERTIES LABELS "lint;python" TIMEOUT 60)
