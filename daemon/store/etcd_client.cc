#include "daemon/store/etcd_client.h"

#include <chrono>
#include <condition_variable>

#include "api/address.h"
#include "daemon/store/etcd_http.h"

namespace tide::etcd {
namespace {

using json = nlohmann::json;

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// 64-bit numbers come as strings; a field left out is 0.
int64_t Num(const json& j, const char* field) {
  if (!j.is_object() || !j.contains(field)) return 0;
  const json& v = j[field];
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_string()) {
    try {
      return std::stoll(v.get<std::string>());
    } catch (const std::exception&) {
      return 0;
    }
  }
  return 0;
}

std::string Bytes(const json& j, const char* field) {
  std::string out;
  if (j.is_object() && j.contains(field) && j[field].is_string()) {
    Base64Decode(j[field].get<std::string>(), &out);
  }
  return out;
}

KeyValue KvOf(const json& j) {
  KeyValue kv;
  kv.key = Bytes(j, "key");
  kv.value = Bytes(j, "value");
  kv.create_revision = Num(j, "create_revision");
  kv.mod_revision = Num(j, "mod_revision");
  kv.version = Num(j, "version");
  kv.lease = Num(j, "lease");
  return kv;
}

RangeResult RangeOf(const json& j) {
  RangeResult r;
  r.revision = Num(j.value("header", json::object()), "revision");
  r.count = Num(j, "count");
  r.more = j.value("more", false);
  if (j.contains("kvs") && j["kvs"].is_array()) {
    for (const auto& kv : j["kvs"]) r.kvs.push_back(KvOf(kv));
  }
  return r;
}

json RangeRequest(const std::string& key, const std::string& range_end) {
  json r = {{"key", Base64Encode(key)}};
  if (!range_end.empty()) r["range_end"] = Base64Encode(range_end);
  return r;
}

json OpJson(const Op& op) {
  switch (op.type) {
    case Op::Type::kPut: {
      json p = {{"key", Base64Encode(op.key)}, {"value", Base64Encode(op.value)}};
      if (op.lease != 0) p["lease"] = std::to_string(op.lease);
      return {{"request_put", p}};
    }
    case Op::Type::kDelete:
      return {{"request_delete_range", RangeRequest(op.key, op.range_end)}};
    case Op::Type::kRange:
      return {{"request_range", RangeRequest(op.key, op.range_end)}};
  }
  return json::object();
}

json CompareJson(const Compare& c) {
  static const char* kResult[] = {"EQUAL", "GREATER", "LESS", "NOT_EQUAL"};
  static const char* kTarget[] = {"VERSION", "CREATE", "MOD", "VALUE", "LEASE"};
  json j = {{"key", Base64Encode(c.key)},
            {"result", kResult[static_cast<int>(c.result)]},
            {"target", kTarget[static_cast<int>(c.target)]}};
  switch (c.target) {
    case Compare::Target::kVersion:
      j["version"] = std::to_string(c.number);
      break;
    case Compare::Target::kCreate:
      j["create_revision"] = std::to_string(c.number);
      break;
    case Compare::Target::kMod:
      j["mod_revision"] = std::to_string(c.number);
      break;
    case Compare::Target::kValue:
      j["value"] = Base64Encode(c.value);
      break;
    case Compare::Target::kLease:
      j["lease"] = std::to_string(c.number);
      break;
  }
  return j;
}

// etcd's error answer: {"error": "...", "message": "...", "code": N}.
std::string EtcdMessage(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_object()) {
    if (j.contains("message") && j["message"].is_string()) return j["message"];
    if (j.contains("error") && j["error"].is_string()) return j["error"];
    if (j.contains("error") && j["error"].is_object()) {
      return j["error"].value("message", std::string("unknown error"));
    }
  }
  return body.substr(0, 300);
}

}  // namespace

