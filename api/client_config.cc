// ResolveClientConfig (api/client.h): flags, environment, then the YAML config file. Apart from
// client.cc so a binary that only makes Clients (tide-agent) does not link yaml-cpp (0.3 MiB of
// its resident memory, issue 13).
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "api/client.h"

namespace tide {
namespace {

std::string EnvOr(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::string DefaultConfigPath() {
  std::string home = EnvOr("HOME");
  if (home.empty()) return "";
  return home + "/.config/tide/config.yaml";
}

// Reads server/token/timeout from a YAML config file. Missing file: ok, nothing read.
Status ReadConfigFile(const std::string& path, ClientConfig* file_cfg, bool* has_server,
                      bool* has_token) {
  *has_server = false;
  *has_token = false;
  file_cfg->ca_file.clear();
  if (path.empty()) return Status::Ok();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return Status::Ok();
  try {
    YAML::Node root = YAML::LoadFile(path);
    if (!root || root.IsNull()) return Status::Ok();
    if (!root.IsMap()) return Status::Invalid("config file " + path + ": not a YAML mapping");
    if (root["server"]) {
      // One URL, a comma list, or a YAML list of URLs (several members, docs/ha.md).
      if (root["server"].IsSequence()) {
        std::string joined;
        for (const auto& item : root["server"]) {
          joined += (joined.empty() ? "" : ",") + item.as<std::string>();
        }
        file_cfg->server = joined;
      } else {
        file_cfg->server = root["server"].as<std::string>();
      }
      *has_server = !file_cfg->server.empty();
    }
    if (root["token"]) {
      file_cfg->token = root["token"].as<std::string>();
      *has_token = !file_cfg->token.empty();
    }
    if (root["timeout"]) file_cfg->timeout_seconds = root["timeout"].as<double>();
    if (root["caFile"]) file_cfg->ca_file = root["caFile"].as<std::string>();
  } catch (const YAML::Exception& e) {
    return Status::Invalid("config file " + path + ": " + e.what());
  }
  return Status::Ok();
}

}  // namespace

Status ResolveClientConfig(const std::string& flag_server, const std::string& flag_token,
                           const std::string& flag_ca_file, ClientConfig* out) {
  ClientConfig cfg;
  ClientConfig file_cfg;
  std::string config_path = EnvOr("TIDE_CONFIG");
  if (config_path.empty()) config_path = DefaultConfigPath();
  bool file_server = false;
  bool file_token = false;
  Status st = ReadConfigFile(config_path, &file_cfg, &file_server, &file_token);
  if (!st.ok()) return st;

  std::string env_server = EnvOr("TIDE_SERVER");
  std::string env_token = EnvOr("TIDE_TOKEN");
  std::string server_from;
  if (!flag_server.empty()) {
    cfg.server = flag_server;
    server_from = "--server";
  } else if (!env_server.empty()) {
    cfg.server = env_server;
    server_from = "TIDE_SERVER";
  } else if (file_server) {
    cfg.server = file_cfg.server;
    server_from = "config file " + config_path + ": server";
  }
  if (!server_from.empty()) {
    std::vector<std::string> servers;
    if (Status ps = ParseServerList(cfg.server, &servers); !ps.ok()) {
      return Status::Invalid(server_from + ": " + ps.message());
    }
  }
  if (!flag_token.empty()) {
    cfg.token = flag_token;
  } else if (!env_token.empty()) {
    cfg.token = env_token;
  } else if (file_token) {
    cfg.token = file_cfg.token;
  }
  std::string env_ca = EnvOr("TIDE_CA_FILE");
  cfg.ca_file = !flag_ca_file.empty() ? flag_ca_file : !env_ca.empty() ? env_ca : file_cfg.ca_file;
  cfg.timeout_seconds = file_cfg.timeout_seconds;
  *out = cfg;
  return Status::Ok();
}

}  // namespace tide
