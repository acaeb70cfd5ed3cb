# agent/runtime.cmake: talking to tided, the agent API, the tide-agent binary.
target_sources(tide_agent_core PRIVATE agent.cc agent_metrics.cc)
tide_add_test(agent_metrics_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/agent_metrics_test.cc
  LIBS tide_agent_core)
add_executable(tide-agent tide_agent_main.cc)
target_compile_options(tide-agent PRIVATE ${TIDE_WARNINGS})
target_link_libraries(tide-agent PRIVATE tide_agent_core CLI11::CLI11)