std::string Base64Encode(const std::string& in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(in[i]) << 16) |
                       (static_cast<uint8_t>(in[i + 1]) << 8) | static_cast<uint8_t>(in[i + 2]);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (i + 1 == in.size()) {
    const uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const uint32_t v = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

bool Base64Decode(const std::string& in, std::string* out) {
  out->clear();
  if (in.size() % 4 != 0) return false;
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '=') {
      if (i + 2 < in.size()) return false;
      ++pad;
      continue;
    }
    if (pad > 0) return false;
    const char* p = std::char_traits<char>::find(kB64, 64, c);
    if (p == nullptr) return false;
    acc = (acc << 6) | static_cast<uint32_t>(p - kB64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return true;
}

std::string PrefixEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    if (static_cast<uint8_t>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<uint8_t>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

Status ParseEtcdUrl(const std::string& url, std::vector<std::string>* endpoints) {
  endpoints->clear();
  const std::string scheme = "etcd://";
  if (url.rfind(scheme, 0) != 0) {
    return Status::Invalid("'" + url +
                           "' is not an etcd URL (want etcd://HOST:PORT[,HOST:PORT...])");
  }
  std::string rest = url.substr(scheme.size());
  if (rest.empty()) return Status::Invalid("'" + url + "' names no etcd endpoint");
  size_t start = 0;
  while (start <= rest.size()) {
    size_t comma = rest.find(',', start);
    if (comma == std::string::npos) comma = rest.size();
    const std::string one = rest.substr(start, comma - start);
    HostPort hp;
    Status s = ParseHostPort(one, PortUse::kDial, &hp);
    if (!s.ok()) return Status::Invalid("etcd endpoint '" + one + "': " + s.message());
    endpoints->push_back(LocalUrl(hp));
    start = comma + 1;
  }
  return Status::Ok();
}

// ---- EtcdClient ----

struct EtcdClient::Conn {
  size_t endpoint = 0;
  std::unique_ptr<EtcdHttp> http;
};

EtcdClient::EtcdClient(Options opts) : opts_(std::move(opts)) {
  idle_.resize(opts_.endpoints.size());
}

EtcdClient::~EtcdClient() = default;

std::unique_ptr<EtcdClient::Conn> EtcdClient::Take(size_t endpoint) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& pool = idle_[endpoint];
    if (!pool.empty()) {
      auto c = std::move(pool.back());
      pool.pop_back();
      return c;
    }
  }
  auto c = std::make_unique<Conn>();
  c->endpoint = endpoint;
  c->http = std::make_unique<EtcdHttp>(opts_.endpoints[endpoint], opts_.timeout_seconds);
  return c;
}

void EtcdClient::Give(std::unique_ptr<Conn> c) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& pool = idle_[c->endpoint];
  if (pool.size() < 8) pool.push_back(std::move(c));
}

Status EtcdClient::Call(const std::string& path, const json& body, json* answer) {
  if (opts_.endpoints.empty()) return Status::Invalid("etcd: no endpoints");
  size_t first = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    first = current_;
  }
  const std::string payload = body.dump();
  std::string last_error;
  const size_t n = opts_.endpoints.size();
  for (size_t i = 0; i < n; ++i) {
    const size_t ep = (first + i) % n;
    auto conn = Take(ep);
    int status = 0;
    std::string text;
    Status sent = conn->http->Post(path, payload, &status, &text);
    if (!sent.ok()) {
      last_error = "etcd at " + opts_.endpoints[ep] + ": " + sent.message();
      continue;  // the connection is dropped, the next endpoint tried
    }
    Give(std::move(conn));
    {
      std::lock_guard<std::mutex> lock(mu_);
      current_ = ep;
    }
    if (status == 503 || status == 502) {
      last_error = "etcd at " + opts_.endpoints[ep] + ": " + EtcdMessage(text);
      continue;  // no quorum or not ready: another member may do
    }
    if (status < 200 || status >= 300) {
      const std::string m = "etcd: " + path + ": " + EtcdMessage(text);
      return status >= 500 ? Status::Internal(m) : Status::Invalid(m);
    }
    // Streamed calls answer {"result": {...}} per line; unary ones the object itself.
    const std::string first_line = text.substr(0, text.find('\n'));
    json j = json::parse(first_line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return Status::Internal("etcd: " + path + ": answer is not JSON");
    }
    if (j.contains("error")) return Status::Internal("etcd: " + path + ": " + EtcdMessage(text));
    if (j.contains("result") && j["result"].is_object()) j = j["result"];
    if (answer != nullptr) *answer = std::move(j);
    return Status::Ok();
  }
  return Status::Unavailable(last_error.empty() ? "etcd unreachable" : last_error);
}

