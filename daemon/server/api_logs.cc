#include "daemon/server/api_logs.h"

#include <nlohmann/json.hpp>
#include <regex>

#include "api/address.h"
#include "daemon/server/api_reply.h"

namespace tide {

namespace {

FrontDoorRoute Answer(int status, const std::string& code, const std::string& message) {
  FrontDoorRoute r;
  r.answer = api_reply::FrontDoorError(status, code, message);
  return r;
}

// Value of `key` in the query of `target` ("" when absent); only words and digits matter here.
std::string QueryParam(const std::string& target, const std::string& key) {
  const size_t q = target.find('?');
  if (q == std::string::npos) return "";
  size_t at = q + 1;
  while (at <= target.size()) {
    size_t amp = target.find('&', at);
    if (amp == std::string::npos) amp = target.size();
    const std::string kv = target.substr(at, amp - at);
    const size_t eq = kv.find('=');
    if (kv.substr(0, eq) == key) return eq == std::string::npos ? "" : kv.substr(eq + 1);
    at = amp + 1;
  }
  return "";
}

}  // namespace

ApiLogs::ApiLogs(ObjectStore& store, ControlPlane& cp,
                 std::function<std::string(const std::string&)> agent_token, int fallback_port)
    : store_(store),
      cp_(cp),
      agent_token_(std::move(agent_token)),
      fallback_port_(fallback_port),
      pool_(std::make_unique<OffPool>(1)) {}

void ApiLogs::StopPool() { pool_->Stop(); }

boost::asio::awaitable<FrontDoorRoute> ApiLogs::Route(FrontDoorCall call) {
  co_return co_await pool_->Off([&] { return Resolve(call); });
}

FrontDoorRoute ApiLogs::Resolve(const FrontDoorCall& call) {
  static const std::regex kLogs(R"(/v1/workloads/([a-z0-9-]{1,63})/logs)");
  const std::string path = call.target.substr(0, call.target.find('?'));
  std::smatch m;
  const std::string instance = QueryParam(call.target, "instance");
  const std::string tail = QueryParam(call.target, "tail");
  const bool plain =
      call.method == "GET" && std::regex_match(path, m, kLogs) && instance.size() <= 253 &&
      instance.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string::npos &&
      tail.size() <= 9 && tail.find_first_not_of("-0123456789") == std::string::npos;
  FrontDoorRoute fallback;  // the API's own worker answers it, as any other request
  fallback.host = "127.0.0.1";
  fallback.port = fallback_port_;
  fallback.target = call.target;
  fallback.headers = call.headers;
  if (!plain) return fallback;
  const std::string name = m[1];
  StoredObject o;
  if (Status st = store_.Get(name, &o); !st.ok()) {
    return Answer(api_reply::HttpCode(st.code()), api_reply::ErrorCode(st.code()), st.message());
  }
  std::string inst = instance;
  if (inst.empty()) {
    const auto list = cp_.Instances(name, "");
    for (const auto& i : list) {
      if (i.state == InstanceState::kReady) {
        inst = i.id;
        break;
      }
    }
    if (inst.empty() && !list.empty()) inst = list.front().id;
  }
  const std::string url = inst.empty() ? "" : cp_.AgentUrlOf(inst);
  if (inst.empty() || url.empty()) {
    return Answer(404, "NotFound",
                  inst.empty() ? "workload " + name + " has no instances"
                               : "instance " + inst + " not found on any node");
  }
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return fallback;  // https: the worker speaks TLS to it
  HostPort hp;
  const std::string hostport =
      url.substr(scheme.size(), url.find('/', scheme.size()) - scheme.size());
  if (!ParseHostPort(hostport, PortUse::kDial, &hp).ok()) return fallback;
  FrontDoorRoute r;
  r.host = hp.host;
  r.port = hp.port;
  r.target =
      "/v1/instances/" + inst + "/logs?tail=" + (tail.empty() ? "-1" : tail) + "&follow=true";
  if (std::string t = agent_token_(url); !t.empty())
    r.headers.emplace_back("Authorization", "Bearer " + t);
  return r;
}

}  // namespace tide
