# agent/supervisor.cmake