Status EtcdClient::Range(const std::string& key, const std::string& range_end, RangeResult* out,
                         int64_t limit, int64_t revision) {
  json req = RangeRequest(key, range_end);
  if (limit > 0) req["limit"] = std::to_string(limit);
  if (revision > 0) req["revision"] = std::to_string(revision);
  json ans;
  Status s = Call("/v3/kv/range", req, &ans);
  if (!s.ok()) return s;
  *out = RangeOf(ans);
  return Status::Ok();
}

Status EtcdClient::Get(const std::string& key, KeyValue* out, bool* found) {
  RangeResult r;
  Status s = Range(key, "", &r);
  if (!s.ok()) return s;
  *found = !r.kvs.empty();
  if (*found) *out = std::move(r.kvs.front());
  return Status::Ok();
}

Status EtcdClient::Put(const std::string& key, const std::string& value, int64_t lease,
                       int64_t* revision) {
  json req = {{"key", Base64Encode(key)}, {"value", Base64Encode(value)}};
  if (lease != 0) req["lease"] = std::to_string(lease);
  json ans;
  Status s = Call("/v3/kv/put", req, &ans);
  if (s.ok() && revision != nullptr)
    *revision = Num(ans.value("header", json::object()), "revision");
  return s;
}

Status EtcdClient::Delete(const std::string& key, const std::string& range_end, int64_t* deleted) {
  json ans;
  Status s = Call("/v3/kv/deleterange", RangeRequest(key, range_end), &ans);
  if (s.ok() && deleted != nullptr) *deleted = Num(ans, "deleted");
  return s;
}

Status EtcdClient::Txn(const std::vector<Compare>& compares, const std::vector<Op>& success,
                       const std::vector<Op>& failure, TxnResult* out) {
  json req = {{"compare", json::array()}, {"success", json::array()}, {"failure", json::array()}};
  for (const auto& c : compares) req["compare"].push_back(CompareJson(c));
  for (const auto& o : success) req["success"].push_back(OpJson(o));
  for (const auto& o : failure) req["failure"].push_back(OpJson(o));
  json ans;
  Status s = Call("/v3/kv/txn", req, &ans);
  if (!s.ok()) return s;
  TxnResult r;
  r.succeeded = ans.value("succeeded", false);
  r.revision = Num(ans.value("header", json::object()), "revision");
  if (ans.contains("responses") && ans["responses"].is_array()) {
    for (const auto& resp : ans["responses"]) {
      if (resp.contains("response_range")) r.ranges.push_back(RangeOf(resp["response_range"]));
    }
  }
  if (out != nullptr) *out = std::move(r);
  return Status::Ok();
}

Status EtcdClient::LeaseGrant(int64_t ttl_seconds, int64_t* id, int64_t* granted_ttl) {
  json ans;
  Status s = Call("/v3/lease/grant", {{"TTL", std::to_string(ttl_seconds)}}, &ans);
  if (!s.ok()) return s;
  *id = Num(ans, "ID");
  if (granted_ttl != nullptr) *granted_ttl = Num(ans, "TTL");
  if (*id == 0) return Status::Internal("etcd: lease grant answered no lease id");
  return Status::Ok();
}

Status EtcdClient::LeaseKeepAlive(int64_t id, int64_t* ttl) {
  json ans;
  Status s = Call("/v3/lease/keepalive", {{"ID", std::to_string(id)}}, &ans);
  if (!s.ok()) return s;
  *ttl = Num(ans, "TTL");
  return Status::Ok();
}

Status EtcdClient::LeaseRevoke(int64_t id) {
  Status s = Call("/v3/lease/revoke", {{"ID", std::to_string(id)}}, nullptr);
  // A lease that is already gone is revoked as far as the caller is concerned.
  if (!s.ok() && s.message().find("lease not found") != std::string::npos) return Status::Ok();
  return s;
}

// ---- Watch ----

struct Watch::Impl {
  EtcdClient::Options opts;
  std::string key, range_end;
  int64_t next_revision = 0;  // the first revision not yet delivered (0: from now, until created)
  EventsFn on_events;
  ErrorFn on_error;
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  EtcdHttp* active = nullptr;  // guarded by mu; Shutdown() breaks its read
};

