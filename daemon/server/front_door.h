// FrontDoor: the public listener of tided's REST API, in front of threaded cpp-httplib servers.
//
// cpp-httplib gives every connection a worker thread from accept on, and its read timeout is
// per recv: a client that trickles a header byte every few seconds (slow-loris) holds a worker
// for hours. The front door reads each request event-driven (Boost.Beast on one Asio thread, no
// thread per connection) and only hands COMPLETE, ADMITTED requests to a backend:
//  - the request head must arrive within header_timeout_ms of the connection and fit
//    max_header_bytes (else 431); the body must arrive within body_timeout_ms and fit
//    max_body_bytes (else 413, sent at once from the declared Content-Length; what the client
//    still sends is read and dropped for up to 5 s so it can read the answer). A client too
//    slow is disconnected without an answer.
//  - connections whose head has not arrived yet are "pending": at most max_pending of them.
//    A new connection over that bound evicts the OLDEST pending one (closed without an
//    answer). A pending connection holds nothing but its socket, so a flood of half-sent
//    requests only pushes out other half-sent requests: a client that sends its head at once
//    (every agent and tidectl does) is classified within microseconds and is never evicted.
//  - once the head is read, `admit` (optional) classifies the request: a refusal (e.g. 401 for
//    a missing or invalid token) is answered at once by the front door, without reading the
//    body or touching a backend; otherwise it names a lane. Each lane has its own backend port
//    (its own worker pool), so waiting requests of one lane never starve another.
//  - connection budgets: requests of agent lanes count against max_agent_connections, all
//    others against max_connections (503 with Retry-After when full), so client load cannot
//    fill what agents need.
//  - per-client limits on client lanes, answered 429 with Retry-After: requests in flight per
//    peer address (max_per_peer), per principal per lane (FrontDoorLane::max_per_principal,
//    e.g. concurrent watches per token), in flight per lane (FrontDoorLane::max_inflight), and
//    a request rate per principal (token bucket: rate_per_principal/s, burst 2x).
//  - each request of a lane without `serve` goes to its lane's backend (127.0.0.1) on a connection
//  of its own with
//    `Connection: close`; the answer is relayed as it arrives, framed as the backend framed it
//    (Content-Length or chunked), so long-polls and streamed logs (`follow=true`) pass through.
//  - keep-alive: a client that asks for it keeps its connection for its next request (which is
//    then read like a first one: pending, header timeout, admission), so agents and tidectl
//    pay the TCP and TLS handshakes once, not per request. An idle kept connection is pending
//    and evicted first like any other, except one that has carried an admitted agent-lane
//    request: while it waits for its next head it is outside the pending bound (a flood of
//    half-sent requests cannot push 1,000 agents' connections out), up to
//    max_agent_connections such connections, and the header timeout still closes it.
//  - TLS (tls_cert_file/tls_key_file, api/tls.h): the listener then speaks only TLS; the
//    handshake counts as waiting for the head. A connection whose first byte is not a TLS
//    handshake (plain HTTP) gets a plain 400 NotTls saying to use https://.
//  - a lane with a `serve` handler is answered in the front door itself: the handler is a
//    coroutine on the front door's io_context, so a request that waits (an agent's
//    assignments long-poll, a client watch) holds a timer and a socket, never a thread.
//    Its answer keeps the client's connection open when the client asked for keep-alive.
// The backends see only the front door's loopback address as their peer.
//
// Thread-safety: Start and Stop from one thread; Stop closes every connection and joins. `admit`
// runs on the front door's thread and must not block. The counters read from any thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/status.h"

namespace tide {

// What `admit` sees of a request: its head only.
struct FrontDoorRequest {
  std::string method;
  std::string target;         // path and query, as sent
  std::string authorization;  // the Authorization header ("" when absent)
  std::string peer;           // the client's IP address
};

struct FrontDoorAdmission {
  int lane = 0;    // index into FrontDoorOptions::lanes
  int status = 0;  // non-zero: answer this at once (with code and message), no backend
  std::string code, message;
  std::string principal;  // who (a token's name): per-principal limits; "" = none apply
  bool timed = false;     // report its duration (head read to answer written) to on_timed
};

// A complete, admitted request as an in-process handler (FrontDoorLane::serve) sees it.
struct FrontDoorCall {
  std::string method, target, body, peer;
  std::string principal;  // from the admission
  std::vector<std::pair<std::string, std::string>> headers;
  std::string Header(const std::string& name) const;  // case-insensitive; "" when absent
};

struct FrontDoorAnswer {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Runs on the front door's io_context (co_await asio::this_coro::executor); it must not block
// that thread: blocking work goes elsewhere (co_spawn on a pool) and is awaited.
using FrontDoorHandler = std::function<boost::asio::awaitable<FrontDoorAnswer>(FrontDoorCall)>;

// Where a request of a lane with `route` goes: relayed to host:port as GET `target` with these
// headers (none of the client's), its answer streamed back for as long as it lasts; or, when
// `answer` is set, that answer at once.
struct FrontDoorRoute {
  std::string host;  // a name or an address, resolved asynchronously
  int port = 0;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<FrontDoorAnswer> answer;
};

// Runs on the front door's io_context, like FrontDoorHandler; blocking work goes elsewhere.
using FrontDoorRouter = std::function<boost::asio::awaitable<FrontDoorRoute>(FrontDoorCall)>;

struct FrontDoorLane {
  int backend_port = 0;       // 127.0.0.1:backend_port serves this lane (unless `serve`/`route`)
  FrontDoorHandler serve;     // set: answered in process, asynchronously (no backend)
  FrontDoorRouter route;      // set: relayed where it says, asynchronously (no thread)
  bool agent = false;         // counts against max_agent_connections; no per-client limits
  int max_inflight = 0;       // requests of this lane in flight at once (0: no bound here)
  int max_per_principal = 0;  // of them, per principal (0: no bound)
};

struct FrontDoorOptions {
  std::string listen = "127.0.0.1:7400";  // HOST:PORT, PORT 0 = any
  int backend_port = 0;                   // the only lane when `lanes` is empty
  std::vector<FrontDoorLane> lanes;
  std::function<FrontDoorAdmission(const FrontDoorRequest&)> admit;  // none: all go to lane 0
  int64_t header_timeout_ms = 10000;
  int64_t body_timeout_ms = 30000;
  size_t max_header_bytes = 16 << 10;
  size_t max_body_bytes = 8 << 20;
  int max_connections = 1024;        // admitted client requests at once
  int max_agent_connections = 4096;  // admitted agent-lane requests at once
  int max_pending = 0;               // heads not yet read (0: max_connections)
  int max_per_peer = 256;            // client requests in flight per peer address (0: none)
  double rate_per_principal = 0;     // client requests per second per principal (0: none)
  std::string tls_cert_file;         // PEM chain; with tls_key_file: TLS only (api/tls.h)
  std::string tls_key_file;
  std::function<void(double seconds)> on_timed;  // for admitted requests marked `timed`
};

class FrontDoor {
 public:
  explicit FrontDoor(FrontDoorOptions opts);
  ~FrontDoor();  // Stop()
  FrontDoor(const FrontDoor&) = delete;
  FrontDoor& operator=(const FrontDoor&) = delete;

  Status Start();  // binds, then serves on a background thread
  void Stop();
  int port() const;
  int open_connections() const;    // client connections being served now (any phase)
  int64_t evicted() const;         // pending connections closed to make room, since Start
  int64_t limited() const;         // requests answered 429 or 503 by the limits, since Start
  int64_t tls_handshakes() const;  // TLS handshakes completed, since Start

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tide
