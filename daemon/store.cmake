# daemon/store.cmake
