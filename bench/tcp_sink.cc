// tcp_sink: the trivial TCP workload of bench/scale_bench. Listens on 127.0.0.1:$PORT, accepts
// each connection and closes it at once. Single-threaded, no allocation after start, so 200
// copies cost little more than 200 processes. Exits 2 when PORT is missing or cannot be bound.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

int main() {
  const char* p = std::getenv("PORT");
  int port = p ? std::atoi(p) : 0;
  if (port <= 0 || port > 65535) {
    std::fprintf(stderr, "tcp_sink: set PORT\n");
    return 2;
  }
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 128) != 0) {
    std::perror("tcp_sink: bind/listen");
    return 2;
  }
  while (true) {
    int c = accept(fd, nullptr, nullptr);
    if (c >= 0) {
      close(c);
    } else if (errno != EINTR && errno != ECONNABORTED) {
      std::perror("tcp_sink: accept");
      return 1;
    }
  }
}
