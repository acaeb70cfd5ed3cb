#include "agent/instance_env.h"

#include <cctype>

extern char** environ;

namespace tide {
namespace {

constexpr const char* kDefaultPath = "/usr/local/bin:/usr/bin:/bin";

void Prepend(StringMap& env, const std::string& key, const std::string& value) {
  auto it = env.find(key);
  if (it == env.end() || it->second.empty()) {
    env[key] = value;
  } else {
    it->second = value + ":" + it->second;
  }
}

}  // namespace

std::string LayerEnvName(const std::string& layer_name) {
  std::string out = "TIDE_LAYER_";
  for (char c : layer_name) {
    out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

StringMap BuildInstanceEnv(const InstanceAssignment& a, const std::string& node, int port,
                           const StringMap& agent_env) {
  StringMap env;
  for (const char* key : {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER"}) {
    auto it = agent_env.find(key);
    if (it != agent_env.end()) env[key] = it->second;
  }
  if (env["PATH"].empty()) env["PATH"] = kDefaultPath;
  for (const auto& [k, v] : a.spec->env) env[k] = v;
  for (const auto& [k, v] : a.secret_env) {
    if (a.spec->secret_env.count(k)) env[k] = v;  // only what the spec asks for
  }
  env["PORT"] = std::to_string(port);
  env["TIDE_WORKLOAD"] = a.workload;
  env["TIDE_INSTANCE"] = a.id;
  env["TIDE_NODE"] = node;
  // Walk backwards so that, after all the prepending, the first layer sits in front.
  for (auto it = a.layers.rbegin(); it != a.layers.rend(); ++it) {
    const std::string& path = it->path;
    Prepend(env, "PATH", path + "/bin");
    Prepend(env, "LD_LIBRARY_PATH", path + "/lib");
    Prepend(env, "PYTHONPATH", path);
    Prepend(env, "NODE_PATH", path);
    env[LayerEnvName(it->name)] = path;
  }
  return env;
}

StringMap ArgvEnv(const StringMap& env, const InstanceAssignment& a) {
  StringMap out = env;
  for (const auto& [k, ref] : a.spec->secret_env) out.erase(k);
  return out;
}

std::string ExpandVars(const std::string& text, const StringMap& env) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c != '$' || i + 1 >= text.size()) {
      out += c;
      continue;
    }
    if (text[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    if (text[i + 1] == '{') {
      const size_t close = text.find('}', i + 2);
      if (close != std::string::npos) {
        auto it = env.find(text.substr(i + 2, close - i - 2));
        if (it != env.end()) out += it->second;
        i = close;
        continue;
      }
    }
    out += c;  // a lone '$' or an unterminated '${' stays literal
  }
  return out;
}

std::vector<std::string> ExpandArgv(const std::vector<std::string>& argv, const StringMap& env) {
  std::vector<std::string> out;
  out.reserve(argv.size());
  for (const auto& arg : argv) out.push_back(ExpandVars(arg, env));
  return out;
}

StringMap CurrentProcessEnv() {
  StringMap env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string kv(*e);
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    env.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return env;
}

}  // namespace tide
