#include "daemon/server/api_waits.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <functional>

#include "api/json.h"
#include "daemon/server/api_reply.h"
#include "daemon/server/api_server.h"

namespace tide {

namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}

bool FindParam(const std::string& target, const std::string& key, std::string* value) {
  const size_t q = target.find('?');
  if (q == std::string::npos) return false;
  std::string_view query(target);
  query.remove_prefix(q + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view kv = query.substr(0, amp);
    const size_t eq = kv.find('=');
    if (PercentDecode(kv.substr(0, eq)) == key) {
      if (value) *value = eq == kv.npos ? "" : PercentDecode(kv.substr(eq + 1));
      return true;
    }
    if (amp == query.npos) break;
    query.remove_prefix(amp + 1);
  }
  return false;
}

std::string Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

using api_reply::FrontDoorError;

std::string PathOf(const std::string& target) { return target.substr(0, target.find('?')); }

}  // namespace

std::string TargetParam(const std::string& target, const std::string& key) {
  std::string v;
  FindParam(target, key, &v);
  return v;
}

bool TargetHasParam(const std::string& target, const std::string& key) {
  return FindParam(target, key, nullptr);
}

json WorkloadJson(ControlPlane& cp, const StoredObject& o) {
  json j = o.object;
  WorkloadStatus st = cp.StatusOf(o);
  st.scale_override = o.scale_replicas;
  j["status"] = st;
  j["metadata"]["generation"] = o.generation;
  j["metadata"]["creationTimestamp"] = FormatTime(o.created_ms);
  return j;
}

ApiWaits::ApiWaits(ObjectStore& store, ControlPlane& cp, Auth& auth, Metrics& metrics,
                   DenyHook deny, int pool_threads)
    : pool_(std::make_unique<OffPool>(pool_threads)),
      store_(store),
      cp_(cp),
      auth_(auth),
      metrics_(metrics),
      deny_(std::move(deny)) {}

ApiWaits::~ApiWaits() { pool_.reset(); }

void ApiWaits::StopPool() { pool_->Stop(); }

void ApiWaits::Notify() {
  dirty_ = true;
  if (!checking_.exchange(true)) Check(/*on_notifier=*/true);
}

void ApiWaits::Check(bool on_notifier) {
  for (;;) {
    dirty_ = false;
    size_t built = 0;
    std::vector<std::string> nodes = agents_.Keys();
    {
      // The nodes of AssignmentsNow waiters (the in-process agent's, one), not a scan of every
      // node's long-poll: a check runs on every change.
      std::lock_guard<std::mutex> lk(polls_mu_);
      if (!now_nodes_.empty()) {
        for (const auto& [node, n] : now_nodes_) nodes.push_back(node);
        std::sort(nodes.begin(), nodes.end());
        nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
      }
    }
    for (const auto& node : nodes) {
      const int64_t v = cp_.AssignmentVersion(node);
      auto [it, fresh] = seen_versions_.try_emplace(node, v);
      if (!fresh && it->second == v) continue;
      it->second = v;
      // The polls of this node that the new version answers get their body from here; the
      // rest (and any beyond kInlineAnswers on the notifier) build their own when woken.
      std::vector<std::shared_ptr<Poll>> due;
      {
        std::lock_guard<std::mutex> lk(polls_mu_);
        for (auto [p, end] = polls_.equal_range(node); p != end; ++p) {
          if (!p->second->answered && v > p->second->after) due.push_back(p->second);
        }
      }
      bool wake_now = false;
      for (const auto& p : due) {
        std::string body;
        if (v >= 0 && !(on_notifier && built >= kInlineAnswers)) {
          body = AnswerBody(node, p->after, v, p->delta, p->shared);
          ++built;
        }
        std::lock_guard<std::mutex> lk(polls_mu_);
        if (!body.empty()) {
          p->body = std::move(body);
          p->answered = true;
        }
        if (p->now) wake_now = p->moved = true;  // it builds its own when no body came
      }
      if (wake_now) now_cv_.notify_all();
      agents_.Notify(node);
    }
    if (seen_versions_.size() > 100000) seen_versions_.clear();  // bounded; a clear only wakes
    const int64_t status = cp_.StatusRevision(), store = store_.Revision();
    if (status != seen_status_ || store != seen_store_) {
      seen_status_ = status;
      seen_store_ = store;
      watches_.Notify();
    }
    checking_ = false;
    if (!dirty_ || checking_.exchange(true)) return;  // nothing new, or another check runs
    if (on_notifier) {
      // Changes during this check: the next one runs on the pool, not on this caller's time.
      pool_->Post([this] { Check(/*on_notifier=*/false); });
      return;
    }
  }
}

