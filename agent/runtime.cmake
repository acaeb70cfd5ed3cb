# agent/runtime.cmake
