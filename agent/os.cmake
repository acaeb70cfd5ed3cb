# agent/os.cmake: the agent's operating-system layer (launcher, limits, /proc, log files).
target_sources(tide_agent_core PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/process_launcher.cc
  ${CMAKE_CURRENT_LIST_DIR}/spawn.cc
  ${CMAKE_CURRENT_LIST_DIR}/run_as.cc
  ${CMAKE_CURRENT_LIST_DIR}/exit_watcher.cc
  ${CMAKE_CURRENT_LIST_DIR}/limits.cc
  ${CMAKE_CURRENT_LIST_DIR}/proc_stats.cc
  ${CMAKE_CURRENT_LIST_DIR}/log_files.cc)

tide_add_test(proc_stats_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/proc_stats_test.cc
  LIBS tide_agent_core)
tide_add_test(limits_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/limits_test.cc
  LIBS tide_agent_core)
tide_add_test(log_files_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/log_files_test.cc
  LIBS tide_agent_core)
tide_add_test(process_launcher_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/process_launcher_test.cc
  LIBS tide_agent_core)
tide_add_test(exit_watcher_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/exit_watcher_test.cc
  LIBS tide_agent_core)
tide_add_test(run_as_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/run_as_test.cc LIBS tide_agent_core)
