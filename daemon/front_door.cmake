# daemon/front_door.cmake: the REST API's public listener (slow-client protection).
target_sources(tide_daemon_core PRIVATE ${CMAKE_CURRENT_LIST_DIR}/front_door.cc)
tide_add_test(front_door_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/front_door_test.cc
  LIBS tide_daemon_core PkgConfig::HTTPLIB)
