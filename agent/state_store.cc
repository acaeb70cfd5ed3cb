#include "agent/state_store.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <set>
#include <thread>

#include "api/json.h"
#include "api/text_digest.h"

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

namespace {

// The records of `state` with the specs in the shared form (200 replicas of one workload store
// their spec once); each element gets the instance's fields.
json EncodeRecords(const AgentState& state, json* specs) {
  std::vector<const InstanceAssignment*> assignments;
  assignments.reserve(state.instances.size());
  for (const auto& r : state.instances) assignments.push_back(&r.assignment);
  return EncodeSharedAssignments(assignments, specs);
}

void AddInstanceFields(const SavedInstance& in, json& r) {
  r["status"] = in.status;
  r["phase"] = InstancePhaseName(in.phase);
  r["startTime"] = in.start_time;
  r["removing"] = in.removing;
  r["relaunchCounts"] = in.relaunch_counts;
}

json EncodeAgentStateJson(const AgentState& state) {
  json specs;
  json records = EncodeRecords(state, &specs);
  for (size_t i = 0; i < state.instances.size(); ++i)
    AddInstanceFields(state.instances[i], records[i]);
  return json{{"node", state.node}, {"specs", std::move(specs)}, {"instances", std::move(records)}};
}

// The snapshot document, {"journal", "node", "specs", "instances"}, handed to `write` in pieces
// of about 64 KiB: a record's JSON exists only while it is written, so saving 1,000 instances
// does not hold them all as a JSON tree and again as one string (3 MiB of the agent's peak).
bool WriteSnapshot(const AgentState& state, uint64_t journal,
                   const std::function<bool(const std::string&)>& write) {
  json specs;
  json records = EncodeRecords(state, &specs);
  std::string buf = "{\"journal\":" + std::to_string(journal) +
                    ",\"node\":" + json(state.node).dump() + ",\"specs\":" + specs.dump() +
                    ",\"instances\":[";
  specs = nullptr;
  constexpr size_t kChunk = 64 * 1024;
  for (size_t i = 0; i < state.instances.size(); ++i) {
    json r = std::move(records[i]);
    AddInstanceFields(state.instances[i], r);
    if (i > 0) buf += ',';
    buf += r.dump();
    if (buf.size() >= kChunk) {
      if (!write(buf)) return false;
      buf.clear();
    }
  }
  buf += "]}\n";
  return write(buf);
}

// One record as saved, for telling which records changed since the previous save.
std::string EncodeRecord(const SavedInstance& in) {
  return json{{"assignment", in.assignment},
              {"status", in.status},
              {"phase", InstancePhaseName(in.phase)},
              {"startTime", in.start_time},
              {"removing", in.removing},
              {"relaunchCounts", in.relaunch_counts}}
      .dump();
}

uint64_t RandomId() {
  uint64_t id = 0;
  while (id == 0) {
    if (::getrandom(&id, sizeof id, 0) != static_cast<ssize_t>(sizeof id)) {
      id = static_cast<uint64_t>(::time(nullptr)) ^ (static_cast<uint64_t>(::getpid()) << 32);
    }
  }
  return id;
}

Status ReadFile(const std::string& path, std::string* text, bool* missing) {
  *missing = false;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      *missing = true;
      return Status::Ok();
    }
    return Status::Internal(Errno("cannot read " + path));
  }
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status st = Status::Internal(Errno("cannot read " + path));
      ::close(fd);
      return st;
    }
    if (n == 0) break;
    text->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return Status::Ok();
}

}  // namespace