Watch::Watch(const EtcdClient::Options& opts, std::string key, std::string range_end,
             int64_t start_revision, EventsFn on_events, ErrorFn on_error)
    : impl_(std::make_unique<Impl>()) {
  impl_->opts = opts;
  impl_->key = std::move(key);
  impl_->range_end = std::move(range_end);
  impl_->next_revision = start_revision;
  impl_->on_events = std::move(on_events);
  impl_->on_error = std::move(on_error);
}

Watch::~Watch() { Stop(); }

void Watch::Start() {
  thread_ = std::thread([this] {
    Impl& im = *impl_;
    size_t ep = 0;
    while (true) {
      const std::string endpoint = im.opts.endpoints[ep % im.opts.endpoints.size()];
      // Reads time out on an idle stream after kIdleSeconds; reconnecting from next_revision
      // loses nothing and notices an etcd that went silent (stopped, cut off).
      constexpr double kIdleSeconds = 10;
      EtcdHttp http(endpoint, kIdleSeconds);
      {
        std::lock_guard<std::mutex> lock(im.mu);
        if (im.stopping) return;
        im.active = &http;
      }
      json create = RangeRequest(im.key, im.range_end);
      if (im.next_revision > 0) create["start_revision"] = std::to_string(im.next_revision);
      std::string buf;
      Status broke = Status::Unavailable("etcd watch stream ended");
      bool compacted = false;
      auto on_chunk = [&](std::string_view data) {
        buf.append(data);
        size_t nl;
        while ((nl = buf.find('\n')) != std::string::npos) {
          json j = json::parse(buf.substr(0, nl), nullptr, false);
          buf.erase(0, nl + 1);
          if (!j.is_object()) continue;
          if (j.contains("error")) {
            broke = Status::Internal("etcd watch: " + EtcdMessage(j.dump()));
            return false;
          }
          const json r = j.value("result", json::object());
          if (r.value("created", false)) {
            created_ = true;
            // A watch "from now" covers every revision after the one it was created at; pin
            // that, so a reconnect resumes there instead of from a later "now" (which would lose
            // what changed between the creation and the break).
            const int64_t at = Num(r.value("header", json::object()), "revision");
            if (im.next_revision == 0 && at > 0) im.next_revision = at + 1;
          }
          const int64_t compact = Num(r, "compact_revision");
          if (compact > 0) {
            compacted = true;
            im.next_revision = compact;
            broke = Status::Unavailable("etcd watch: revision compacted, resuming at " +
                                        std::to_string(compact));
            return false;
          }
          if (r.value("canceled", false)) {
            broke = Status::Internal("etcd watch canceled: " + r.value("cancel_reason", ""));
            return false;
          }
          if (!r.contains("events") || !r["events"].is_array()) continue;
          std::vector<Event> events;
          int64_t last = 0;
          for (const auto& e : r["events"]) {
            Event ev;
            ev.type = e.value("type", std::string()) == "DELETE" ? Event::Type::kDelete
                                                                 : Event::Type::kPut;
            ev.kv = KvOf(e.value("kv", json::object()));
            last = std::max(last, ev.kv.mod_revision);
            events.push_back(std::move(ev));
          }
          if (events.empty()) continue;
          im.next_revision = last + 1;
          im.on_events(events, last);
        }
        std::lock_guard<std::mutex> lock(im.mu);
        return !im.stopping;
      };
      int status = 0;
      std::string answer;
      Status s = http.Post("/v3/watch", json{{"create_request", create}}.dump(), &status, &answer,
                           on_chunk);
      {
        std::lock_guard<std::mutex> lock(im.mu);
        im.active = nullptr;
        if (im.stopping) return;
      }
      const bool idle = !s.ok() && s.message().find("timed out") != std::string::npos;
      if (!s.ok()) {
        broke = Status::Unavailable("etcd watch at " + endpoint + ": " + s.message());
        if (!idle) ++ep;  // try the next endpoint
      } else if (status < 200 || status >= 300) {
        broke = Status::Internal("etcd watch: " + EtcdMessage(answer));
      }
      if (im.on_error && !idle) im.on_error(broke, compacted);
      std::unique_lock<std::mutex> lock(im.mu);
      im.cv.wait_for(lock, std::chrono::milliseconds(compacted ? 0 : 100),
                     [&] { return im.stopping; });
      if (im.stopping) return;
    }
  });
}

void Watch::Stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
    if (impl_->active != nullptr) impl_->active->Shutdown();
  }
  impl_->cv.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace tide::etcd
