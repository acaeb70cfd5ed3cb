# api/client.cmake
