# api/manifest.cmake: manifest parsing and strict validation (api/manifest.h; files by concern
# in api/manifest_parser.h), quantities (api/quantity.h) and cron checks (api/cron.h), all part
# of tide_api. manifest_spec_test.cc tests spec fields, manifest_test.cc the rest.
target_sources(tide_api PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/manifest.cc
  ${CMAKE_CURRENT_LIST_DIR}/manifest_spec.cc
  ${CMAKE_CURRENT_LIST_DIR}/manifest_fields.cc
  ${CMAKE_CURRENT_LIST_DIR}/manifest_reader.cc
  ${CMAKE_CURRENT_LIST_DIR}/manifest_files.cc
  ${CMAKE_CURRENT_LIST_DIR}/quantity.cc
  ${CMAKE_CURRENT_LIST_DIR}/cron.cc)

tide_add_test(quantity_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/quantity_test.cc ${CMAKE_CURRENT_LIST_DIR}/cron_test.cc
  LIBS tide_api)
tide_add_test(manifest_files_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/manifest_files_test.cc
  LIBS tide_api)
tide_add_test(manifest_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/manifest_test.cc ${CMAKE_CURRENT_LIST_DIR}/manifest_spec_test.cc
  LIBS tide_api)
# manifest_test also checks that docs/manifests.md's example and manifests/*.yaml are valid.
target_compile_definitions(manifest_test PRIVATE TIDE_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
target_sources(tide_api PRIVATE ${CMAKE_CURRENT_LIST_DIR}/user_spec.cc)
tide_add_test(user_spec_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/user_spec_test.cc LIBS tide_api)
target_sources(tide_api PRIVATE ${CMAKE_CURRENT_LIST_DIR}/private_dir.cc)
tide_add_test(private_dir_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/private_dir_test.cc LIBS tide_api)
