# daemon/gateway.cmake: the request gateway (SPEC section 4), Asio/Beast, see docs/gateway.md.
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
# Load-test harness: the gateway alone in front of fixed upstreams (see docs/gateway.md).
add_executable(tide-gateway-bench gateway_bench.cc)
target_compile_options(tide-gateway-bench PRIVATE ${TIDE_WARNINGS})
target_link_libraries(tide-gateway-bench PRIVATE tide_daemon_core)
