// The thaw line of coldstart_bench (issue 13, the frozen tier): a Function as users write it
// (the same memory limit and default readiness probe) with `keepAlive: {freezeAfterSeconds:
// 0.2}`. Each round sends a warm request (the instance just answered), waits until the agent
// reports the instance frozen, then sends the request that thaws it; both are timed from the
// client's connect to the answer. The reference is the warm request of the same round.
#pragma once

#include <string>

#include "bench/bench_util.h"
#include "tests/harness.h"

namespace tide::bench {

// Runs `rounds` warm/thaw pairs against Function `name` (with keepAlive freezeAfterSeconds 0.2) on
// the gateway at gw_port, prints the figures and records them (target: thaw-to-answer p50 <= 1 ms)
// in *s. False when a round failed.
bool RunThawRounds(tide::testing::Tided& tided, int gw_port, const std::string& name, int rounds,
                   Summary* s);

}  // namespace tide::bench
