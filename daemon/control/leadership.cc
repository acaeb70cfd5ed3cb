#include "daemon/control/leadership.h"

namespace tide {

bool LeaseSurelyAlive(const LeadershipConfig& c, int64_t renewed_at_ms, int64_t now_ms) {
  return now_ms - renewed_at_ms < c.ttl_ms - c.margin_ms;
}

LeadershipDecision DecideLeadership(const LeadershipConfig& c, const LeadershipView& v) {
  LeadershipDecision d;
  if (v.key_read && v.key_exists) d.leader_name = v.key_holder;

  // Our lease: none yet, or it may have expired at etcd (we could not renew in time). Either
  // way we hold nothing: get a new one before anything else.
  const bool have_lease = v.lease_id != 0 && v.now_ms - v.renewed_at_ms < c.ttl_ms;
  if (!have_lease) {
    d.grant_lease = true;
    d.why = v.lease_id == 0 ? "no lease yet" : "lease may have expired: not renewed within its TTL";
    if (v.key_read && v.key_exists && v.key_holder == c.name && v.key_lease == v.lease_id) {
      d.why += "; stepping down";
    }
    return d;
  }
  d.renew_lease = v.now_ms - v.renewed_at_ms >= c.renew_ms;

  if (!v.key_read) {
    // etcd did not answer: nobody is known to lead, least of all us.
    d.leader_name.clear();
    d.why = "leader key unreadable";
    return d;
  }
  if (!v.key_exists) {
    d.campaign = true;
    d.why = "no leader: campaigning";
    return d;
  }
  const bool ours = v.key_holder == c.name && v.key_lease == v.lease_id;
  if (!ours) {
    d.why = v.key_holder == c.name ? "leader key is ours from an earlier lease: waiting for it"
                                   : "following " + v.key_holder;
    return d;
  }
  if (!LeaseSurelyAlive(c, v.renewed_at_ms, v.now_ms)) {
    // Ours, but too close to the TTL to be sure etcd has not expired it: do not act; renew.
    d.renew_lease = true;
    d.why = "leader key ours but lease near expiry: not acting until renewed";
    return d;
  }
  d.leader = true;
  d.fence_revision = v.key_create_revision;
  d.why = "leading";
  return d;
}

}  // namespace tide
