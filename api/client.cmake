# api/client.cmake: the REST client (api/client.h), part of tide_api.
target_sources(tide_api PRIVATE ${CMAKE_CURRENT_LIST_DIR}/client.cc)

tide_add_test(client_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/client_test.cc
  LIBS tide_api)
