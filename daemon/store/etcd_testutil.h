// Test helpers: real etcd (Debian's etcd-server, `etcd` on PATH or $TIDE_ETCD) on free loopback
// ports with data in fresh temporary directories.
//   TestEtcd         one member. The constructor starts it and waits (with a deadline) until
//                    GET /health answers healthy; ok() says whether it did, error() why not (with
//                    the tail of etcd's log).
//   TestEtcdCluster  three members forming one cluster (three processes, one raft group), for
//                    losing a member: Kill(i) / Restart(i) (same ports and data: it rejoins),
//                    RaftLeader() (which member etcd's raft elected).
// Destructors SIGKILL, reap and remove the directories, so a failing test leaves nothing behind.
// Pause()/Resume() (SIGSTOP / SIGCONT) and Kill()/Restart() (same ports and data) let a test take
// etcd away and give it back.
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
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "api/client.h"
#include "daemon/gateway/loopback_testutil.h"

namespace tide {

namespace etcd_testing {

inline std::string LogTail(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
}

// One etcd process: its name, ports, data directory (under `dir`) and pid.
class Member {
 public:
  Member(std::string name, std::string dir) : name_(std::move(name)), dir_(std::move(dir)) {
    client_port_ = ClosedLoopbackPort();
    peer_port_ = ClosedLoopbackPort();
    while (peer_port_ == client_port_) peer_port_ = ClosedLoopbackPort();
  }
  ~Member() { Kill(); }
  Member(const Member&) = delete;
  Member& operator=(const Member&) = delete;

  const std::string& name() const { return name_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(client_port_); }
  std::string peer_url() const { return "http://127.0.0.1:" + std::to_string(peer_port_); }
  int client_port() const { return client_port_; }
  int pid() const { return pid_; }
  const std::string& error() const { return error_; }

