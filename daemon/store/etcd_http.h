// EtcdHttp: the HTTP/1.1 connection EtcdClient talks to etcd's JSON gateway over (POST only).
//
// Why not cpp-httplib (which api/client.h uses): etcd 3.4's gateway answers every error with a
// chunked body followed by an HTTP trailer (`Grpc-Trailer-Content-Type`), and the packaged
// cpp-httplib 0.11 fails such an answer as a read error, losing etcd's message ("requested lease
// not found") and the connection. This reader accepts trailers, streams chunks to a callback
// (watch, keepalive), and can be shut down from another thread to end a stream at once.
//
// One connection, used by one thread at a time; Shutdown() may be called from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "api/status.h"

namespace tide::etcd {

class EtcdHttp {
 public:
  // Receives body bytes as they arrive (2xx answers only); return false to stop reading.
  using ChunkFn = std::function<bool(std::string_view)>;

  // endpoint: http://HOST:PORT. timeout_seconds bounds connecting, each write and each read
  // (<= 0: reads wait forever, for streams that stay idle).
  EtcdHttp(std::string endpoint, double timeout_seconds);
  ~EtcdHttp();
  EtcdHttp(const EtcdHttp&) = delete;
  EtcdHttp& operator=(const EtcdHttp&) = delete;

  // POSTs `body` (JSON) to `path`; *status the HTTP status, *answer the whole body (for a 2xx
  // answer with on_chunk set, the chunks go there instead). Unavailable ("connect: ...",
  // "read: ...") when no complete answer came; the connection is then closed and the next call
  // reconnects. The connection is kept for the next call when the answer allows it.
  Status Post(const std::string& path, const std::string& body, int* status, std::string* answer,
              const ChunkFn& on_chunk = nullptr);
  // Breaks a call in progress (it answers Unavailable); the next call reconnects.
  void Shutdown();
  const std::string& endpoint() const { return endpoint_; }

 private:
  Status Connect();
  void Close();
  Status ReadMore();  // appends to buf_
  Status ReadLine(std::string* line);
  Status ReadN(size_t n, std::string* out);

  std::string endpoint_;
  std::string host_;
  int port_ = 0;
  double timeout_s_;
  std::mutex fd_mu_;  // Shutdown() against Close()
  std::atomic<int> fd_{-1};
  std::string buf_;  // bytes read and not yet consumed
};

}  // namespace tide::etcd
