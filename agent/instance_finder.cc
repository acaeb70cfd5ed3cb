#include "agent/instance_finder.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "agent/proc_stats.h"

namespace tide {
namespace {

bool ReadAll(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

// The value of KEY in a NUL-separated environ block; nullopt-like "" with *found false.
std::string EnvValue(const std::string& environ, const std::string& key, bool* found) {
  *found = false;
  size_t pos = 0;
  while (pos < environ.size()) {
    size_t end = environ.find('\0', pos);
    if (end == std::string::npos) end = environ.size();
    if (end - pos > key.size() && environ.compare(pos, key.size(), key) == 0 &&
        environ[pos + key.size()] == '=') {
      *found = true;
      return environ.substr(pos + key.size() + 1, end - pos - key.size() - 1);
    }
    pos = end + 1;
  }
  return "";
}

int ParsePort(const std::string& s) {
  if (s.empty() || s.size() > 5) return 0;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + (c - '0');
  }
  return v <= 65535 ? v : 0;
}

std::string Stamp(int64_t wall_ms) {
  std::time_t t = static_cast<std::time_t>(wall_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

}  // namespace

FoundInstances FindInstances(const std::string& proc_root, const std::string& node,
                             const std::string& logs_dir) {
  FoundInstances out;
  const std::string logs =
      logs_dir.empty() ? "" : std::filesystem::absolute(logs_dir).lexically_normal().string();
  std::map<std::string, std::vector<FoundInstance>> by_id;
  DIR* d = ::opendir(proc_root.c_str());
  if (d == nullptr) return out;
  ProcStats stats(proc_root);
  while (dirent* e = ::readdir(d)) {
    const char* name = e->d_name;
    if (*name < '1' || *name > '9' || std::strspn(name, "0123456789") != std::strlen(name)) {
      continue;
    }
    const std::string base = proc_root + "/" + name;
    std::string env;
    if (!ReadAll(base + "/environ", &env)) continue;
    bool has_node = false, has_id = false, has_wl = false, has_port = false;
    if (EnvValue(env, "TIDE_NODE", &has_node) != node || !has_node) continue;
    FoundInstance f;
    f.id = EnvValue(env, "TIDE_INSTANCE", &has_id);
    if (!has_id || f.id.empty()) continue;
    if (!logs.empty()) {
      std::error_code ec;
      const auto out_link = std::filesystem::read_symlink(base + "/fd/1", ec);
      if (ec || out_link.string() != logs + "/" + f.id + ".log") continue;
    }
    f.workload = EnvValue(env, "TIDE_WORKLOAD", &has_wl);
    f.port = ParsePort(EnvValue(env, "PORT", &has_port));
    ProcStat st;
    f.pid = std::atoi(name);
    if (!stats.ReadStat(f.pid, &st) || st.pgrp != f.pid || st.state == 'Z' || st.state == 'X') {
      continue;
    }
    f.start_time = st.start_time;
    by_id[f.id].push_back(std::move(f));
  }
  ::closedir(d);
  for (auto& [id, v] : by_id) {
    std::sort(v.begin(), v.end(), [](const FoundInstance& a, const FoundInstance& b) {
      return a.start_time != b.start_time ? a.start_time < b.start_time : a.pid < b.pid;
    });
    out.instances.push_back(v[0]);
    out.duplicates.insert(out.duplicates.end(), v.begin() + 1, v.end());
  }
  return out;
}

AgentState StateFromFound(const std::string& node, const std::vector<FoundInstance>& found) {
  AgentState s;
  s.node = node;
  for (const FoundInstance& f : found) {
    SavedInstance r;
    r.assignment.id = f.id;
    r.assignment.workload = f.workload;
    r.status.id = f.id;
    r.status.workload = f.workload;
    r.status.node = node;
    r.status.pid = f.pid;
    r.status.port = f.port;
    r.status.state = InstanceState::kStarting;
    r.phase = InstancePhase::kRunning;
    r.start_time = f.start_time;
    s.instances.push_back(std::move(r));
  }
  return s;
}

Status RecoverInstanceState(const std::string& data_dir, const std::string& node,
                            const std::string& proc_root, int64_t wall_ms, FoundInstances* found,
                            std::string* moved_to, const std::string& logs_dir) {
  const std::string path = data_dir + "/instances.json";
  std::string text;
  {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::Internal("cannot read " + path + ": " + std::strerror(errno));
    ::close(fd);
    if (!ReadAll(path, &text)) return Status::Internal("cannot read " + path);
  }
  AgentState decoded;
  if (DecodeAgentState(text, &decoded).ok()) {
    return Status::Invalid(path + " is readable: nothing to recover");
  }
  *found = FindInstances(proc_root, node, logs_dir);
  const std::string aside = path + ".corrupt-" + Stamp(wall_ms);
  if (::rename(path.c_str(), aside.c_str()) != 0) {
    return Status::Internal("cannot move " + path + " to " + aside + ": " + std::strerror(errno));
  }
  *moved_to = aside;
  FileStateStore store(data_dir);
  Status st = store.Save(StateFromFound(node, found->instances));
  if (!st.ok()) {
    return Status::Internal("moved the corrupt " + path + " to " + aside +
                            " but cannot save the instances found: " + st.message());
  }
  return Status::Ok();
}

Status AdoptUnrecorded(const std::string& data_dir, const std::string& node,
                       const std::string& proc_root, const std::string& logs_dir,
                       std::vector<FoundInstance>* added) {
  FileStateStore store(data_dir);
  AgentState state;
  if (Status st = store.Load(&state); !st.ok()) return st;
  const FoundInstances found = FindInstances(proc_root, node, logs_dir);
  std::map<std::string, SavedInstance*> by_id;
  for (SavedInstance& r : state.instances) by_id[r.assignment.id] = &r;
  std::vector<FoundInstance> fresh;
  for (const FoundInstance& f : found.instances) {
    auto it = by_id.find(f.id);
    if (it == by_id.end()) {
      fresh.push_back(f);
      added->push_back(f);
      continue;
    }
    SavedInstance& r = *it->second;
    if (r.phase == InstancePhase::kRunning && r.status.pid == f.pid &&
        r.start_time == f.start_time) {
      continue;  // recorded as it runs
    }
    // The oldest process with this id is not the recorded one: the recorded process is gone
    // (or younger), and this one was started without being recorded.
    r.phase = InstancePhase::kRunning;
    r.status.pid = f.pid;
    r.start_time = f.start_time;
    if (f.port != 0) r.status.port = f.port;
    r.status.state = InstanceState::kStarting;
    added->push_back(f);
  }
  if (added->empty()) return Status::Ok();
  AgentState extra = StateFromFound(node, fresh);
  for (SavedInstance& r : extra.instances) state.instances.push_back(std::move(r));
  if (state.node.empty()) state.node = node;
  return store.Save(state);
}

}  // namespace tide
