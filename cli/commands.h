// The tidectl verbs (docs/cli.md), one function per verb, independent of CLI11 so they can be
// unit-tested against a fake server with string streams. Each returns the process exit code
// (exit_codes.h) after printing results to env.out and errors to env.err.
//
// Env is borrowed: the caller owns the Client, the streams and the clock and keeps them alive for
// the call. Verbs run on the caller's thread; one Env per thread.
#pragma once

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "api/client.h"
#include "api/clock.h"

namespace tide::cli {

struct Env {
  Client* api = nullptr;
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  std::istream* in = nullptr;
  const Clock* clock = nullptr;
  int poll_interval_ms = 1000;  // apply --wait, get --watch
  // Waits between polls; the default sleeps. Tests inject one that advances a FakeClock.
  std::function<void(int ms)> sleep;
  // Asked between polls; true ends a watch (exit 0). The default never stops (Ctrl-C does).
  std::function<bool()> stop;
};

// Fills the defaults (real sleep, never stop) in `env`.
void FillDefaults(Env* env);

struct ApplyOptions {
  std::vector<std::string> paths;
  bool dry_run = false;
  bool wait = false;
  double timeout_seconds = 60;
};
int RunApply(Env& env, const ApplyOptions& opt);

struct GetOptions {
  std::string resource;  // workloads, wl, svc, fn, inst, no, ev, layers, ... (see resources.h)
  std::string name;      // optional
  std::string output;    // "" | wide | json | yaml | name
  std::vector<std::string> labels;  // k=v (each may hold several, comma-separated)
  bool watch = false;
};
int RunGet(Env& env, const GetOptions& opt);

int RunDescribe(Env& env, const std::string& resource, const std::string& name);

struct DeleteOptions {
  std::string resource;  // workload (or service/function/layer and short forms)
  std::string name;
  std::vector<std::string> paths;  // delete -f
};
int RunDelete(Env& env, const DeleteOptions& opt);

int RunScale(Env& env, const std::string& name, int replicas);

struct LogsOptions {
  std::string name;
  std::string instance;
  int tail = -1;  // -1: server default (all)
  bool follow = false;
};
int RunLogs(Env& env, const LogsOptions& opt);

struct InvokeOptions {
  std::string name;
  std::string data;  // DATA, @FILE or @- (stdin)
  bool has_data = false;
  std::string method;                // default GET without data, POST with data
  std::string path;                  // appended after /function/NAME
  std::vector<std::string> headers;  // "Key: Value"
  bool async = false;
  std::string gateway;  // override of the gateway URL (else TIDE_GATEWAY, else GET /v1/info)
};
int RunInvoke(Env& env, const InvokeOptions& opt);

int RunTop(Env& env, const std::string& what);
int RunCost(Env& env, const std::string& name);
int RunVersion(Env& env);

}  // namespace tide::cli