std::string ApiWaits::AnswerBody(const std::string& node, int64_t after, int64_t version,
                                 bool delta, bool shared) {
  if (delta && version == after) {
    // Nothing changed since what the agent holds: an empty delta, without the set.
    std::lock_guard<std::mutex> lk(history_mu_);
    if (history_.Find(node, after)) {
      AssignmentDelta d;
      d.full = false;
      d.base = d.version = after;
      return Dump(AssignmentAnswerJson(d));
    }
  }
  AssignmentSet set;
  if (Status st = cp_.WaitAssignments(node, -1, 0, &set); !st.ok()) return std::string();
  if (!delta) return Dump(shared ? SharedAssignmentSetJson(set) : json(set));
  SetDigest now = DigestOf(set.instances);
  std::lock_guard<std::mutex> lk(history_mu_);
  const AssignmentDelta d = ComputeAssignmentDelta(history_.Find(node, after), after, set);
  history_.Remember(node, set.version, std::move(now));
  return Dump(AssignmentAnswerJson(d));
}

std::optional<FrontDoorAnswer> ApiWaits::ParsePoll(const FrontDoorCall& call, PollQuery* q) {
  q->node = TargetParam(call.target, "node");
  if (q->node.empty() || q->node.size() > 253) {
    return FrontDoorError(400, "InvalidRequest", "node: want a node name of 1-253 characters");
  }
  q->after = TargetHasParam(call.target, "after")
                 ? std::atoll(TargetParam(call.target, "after").c_str())
                 : -1;
  q->wait_ms =
      TargetHasParam(call.target, "waitMs")
          ? std::clamp<int64_t>(std::atoll(TargetParam(call.target, "waitMs").c_str()), 0, 60000)
          : 25000;
  q->delta = TargetParam(call.target, "delta") == "true";
  q->shared = q->delta || TargetParam(call.target, "specs") == "shared";
  return std::nullopt;
}

std::optional<FrontDoorAnswer> ApiWaits::RefusePoll(const FrontDoorCall& call,
                                                    const std::string& node) {
  Principal who;
  auth_.AuthorizeAs(call.Header("Authorization"), "GET", RouteClass::kAgent, &who);
  const NodeAccess a =
      DecideNodeAccess(who, NodeAction::kAssignments, node, auth_.NodeClaimed(node));
  if (a.verdict != NodeAccess::Verdict::kAllow) {
    if (deny_) deny_(who, NodeAction::kAssignments, node, a.message);
    return FrontDoorError(403, "Forbidden", a.message);
  }
  // Only the leader hands out work (docs/ha.md): an agent that asks another member moves on.
  if (!cp_.Leads()) {
    return FrontDoorError(503, "NotLeader",
                          "this tided member does not lead: agents take their assignments from the "
                          "leader (GET /v1/leader names it)");
  }
  return std::nullopt;
}

