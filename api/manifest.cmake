# api/manifest.cmake
