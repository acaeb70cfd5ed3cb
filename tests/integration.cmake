# tests/integration.cmake
