# agent/supervisor.cmake: probes, restart backoff, ports, instance env and the instance state
# machines (owned by the supervision unit).
target_sources(tide_agent_core PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/backoff.cc
  ${CMAKE_CURRENT_LIST_DIR}/port_allocator.cc
  ${CMAKE_CURRENT_LIST_DIR}/instance_env.cc
  ${CMAKE_CURRENT_LIST_DIR}/prober.cc
)
tide_add_test(backoff_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/backoff_test.cc LIBS tide_agent_core)
tide_add_test(port_allocator_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/port_allocator_test.cc
  LIBS tide_agent_core)
tide_add_test(instance_env_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/instance_env_test.cc
  LIBS tide_agent_core)
tide_add_test(prober_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/prober_test.cc LIBS tide_agent_core)
target_sources(tide_agent_core PRIVATE ${CMAKE_CURRENT_LIST_DIR}/supervisor.cc
  ${CMAKE_CURRENT_LIST_DIR}/state_store.cc)
tide_add_test(state_store_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/state_store_test.cc
  LIBS tide_agent_core)
tide_add_test(supervisor_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/supervisor_test.cc
  LIBS tide_agent_core)
