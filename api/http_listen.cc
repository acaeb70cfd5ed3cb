#include "api/http_listen.h"

#include <sys/socket.h>

#include <memory>

namespace tide {

int BindHttpServer(httplib::Server& server, const std::string& host, int port, int backlog) {
  auto fd = std::make_shared<socket_t>(INVALID_SOCKET);
  server.set_socket_options([fd](socket_t sock) {
    httplib::default_socket_options(sock);
    *fd = sock;  // the last socket httplib tried is the one it bound
  });
  const int bound =
      port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound > 0 && *fd != INVALID_SOCKET) ::listen(*fd, backlog);
  return bound;
}

}  // namespace tide