std::string EncodeAgentState(const AgentState& state) {
  return EncodeAgentStateJson(state).dump() + "\n";
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
      SavedInstance r;
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

// Takes the descriptors of appended lines, fdatasyncs (one call covers every line the file
// holds, whichever descriptor wrote it) and closes them.
class FileStateStore::Syncer {
 public:
  Syncer(std::string what, std::function<int(int)> datasync)
      : what_(std::move(what)), datasync_(std::move(datasync)), thread_([this] { Run(); }) {}
  ~Syncer() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();  // Run syncs what is queued before it ends
  }
  void Add(int fd) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      fds_.push_back(fd);
      ++queued_;
    }
    cv_.notify_all();
  }
  bool Flush() {
    std::unique_lock<std::mutex> lk(mu_);
    const uint64_t want = queued_;
    cv_.wait(lk, [&] { return synced_ >= want; });
    const bool ok = !failed_seen_;
    failed_seen_ = false;
    return ok;
  }
  // True once after an fdatasync failed: the caller's next save is a snapshot.
  bool TakeFailure() { return failed_.exchange(false); }

 private:
  void Run() {
    std::unique_lock<std::mutex> lk(mu_);
    while (true) {
      cv_.wait(lk, [&] { return stopping_ || !fds_.empty(); });
      if (fds_.empty()) return;  // stopping, nothing left
      std::vector<int> fds;
      fds.swap(fds_);
      lk.unlock();
      const int rc = datasync_(fds.back());
      const int err = errno;
      for (int fd : fds) ::close(fd);
      if (rc != 0) {
        spdlog::warn("agent state: cannot fdatasync {}: {}; the next save is a snapshot", what_,
                     std::strerror(err));
        failed_ = true;
      }
      lk.lock();
      failed_seen_ = failed_seen_ || rc != 0;
      synced_ += fds.size();
      cv_.notify_all();
    }
  }

  const std::string what_;
  const std::function<int(int)> datasync_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> fds_;
  uint64_t queued_ = 0, synced_ = 0;
  bool stopping_ = false, failed_seen_ = false;
  std::atomic<bool> failed_{false};
  std::thread thread_;  // last: started once the members above exist
};

FileStateStore::FileStateStore(std::string dir, std::function<int(int)> datasync)
    : dir_(std::move(dir)),
      path_(dir_ + "/instances.json"),
      journal_path_(dir_ + "/instances.journal"),
      datasync_(datasync ? std::move(datasync) : [](int fd) { return ::fdatasync(fd); }) {}

FileStateStore::~FileStateStore() = default;

bool FileStateStore::Flush() { return !syncer_ || syncer_->Flush(); }

Status FileStateStore::Save(const AgentState& state) {
  std::map<std::string, Digest> encoded;
  size_t changed = 0;
  for (const auto& r : state.instances) {
    auto [it, inserted] = encoded.emplace(r.assignment.id, DigestText(EncodeRecord(r)));
    if (!inserted) continue;
    auto was = saved_.find(r.assignment.id);
    if (was == saved_.end() || was->second != it->second) ++changed;
  }
  for (const auto& [id, text] : saved_) {
    if (!encoded.count(id)) ++changed;
  }
  if (changed == 0 && journal_id_ != 0) return Status::Ok();  // already what is saved
  // Most of many records changed (a sampling round of a busy node): the snapshot is no bigger
  // than the line would be. One instance of one (a cold start from zero) is a line.
  const bool most = encoded.size() >= kMinSnapshotRecords && changed * 2 > encoded.size();
  const bool sync_failed = syncer_ && syncer_->TakeFailure();
  const bool snapshot =
      journal_id_ == 0 || journal_bytes_ >= kMaxJournalBytes || most || sync_failed;
  return snapshot ? SaveSnapshot(state, std::move(encoded)) : Append(state, std::move(encoded));
}

Status FileStateStore::SaveSnapshot(const AgentState& state,
                                    std::map<std::string, Digest> encoded) {
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::Internal(Errno("cannot create " + dir_));
  }
  // The journal exists before the directory is fsynced below, so appends need only fdatasync.
  const int journal_fd = ::open(journal_path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (journal_fd < 0) return Status::Internal(Errno("cannot open " + journal_path_));
  ::fchmod(journal_fd, 0600);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{journal_fd};
  const uint64_t id = RandomId();
  const std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Internal(Errno("cannot write " + tmp));
  // A temp file left by an older version may have a wider mode.
  bool ok =
      ::fchmod(fd, 0600) == 0 &&
      WriteSnapshot(state, id, [fd](const std::string& piece) { return WriteAll(fd, piece); }) &&
      ::fsync(fd) == 0;
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
  if (Status st = FsyncDir(dir_); !st.ok()) return st;
  // The new snapshot holds everything: the journal's lines (another id) are stale from here on,
  // so cutting them needs no sync.
  journal_id_ = id;
  journal_bytes_ = ::ftruncate(journal_fd, 0) == 0 ? 0 : kMaxJournalBytes;
  saved_ = std::move(encoded);
  ++snapshots_;
  return Status::Ok();
}

