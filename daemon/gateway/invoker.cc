#include "daemon/gateway/invoker.h"

#include <httplib.h>
#include <spdlog/spdlog.h>
#include <strings.h>

#include <random>

#include "api/json.h"

namespace tide {
namespace {

using nlohmann::json;

// Stored blobs: a JSON head, a newline, then the raw body (byte-exact).
std::string Pack(const json& head, const std::string& body) {
  return head.dump(-1, ' ', false, json::error_handler_t::replace) + "\n" + body;
}

bool Unpack(const std::string& blob, json* head, std::string* body) {
  size_t nl = blob.find('\n');
  if (nl == std::string::npos) return false;
  *head = json::parse(blob.substr(0, nl), nullptr, false);
  *body = blob.substr(nl + 1);
  return !head->is_discarded();
}

std::string NewId() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[33];
  snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(rng()),
           static_cast<unsigned long long>(rng()));
  return buf;
}

}  // namespace

Invoker::Invoker(InvokerOptions opts, ObjectStore& store, Clock& clock)
    : opts_(std::move(opts)), store_(store), clock_(clock) {}

Invoker::~Invoker() { Stop(); }

void Invoker::Start() {
  if (opts_.leads) {  // several members: the leader's scans find what is pending
    threads_.emplace_back([this] { Scan(); });
  } else {
    std::vector<std::string> pending;
    store_.ListPendingInvocations(&pending);
    {
      std::lock_guard<std::mutex> lk(mu_);
      for (const auto& id : pending) {
        if (held_.insert(id).second) due_.emplace(clock_.NowMs(), id);
      }
    }
    if (!pending.empty()) spdlog::info("invoker: resuming {} invocations", pending.size());
  }
  for (int i = 0; i < opts_.workers; ++i) threads_.emplace_back([this] { Work(); });
}

void Invoker::Scan() {
  bool leading = false;
  std::unique_lock<std::mutex> lk(mu_);
  while (!stopping_) {
    lk.unlock();
    const bool now_leads = Leads();
    std::vector<std::string> pending;
    const bool listed = now_leads && store_.ListPendingInvocations(&pending).ok();
    lk.lock();
    if (stopping_) break;
    if (!now_leads) {
      if (leading) spdlog::info("invoker: no longer the leader; {} scheduled left", due_.size());
      for (const auto& [at, id] : due_) held_.erase(id);
      due_.clear();
    } else if (listed) {
      size_t added = 0;
      for (const auto& id : pending) {
        if (!held_.insert(id).second) continue;
        due_.emplace(clock_.NowMs(), id);
        ++added;
      }
      if (added > 0) {
        spdlog::info("invoker: {} pending invocation(s) to deliver{}", added,
                     leading ? "" : " (this member now leads)");
        cv_.notify_all();
      }
    }
    leading = now_leads;
    scan_cv_.wait_for(lk, std::chrono::milliseconds(opts_.scan_period_ms));
  }
}

void Invoker::Stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  scan_cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

Status Invoker::Enqueue(const std::string& workload, AsyncInvocation inv, std::string* id) {
  Invocation rec;
  rec.id = NewId();
  rec.workload = workload;
  rec.state = "Queued";
  json headers = json::array();
  for (const auto& [k, v] : inv.headers) headers.push_back({k, v});
  rec.request =
      Pack({{"method", inv.method}, {"target", inv.target}, {"headers", headers}}, inv.body);
  Status st = store_.PutInvocation(rec);
  if (!st.ok()) return st;
  if (Leads()) {  // else the leader's next scan finds it
    std::lock_guard<std::mutex> lk(mu_);
    if (held_.insert(rec.id).second) due_.emplace(clock_.NowMs(), rec.id);
  }
  cv_.notify_all();
  *id = rec.id;
  return Status::Ok();
}

void Invoker::Work() {
  std::unique_lock<std::mutex> lk(mu_);
  while (!stopping_) {
    if (due_.empty()) {
      cv_.wait(lk);
      continue;
    }
    int64_t now = clock_.NowMs();
    auto first = due_.begin();
    if (first->first > now) {
      cv_.wait_for(lk, std::chrono::milliseconds(first->first - now));
      continue;
    }
    std::string id = first->second;
    due_.erase(first);
    lk.unlock();
    Deliver(id);
    lk.lock();
  }
}

