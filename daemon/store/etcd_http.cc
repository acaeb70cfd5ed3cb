#include "daemon/store/etcd_http.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "api/address.h"

namespace tide::etcd {
namespace {

timeval Tv(double s) {
  timeval tv{};
  if (s <= 0) return tv;  // 0: no timeout
  tv.tv_sec = static_cast<time_t>(s);
  tv.tv_usec = static_cast<suseconds_t>((s - static_cast<double>(tv.tv_sec)) * 1e6);
  return tv;
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

constexpr size_t kMaxLine = 8192;
constexpr size_t kMaxBody = 64 << 20;

}  // namespace

EtcdHttp::EtcdHttp(std::string endpoint, double timeout_seconds)
    : endpoint_(std::move(endpoint)), timeout_s_(timeout_seconds) {
  std::string hp = endpoint_;
  if (hp.rfind("http://", 0) == 0) hp = hp.substr(7);
  while (!hp.empty() && hp.back() == '/') hp.pop_back();
  HostPort parsed;
  if (ParseHostPort(hp, PortUse::kDial, &parsed).ok()) {
    host_ = parsed.host;
    port_ = parsed.port;
  }
}

EtcdHttp::~EtcdHttp() { Close(); }

void EtcdHttp::Close() {
  std::lock_guard<std::mutex> lock(fd_mu_);
  const int fd = fd_.exchange(-1);
  if (fd >= 0) ::close(fd);
  buf_.clear();
}

void EtcdHttp::Shutdown() {
  std::lock_guard<std::mutex> lock(fd_mu_);
  const int fd = fd_.load();
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
}

Status EtcdHttp::Connect() {
  if (port_ == 0)
    return Status::Invalid("etcd endpoint '" + endpoint_ + "' is not http://HOST:PORT");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(port_);
  if (int rc = ::getaddrinfo(host_.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return Status::Unavailable("resolve " + host_ + ": " + gai_strerror(rc));
  }
  std::string err = "no address";
  int fd = -1;
  for (addrinfo* ai = res; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) continue;
    int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      const int ms = timeout_s_ > 0 ? static_cast<int>(timeout_s_ * 1000) : 5000;
      rc = ::poll(&p, 1, ms) == 1 ? 0 : -1;
      if (rc != 0) errno = ETIMEDOUT;
      int soerr = 0;
      socklen_t len = sizeof soerr;
      if (rc == 0 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr != 0) {
        rc = -1;
        errno = soerr;
      }
    }
    if (rc != 0) {
      err = std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(res);
  if (fd < 0) return Status::Unavailable("connect: " + err);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv = Tv(timeout_s_);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  std::lock_guard<std::mutex> lock(fd_mu_);
  fd_ = fd;
  buf_.clear();
  return Status::Ok();
}

Status EtcdHttp::ReadMore() {
  char tmp[16384];
  const ssize_t n = ::recv(fd_.load(), tmp, sizeof tmp, 0);
  if (n > 0) {
    buf_.append(tmp, static_cast<size_t>(n));
    return Status::Ok();
  }
  if (n == 0) return Status::Unavailable("read: connection closed");
  if (errno == EAGAIN || errno == EWOULDBLOCK) return Status::Unavailable("read: timed out");
  return Status::Unavailable(std::string("read: ") + std::strerror(errno));
}

Status EtcdHttp::ReadLine(std::string* line) {
  while (true) {
    const size_t nl = buf_.find("\r\n");
    if (nl != std::string::npos) {
      *line = buf_.substr(0, nl);
      buf_.erase(0, nl + 2);
      return Status::Ok();
    }
    if (buf_.size() > kMaxLine) return Status::Unavailable("read: line too long");
    Status s = ReadMore();
    if (!s.ok()) return s;
  }
}

Status EtcdHttp::ReadN(size_t n, std::string* out) {
  while (buf_.size() < n) {
    Status s = ReadMore();
    if (!s.ok()) return s;
  }
  out->assign(buf_, 0, n);
  buf_.erase(0, n);
  return Status::Ok();
}

Status EtcdHttp::Post(const std::string& path, const std::string& body, int* status,
                      std::string* answer, const ChunkFn& on_chunk) {
  answer->clear();
  *status = 0;
  Status s;
  auto fail = [&](Status st) {
    Close();
    return st;
  };
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = fd_.load() >= 0;
    if (!reused) {
      s = Connect();
      if (!s.ok()) return s;
    }
    std::string req =
        "POST " + path + " HTTP/1.1\r\nHost: " + host_ + ":" + std::to_string(port_) +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n\r\n" + body;
    size_t off = 0;
    bool write_ok = true;
    while (off < req.size()) {
      const ssize_t n = ::send(fd_.load(), req.data() + off, req.size() - off, MSG_NOSIGNAL);
      if (n <= 0) {
        write_ok = false;
        break;
      }
      off += static_cast<size_t>(n);
    }
    std::string line;
    if (write_ok) s = ReadLine(&line);
    if (!write_ok || !s.ok()) {
      Close();
      // A kept connection the server closed meanwhile: once more on a fresh one.
      if (reused) continue;
      return write_ok ? s : Status::Unavailable(std::string("write: ") + std::strerror(errno));
    }
    // "HTTP/1.1 200 OK"
    if (line.size() < 12 || line.compare(0, 5, "HTTP/") != 0) {
      return fail(Status::Unavailable("read: not an HTTP answer"));
    }
    *status = std::atoi(line.c_str() + 9);
    bool chunked = false, close_after = false;
    int64_t length = -1;
    while (true) {
      s = ReadLine(&line);
      if (!s.ok()) return fail(s);
      if (line.empty()) break;
      const size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string_view name(line.data(), colon);
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      if (IEquals(name, "Content-Length")) length = std::atoll(value.c_str());
      if (IEquals(name, "Transfer-Encoding") && value.find("chunked") != std::string::npos) {
        chunked = true;
      }
      if (IEquals(name, "Connection") && IEquals(value, "close")) close_after = true;
    }
    const bool stream = on_chunk && *status >= 200 && *status < 300;
    auto deliver = [&](std::string&& data) {
      if (stream) return on_chunk(data);
      if (answer->size() + data.size() > kMaxBody) return false;
      answer->append(data);
      return true;
    };
    if (chunked) {
      while (true) {
        s = ReadLine(&line);
        if (!s.ok()) return fail(s);
        const size_t n = std::strtoul(line.c_str(), nullptr, 16);
        if (n == 0) {
          // Trailers (etcd sends one on errors), then the empty line.
          do {
            s = ReadLine(&line);
            if (!s.ok()) return fail(s);
          } while (!line.empty());
          break;
        }
        std::string data;
        s = ReadN(n + 2, &data);
        if (!s.ok()) return fail(s);
        data.resize(n);
        if (!deliver(std::move(data))) {
          Close();  // stopped mid-stream: the connection cannot be reused
          return Status::Ok();
        }
      }
    } else if (length >= 0) {
      std::string data;
      s = ReadN(static_cast<size_t>(length), &data);
      if (!s.ok()) return fail(s);
      deliver(std::move(data));
    } else {
      while (ReadMore().ok()) {
      }
      std::string data = std::move(buf_);
      deliver(std::move(data));
      close_after = true;
    }
    if (close_after) Close();
    return Status::Ok();
  }
  return s;
}

}  // namespace tide::etcd