asio::awaitable<FrontDoorAnswer> ApiWaits::Assignments(FrontDoorCall call) {
  FrontDoorAnswer ans = co_await [&]() -> asio::awaitable<FrontDoorAnswer> {
    const auto ex = co_await asio::this_coro::executor;
    PollQuery q;
    if (auto bad = ParsePoll(call, &q)) co_return std::move(*bad);
    const std::string& node = q.node;
    std::optional<FrontDoorAnswer> refused =
        co_await pool_->Off([&] { return RefusePoll(call, node); });
    if (refused) co_return std::move(*refused);
    const int64_t after = q.after;
    const auto deadline = SteadyClock::now() + std::chrono::milliseconds(q.wait_ms);
    // Registered before the first read: a check that sees the version move answers it.
    auto poll = std::make_shared<Poll>();
    poll->after = after;
    poll->delta = q.delta;
    poll->shared = q.shared;
    std::multimap<std::string, std::shared_ptr<Poll>>::iterator registered;
    {
      std::lock_guard<std::mutex> lk(polls_mu_);
      registered = polls_.emplace(node, poll);
    }
    struct Unregister {
      ApiWaits* w;
      std::multimap<std::string, std::shared_ptr<Poll>>::iterator it;
      ~Unregister() {
        std::lock_guard<std::mutex> lk(w->polls_mu_);
        w->polls_.erase(it);
      }
    } unregister{this, registered};
    auto answered = [&](std::string* body) {
      std::lock_guard<std::mutex> lk(polls_mu_);
      if (poll->answered) *body = std::move(poll->body);
      return poll->answered;
    };
    FrontDoorAnswer a;
    int64_t version = -1;
    for (;;) {
      // Armed before reading: a change after the read wakes the wait.
      WaitList::Handle w = agents_.Arm(ex, deadline, node);
      if (answered(&a.body)) co_return a;
      version = co_await pool_->Off([&] { return cp_.AssignmentVersion(node); });
      if (version < 0)
        co_return FrontDoorError(404, "NotFound", "node " + node + " is not registered");
      if (version > after || SteadyClock::now() >= deadline) break;
      if (!co_await w->Wait()) break;
    }
    if (answered(&a.body)) co_return a;
    a.body = co_await pool_->Off(
        [&] { return AnswerBody(node, after, version, poll->delta, poll->shared); });
    if (a.body.empty())
      co_return FrontDoorError(404, "NotFound", "node " + node + " is not registered");
    co_return a;
  }();
  CountGet(call, ans.status);
  co_return ans;
}

FrontDoorAnswer ApiWaits::AssignmentsNow(const FrontDoorCall& call,
                                         const std::atomic<bool>& aborted) {
  auto run = [&]() -> FrontDoorAnswer {
    PollQuery q;
    if (auto bad = ParsePoll(call, &q)) return std::move(*bad);
    if (auto refused = RefusePoll(call, q.node)) return std::move(*refused);
    const auto deadline = SteadyClock::now() + std::chrono::milliseconds(q.wait_ms);
    auto poll = std::make_shared<Poll>();
    poll->after = q.after;
    poll->delta = q.delta;
    poll->shared = q.shared;
    poll->now = true;
    std::unique_lock<std::mutex> lk(polls_mu_);
    // Registered before the first read: a check that sees the version move marks it.
    auto registered = polls_.emplace(q.node, poll);
    ++now_nodes_[q.node];
    struct Unregister {
      ApiWaits* w;
      std::unique_lock<std::mutex>& lk;
      std::multimap<std::string, std::shared_ptr<Poll>>::iterator it;
      ~Unregister() {
        if (!lk.owns_lock()) lk.lock();
        if (--w->now_nodes_[it->first] == 0) w->now_nodes_.erase(it->first);
        w->polls_.erase(it);
      }
    } unregister{this, lk, registered};
    FrontDoorAnswer a;
    int64_t version = -1;
    for (;;) {
      if (aborted) {
        a.status = 0;
        return a;
      }
      if (poll->answered) {
        a.body = std::move(poll->body);
        return a;
      }
      poll->moved = false;
      lk.unlock();
      version = cp_.AssignmentVersion(q.node);
      lk.lock();
      if (version < 0)
        return FrontDoorError(404, "NotFound", "node " + q.node + " is not registered");
      if (version > q.after || SteadyClock::now() >= deadline) break;
      now_cv_.wait_until(lk, deadline,
                         [&] { return poll->answered || poll->moved || aborted.load(); });
    }
    if (poll->answered) {
      a.body = std::move(poll->body);
      return a;
    }
    lk.unlock();
    a.body = AnswerBody(q.node, q.after, version, q.delta, q.shared);
    if (a.body.empty())
      return FrontDoorError(404, "NotFound", "node " + q.node + " is not registered");
    return a;
  };
  FrontDoorAnswer ans = run();
  if (ans.status != 0) CountGet(call, ans.status);
  return ans;
}

