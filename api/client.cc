#include "api/client.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <regex>

namespace tide {
namespace {

std::string FirstLine(const std::string& s, size_t max) {
  std::string line = s.substr(0, s.find('\n'));
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  if (line.size() > max) line = line.substr(0, max) + "...";
  return line;
}

std::string MessageFromBody(int http_status, const std::string& body) {
  ApiError e;
  if (ParseApiError(body, &e) && !e.message.empty()) return e.message;
  std::string line = FirstLine(body, 300);
  if (!line.empty()) return line;
  return "server answered HTTP " + std::to_string(http_status);
}

std::string TransportError(httplib::Error e, const ClientConfig& cfg, const TlsVerifyLog& log) {
  if (e == httplib::Error::SSLConnection && !log.last.empty()) {
    return "TLS: the server's certificate was refused: " + log.last + " (trusted: " +
           (cfg.ca_file.empty() ? std::string("the system's CAs") : "CA file " + cfg.ca_file) + ")";
  }
  switch (e) {
    case httplib::Error::Connection:
      return "connection failed (is it running and listening there?)";
    case httplib::Error::ConnectionTimeout:
      return "connection timed out";
    case httplib::Error::Read:
      return "no answer (read failed or timed out)";
    case httplib::Error::Write:
      return "sending the request failed";
    case httplib::Error::SSLConnection:
      return "TLS handshake failed (does the server speak https there?)";
    case httplib::Error::SSLLoadingCerts:
    case httplib::Error::SSLServerVerification:
      return "TLS failed (" + httplib::to_string(e) + ")";
    default:
      return httplib::to_string(e);
  }
}

void SplitTimeout(double seconds, time_t* sec, time_t* usec) {
  if (seconds <= 0) seconds = 30;
  double whole = std::floor(seconds);
  *sec = static_cast<time_t>(whole);
  *usec = static_cast<time_t>((seconds - whole) * 1e6);
}

void CopyResponse(const httplib::Response& res, Response* out) {
  out->reached = true;
  out->status = res.status;
  out->headers.clear();
  for (const auto& [k, v] : res.headers) out->headers.emplace(k, v);
  out->content_type = res.get_header_value("Content-Type");
}

}  // namespace

bool HeaderLess::operator()(const std::string& a, const std::string& b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) <
           std::tolower(static_cast<unsigned char>(y));
  });
}

Status ParseServerList(const std::string& list, std::vector<std::string>* out) {
  out->clear();
  static const std::regex kUrl(R"(^(https?)://([^/?#\s]+)([^?#\s]*)$)", std::regex::icase);
  size_t start = 0;
  for (int n = 1;; ++n) {
    const size_t comma = list.find(',', start);
    std::string item = list.substr(start, comma == std::string::npos ? comma : comma - start);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front())))
      item.erase(0, 1);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back()))) item.pop_back();
    const std::string where =
        comma == std::string::npos && n == 1 ? "" : " (entry " + std::to_string(n) + ")";
    if (item.empty()) {
      return Status::Invalid("invalid server URL list \"" + list + "\": entry " +
                             std::to_string(n) + " is empty");
    }
    std::string url = item.find("://") == std::string::npos ? "http://" + item : item;
    if (!std::regex_match(url, kUrl)) {
      return Status::Invalid("invalid server URL \"" + item + "\"" + where +
                             ": want http[s]://HOST:PORT");
    }
    if (std::find(out->begin(), out->end(), url) != out->end()) {
      return Status::Invalid("server URL \"" + item + "\" is listed twice");
    }
    out->push_back(url);
    if (out->size() > kMaxServers) {
      return Status::Invalid("more than " + std::to_string(kMaxServers) + " server URLs in \"" +
                             list.substr(0, 200) + "\"");
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return Status::Ok();
}

