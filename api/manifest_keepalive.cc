// spec.keepAlive: the frozen tier of a Function (docs/manifests.md "keepAlive").
//
//   keepAlive: {freezeAfterSeconds: F, stopAfterSeconds: S}
//
// F (required, > 0): an instance without a request in flight for F seconds is frozen.
// S (> F): the Function's idle timeout; it defaults to spec.idleTimeoutSeconds (itself 60 by
// default), and giving both with different values is an error: one Function has one idle
// timeout. The parsed spec carries S in idle_timeout_seconds too, so the scale policy
// (daemon/control/scale_policy.h) stops the last instance S seconds after its last request.
#include <sstream>

#include "api/manifest_parser.h"

namespace tide::manifest_internal {
namespace {

std::string Secs(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

}  // namespace

void ObjectParser::ParseKeepAlive(const Field& f, const Field& idle, Kind kind, WorkloadSpec* s) {
  Map m;
  if (!r_.ReadMap(f, {"freezeAfterSeconds", "stopAfterSeconds"}, &m)) return;
  if (kind != Kind::kFunction) {
    r_.Error(f,
             "keepAlive is only for Functions: a Service is always on (its instances are never "
             "frozen or stopped for idleness)");
    return;
  }
  KeepAlive k;
  Field ff = m.Get("freezeAfterSeconds");
  bool freeze_ok = false;
  if (!ff.present) {
    r_.Error(ff,
             "required field is missing; give the idle seconds after which an instance is "
             "frozen, e.g. 10");
  } else {
    freeze_ok = OptSeconds(m, "freezeAfterSeconds", false, &k.freeze_after_seconds);
  }
  Field sf = m.Get("stopAfterSeconds");
  k.stop_after_seconds = s->idle_timeout_seconds;
  bool stop_ok = true;
  if (sf.present) {
    stop_ok = OptSeconds(m, "stopAfterSeconds", false, &k.stop_after_seconds);
    if (stop_ok && idle.present && k.stop_after_seconds != s->idle_timeout_seconds) {
      r_.Error(sf, "conflicts with spec.idleTimeoutSeconds (" + Secs(s->idle_timeout_seconds) +
                       "): both set when a Function's idle instance stops; give one, or the "
                       "same value in both");
      stop_ok = false;
    }
  }
  if (freeze_ok && stop_ok && k.freeze_after_seconds >= k.stop_after_seconds) {
    const std::string from = sf.present     ? "stopAfterSeconds"
                             : idle.present ? "spec.idleTimeoutSeconds"
                                            : "the default idleTimeoutSeconds";
    r_.Error(ff, "must be less than " + from + " (" + Secs(k.stop_after_seconds) + "), got " +
                     Secs(k.freeze_after_seconds) +
                     ": the instance would be stopped before it is frozen");
    freeze_ok = false;
  }
  if (!freeze_ok || !stop_ok) return;
  s->idle_timeout_seconds = k.stop_after_seconds;
  s->keep_alive = k;
}

}  // namespace tide::manifest_internal
