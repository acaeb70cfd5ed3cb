# agent/runtime.cmake: talking to tided, the agent API, the tide-agent binary.
target_sources(tide_agent_core PRIVATE agent.cc)
add_executable(tide-agent tide_agent_main.cc)
target_compile_options(tide-agent PRIVATE ${TIDE_WARNINGS})
target_link_libraries(tide-agent PRIVATE tide_agent_core CLI11::CLI11)
