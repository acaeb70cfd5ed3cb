// BindHttpServer: how every cpp-httplib server of Tide binds its listening socket.
//
// Debian's cpp-httplib is a shared library built with a listen backlog of 5
// (CPPHTTPLIB_LISTEN_BACKLOG is compiled into it, so defining it in our code changes nothing).
// Five is far too few for a burst: 64 agents joining at once, or the API front door relaying a
// burst of requests to its lanes' worker pools, overflowed it (TcpExtListenOverflows), and every
// dropped SYN came back only after TCP's retransmit timer, 1 s, then 3 s, 7 s... (fleet_bench saw
// single joins take 14-27 s). BindHttpServer binds as httplib does (SO_REUSEPORT, its default
// socket options) and then listens again with `backlog`, which Linux applies to the socket
// already listening; the kernel caps it at net.core.somaxconn.
//
// Not thread-safe with respect to `server`: call before its listen loop starts.
#pragma once

#include <httplib.h>

#include <string>

namespace tide {

inline constexpr int kHttpListenBacklog = 4096;

// Binds `server` to host:port (port 0: any free port). Returns the port, or -1 when it could not
// bind.
int BindHttpServer(httplib::Server& server, const std::string& host, int port,
                   int backlog = kHttpListenBacklog);

}  // namespace tide
