# daemon/autoscale.cmake: metrics registry, autoscaler decisions.
target_sources(tide_daemon_core PRIVATE metrics.cc)
