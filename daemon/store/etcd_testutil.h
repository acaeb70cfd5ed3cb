// Test helper: a real one-member etcd (Debian's etcd-server, `etcd` on PATH or $TIDE_ETCD) on
// two free loopback ports with its data in a fresh temporary directory. The constructor starts it
// and waits (with a deadline) until GET /health answers healthy; ok() says whether it did, and
// error() why not (with the tail of etcd's log). The destructor SIGKILLs it, reaps it and
// removes the directory, so a failing test leaves nothing behind. Pause()/Resume() (SIGSTOP /
// SIGCONT) and Kill()/Restart() (same ports and data) let a test take etcd away and give it back.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "api/client.h"

namespace tide {

class TestEtcd {
 public:
  TestEtcd() {
    char tmpl[] = "/tmp/tide-etcd-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      error_ = "mkdtemp failed";
      return;
    }
    dir_ = tmpl;
    client_port_ = FreeLoopbackPort();
    peer_port_ = FreeLoopbackPort();
    while (peer_port_ == client_port_) peer_port_ = FreeLoopbackPort();
    Start();
  }
  ~TestEtcd() {
    Kill();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  TestEtcd(const TestEtcd&) = delete;
  TestEtcd& operator=(const TestEtcd&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  int client_port() const { return client_port_; }
  // http://127.0.0.1:PORT, the client URL; etcd://127.0.0.1:PORT for tided --store.
  std::string url() const { return "http://127.0.0.1:" + std::to_string(client_port_); }
  std::string store_url() const { return "etcd://127.0.0.1:" + std::to_string(client_port_); }
  int pid() const { return pid_; }

  void Pause() {
    if (pid_ > 0) ::kill(pid_, SIGSTOP);
  }
  void Resume() {
    if (pid_ > 0) ::kill(pid_, SIGCONT);
  }
  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    ok_ = false;
  }
  // Starts it again on the same ports and data (after Kill); true once healthy.
  bool Restart() {
    Kill();
    Start();
    return ok_;
  }

 private:
  static int FreeLoopbackPort() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
  }

  void Start() {
    const char* env_bin = std::getenv("TIDE_ETCD");
    const std::string bin = env_bin && *env_bin ? env_bin : "etcd";
    const std::string curl = url();
    const std::string purl = "http://127.0.0.1:" + std::to_string(peer_port_);
    std::vector<std::string> args = {bin,
                                     "--name=default",
                                     "--data-dir=" + dir_ + "/data",
                                     "--listen-client-urls=" + curl,
                                     "--advertise-client-urls=" + curl,
                                     "--listen-peer-urls=" + purl,
                                     "--initial-advertise-peer-urls=" + purl,
                                     "--initial-cluster=default=" + purl,
                                     "--log-level=warn"};
    const std::string log = dir_ + "/etcd.log";
    pid_ = ::fork();
    if (pid_ == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execvp(argv[0], argv.data());
      ::_exit(127);
    }
    if (pid_ < 0) {
      error_ = "fork failed";
      return;
    }
    ClientConfig cc;
    cc.server = curl;
    cc.timeout_seconds = 1;
    Client c(cc);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        error_ = "etcd exited at start: " + LogTail(log);
        return;
      }
      Response r;
      if (c.Get("/health", &r).ok() && r.body.find("true") != std::string::npos) {
        ok_ = true;
        error_.clear();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    error_ = "etcd not healthy within 20 s: " + LogTail(log);
  }

  static std::string LogTail(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
  }

  std::string dir_;
  int client_port_ = 0;
  int peer_port_ = 0;
  int pid_ = -1;
  bool ok_ = false;
  std::string error_;
};

}  // namespace tide
