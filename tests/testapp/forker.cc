// tide-forker: a bounded fork bomb, for the pids limit test (tests/pids_test.cc).
// At start it forks up to --forks N (default 2000) children that wait for it, notes how many
// forks succeeded and why the next one failed, releases the children (they exit at once) and
// reaps them all. Then it answers every connection on 127.0.0.1:$PORT with that result:
//   "forked=K of=N error=MESSAGE reaped=R\n"
// One thread, no shell, nothing else started.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
  int tries = 2000;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--forks") == 0) tries = std::atoi(argv[++i]);
  }
  const char* port_env = std::getenv("PORT");
  int port = port_env ? std::atoi(port_env) : 0;
  if (port <= 0 || tries < 0 || tries > 100000) {
    std::fprintf(stderr, "tide-forker: need PORT and --forks 0..100000\n");
    return 2;
  }

  int fds[2];
  if (::pipe(fds) != 0) return 1;
  int made = 0;
  std::string error = "none";
  for (; made < tries; ++made) {
    pid_t pid = ::fork();
    if (pid < 0) {
      error = std::strerror(errno);
      break;
    }
    if (pid == 0) {
      ::close(fds[1]);
      char c;
      (void)!::read(fds[0], &c, 1);  // returns at EOF: when the parent closes its end
      ::_exit(0);
    }
  }
  ::close(fds[1]);
  ::close(fds[0]);
  int reaped = 0;
  while (::wait(nullptr) > 0) ++reaped;
  std::string result = "forked=" + std::to_string(made) + " of=" + std::to_string(tries) +
                       " error=" + error + " reaped=" + std::to_string(reaped) + "\n";
  std::fputs(result.c_str(), stdout);
  std::fflush(stdout);

  int srv = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(srv, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(srv, 16) != 0) {
    std::fprintf(stderr, "tide-forker: cannot listen on %d: %s\n", port, std::strerror(errno));
    return 1;
  }
  const std::string response = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                               std::to_string(result.size()) + "\r\nConnection: close\r\n\r\n" +
                               result;
  for (;;) {
    int c = ::accept4(srv, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    char buf[2048];
    (void)!::recv(c, buf, sizeof buf, 0);  // the request: its content does not matter
    (void)!::send(c, response.data(), response.size(), MSG_NOSIGNAL);
    ::close(c);
  }
}
