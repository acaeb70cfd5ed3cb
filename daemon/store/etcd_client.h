// EtcdClient: a small client of etcd's v3 API through its JSON gateway (HTTP+JSON on the client
// URL, paths /v3/kv/range, /v3/kv/put, /v3/kv/deleterange, /v3/kv/txn, /v3/lease/grant,
// /v3/lease/keepalive, /v3/lease/revoke, /v3/watch; etcd 3.4 as Debian ships it). No C++ etcd
// client is packaged in Debian, and this is all Tide needs.
//
// Wire facts the code relies on: keys and values are base64 in JSON; 64-bit numbers are JSON
// strings; fields at their zero value are left out of answers (a PUT event has no "type", a
// failed txn no "succeeded"). Streamed calls (keepalive, watch) answer one JSON object per line,
// each wrapped in {"result": ...} (or {"error": ...}).
//
// Endpoints: ParseEtcdUrl turns `etcd://HOST:PORT[,HOST:PORT...]` into client URLs. A call goes to
// the endpoint that answered last; when that one cannot be reached it tries the others in order
// (once each) before answering kUnavailable. An answer from etcd that is an error (a missing
// lease, a bad request) is not retried elsewhere.
//
// Errors: kUnavailable when no endpoint answered ("etcd at ...: connection failed"), kInternal or
// kInvalid with etcd's own message otherwise; the message always starts with "etcd".
//
// Thread-safety: every method may be called from any thread (a small pool of HTTP connections).
// A Watch runs on its own thread until Stop() or destruction.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "api/status.h"

namespace tide::etcd {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
};

struct RangeResult {
  std::vector<KeyValue> kvs;
  int64_t revision = 0;  // the store's revision when the range was read
  int64_t count = 0;
  bool more = false;
};

// One condition of a txn: TARGET(key) OP value. For a key that does not exist, version,
// create_revision and mod_revision are 0.
struct Compare {
  enum class Target { kVersion, kCreate, kMod, kValue, kLease };
  enum class Result { kEqual, kGreater, kLess, kNotEqual };
  std::string key;
  Target target = Target::kMod;
  Result result = Result::kEqual;
  int64_t number = 0;  // for kVersion, kCreate, kMod, kLease
  std::string value;   // for kValue

  static Compare ModEquals(std::string key, int64_t rev) {
    return {std::move(key), Target::kMod, Result::kEqual, rev, {}};
  }
  static Compare CreateEquals(std::string key, int64_t rev) {
    return {std::move(key), Target::kCreate, Result::kEqual, rev, {}};
  }
  static Compare Missing(std::string key) { return CreateEquals(std::move(key), 0); }
  static Compare ValueEquals(std::string key, std::string value) {
    return {std::move(key), Target::kValue, Result::kEqual, 0, std::move(value)};
  }
};

// One operation of a txn.
struct Op {
  enum class Type { kPut, kDelete, kRange };
  Type type = Type::kPut;
  std::string key;
  std::string value;      // kPut
  int64_t lease = 0;      // kPut: attach to this lease (0: none)
  std::string range_end;  // kDelete, kRange: [key, range_end); empty = key alone

  static Op Put(std::string key, std::string value, int64_t lease = 0) {
    return {Type::kPut, std::move(key), std::move(value), lease, {}};
  }
  static Op Delete(std::string key, std::string range_end = {}) {
    return {Type::kDelete, std::move(key), {}, 0, std::move(range_end)};
  }
  static Op Range(std::string key, std::string range_end = {}) {
    return {Type::kRange, std::move(key), {}, 0, std::move(range_end)};
  }
};

struct TxnResult {
  bool succeeded = false;
  int64_t revision = 0;
  std::vector<RangeResult> ranges;  // one per kRange op of the branch that ran, in order
};

struct Event {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;  // for kDelete: key and mod_revision (the deletion's revision)
};

