// Leadership: which member of an etcd-backed cluster leads, decided purely (docs/ha.md).
//
// Each tided member holds an etcd lease (TTL `ttl_ms`) and keeps it alive; the leader is the
// member whose name is the value of the leader key, put on its own lease by a create-if-missing
// txn. When the leader dies its lease expires and etcd deletes the key; the next member to see
// the key absent campaigns. This unit is given what the member knows (its lease and when it was
// last renewed, the leader key as last read, the time) and answers what to do next; the thin loop
// in elector.h does the I/O.
//
// Safety. A member counts itself leader only while the key is its own (its name and its current
// lease) AND its lease is surely alive: less than ttl_ms - margin_ms after the moment it *sent*
// the last successful renewal (etcd extended the lease no earlier than that). A paused or
// partitioned leader therefore stops acting on its own, before etcd lets another member win; and
// because that cannot cover every pause (a process stopped between the check and a write), every
// write of a leader is also fenced in etcd (elector.h FencedTxn: conditioned on the leader key's
// create revision), so a deposed leader's write is refused by etcd itself.
//
// Pure: no I/O, no clock reads, no threads.
#pragma once

#include <cstdint>
#include <string>

namespace tide {

struct LeadershipConfig {
  std::string name;         // this member's --name
  int64_t ttl_ms = 3000;    // the lease's TTL
  int64_t renew_ms = 1000;  // renew the lease this often (ttl/3)
  int64_t margin_ms = 500;  // stop leading this long before the lease could expire
};

// What the member knows now.
struct LeadershipView {
  int64_t now_ms = 0;         // steady clock
  int64_t lease_id = 0;       // 0: none (never granted, or known expired)
  int64_t renewed_at_ms = 0;  // when the last successful grant/keepalive was *sent*
  bool key_read = false;      // the leader key was read successfully this round
  bool key_exists = false;
  std::string key_holder;  // the key's value: the leader's name
  int64_t key_lease = 0;   // the lease the key is on
  int64_t key_create_revision = 0;
};

struct LeadershipDecision {
  bool grant_lease = false;    // get a new lease (none, or ours expired)
  bool renew_lease = false;    // send a keepalive now
  bool campaign = false;       // try the create-if-missing txn on the leader key
  bool leader = false;         // act as leader now
  int64_t fence_revision = 0;  // when leader: the leader key's create revision (the fence)
  std::string leader_name;     // who leads as far as this member knows ("" = nobody)
  std::string why;             // one line for logs and tests
};

// True while a lease renewed (sent) at renewed_at_ms is surely still alive at now_ms.
bool LeaseSurelyAlive(const LeadershipConfig& c, int64_t renewed_at_ms, int64_t now_ms);

LeadershipDecision DecideLeadership(const LeadershipConfig& c, const LeadershipView& v);

}  // namespace tide
