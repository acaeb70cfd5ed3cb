// FakeProber: a Prober for unit tests. `decide` answers each probe as it is submitted (nullopt
// leaves it in flight until Complete()); every submission is recorded. Not thread-safe.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "agent/prober.h"

namespace tide {

class FakeProber : public Prober {
 public:
  struct Submission {
    Ticket ticket;
    Probe probe;
    ProbeTarget target;
  };

  Ticket Submit(const Probe& probe, const ProbeTarget& target) override {
    const Ticket t = next_++;
    submissions.push_back({t, probe, target});
    std::optional<ProbeResult> r =
        decide ? decide(probe, target) : std::optional<ProbeResult>(ProbeResult{false, "no"});
    if (r) {
      done_[t] = *r;
    } else {
      in_flight_[t] = true;
    }
    return t;
  }
  std::optional<ProbeResult> Poll(Ticket t) override {
    auto it = done_.find(t);
    if (it == done_.end()) return std::nullopt;
    ProbeResult r = it->second;
    done_.erase(it);
    return r;
  }
  void Cancel(Ticket t) override {
    done_.erase(t);
    in_flight_.erase(t);
    cancelled.push_back(t);
  }

  // Finishes a probe left in flight.
  void Complete(Ticket t, ProbeResult r) {
    if (in_flight_.erase(t)) done_[t] = std::move(r);
  }
  int CountOfType(Probe::Type type) const {
    int n = 0;
    for (const auto& s : submissions) n += s.probe.type == type ? 1 : 0;
    return n;
  }

  std::function<std::optional<ProbeResult>(const Probe&, const ProbeTarget&)> decide;
  std::vector<Submission> submissions;
  std::vector<Ticket> cancelled;

 private:
  Ticket next_ = 1;
  std::map<Ticket, ProbeResult> done_;
  std::map<Ticket, bool> in_flight_;
};

}  // namespace tide