bool ParseApiError(const std::string& body, ApiError* out) {
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("error") || !j["error"].is_object()) return false;
  const auto& e = j["error"];
  ApiError r;
  if (e.contains("code") && e["code"].is_string()) r.code = e["code"].get<std::string>();
  if (e.contains("message") && e["message"].is_string()) {
    r.message = e["message"].get<std::string>();
  }
  if (e.contains("details") && e["details"].is_array()) {
    for (const auto& d : e["details"]) {
      if (!d.is_object()) continue;
      ApiErrorDetail det;
      if (d.contains("file") && d["file"].is_string()) det.file = d["file"].get<std::string>();
      if (d.contains("line") && d["line"].is_number()) det.line = d["line"].get<int>();
      if (d.contains("column") && d["column"].is_number()) det.column = d["column"].get<int>();
      if (d.contains("path") && d["path"].is_string()) det.path = d["path"].get<std::string>();
      if (d.contains("message") && d["message"].is_string()) {
        det.message = d["message"].get<std::string>();
      }
      r.details.push_back(std::move(det));
    }
  }
  *out = std::move(r);
  return true;
}

Status StatusFromHttp(int http_status, std::string message) {
  if (http_status >= 200 && http_status < 300) return Status::Ok();
  switch (http_status) {
    case 400:
    case 422:
      return Status::Invalid(std::move(message));
    case 401:
      return Status::Unauthorized(std::move(message));
    case 403:
      return Status::Forbidden(std::move(message));
    case 404:
      return Status::NotFound(std::move(message));
    case 409:
      return Status::Conflict(std::move(message));
    case 413:
      return Status::TooLarge(std::move(message));
    case 429:
    case 502:
    case 503:
      return Status::Unavailable(std::move(message));
    case 408:
    case 504:
      return Status::Timeout(std::move(message));
    default:
      if (http_status >= 400 && http_status < 500) return Status::Invalid(std::move(message));
      return Status::Internal(std::move(message));
  }
}

std::string UrlEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

Client::Client(ClientConfig config) : config_(std::move(config)) { init_status_ = Init(); }

Client::~Client() = default;

Status Client::Init() {
  if (Status st = ParseServerList(config_.server, &servers_); !st.ok()) {
    servers_.clear();
    return st;
  }
  cur_ = 0;
  return Connect();
}

bool Client::MoveOn(bool reached, int status, const std::string& body) {
  if (servers_.size() < 2) return false;
  if (reached) {
    ApiError e;
    if (status != 503 || !ParseApiError(body, &e)) return false;
    if (e.code != "NotLeader" && e.code != "NoLeader") return false;
  }
  cur_ = (cur_ + 1) % servers_.size();
  return Connect().ok();
}

Status Client::Connect() {
  const std::string url = servers_[cur_];
  static const std::regex kUrl(R"(^(https?)://([^/?#]+)([^?#]*)$)", std::regex::icase);
  std::smatch m;
  if (!std::regex_match(url, m, kUrl)) {
    return Status::Invalid("invalid server URL \"" + url + "\"");
  }
  prefix_ = m[3].str();
  while (!prefix_.empty() && prefix_.back() == '/') prefix_.pop_back();
  {
    auto next = std::make_unique<httplib::Client>(m[1].str() + "://" + m[2].str());
    std::lock_guard<std::mutex> lk(http_mu_);
    http_ = std::move(next);
  }
  if (!http_->is_valid()) {
    return Status::Invalid("invalid server URL \"" + config_.server + "\"");
  }
  time_t sec = 0;
  time_t usec = 0;
  SplitTimeout(config_.timeout_seconds, &sec, &usec);
  http_->set_connection_timeout(sec, usec);
  http_->set_read_timeout(sec, usec);
  http_->set_write_timeout(sec, usec);
  http_->set_keep_alive(true);
  if (http_->ssl_context() != nullptr) {
    // OpenSSL checks the chain and the name during the handshake (api/tls.h); httplib's own
    // check would add the system trust store to the CA file.
    http_->enable_server_certificate_verification(false);
    Status st = ConfigureClientTls(http_->ssl_context(),
                                   ClientTls{config_.ca_file, config_.pin_server_cert},
                                   UrlHost(url), &verify_log_);
    if (!st.ok()) return st;
  }
  http_->set_tcp_nodelay(true);  // small requests must not wait for delayed ACKs
  if (!config_.token.empty()) http_->set_bearer_token_auth(config_.token);
  return Status::Ok();
}

void Client::Abort() {
  std::lock_guard<std::mutex> lk(http_mu_);
  // httplib shuts the socket of a request in flight down (its read fails at once), else closes
  // the idle connection.
  if (http_) http_->stop();
}

