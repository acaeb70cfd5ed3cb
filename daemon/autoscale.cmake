# daemon/autoscale.cmake: metrics registry, autoscaler decisions.
target_sources(tide_daemon_core PRIVATE metrics.cc)
target_sources(tide_daemon_core PRIVATE autoscaler.cc autoscaler_window.cc)
tide_add_test(autoscaler_test SOURCES autoscaler_test.cc LIBS tide_daemon_core)
