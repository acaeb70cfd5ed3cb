#include "agent/state_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "api/json.h"

namespace tide {
namespace {

std::optional<InstancePhase> ParsePhase(const std::string& s) {
  if (s == "waiting") return InstancePhase::kWaiting;
  if (s == "running") return InstancePhase::kRunning;
  if (s == "done") return InstancePhase::kDone;
  return std::nullopt;
}

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// Writes all of `data` to fd; false (errno set) on a short or failed write.
bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

Status FsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::Internal(Errno("cannot open " + dir));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  errno = err;
  return rc == 0 ? Status::Ok() : Status::Internal(Errno("cannot fsync " + dir));
}

}  // namespace

const char* InstancePhaseName(InstancePhase p) {
  switch (p) {
    case InstancePhase::kWaiting:
      return "waiting";
    case InstancePhase::kRunning:
      return "running";
    case InstancePhase::kDone:
      return "done";
  }
  return "waiting";
}

std::string EncodeAgentState(const AgentState& state) {
  // Specs in the shared form: 200 replicas of one workload store their spec once.
  std::vector<const InstanceAssignment*> assignments;
  assignments.reserve(state.instances.size());
  for (const auto& r : state.instances) assignments.push_back(&r.assignment);
  json specs;
  json records = EncodeSharedAssignments(assignments, &specs);
  for (size_t i = 0; i < state.instances.size(); ++i) {
    const InstanceRecord& in = state.instances[i];
    json& r = records[i];
    r["status"] = in.status;
    r["phase"] = InstancePhaseName(in.phase);
    r["startTime"] = in.start_time;
    r["removing"] = in.removing;
    r["relaunchCounts"] = in.relaunch_counts;
  }
  const json doc = {
      {"node", state.node}, {"specs", std::move(specs)}, {"instances", std::move(records)}};
  return doc.dump() + "\n";
}

Status DecodeAgentState(const std::string& text, AgentState* out) {
  *out = AgentState{};
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::Invalid("not JSON");
  if (!doc.is_object() || !doc.contains("instances") || !doc["instances"].is_array()) {
    return Status::Invalid("no \"instances\" array");
  }
  try {
    if (doc.contains("node") && doc["node"].is_string()) out->node = doc["node"];
    // Files written before the shared-spec form carry each assignment inline.
    const bool shared_form = doc.contains("specs");
    std::vector<InstanceAssignment> shared;
    if (shared_form) shared = DecodeSharedAssignments(doc["instances"], doc["specs"]);
    size_t index = 0;
    for (const json& rec : doc["instances"]) {
      InstanceRecord r;
      r.assignment =
          shared_form ? shared.at(index) : rec.at("assignment").get<InstanceAssignment>();
      const std::string where = "instances[" + std::to_string(index++) + "]";
      r.status = rec.at("status").get<InstanceStatus>();
      const std::string phase = rec.value("phase", std::string("waiting"));
      auto p = ParsePhase(phase);
      if (!p) return Status::Invalid(where + ".phase: unknown phase '" + phase + "'");
      r.phase = *p;
      r.start_time = rec.value("startTime", uint64_t{0});
      r.removing = rec.value("removing", false);
      r.relaunch_counts = rec.value("relaunchCounts", false);
      out->instances.push_back(std::move(r));
    }
  } catch (const std::exception& e) {
    return Status::Invalid(e.what());
  }
  return Status::Ok();
}

// ---- FileStateStore ---------------------------------------------------------------------------

FileStateStore::FileStateStore(std::string dir)
    : dir_(std::move(dir)), path_(dir_ + "/instances.json") {}

Status FileStateStore::Save(const AgentState& state) {
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::Internal(Errno("cannot create " + dir_));
  }
  const std::string data = EncodeAgentState(state);
  const std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Internal(Errno("cannot write " + tmp));
  // A temp file left by an older version may have a wider mode.
  bool ok = ::fchmod(fd, 0600) == 0 && WriteAll(fd, data) && ::fsync(fd) == 0;
  const int err = errno;
  ok = ::close(fd) == 0 && ok;
  if (!ok) {
    errno = err;
    Status st = Status::Internal(Errno("cannot write " + tmp));
    ::unlink(tmp.c_str());
    return st;
  }
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    Status st = Status::Internal(Errno("cannot rename " + tmp + " to " + path_));
    ::unlink(tmp.c_str());
    return st;
  }
  return FsyncDir(dir_);
}

Status FileStateStore::Load(AgentState* out) {
  *out = AgentState{};
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::Ok();  // first start
    return Status::Internal(Errno("cannot read " + path_));
  }
  std::string text;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status st = Status::Internal(Errno("cannot read " + path_));
      ::close(fd);
      return st;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  Status st = DecodeAgentState(text, out);
  if (!st.ok()) return Status::Invalid(path_ + ": not a valid instances file: " + st.message());
  return Status::Ok();
}

// ---- MemoryStateStore -------------------------------------------------------------------------

Status MemoryStateStore::Save(const AgentState& state) {
  if (fail_saves_ > 0) {
    --fail_saves_;
    return fail_with_;
  }
  saved_ = state;
  corrupt_ = false;
  ++saves_;
  return Status::Ok();
}

Status MemoryStateStore::Load(AgentState* out) {
  *out = AgentState{};
  if (corrupt_) return Status::Invalid("memory: saved state is corrupt");
  if (saved_) *out = *saved_;
  return Status::Ok();
}

void MemoryStateStore::FailSaves(int n, Status error) {
  fail_saves_ = n;
  fail_with_ = error.ok() ? Status::Internal("memory: injected save failure") : std::move(error);
}

}  // namespace tide
