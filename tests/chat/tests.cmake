# Chat templates (tokenizer/chat_format.c): detection on real templates' texts and the
# rendered text, against fixed strings and against Jinja (jinja2) rendering the fixtures.
add_executable(test_chat_template ${CMAKE_CURRENT_LIST_DIR}/test_chat_template.c)
target_link_libraries(test_chat_template PRIVATE motlib)
add_test(NAME chat.templates COMMAND test_chat_template ${CMAKE_CURRENT_LIST_DIR}/fixtures)
set_tests_properties(chat.templates PROPERTIES LABELS chat TIMEOUT 30)

add_executable(mot-chat-render ${CMAKE_CURRENT_LIST_DIR}/chat_render.c)
target_link_libraries(mot-chat-render PRIVATE motlib)
add_test(NAME chat.oracle
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/oracle_test.py $<TARGET_FILE:mot-chat-render>
          ${CMAKE_CURRENT_LIST_DIR}/fixtures)
set_tests_properties(chat.oracle PROPERTIES LABELS "chat;python" TIMEOUT 120)
