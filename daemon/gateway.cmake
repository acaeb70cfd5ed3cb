# daemon/gateway.cmake
