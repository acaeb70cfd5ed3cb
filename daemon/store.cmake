#daemon / store.cmake : SQLite store, tokens / auth, scheduler(owned by the store unit).
target_sources(tide_daemon_core PRIVATE ${CMAKE_CURRENT_LIST_DIR} /
               sqlite_db.cc ${CMAKE_CURRENT_LIST_DIR} / store.cc)
    tide_add_test(store_test SOURCES ${CMAKE_CURRENT_LIST_DIR} /
                  store_test.cc LIBS tide_daemon_core)