void ApiWaits::CountGet(const FrontDoorCall& call, int status) {
  metrics_.api_requests_total
      .Add({{"method", "GET"},
            {"route", ApiRouteLabel(PathOf(call.target))},
            {"code", std::to_string(status)}})
      .Increment();
}

void ApiWaits::AbortNow() {
  std::lock_guard<std::mutex> lk(polls_mu_);
  now_cv_.notify_all();
}

asio::awaitable<FrontDoorAnswer> ApiWaits::Watch(FrontDoorCall call) {
  FrontDoorAnswer ans = co_await [&]() -> asio::awaitable<FrontDoorAnswer> {
    const auto ex = co_await asio::this_coro::executor;
    const std::string path = PathOf(call.target);
    const std::string prefix = "/v1/workloads/";
    const std::string name = path.substr(std::min(path.size(), prefix.size()));
    const bool valid_name =
        !name.empty() && name.size() <= 253 &&
        name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string::npos;
    if (path.rfind(prefix, 0) != 0 || !valid_name || call.method != "GET") {
      co_return FrontDoorError(404, "NotFound", "no route " + call.method + " " + path);
    }
    const std::string if_none_match = call.Header("If-None-Match");
    const int64_t wait_ms =
        std::clamp<int64_t>(std::atoll(TargetParam(call.target, "waitMs").c_str()), 0, 60000);
    const auto deadline = SteadyClock::now() + std::chrono::milliseconds(wait_ms);
    struct Read {
      int status = 200;
      std::string body, etag, code, message;
    };
    for (;;) {
      WaitList::Handle w = watches_.Arm(ex, deadline);
      Read r = co_await pool_->Off([&] {
        // Many watches of one workload share one read per change of the control plane's status
        // revision or the store's: a wake-up of 500 watches costs one read, not 500.
        const int64_t status_rev = cp_.StatusRevision(), store_rev = store_.Revision();
        {
          std::lock_guard<std::mutex> lk(cache_mu_);
          auto it = cache_.find(name);
          if (it != cache_.end() && it->second.status_rev == status_rev &&
              it->second.store_rev == store_rev) {
            return Read{200, it->second.body, it->second.etag, "", ""};
          }
        }
        Read out;
        StoredObject o;
        if (Status st = store_.Get(name, &o); !st.ok()) {
          out.status = st.code() == Status::Code::kNotFound ? 404 : 500;
          out.code = st.code() == Status::Code::kNotFound ? "NotFound" : "Internal";
          out.message = st.message();
          return out;
        }
        json j = WorkloadJson(cp_, o);
        j["instances"] = cp_.Instances(o.object.metadata.name, "");
        out.body = Dump(j);
        char etag[32];
        std::snprintf(etag, sizeof etag, "\"%016zx\"", std::hash<std::string>{}(out.body));
        out.etag = etag;
        std::lock_guard<std::mutex> lk(cache_mu_);
        if (cache_.size() >= 256) cache_.clear();  // bounded whatever is watched
        cache_[name] = CachedRead{status_rev, store_rev, out.body, out.etag};
        return out;
      });
      if (r.status != 200) co_return FrontDoorError(r.status, r.code, r.message);
      if (if_none_match != r.etag) {
        FrontDoorAnswer a;
        a.body = std::move(r.body);
        a.headers.emplace_back("ETag", r.etag);
        co_return a;
      }
      // Unchanged: wait for a change (one may leave this workload as it was: wait again), or
      // answer 304 Not Modified at the deadline.
      if (SteadyClock::now() >= deadline || !co_await w->Wait()) {
        FrontDoorAnswer a;
        a.status = 304;
        a.headers.emplace_back("ETag", r.etag);
        co_return a;
      }
    }
  }();
  CountGet(call, ans.status);
  co_return ans;
}

}  // namespace tide