Status FileStateStore::Append(const AgentState& state, std::map<std::string, Digest> encoded) {
  AgentState changed;
  changed.node = state.node;
  for (const auto& r : state.instances) {
    auto was = saved_.find(r.assignment.id);
    if (was == saved_.end() || was->second != encoded.at(r.assignment.id)) {
      changed.instances.push_back(r);
    }
  }
  json removed = json::array();
  for (const auto& [id, text] : saved_) {
    if (!encoded.count(id)) removed.push_back(id);
  }
  json line = EncodeAgentStateJson(changed);
  line["journal"] = journal_id_;
  line["removed"] = std::move(removed);
  const std::string data = line.dump() + "\n";  // one line: dump() escapes every newline
  // Opened for each append, never created here: a journal that went away (or cannot be
  // written) fails this save, and the next one is a snapshot that makes it again.
  const int fd = ::open(journal_path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  const bool ok = fd >= 0 && WriteAll(fd, data);
  if (!ok) {
    Status st = Status::Internal(Errno("cannot append to " + journal_path_));
    // Cut the partial line off again; either way the next save is a snapshot.
    if (fd >= 0) (void)!::ftruncate(fd, static_cast<off_t>(journal_bytes_));
    if (fd >= 0) ::close(fd);
    journal_id_ = 0;
    return st;
  }
  // Synced off the caller's path (the header says why); the syncer closes fd.
  if (!syncer_) syncer_ = std::make_unique<Syncer>(journal_path_, datasync_);
  syncer_->Add(fd);
  journal_bytes_ += data.size();
  saved_ = std::move(encoded);
  ++appends_;
  return Status::Ok();
}

Status FileStateStore::Load(AgentState* out) {
  *out = AgentState{};
  std::string text;
  bool missing = false;
  if (Status st = ReadFile(path_, &text, &missing); !st.ok()) return st;
  if (missing) return Status::Ok();  // first start (a journal without a snapshot is stale)
  Status st = DecodeAgentState(text, out);
  if (!st.ok()) return Status::Invalid(path_ + ": not a valid instances file: " + st.message());
  const json snap = json::parse(text, nullptr, false);
  const uint64_t id = snap.is_object() && snap.contains("journal") && snap["journal"].is_number()
                          ? snap["journal"].get<uint64_t>()
                          : 0;
  if (id == 0) return Status::Ok();  // written before the journal existed
  std::string journal;
  if (st = ReadFile(journal_path_, &journal, &missing); !st.ok()) return st;
  std::map<std::string, size_t> index;  // id -> out->instances[i]
  for (size_t i = 0; i < out->instances.size(); ++i) index[out->instances[i].assignment.id] = i;
  size_t pos = 0, number = 0;
  while (pos < journal.size()) {
    size_t nl = journal.find('\n', pos);
    const bool last = nl == std::string::npos || nl + 1 >= journal.size();
    const std::string text_line = journal.substr(pos, nl == std::string::npos ? nl : nl - pos);
    pos = nl == std::string::npos ? journal.size() : nl + 1;
    ++number;
    const json line = json::parse(text_line, nullptr, false);
    AgentState part;
    Status ls = line.is_object() ? DecodeAgentState(text_line, &part)
                                 : Status::Invalid("not a JSON object");
    if (ls.ok() && !(line.contains("journal") && line["journal"].is_number())) {
      ls = Status::Invalid("no \"journal\" id");
    }
    if (!ls.ok()) {
      if (last) break;  // a save that never completed
      return Status::Invalid(journal_path_ + ": line " + std::to_string(number) +
                             " is not a valid journal entry: " + ls.message());
    }
    if (line["journal"].get<uint64_t>() != id) continue;  // of an earlier snapshot
    for (auto& r : part.instances) {
      auto it = index.find(r.assignment.id);
      if (it != index.end()) {
        out->instances[it->second] = std::move(r);
      } else {
        index[r.assignment.id] = out->instances.size();
        out->instances.push_back(std::move(r));
      }
    }
    if (line.contains("removed") && line["removed"].is_array()) {
      std::set<std::string> gone;
      for (const auto& g : line["removed"])
        if (g.is_string()) gone.insert(g.get<std::string>());
      if (!gone.empty()) {
        std::erase_if(out->instances,
                      [&](const SavedInstance& r) { return gone.count(r.assignment.id) > 0; });
        index.clear();
        for (size_t i = 0; i < out->instances.size(); ++i)
          index[out->instances[i].assignment.id] = i;
      }
    }
  }
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
