// Client: a small HTTP/JSON client for tided's REST API (and any other Tide HTTP endpoint, such
// as the gateway or an agent's own API). Built on cpp-httplib.
//
// A Client is made from a ClientConfig (base URL, bearer token, timeout, CA file). Every call
// adds `Authorization: Bearer TOKEN` when a token is set, keeps the connection alive between
// calls (over TLS this saves a handshake per call: tided's front door keeps it open), and fills
// a Response. An https:// URL verifies the server (api/tls.h); a refused certificate is
// kUnavailable with Response::reached == false and a message saying why. The returned Status is:
//   - ok() for a 2xx answer;
//   - the code matching the HTTP status (400 -> kInvalid, 404 -> kNotFound, ...) with the
//     server's error message (`{"error":{"message"}}`) for any other answer; Response::reached
//     is then true and Response::body holds the whole error body (use ParseApiError for details);
//   - kUnavailable with Response::reached == false when no HTTP answer came at all (connection
//     refused, DNS failure, timeout). Callers that must tell "server unreachable" from "server
//     said 503" look at Response::reached (see IsUnreachable).
//
// Several members (docs/ha.md): `server` may be a comma list of base URLs
// ("http://a:7400,http://b:7400"). A call that gets no answer from the member in use (connection
// refused or reset, timeout) or a 503 whose error code is NotLeader or NoLeader moves to the next
// member and is sent again, each member at most once per call; the member that answered stays in
// use for the next calls. A retried POST may thus reach a second member after the first one
// took it but died before answering: the API's writes are declarative (apply, scale, delete),
// so sending one twice leaves the same state.
//
// Thread-safety: a Client may be used by one thread at a time (it is not copyable; make one per
// thread). ResolveClientConfig reads the environment and the file system and is thread-compatible.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "api/status.h"
#include "api/tls.h"

namespace httplib {
class Client;
}

namespace tide {

inline constexpr const char* kDefaultServer = "http://127.0.0.1:7400";

struct ClientConfig {
  ClientConfig() = default;
  ClientConfig(std::string server_url, std::string bearer = "", double timeout = 30,
               std::string ca = "", bool pin = false)
      : server(std::move(server_url)),
        token(std::move(bearer)),
        timeout_seconds(timeout),
        ca_file(std::move(ca)),
        pin_server_cert(pin) {}
  std::string server = kDefaultServer;  // base URL http[s]://host:port[/prefix], or a comma list
  std::string token;                    // bearer token; empty = none
  double timeout_seconds = 30;          // connect, read and write timeout per call
  // https only (api/tls.h): the PEM CA file to trust ("" = the system's trust store); with
  // pin_server_cert it holds the server's own certificate, trusted alone and under any name.
  std::string ca_file;
  bool pin_server_cert = false;
};

// Picks server, token and CA file, each independently: the flag when non-empty, else the
// environment (TIDE_SERVER / TIDE_TOKEN / TIDE_CA_FILE), else the YAML file named by TIDE_CONFIG
// (default $HOME/.config/tide/config.yaml; keys `server`, `token`, `caFile`, optional `timeout`
// in seconds), else kDefaultServer, no token and the system's trust store. A missing config
// file is not an error; an unreadable or malformed one is (kInvalid, naming the file).
Status ResolveClientConfig(const std::string& flag_server, const std::string& flag_token,
                           const std::string& flag_ca_file, ClientConfig* out);
inline Status ResolveClientConfig(const std::string& flag_server, const std::string& flag_token,
                                  ClientConfig* out) {
  return ResolveClientConfig(flag_server, flag_token, "", out);
}

// Splits a comma list of member URLs (`--server`, TIDE_SERVER, a config file's `server`) into
// *out. Strict: every entry is http[s]://HOST[:PORT][/prefix] (a bare HOST:PORT gets http://),
// none is empty, none repeats, at most kMaxServers; kInvalid naming the bad entry otherwise.
inline constexpr size_t kMaxServers = 16;
Status ParseServerList(const std::string& list, std::vector<std::string>* out);

// Case-insensitive header map as sent or received.
struct HeaderLess {
  bool operator()(const std::string& a, const std::string& b) const;
};
using HeaderMap = std::multimap<std::string, std::string, HeaderLess>;

struct Response {
  bool reached = false;  // an HTTP answer came back (false: unreachable / transport error)
  int status = 0;        // HTTP status code when reached
  std::string body;
  std::string content_type;
  HeaderMap headers;
};

// True when the call failed without any HTTP answer (exit code 3 in tidectl).
inline bool IsUnreachable(const Status& s, const Response& r) { return !s.ok() && !r.reached; }

struct ApiErrorDetail {
  std::string file;
  int line = 0;
  int column = 0;
  std::string path;
  std::string message;
};

struct ApiError {
  std::string code;  // e.g. InvalidManifest, NotFound
  std::string message;
  std::vector<ApiErrorDetail> details;
};

// Decodes `{"error":{"code","message","details":[...]}}`; false when the body is not that shape.
bool ParseApiError(const std::string& body, ApiError* out);

// Maps an HTTP status to a Status code (2xx -> ok).
Status StatusFromHttp(int http_status, std::string message);

// Percent-encodes a query value or path segment (RFC 3986 unreserved characters kept).
std::string UrlEncode(std::string_view s);

class Client {
 public:
  // Receives body bytes as they arrive; return false to stop reading (the call then ends ok).
  using ChunkFn = std::function<bool(std::string_view chunk)>;

