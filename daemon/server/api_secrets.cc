// The Secret routes of tided's API (docs/api.md "Secrets"): names, keys and who uses them, never
// values. Values reach only the agents, inside their assignments (control_plane_instances.cc).
#include <httplib.h>

#include "api/json.h"
#include "daemon/server/api_reply.h"
#include "daemon/server/api_server.h"

namespace tide {
namespace {

using api_reply::SendJson;
using api_reply::SendStatus;

// {apiVersion, kind, metadata, spec: {keys}, status: {usedBy}}: the redacted form. Applying it
// back is refused with a message saying so (api/manifest_secret.cc).
json SecretJson(const SecretInfo& s, const std::vector<StoredObject>& workloads) {
  Object o;
  o.kind = Kind::kSecret;
  o.metadata.name = s.name;
  o.metadata.labels = s.labels;
  for (const auto& k : s.keys) o.secret.data[k];
  json j = o;
  j["metadata"]["generation"] = s.generation;
  j["metadata"]["creationTimestamp"] = FormatTime(s.created_ms);
  json used = json::array();
  for (const auto& w : workloads) {
    for (const auto& [env, ref] : w.object.spec.secret_env) {
      if (ref.name != s.name) continue;
      used.push_back(w.object.metadata.name);
      break;
    }
  }
  j["status"] = {{"usedBy", used}, {"keyId", s.key_id}};
  return j;
}

}  // namespace

void ApiServer::SecretRoutes(httplib::Server& s) {
  s.Get("/v1/secrets", [this](const httplib::Request&, httplib::Response& res) {
    std::vector<SecretInfo> secrets;
    std::vector<StoredObject> workloads;
    Status st = store_.ListSecrets(&secrets);
    if (st.ok()) st = store_.List(std::nullopt, &workloads);
    if (!st.ok()) return SendStatus(res, st);
    json items = json::array();
    for (const auto& sec : secrets) items.push_back(SecretJson(sec, workloads));
    SendJson(res, 200, {{"items", items}});
  });
  s.Get(R"(/v1/secrets/([a-z0-9-]+))", [this](const httplib::Request& req, httplib::Response& res) {
    SecretInfo sec;
    std::vector<StoredObject> workloads;
    Status st = store_.GetSecret(req.matches[1], &sec);
    if (st.ok()) st = store_.List(std::nullopt, &workloads);
    if (!st.ok()) return SendStatus(res, st);
    SendJson(res, 200, SecretJson(sec, workloads));
  });
  s.Delete(R"(/v1/secrets/([a-z0-9-]+))",
           [this](const httplib::Request& req, httplib::Response& res) {
             const std::string name = req.matches[1];
             Status st = store_.DeleteSecret(name);
             if (!st.ok()) return SendStatus(res, st);
             cp_.Emit("Normal", "Deleted", "secret/" + name, "", "secret deleted");
             SendJson(res, 200, {{"deleted", name}});
           });
}

}  // namespace tide