// The range_end that makes [prefix, end) every key starting with prefix.
std::string PrefixEnd(const std::string& prefix);

// "etcd://h1:2379,h2:2379" -> {"http://h1:2379", "http://h2:2379"}; Invalid naming the problem
// (wrong scheme, empty list, a bad HOST:PORT).
Status ParseEtcdUrl(const std::string& url, std::vector<std::string>* endpoints);

class EtcdClient {
 public:
  struct Options {
    std::vector<std::string> endpoints;  // http://HOST:PORT
    double timeout_seconds = 5;          // per call
  };
  explicit EtcdClient(Options opts);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  const Options& options() const { return opts_; }

  // [key, range_end) (range_end empty: key alone); limit 0 = all. revision > 0 reads at it.
  Status Range(const std::string& key, const std::string& range_end, RangeResult* out,
               int64_t limit = 0, int64_t revision = 0);
  // The key alone; *found false when absent (not an error).
  Status Get(const std::string& key, KeyValue* out, bool* found);
  Status Put(const std::string& key, const std::string& value, int64_t lease = 0,
             int64_t* revision = nullptr);
  Status Delete(const std::string& key, const std::string& range_end = {},
                int64_t* deleted = nullptr);
  // If every compare holds, runs `success`, else `failure`; one atomic step of etcd.
  Status Txn(const std::vector<Compare>& compares, const std::vector<Op>& success,
             const std::vector<Op>& failure, TxnResult* out);

  // A lease of ttl_seconds; *id its id, *granted_ttl (optional) what etcd granted.
  Status LeaseGrant(int64_t ttl_seconds, int64_t* id, int64_t* granted_ttl = nullptr);
  // Renews it once; *ttl the new TTL, 0 when the lease no longer exists (expired or revoked).
  Status LeaseKeepAlive(int64_t id, int64_t* ttl);
  Status LeaseRevoke(int64_t id);

  // POSTs a JSON body to one gateway path (e.g. "/v3/kv/range"); *answer the parsed 2xx body.
  // Public for the units built on this client (leases, elections); the calls above use it.
  Status Call(const std::string& path, const nlohmann::json& body, nlohmann::json* answer);

 private:
  struct Conn;
  std::unique_ptr<Conn> Take(size_t endpoint);
  void Give(std::unique_ptr<Conn> c);

  Options opts_;
  std::mutex mu_;
  size_t current_ = 0;                                    // guarded by mu_
  std::vector<std::vector<std::unique_ptr<Conn>>> idle_;  // per endpoint; guarded by mu_
};

// A watch of [key, range_end) from start_revision (0: from now), on its own thread. Events are
// handed to on_events in revision order, one call per etcd answer (a txn's events together).
// A watch from now starts at the revision after the one etcd created it at. When the stream
// breaks (etcd restarted, endpoint gone) it reconnects from the revision after the last one
// delivered (its start when none was: never from a later "now"), trying every endpoint, waiting
// a little between rounds; on_error is told each break. A start revision that etcd compacted
// away is reported to on_error with compacted=true and the watch resumes from the compact
// revision: the owner must re-read.
class Watch {
 public:
  using EventsFn = std::function<void(const std::vector<Event>& events, int64_t revision)>;
  using ErrorFn = std::function<void(const Status& why, bool compacted)>;
  Watch(const EtcdClient::Options& opts, std::string key, std::string range_end,
        int64_t start_revision, EventsFn on_events, ErrorFn on_error = nullptr);
  ~Watch();  // Stop()
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;
  void Start();
  void Stop();
  // True once etcd confirmed the watch (created) at least once.
  bool Created() const { return created_.load(); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> created_{false};
  std::thread thread_;
};

// base64 (RFC 4648, with padding), as etcd's JSON gateway wants keys and values.
std::string Base64Encode(const std::string& in);
// false on a character outside the alphabet or a bad length.
bool Base64Decode(const std::string& in, std::string* out);

}  // namespace tide::etcd
