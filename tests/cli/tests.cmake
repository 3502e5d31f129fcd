# The command line: every bad input gives one "error:" line and a non-zero exit.
add_test(NAME cli_bad_inputs
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_bad_inputs.py $<TARGET_FILE:mot>
          ${CMAKE_BINARY_DIR}/cli-bad-inputs)
set_tests_properties(cli_bad_inputs PROPERTIES LABELS "cli;python" TIMEOUT 300)
add_test(NAME cli_pipeline_inputs
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_pipeline_inputs.py $<TARGET_FILE:mot>
          ${CMAKE_BINARY_DIR}/cli-pipeline-inputs)
set_tests_properties(cli_pipeline_inputs PROPERTIES LABELS "cli;python" TIMEOUT 300)
add_test(NAME cli_peak_rss
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_peak_rss.py $<TARGET_FILE:mot>
          ${CMAKE_SOURCE_DIR}/tests/tools/make_model.py ${CMAKE_BINARY_DIR}/test-models)
set_tests_properties(cli_peak_rss PROPERTIES LABELS "cli;python;rss" TIMEOUT 300)
# Peak RSS under ASan counts its shadow memory and quarantine: not run in sanitized builds.
if(MOT_SANITIZE)
  set_tests_properties(cli_peak_rss PROPERTIES DISABLED TRUE)
endif()
# `cmake --install` gives a working mot (and the CUDA backend where mot looks for it).
add_test(NAME cli_install
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_install.py ${CMAKE_COMMAND} ${CMAKE_BINARY_DIR}
          $<TARGET_FILE:mot> ${CMAKE_SOURCE_DIR}/tests/tools/make_model.py ${CMAKE_BINARY_DIR}/cli-install)
set_tests_properties(cli_install PROPERTIES LABELS "cli;python" TIMEOUT 300)
# `mot bench -d`: runs after a filled cache, named and sized like llama-bench's depth.
add_test(NAME cli_bench_depth
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_bench_depth.py $<TARGET_FILE:mot>
          ${CMAKE_SOURCE_DIR}/tests/tools/make_model.py ${CMAKE_BINARY_DIR}/cli-bench-depth)
set_tests_properties(cli_bench_depth PROPERTIES LABELS "cli;python" TIMEOUT 300)
# Chat templates: --chat / --chat-template / --system and a pipeline expert's chat keys.
add_test(NAME cli_chat
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_chat.py $<TARGET_FILE:mot> ${CMAKE_BINARY_DIR}/cli-chat)
set_tests_properties(cli_chat PROPERTIES LABELS "cli;python;chat" TIMEOUT 300)
# Resource limits (threads, config sizes, the context) and NaN/inf weights or router scores.
add_test(NAME cli_limits
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_limits.py $<TARGET_FILE:mot> ${CMAKE_BINARY_DIR}/cli-limits)
set_tests_properties(cli_limits PROPERTIES LABELS "cli;python" TIMEOUT 300)
# Output files and stdout: temp + fsync + rename, symlinks/directories/devices refused unless
# --force, a failed write (a full disk, > /dev/full) is an error (issue 20).
add_test(NAME cli_outputs
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_outputs.py $<TARGET_FILE:mot> ${CMAKE_BINARY_DIR}/cli-outputs)
set_tests_properties(cli_outputs PROPERTIES LABELS "cli;python" TIMEOUT 300)
# mot run -m --conversation: turns from stdin against a conversation simulated with jinja2,
# HF tokenizers and the float64 reference (answers, the last turn's dump, the cache's reuse).
add_test(NAME cli_conversation
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_conversation.py $<TARGET_FILE:mot>
          ${CMAKE_BINARY_DIR}/cli-conversation)
set_tests_properties(cli_conversation PROPERTIES LABELS "cli;python;chat" TIMEOUT 300)
add_test(NAME cli_conversation_cuda
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_conversation.py $<TARGET_FILE:mot>
          ${CMAKE_BINARY_DIR}/cli-conversation-cuda --backend cuda)
