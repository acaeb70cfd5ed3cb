// tiny_http: the minimal HTTP workload of the Functions benchmarks (coldstart_bench,
// warm_bench). Listens on 127.0.0.1:$PORT and answers every request with
// "HTTP/1.1 200 OK" and a body of $BODY_BYTES bytes (1..16384: "x"s ending in a newline; unset:
// "ok\n"). Single-threaded (one epoll loop), keep-alive unless the client sends
// "Connection: close", request bodies with Content-Length are read and dropped. It starts in
// well under a millisecond, so a cold start measures the orchestrator, not the app.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>

namespace {

// The two answers (keep-alive and closing), built once in main.
std::string response, response_close;

void BuildResponses(size_t body_bytes) {
  std::string body = body_bytes == 0 ? "ok\n" : std::string(body_bytes - 1, 'x') + "\n";
  std::string head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\nContent-Type: text/plain\r\n";
  response = head + "\r\n" + body;
  response_close = head + "Connection: close\r\n\r\n" + body;
}

struct Conn {
  std::string in;
  size_t skip_body = 0;  // request body bytes still to drop
};

// Value of header `name` (case-insensitive) in the header block, or "".
std::string Header(const std::string& head, const char* name) {
  size_t n = std::strlen(name), pos = 0;
  while ((pos = head.find("\r\n", pos)) != std::string::npos) {
    pos += 2;
    if (head.size() >= pos + n + 1 && strncasecmp(head.c_str() + pos, name, n) == 0 &&
        head[pos + n] == ':') {
      size_t start = head.find_first_not_of(' ', pos + n + 1);
      size_t end = head.find("\r\n", pos);
      if (start == std::string::npos || start >= end) return "";
      return head.substr(start, end - start);
    }
  }
  return "";
}

// Answers every complete request in c.in; false when the connection should be closed.
bool Serve(int fd, Conn& c) {
  while (true) {
    if (c.skip_body > 0) {
      size_t n = std::min(c.skip_body, c.in.size());
      c.in.erase(0, n);
      c.skip_body -= n;
      if (c.skip_body > 0) return true;
    }
    size_t end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) return c.in.size() < 65536;
    std::string head = c.in.substr(0, end + 2);
    c.in.erase(0, end + 4);
    std::string len = Header(head, "content-length");
    c.skip_body = len.empty() ? 0 : std::strtoull(len.c_str(), nullptr, 10);
    bool close_after = strcasecmp(Header(head, "connection").c_str(), "close") == 0;
    const std::string& r = close_after ? response_close : response;
    // Responses are at most 16 KiB and clients send one request at a time: a blocking-free
    // write either takes all of it or the peer is gone.
    if (write(fd, r.data(), r.size()) != static_cast<ssize_t>(r.size())) return false;
    if (close_after) return false;
  }
}

}  // namespace

int main() {
  const char* p = std::getenv("PORT");
  int port = p ? std::atoi(p) : 0;
  if (port <= 0 || port > 65535) {
    std::fprintf(stderr, "tiny_http: set PORT\n");
    return 2;
  }
  const char* b = std::getenv("BODY_BYTES");
  long body_bytes = b ? std::atol(b) : 0;
  if (b && (body_bytes < 1 || body_bytes > 16384)) {
    std::fprintf(stderr, "tiny_http: BODY_BYTES must be 1..16384, got '%s'\n", b);
    return 2;
  }
  BuildResponses(static_cast<size_t>(body_bytes));
  // START_DELAY_MS: a slower start-up, to show what socket activation saves.
  if (const char* d = std::getenv("START_DELAY_MS"))
    usleep(static_cast<useconds_t>(std::atoi(d)) * 1000);
  int lfd = -1;
  int one = 1;
  // Socket activation (systemd's LISTEN_FDS protocol): the socket is fd 3, already listening.
  const char* fds = std::getenv("LISTEN_FDS");
  const char* lpid = std::getenv("LISTEN_PID");
  if (fds && std::atoi(fds) == 1 && lpid && std::atol(lpid) == static_cast<long>(getpid())) {
    lfd = 3;
    fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
    fcntl(lfd, F_SETFD, FD_CLOEXEC);
  } else {
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(lfd, 1024) != 0) {
      std::perror("tiny_http: bind/listen");
      return 2;
    }
  }
  int ep = epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  std::unordered_map<int, Conn> conns;
  epoll_event events[64];
  char buf[16384];
  while (true) {
    int n = epoll_wait(ep, events, 64, -1);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == lfd) {
        int c;
        while ((c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK)) >= 0) {
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_event cev{};
          cev.events = EPOLLIN | EPOLLRDHUP;
          cev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
          conns[c];
        }
        continue;
      }
      Conn& c = conns[fd];
      bool keep = true;
      while (true) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r > 0) {
          c.in.append(buf, static_cast<size_t>(r));
          continue;
        }
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) keep = false;
        if (r < 0 && errno == EINTR) continue;
        break;
      }
      if (!Serve(fd, c)) keep = false;
      if (!keep) {
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
        close(fd);
        conns.erase(fd);
      }
    }
  }
}
