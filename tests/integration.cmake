# tests/integration.cmake: the harness and the integration/fault tests (real processes).
add_library(tide_test_harness STATIC harness.cc)
target_include_directories(tide_test_harness PUBLIC ${PROJECT_SOURCE_DIR})
target_compile_options(tide_test_harness PRIVATE ${TIDE_WARNINGS})
target_link_libraries(tide_test_harness PUBLIC PkgConfig::HTTPLIB nlohmann_json::nlohmann_json
  Threads::Threads)
target_compile_definitions(tide_test_harness PRIVATE
  TIDE_TIDED_BIN="$<TARGET_FILE:tided>"
  TIDE_AGENT_BIN="$<TARGET_FILE:tide-agent>"
  TIDE_TIDECTL_BIN="${PROJECT_BINARY_DIR}/cli/tidectl"
  TIDE_TESTAPP_BIN="$<TARGET_FILE:tide-testapp>")

# tide_add_integration_test(NAME SOURCES...): runs serially with the binaries built first.
function(tide_add_integration_test name)
  tide_add_test(${name} SOURCES ${ARGN} LIBS tide_test_harness LABELS integration)
  add_dependencies(${name} tided tide-agent tide-testapp)
endfunction()
tide_add_integration_test(core_integration_test core_test.cc)
tide_add_integration_test(function_integration_test function_test.cc)
tide_add_integration_test(coldstart_phases_integration_test coldstart_phases_test.cc)
tide_add_integration_test(autoscale_integration_test autoscale_test.cc)
tide_add_integration_test(prometheus_integration_test prometheus_test.cc)
target_compile_definitions(prometheus_integration_test PRIVATE
  TIDE_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
target_sources(tide_test_harness PRIVATE harness_extra.cc)
tide_add_integration_test(fault_integration_test fault_test.cc)
tide_add_integration_test(rollout_integration_test rollout_test.cc)
tide_add_integration_test(tidectl_integration_test tidectl_test.cc)
add_dependencies(tidectl_integration_test tidectl)
tide_add_integration_test(identity_integration_test identity_test.cc)
tide_add_integration_test(metrics_labels_integration_test metrics_labels_test.cc)
tide_add_integration_test(gateway_health_integration_test gateway_health_test.cc)
tide_add_integration_test(liveness_integration_test liveness_test.cc)
tide_add_integration_test(agent_channel_integration_test agent_channel_test.cc)
tide_add_integration_test(privilege_integration_test privilege_test.cc)
