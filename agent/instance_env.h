// Builds the environment and argv of one instance's process from its InstanceAssignment.
//
// Environment, later steps winning:
//  1. base, from the agent's own environment: PATH (or /usr/local/bin:/usr/bin:/bin when the
//     agent has none), HOME, LANG, LC_ALL, TZ, TMPDIR, USER (each only when the agent has it);
//  2. spec.env, then the resolved secret env (a.secret_env, sent by tided, held in memory);
//  3. PORT, TIDE_WORKLOAD, TIDE_INSTANCE, TIDE_NODE;
//  4. layers, in order: the first layer ends up first. Each puts <path>/bin in front of PATH,
//     <path>/lib in front of LD_LIBRARY_PATH, <path> in front of PYTHONPATH and NODE_PATH, and
//     exports TIDE_LAYER_<NAME> = <path> (name upper-cased, '-' -> '_').
// argv: every element has `${VAR}` replaced by VAR's value in that environment (unset: empty) and
// `$$` replaced by `$`; any other `$` stays as it is. Nothing here goes near a shell. Secret env
// variables are never expanded into argv (ArgvEnv): argv is public in /proc/PID/cmdline.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "api/model.h"

namespace tide {

// The complete child environment of `a` on `node` with `port` as $PORT.
StringMap BuildInstanceEnv(const InstanceAssignment& a, const std::string& node, int port,
                           const StringMap& agent_env);

// `${VAR}` / `$$` expansion of one string from env.
std::string ExpandVars(const std::string& text, const StringMap& env);
std::vector<std::string> ExpandArgv(const std::vector<std::string>& argv, const StringMap& env);

// `env` without the variables that come from Secrets: the environment argv expands from.
StringMap ArgvEnv(const StringMap& env, const InstanceAssignment& a);

// TIDE_LAYER_<NAME> for a layer name.
std::string LayerEnvName(const std::string& layer_name);

// The agent process's own environment (environ), as a map.
StringMap CurrentProcessEnv();

}  // namespace tide
