# daemon/gateway.cmake: the request gateway (docs/gateway.md), Asio/Beast.
target_sources(tide_daemon_core PRIVATE
  gateway.cc
  gateway_http.cc
  gateway_session.cc
  gateway_state.cc
)
tide_add_test(gateway_test SOURCES gateway_test.cc LIBS tide_daemon_core PkgConfig::HTTPLIB)
add_dependencies(gateway_test tide-testapp)
target_compile_definitions(gateway_test PRIVATE TIDE_TESTAPP_PATH="$<TARGET_FILE:tide-testapp>")
# The route table alone (no sockets): the decision unit scripts/mutate.sh mutates.
tide_add_test(gateway_state_test SOURCES gateway_state_test.cc LIBS tide_daemon_core)
# The cold-start phase metric of the route table, on a fake clock.
tide_add_test(cold_start_phases_test SOURCES cold_start_phases_test.cc LIBS tide_daemon_core)
# Load-test harness: the gateway alone in front of fixed upstreams (see docs/gateway.md).
add_executable(tide-gateway-bench gateway_bench.cc)
target_compile_options(tide-gateway-bench PRIVATE ${TIDE_WARNINGS})
target_link_libraries(tide-gateway-bench PRIVATE tide_daemon_core)
tide_add_test(gateway_rules_test SOURCES gateway_rules_test.cc LIBS tide_daemon_core)
# Hostile clients and failing instances against a real gateway (issues 11 and 15).
tide_add_test(gateway_edge_test SOURCES gateway_edge_test.cc LIBS tide_daemon_core PkgConfig::HTTPLIB)
