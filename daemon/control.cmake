# daemon/control.cmake
