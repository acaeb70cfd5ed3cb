// tidectl: the command line client of tided's REST API (docs/cli.md). This file only parses
// the command line (CLI11) and dispatches to the verbs in commands.h.
// Exit codes: 0 done, 1 refused or failed, 2 usage error, 3 server unreachable.
#include <CLI/CLI.hpp>
#include <iostream>

#include "api/client.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/format.h"

namespace {

using namespace tide::cli;

int Run(int argc, char** argv) {
  CLI::App app{"tidectl: command line client for the Tide orchestrator", "tidectl"};
  app.require_subcommand(1);
  app.fallthrough();  // global flags may follow the verb
  std::string server;
  std::string token;
  app.add_option("--server", server,
                 "API server URL (else $TIDE_SERVER, $TIDE_CONFIG file, "
                 "http://127.0.0.1:7400)");
  app.add_option("--token", token, "API bearer token (else $TIDE_TOKEN, $TIDE_CONFIG file)");
  std::string ca_file;
  app.add_option("--ca-file", ca_file,
                 "CA (PEM) that signed tided's certificate, for an https:// server (else "
                 "$TIDE_CA_FILE, $TIDE_CONFIG file caFile, the system's CAs)");

  ApplyOptions apply_opt;
  std::string apply_timeout = "60s";
  auto* apply = app.add_subcommand("apply", "Create or update objects from manifests");
  apply->add_option("-f,--filename", apply_opt.paths, "File, directory or - (stdin); repeatable")
      ->required()
      ->allow_extra_args(false);
  apply->add_flag("--dry-run", apply_opt.dry_run, "Validate only; change nothing");
  apply->add_flag("--wait", apply_opt.wait, "Wait until every applied workload is rolled out");
  apply->add_option("--timeout", apply_timeout, "Longest wait with --wait (default 60s)");

  GetOptions get_opt;
  auto* get = app.add_subcommand("get", "List resources or show one");
  get->add_option(
         "resource", get_opt.resource,
         "workloads|services|functions|instances|nodes|events|layers|secrets (or wl, svc, fn, "
         "inst, no, ev)")
      ->required();
  get->add_option("name", get_opt.name, "Show only this one (events: of this workload)");
  get->add_option("-o,--output", get_opt.output, "wide|json|yaml|name")
      ->check(CLI::IsMember({"wide", "json", "yaml", "name"}));
  get->add_option("-l,--selector", get_opt.labels, "Label selector k=v (repeatable)")
      ->allow_extra_args(false);
  get->add_flag("-w,--watch", get_opt.watch, "Re-list every second and print changes");

  std::string describe_what;
  std::string describe_name;
  auto* describe = app.add_subcommand(
      "describe", "Show details of a workload, node or secret (never its values)");
  describe->add_option("resource", describe_what, "workload|node|secret")->required();
  describe->add_option("name", describe_name, "Name")->required();

  DeleteOptions delete_opt;
  auto* del =
      app.add_subcommand("delete", "Delete a workload (or layer, secret), or what files name");
  del->add_option("resource", delete_opt.resource, "workload|layer|secret");
  del->add_option("name", delete_opt.name, "Name");
  del->add_option("-f,--filename", delete_opt.paths, "Delete the objects in these manifests")
      ->allow_extra_args(false);

  std::string scale_name;
  int replicas = -1;
  auto* scale = app.add_subcommand("scale", "Set the replica count of a workload");
  scale->add_option("name", scale_name, "Workload name")->required();
  scale->add_option("--replicas", replicas, "Replica count")
      ->required()
      ->check(CLI::Range(0, 10000));

  LogsOptions logs_opt;
  auto* logs = app.add_subcommand("logs", "Print a workload's logs");
  logs->add_option("name", logs_opt.name, "Workload name")->required();
  logs->add_option("--instance", logs_opt.instance, "Only this instance");
  logs->add_option("--tail", logs_opt.tail, "Only the last N lines")
      ->check(CLI::Range(0, 100000000));
  logs->add_flag("-f,--follow", logs_opt.follow, "Keep streaming new lines");

  InvokeOptions invoke_opt;
  auto* invoke = app.add_subcommand("invoke", "Send a request to a workload through the gateway");
  invoke->add_option("name", invoke_opt.name, "Workload name")->required();
  auto* data_opt = invoke->add_option("-d,--data", invoke_opt.data, "Body: DATA, @FILE or @-");
  invoke->add_option("-X,--request", invoke_opt.method, "HTTP method (default GET, POST with -d)");
  invoke->add_option("--path", invoke_opt.path, "Path after /function/NAME, e.g. /hello");
  invoke->add_option("-H,--header", invoke_opt.headers, "Extra header \"Name: value\"")
      ->allow_extra_args(false);
  invoke->add_flag("--async", invoke_opt.async, "Queue the call; print the invocation id");
  invoke->add_option("--gateway", invoke_opt.gateway,
                     "Gateway URL (else $TIDE_GATEWAY, else asked from the server)");

  std::string top_what;
  auto* top = app.add_subcommand("top", "Show CPU and memory use");
  top->add_option("resource", top_what, "workloads|nodes")->required();

  std::string cost_name;
  auto* cost = app.add_subcommand("cost", "Show instance-seconds and requested resources used");
  cost->add_option("name", cost_name, "Only this workload");

  auto* version = app.add_subcommand("version", "Print client and server versions");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // prints help, or the error and a hint
    return rc == 0 ? kExitOk : kExitUsage;
  }

  double timeout_seconds = 60;
  if (*apply) {
    tide::Status st = ParseDuration(apply_timeout, &timeout_seconds);
    if (!st.ok()) {
      std::cerr << "error: --timeout: " << st.message() << "\n";
      return kExitUsage;
    }
    apply_opt.timeout_seconds = timeout_seconds;
  }
  invoke_opt.has_data = data_opt->count() > 0;

  tide::ClientConfig config;
  tide::Status st = tide::ResolveClientConfig(server, token, ca_file, &config);
  if (!st.ok()) {
    std::cerr << "error: " << st.message() << "\n";
    return kExitFailed;
  }
  tide::Client client(config);
  Env env;
  env.api = &client;
  env.out = &std::cout;
  env.err = &std::cerr;
  env.in = &std::cin;
  FillDefaults(&env);

  if (*apply) return RunApply(env, apply_opt);
  if (*get) return RunGet(env, get_opt);
  if (*describe) return RunDescribe(env, describe_what, describe_name);
  if (*del) {
    if (delete_opt.paths.empty() && (delete_opt.resource.empty() || delete_opt.name.empty())) {
      std::cerr << "error: usage: tidectl delete workload NAME | tidectl delete -f PATH\n";
      return kExitUsage;
    }
    return RunDelete(env, delete_opt);
  }
  if (*scale) return RunScale(env, scale_name, replicas);
  if (*logs) return RunLogs(env, logs_opt);
  if (*invoke) return RunInvoke(env, invoke_opt);
  if (*top) return RunTop(env, top_what);
  if (*cost) return RunCost(env, cost_name);
  if (*version) return RunVersion(env);
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  return Run(argc, argv);
}
