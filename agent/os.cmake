# agent/os.cmake
