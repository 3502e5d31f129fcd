# Soak (issue 20): 10,000 routed requests through the library in one process (tests/soak/
# soak.c) on the hetero3 pool (3 experts, top-2: the set and the primary change with the
# prompt); RSS after the last request within 1% of RSS after 1,000. Prints the RSS curve.
add_executable(soak ${CMAKE_CURRENT_LIST_DIR}/soak.c)
target_link_libraries(soak PRIVATE motlib)
add_test(NAME soak_pool
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/../tools/make_mot_pool.py --scenario hetero3 --weights python
          ${CMAKE_BINARY_DIR}/sched-pool)
set_tests_properties(soak_pool PROPERTIES FIXTURES_SETUP soak_pool LABELS "soak;python" TIMEOUT 300)
if(MOT_SANITIZE)
  # ASan's quarantine and shadow grow with the run: fewer requests, the curve unjudged; the
  # sanitizers (and LSan at exit) are the check.
  add_test(NAME soak COMMAND soak ${CMAKE_BINARY_DIR}/sched-pool/hetero3.yaml 1000 100 100 -1)
else()
  add_test(NAME soak COMMAND soak ${CMAKE_BINARY_DIR}/sched-pool/hetero3.yaml 10000 1000 500 1)
endif()
# Passive OpenMP waits: on a shared 2-core machine spinning threads made it 5x slower.
set_tests_properties(soak PROPERTIES FIXTURES_REQUIRED soak_pool LABELS soak TIMEOUT 600
                     ENVIRONMENT OMP_WAIT_POLICY=passive)
