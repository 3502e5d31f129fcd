# Schedule files: validation messages, application (pipelines may name one, flags win), and a
# `mot tune` run with a tiny budget whose output loads and runs.
add_test(NAME schedule_files
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_schedule.py $<TARGET_FILE:mot>
          ${CMAKE_BINARY_DIR}/sched-pool/hetero3_k3.yaml ${CMAKE_BINARY_DIR}/schedule-work)
set_tests_properties(schedule_files PROPERTIES FIXTURES_REQUIRED sched_pool LABELS "schedule;python" TIMEOUT 300)
