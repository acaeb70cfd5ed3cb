// FrontDoor: the public listener of tided's REST API, in front of the threaded cpp-httplib server.
//
// cpp-httplib gives every connection a worker thread (a pool of 16) from accept on, and its read
// timeout is per recv: a client that trickles a header byte every few seconds (slow-loris) holds
// a worker for hours, and 16 of them stop the API. The front door reads each request event-driven
// (Boost.Beast on one Asio thread, no thread per connection) and only hands COMPLETE requests to
// the backend:
//  - the request head must arrive within header_timeout_ms of the connection (or of the end of
//    the previous request) and fit max_header_bytes (else 431); the body must arrive within
//    body_timeout_ms and fit max_body_bytes (else 413, sent at once from the declared
//    Content-Length; what the client still sends is read and dropped for up to 5 s so it can
//    read the answer). A client too slow is disconnected without an answer.
//  - at most max_connections client connections at once; more are closed on accept.
//  - each request goes to the backend (127.0.0.1:backend_port) on a connection of its own with
//    `Connection: close`, and the answer is copied back byte for byte until the backend closes,
//    so long-polls and streamed logs (`follow=true`) pass through unchanged. The client's
//    connection is closed after the answer (one request per client connection).
// The backend sees only the front door's loopback address as its peer.
//
// Thread-safety: Start and Stop from one thread; Stop closes every connection and joins.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "api/status.h"

namespace tide {

struct FrontDoorOptions {
  std::string listen = "127.0.0.1:7400";  // HOST:PORT, PORT 0 = any
  int backend_port = 0;                   // where the complete requests go (127.0.0.1)
  int64_t header_timeout_ms = 10000;
  int64_t body_timeout_ms = 30000;
  size_t max_header_bytes = 16 << 10;
  size_t max_body_bytes = 8 << 20;
  int max_connections = 1024;
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
  int open_connections() const;  // client connections being served now

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tide
