# daemon/autoscale.cmake