set_tests_properties(cli_conversation_cuda PROPERTIES LABELS "cli;python;chat;cuda;gpu" TIMEOUT 300
                     SKIP_RETURN_CODE 77)
# --ignore-eos: generation goes on past EOS (a -m run and a pipeline); refused with -cnv.
add_test(NAME cli_ignore_eos
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_ignore_eos.py $<TARGET_FILE:mot> ${CMAKE_BINARY_DIR}/cli-ignore-eos)
set_tests_properties(cli_ignore_eos PROPERTIES LABELS "cli;python" TIMEOUT 300)
# llama.cpp's repetition penalties (--repeat-penalty, --repeat-last-n, --presence-penalty,
# --frequency-penalty): each greedy step of a dump is the arg-max of its penalized logits.
add_test(NAME cli_penalties
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_penalties.py $<TARGET_FILE:mot> ${CMAKE_BINARY_DIR}/cli-penalties)
set_tests_properties(cli_penalties PROPERTIES LABELS "cli;python" TIMEOUT 300)
add_test(NAME cli_penalties_cuda
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_penalties.py $<TARGET_FILE:mot>
          ${CMAKE_BINARY_DIR}/cli-penalties-cuda --backend cuda)
set_tests_properties(cli_penalties_cuda PROPERTIES LABELS "cli;python;cuda;gpu" TIMEOUT 300 SKIP_RETURN_CODE 77)
# mot perplexity (llama-perplexity's computation): chunks, per-token NLLs and the printed
# figures against the float64 reference (HF f32 and f16, a Q4_0 GGUF; passes cut three ways).
add_test(NAME cli_perplexity
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_perplexity.py $<TARGET_FILE:mot>
          ${CMAKE_BINARY_DIR}/cli-perplexity)
set_tests_properties(cli_perplexity PROPERTIES LABELS "cli;python;e2e" TIMEOUT 300)
add_test(NAME cli_perplexity_cuda
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_perplexity.py $<TARGET_FILE:mot>
          ${CMAKE_BINARY_DIR}/cli-perplexity-cuda --backend cuda)
set_tests_properties(cli_perplexity_cuda PROPERTIES LABELS "cli;python;e2e;cuda;gpu" TIMEOUT 300
                     SKIP_RETURN_CODE 77)
# mot serve (OpenAI-compatible HTTP): every answer against `mot run` on the same model, the
# cache reused between requests, per-request sampling, stop strings, streaming, bad requests.
add_test(NAME cli_serve
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_serve.py $<TARGET_FILE:mot> ${CMAKE_BINARY_DIR}/cli-serve)
set_tests_properties(cli_serve PROPERTIES LABELS "cli;python;server" TIMEOUT 300)
add_test(NAME cli_serve_cuda
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_serve.py $<TARGET_FILE:mot> ${CMAKE_BINARY_DIR}/cli-serve-cuda
          --backend cuda)
set_tests_properties(cli_serve_cuda PROPERTIES LABELS "cli;python;server;cuda;gpu" TIMEOUT 300 SKIP_RETURN_CODE 77)
# mot serve PIPELINE.yaml: MoT behind the OpenAI API, every answer against `mot run` on the
# same pipeline (routing, chat experts, streaming, a seeded draw, the contexts' limit).
add_test(NAME cli_serve_pipeline
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_serve_pipeline.py $<TARGET_FILE:mot>
          ${CMAKE_BINARY_DIR}/cli-serve-pipeline)
set_tests_properties(cli_serve_pipeline PROPERTIES LABELS "cli;python;server;mot" TIMEOUT 300)
add_test(NAME cli_serve_pipeline_cuda
  COMMAND ${MOT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_serve_pipeline.py $<TARGET_FILE:mot>
          ${CMAKE_BINARY_DIR}/cli-serve-pipeline-cuda --backend cuda)
set_tests_properties(cli_serve_pipeline_cuda PROPERTIES LABELS "cli;python;server;mot;cuda;gpu" TIMEOUT 300
                     SKIP_RETURN_CODE 77)
