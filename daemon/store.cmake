# daemon/store.cmake: SQLite store, tokens/auth, scheduler (owned by the store unit).
target_sources(tide_daemon_core PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/sqlite_db.cc
  ${CMAKE_CURRENT_LIST_DIR}/store.cc
  ${CMAKE_CURRENT_LIST_DIR}/auth.cc
  ${CMAKE_CURRENT_LIST_DIR}/node_identity.cc
  ${CMAKE_CURRENT_LIST_DIR}/scheduler.cc
)
tide_add_test(store_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/store_test.cc LIBS tide_daemon_core)
tide_add_test(auth_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/auth_test.cc LIBS tide_daemon_core)
tide_add_test(node_identity_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/node_identity_test.cc
  LIBS tide_daemon_core)
tide_add_test(scheduler_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/scheduler_test.cc
  LIBS tide_daemon_core)