void Invoker::Deliver(const std::string& id) {
  bool again = false;  // scheduled for a retry: still held
  DeliverOnce(id, &again);
  if (!again) {
    std::lock_guard<std::mutex> lk(mu_);
    held_.erase(id);
  }
}

void Invoker::DeliverOnce(const std::string& id, bool* again) {
  Invocation inv;
  if (!Leads() || !store_.GetInvocation(id, &inv).ok()) return;
  if (inv.state != "Queued" && inv.state != "Running") return;  // done (by a former leader)
  json head;
  std::string body;
  if (!Unpack(inv.request, &head, &body)) {
    inv.state = "DeadLetter";
    inv.response = Pack({{"error", "stored request is unreadable"}}, "");
    store_.PutInvocationAsLeader(inv);
    return;
  }
  ++inv.attempts;
  inv.state = "Running";
  // The claim: refused when this member was deposed meanwhile (fenced), and then not delivered.
  if (Status st = store_.PutInvocationAsLeader(inv); !st.ok()) {
    spdlog::warn("invocation {}: not delivered by this member: {}", id, st.message());
    return;
  }

  httplib::Client cli(opts_.gateway_url);
  cli.set_connection_timeout(5, 0);
  int secs = static_cast<int>(opts_.timeout_seconds);
  cli.set_read_timeout(secs, 0);
  cli.set_write_timeout(secs, 0);
  httplib::Headers headers;
  std::string ctype = "application/octet-stream";
  for (const auto& h : head.value("headers", json::array())) {
    std::string k = h[0], v = h[1];
    if (strcasecmp(k.c_str(), "Content-Type") == 0) {
      ctype = v;
      continue;
    }
    headers.emplace(k, v);
  }
  headers.emplace("X-Tide-Invocation-Id", id);
  headers.emplace("X-Tide-Attempt", std::to_string(inv.attempts));
  std::string path = "/function/" + inv.workload + head.value("target", std::string("/"));
  auto res = cli.Post(path, headers, body, ctype);

  int status = res ? res->status : 0;
  bool ok = status >= 200 && status < 300;
  bool retryable = status == 0 || status >= 500 || status == 408 || status == 429;
  json rhead = {{"status", status}};
  std::string rbody;
  if (res) {
    json rh = json::object();
    for (const auto& [k, v] : res->headers) rh[k] = v;
    rhead["headers"] = rh;
    rbody = res->body;
  } else {
    rhead["error"] = httplib::to_string(res.error());
  }
  inv.response = Pack(rhead, rbody);
  if (ok) {
    inv.state = "Succeeded";
  } else if (retryable && inv.attempts < opts_.max_attempts) {
    inv.state = "Queued";
    int64_t delay = opts_.first_retry_ms << (inv.attempts - 1);
    std::lock_guard<std::mutex> lk(mu_);
    due_.emplace(clock_.NowMs() + delay, id);
    *again = true;
    cv_.notify_all();
  } else {
    inv.state = "DeadLetter";
    spdlog::warn("invocation {} of {} failed after {} attempts (last status {})", id, inv.workload,
                 inv.attempts, status);
  }
  if (Status st = store_.PutInvocationAsLeader(inv); !st.ok()) {
    // Deposed during the attempt: the next leader finds it Running and makes it again.
    spdlog::warn("invocation {}: result not recorded by this member: {}", id, st.message());
  }
}

json Invoker::ToJson(const Invocation& inv) {
  json j = {{"id", inv.id},
            {"workload", inv.workload},
            {"state", inv.state},
            {"attempts", inv.attempts},
            {"createdAt", FormatTime(inv.created_ms)},
            {"updatedAt", FormatTime(inv.updated_ms)}};
  json head;
  std::string body;
  if (!inv.response.empty() && Unpack(inv.response, &head, &body)) {
    json result = head;
    result["body"] = body;  // invalid UTF-8 is replaced when rendered
    j["result"] = result;
  }
  return j;
}

}  // namespace tide