void Client::SetReadTimeout(double seconds) {
  time_t sec = 0;
  time_t usec = 0;
  SplitTimeout(seconds, &sec, &usec);
  http_->set_read_timeout(sec, usec);
}

Status Client::Get(const std::string& path, Response* out) {
  return Send("GET", path, "", "", {}, out);
}

Status Client::Post(const std::string& path, const std::string& body,
                    const std::string& content_type, Response* out,
                    const HeaderMap& extra_headers) {
  return Send("POST", path, body, content_type, extra_headers, out);
}

Status Client::Put(const std::string& path, const std::string& body,
                   const std::string& content_type, Response* out) {
  return Send("PUT", path, body, content_type, {}, out);
}

Status Client::Delete(const std::string& path, Response* out) {
  return Send("DELETE", path, "", "", {}, out);
}

Status Client::Send(const std::string& method, const std::string& path, const std::string& body,
                    const std::string& content_type, const HeaderMap& extra_headers,
                    Response* out) {
  Response local;
  if (out == nullptr) out = &local;
  if (!init_status_.ok()) {
    *out = Response{};
    return init_status_;
  }
  std::string failures;  // of the members tried before, for the message when none answers
  for (size_t tried = 1;; ++tried) {
    *out = Response{};
    httplib::Request req;
    req.method = method;
    req.path = prefix_ + path;
    for (const auto& [k, v] : extra_headers) req.headers.emplace(k, v);
    if (!content_type.empty()) req.headers.emplace("Content-Type", content_type);
    req.body = body;
    verify_log_.last.clear();
    httplib::Result res = http_->send(req);
    Status st;
    if (!res) {
      st = Status::Unavailable("cannot reach server " + server() + ": " +
                               TransportError(res.error(), config_, verify_log_));
    } else {
      CopyResponse(res.value(), out);
      out->body = res->body;
      st = StatusFromHttp(out->status, MessageFromBody(out->status, out->body));
    }
    if (st.ok() || tried >= servers_.size() || !MoveOn(out->reached, out->status, out->body)) {
      if (failures.empty() || st.code() != Status::Code::kUnavailable) return st;
      return Status::Unavailable(st.message() + failures);
    }
    failures += "; before that: " + st.message();
  }
}

Status Client::GetStream(const std::string& path, const ChunkFn& on_chunk, Response* out,
                         double read_timeout_seconds) {
  Response local;
  if (out == nullptr) out = &local;
  *out = Response{};
  if (!init_status_.ok()) return init_status_;
  for (size_t tried = 1;; ++tried) {
    Status st = GetStreamOnce(path, on_chunk, out, read_timeout_seconds);
    // Only a call that got nothing yet moves on: a stream that started has been consumed.
    if (st.ok() || tried >= servers_.size() || (out->reached && out->status < 300) ||
        !MoveOn(out->reached, out->status, out->body)) {
      return st;
    }
    *out = Response{};
  }
}

Status Client::GetStreamOnce(const std::string& path, const ChunkFn& on_chunk, Response* out,
                             double read_timeout_seconds) {
  SetReadTimeout(read_timeout_seconds > 0 ? read_timeout_seconds : config_.timeout_seconds);
  bool stopped = false;
  verify_log_.last.clear();
  httplib::Result res = http_->Get(
      prefix_ + path, httplib::Headers{},
      [&](const httplib::Response& r) {
        CopyResponse(r, out);
        return true;
      },
      [&](const char* data, size_t len) {
        if (out->status < 200 || out->status >= 300) {
          if (out->body.size() < (1 << 20)) out->body.append(data, len);
          return true;
        }
        if (!on_chunk(std::string_view(data, len))) {
          stopped = true;
          return false;
        }
        return true;
      });
  SetReadTimeout(config_.timeout_seconds);
  if (stopped) return Status::Ok();
  if (!res) {
    if (out->reached) {  // the answer started, then the stream broke
      return Status::Unavailable("stream from " + server() +
                                 " ended: " + TransportError(res.error(), config_, verify_log_));
    }
    return Status::Unavailable("cannot reach server " + server() + ": " +
                               TransportError(res.error(), config_, verify_log_));
  }
  return StatusFromHttp(out->status, MessageFromBody(out->status, out->body));
}

}  // namespace tide
