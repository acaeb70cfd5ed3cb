# daemon/control.cmake: cluster state, control plane, REST API, the tided binary.
target_sources(tide_daemon_core PRIVATE cluster_state.cc api_server.cc apply.cc invoker.cc
  control_plane.cc control_plane_instances.cc control_plane_scaling.cc control_plane_status.cc)
add_executable(tided tided_main.cc)
target_compile_options(tided PRIVATE ${TIDE_WARNINGS})
target_link_libraries(tided PRIVATE tide_daemon_core tide_agent_core CLI11::CLI11)
tide_add_test(api_route_label_test SOURCES api_route_label_test.cc LIBS tide_daemon_core)
