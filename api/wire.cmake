# api/wire.cmake: safe decoding of REST API bodies (api/wire.h), part of tide_api, and the fuzz
# targets of tests/fuzz (see docs/fuzzing.md).
option(TIDE_FUZZ "Build libFuzzer binaries (clang only; use a separate build dir)" OFF)

target_sources(tide_api PRIVATE ${CMAKE_CURRENT_LIST_DIR}/wire.cc)
tide_add_test(wire_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/wire_test.cc LIBS tide_api)

# TIDE_WARNINGS (root CMakeLists.txt) holds GCC-only -Wno-* flags that clang rejects under -Werror.
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  target_compile_options(tide_api PRIVATE -Wno-unknown-warning-option)
endif()

if(TIDE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "TIDE_FUZZ=ON needs clang: CC=clang CXX=clang++ cmake -S . -B build-fuzz "
                        "-DTIDE_FUZZ=ON -DTIDE_SANITIZE=address,undefined")
  endif()
  # Coverage feedback for the library code the targets exercise.
  target_compile_options(tide_api PRIVATE -fsanitize=fuzzer-no-link)
endif()

add_subdirectory(${PROJECT_SOURCE_DIR}/tests/fuzz ${PROJECT_BINARY_DIR}/tests/fuzz)