  explicit Client(ClientConfig config);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const ClientConfig& config() const { return config_; }
  // The member calls go to now (one URL of the list; the first until one fails).
  const std::string& server() const { return servers_.empty() ? config_.server : servers_[cur_]; }

  // `path` starts with '/' and may carry a query string; it is appended to the base URL.
  Status Get(const std::string& path, Response* out);
  Status Post(const std::string& path, const std::string& body, const std::string& content_type,
              Response* out, const HeaderMap& extra_headers = {});
  Status Put(const std::string& path, const std::string& body, const std::string& content_type,
             Response* out);
  Status Delete(const std::string& path, Response* out);
  // Any method (used for `tidectl invoke`).
  Status Send(const std::string& method, const std::string& path, const std::string& body,
              const std::string& content_type, const HeaderMap& extra_headers, Response* out);

  // Ends the call in progress on another thread at once: it returns kUnavailable, not reached,
  // instead of waiting for its answer (a thread that must stop while its long-poll waits). The
  // only method that may be called while another thread uses this Client. A call that had not
  // started its request yet is not ended: call it again until that thread is done.
  void Abort();

  // GET whose 2xx body is handed to `on_chunk` as it streams in (logs -f, long polls).
  // `read_timeout_seconds` bounds the wait for each chunk (<= 0: the config's timeout).
  // For a non-2xx answer the body is collected into out->body instead and the Status says why.
  Status GetStream(const std::string& path, const ChunkFn& on_chunk, Response* out,
                   double read_timeout_seconds = 0);

 private:
  Status Init();
  Status Connect();  // http_ for servers_[cur_]
  Status GetStreamOnce(const std::string& path, const ChunkFn& on_chunk, Response* out,
                       double read_timeout_seconds);
  // Whether a call that ended so should move on to the next member (see above).
  bool MoveOn(bool reached, int status, const std::string& body);
  void SetReadTimeout(double seconds);

  ClientConfig config_;
  std::vector<std::string> servers_;  // config_.server split (ParseServerList)
  size_t cur_ = 0;
  std::string prefix_;  // path part of the base URL, without a trailing '/'
  std::mutex http_mu_;  // held where http_ is replaced, and by Abort
  std::unique_ptr<httplib::Client> http_;
  TlsVerifyLog verify_log_;  // why the server's certificate was refused (https)
  Status init_status_;
};

}  // namespace tide