  // Starts the process (initial_cluster: "name=peer_url,..."); does not wait.
  bool Spawn(const std::string& initial_cluster) {
    const char* env_bin = std::getenv("TIDE_ETCD");
    const std::string bin = env_bin && *env_bin ? env_bin : "etcd";
    std::vector<std::string> args = {bin,
                                     "--name=" + name_,
                                     "--data-dir=" + dir_ + "/data",
                                     "--listen-client-urls=" + url(),
                                     "--advertise-client-urls=" + url(),
                                     "--listen-peer-urls=" + peer_url(),
                                     "--initial-advertise-peer-urls=" + peer_url(),
                                     "--initial-cluster=" + initial_cluster,
                                     "--initial-cluster-token=tide-test",
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
    if (pid_ < 0) error_ = "fork failed";
    return pid_ > 0;
  }

  // Waits (deadline) until GET /health answers healthy.
  bool WaitHealthy(std::chrono::seconds within) {
    ClientConfig cc;
    cc.server = url();
    cc.timeout_seconds = 1;
    Client c(cc);
    const auto deadline = std::chrono::steady_clock::now() + within;
    while (pid_ > 0 && std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        error_ = "etcd " + name_ + " exited at start: " + LogTail(dir_ + "/etcd.log");
        return false;
      }
      Response r;
      if (c.Get("/health", &r).ok() && r.body.find("true") != std::string::npos) {
        error_.clear();
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (error_.empty()) {
      error_ = "etcd " + name_ + " not healthy in time: " + LogTail(dir_ + "/etcd.log");
    }
    return false;
  }

  void Signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  std::string name_;
  std::string dir_;
  int client_port_ = 0;
  int peer_port_ = 0;
  int pid_ = -1;
  std::string error_;
};

// A fresh /tmp directory, removed with everything in it.
class TempEtcdDir {
 public:
  TempEtcdDir() {
    char tmpl[] = "/tmp/tide-etcd-XXXXXX";
    if (::mkdtemp(tmpl) != nullptr) path_ = tmpl;
  }
  ~TempEtcdDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace etcd_testing

class TestEtcd {
 public:
  TestEtcd() {
    if (dir_.path().empty()) {
      error_ = "mkdtemp failed";
      return;
    }
    member_ = std::make_unique<etcd_testing::Member>("default", dir_.path());
    Start();
  }
  ~TestEtcd() { Kill(); }
  TestEtcd(const TestEtcd&) = delete;
  TestEtcd& operator=(const TestEtcd&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  int client_port() const { return member_ ? member_->client_port() : 0; }
  // http://127.0.0.1:PORT, the client URL; etcd://127.0.0.1:PORT for tided --store.
  std::string url() const { return member_ ? member_->url() : ""; }
  std::string store_url() const { return "etcd://127.0.0.1:" + std::to_string(client_port()); }
  int pid() const { return member_ ? member_->pid() : -1; }

  void Pause() {
    if (member_) member_->Signal(SIGSTOP);
  }
  void Resume() {
    if (member_) member_->Signal(SIGCONT);
  }
  void Kill() {
    if (member_) member_->Kill();
    ok_ = false;
  }
  // Starts it again on the same ports and data (after Kill); true once healthy.
  bool Restart() {
    Kill();
    Start();
    return ok_;
  }

 private:
  void Start() {
    if (!member_->Spawn("default=" + member_->peer_url())) {
      error_ = member_->error();
      return;
    }
    ok_ = member_->WaitHealthy(std::chrono::seconds(20));
    error_ = member_->error();
  }

  etcd_testing::TempEtcdDir dir_;
  std::unique_ptr<etcd_testing::Member> member_;
  bool ok_ = false;
  std::string error_;
};

class TestEtcdCluster {
 public:
  static constexpr int kMembers = 3;
  TestEtcdCluster() {
    if (dir_.path().empty()) {
      error_ = "mkdtemp failed";
      return;
    }
    for (int i = 0; i < kMembers; ++i) {
      const std::string d = dir_.path() + "/e" + std::to_string(i);
      std::filesystem::create_directories(d);
      members_.push_back(std::make_unique<etcd_testing::Member>("e" + std::to_string(i), d));
    }
    for (auto& m : members_) {
      initial_ += (initial_.empty() ? "" : ",") + m->name() + "=" + m->peer_url();
    }
    for (auto& m : members_) {
      if (!m->Spawn(initial_)) {
        error_ = m->error();
        return;
      }
    }
    for (auto& m : members_) {  // a member is healthy once the cluster has a raft leader
      if (!m->WaitHealthy(std::chrono::seconds(30))) {
        error_ = m->error();
        return;
      }
    }
    ok_ = true;
  }
  ~TestEtcdCluster() { members_.clear(); }
  TestEtcdCluster(const TestEtcdCluster&) = delete;
  TestEtcdCluster& operator=(const TestEtcdCluster&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  int size() const { return kMembers; }
  std::string url(int i) const { return members_[i]->url(); }
  // etcd://127.0.0.1:P0,127.0.0.1:P1,127.0.0.1:P2 for tided --store.
  std::string store_url() const {
    std::string s = "etcd://";
    for (size_t i = 0; i < members_.size(); ++i) {
      s += (i ? ",127.0.0.1:" : "127.0.0.1:") + std::to_string(members_[i]->client_port());
    }
    return s;
  }
  void Kill(int i) { members_[i]->Kill(); }
  // Starts member i again on its ports and data; true once healthy (it rejoins the cluster).
  bool Restart(int i) {
    members_[i]->Kill();
    if (!members_[i]->Spawn(initial_)) return false;
    return members_[i]->WaitHealthy(std::chrono::seconds(30));
  }
  const std::string& error(int i) const { return members_[i]->error(); }
  // Index of the member raft elected (from a live member's status), -1 when none answers.
  int RaftLeader() const {
    for (const auto& m : members_) {
      if (m->pid() <= 0) continue;
      ClientConfig cc;
      cc.server = m->url();
      cc.timeout_seconds = 1;
      Client c(cc);
      Response r;
      if (!c.Post("/v3/maintenance/status", "{}", "application/json", &r).ok() || r.status != 200)
        continue;
      // The answer names the leader's id and the member's own id; ask each live member for its
      // id and match.
      const std::string leader = Field(r.body, "leader");
      for (size_t j = 0; j < members_.size(); ++j) {
        if (members_[j]->pid() <= 0) continue;
        cc.server = members_[j]->url();
        Client cj(cc);
        Response rj;
        if (!cj.Post("/v3/maintenance/status", "{}", "application/json", &rj).ok()) continue;
        if (!leader.empty() && Field(rj.body, "member_id") == leader) return static_cast<int>(j);
      }
    }
    return -1;
  }

 private:
  // The string value of "field":"..." in etcd's JSON (ids are quoted uint64s).
  static std::string Field(const std::string& body, const std::string& field) {
    const std::string pat = "\"" + field + "\":\"";
    const size_t at = body.find(pat);
    if (at == std::string::npos) return "";
    const size_t end = body.find('"', at + pat.size());
    return end == std::string::npos ? "" : body.substr(at + pat.size(), end - at - pat.size());
  }

  etcd_testing::TempEtcdDir dir_;
  std::vector<std::unique_ptr<etcd_testing::Member>> members_;
  std::string initial_;
  bool ok_ = false;
  std::string error_;
};

}  // namespace tide
