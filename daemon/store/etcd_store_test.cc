// The ObjectStore contract on both backends (SQLite store.h, etcd etcd_store.h, the latter on a
// real etcd on loopback), and what only a shared etcd store must do: members see each other's
// changes, concurrent changes never half-apply, etcd gone is a clear 503.
#include "daemon/store/etcd_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <thread>

#include "daemon/control/elector.h"
#include "daemon/store/etcd_testutil.h"
#include "daemon/store/store.h"

namespace tide {
namespace {

bool Eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

Object Service(const std::string& name, int replicas = 1) {
  Object o;
  o.kind = Kind::kService;
  o.metadata.name = name;
  o.spec.command = {"./srv", "--port", "${PORT}"};
  o.spec.replicas = replicas;
  return o;
}

Object Layer(const std::string& name, const std::string& path) {
  Object o;
  o.kind = Kind::kLayer;
  o.metadata.name = name;
  o.layer.path = path;
  return o;
}

// One backend under test.
class Backend {
 public:
  explicit Backend(const std::string& kind, FakeClock& clock) {
    if (kind == "sqlite") {
      char tmpl[] = "/tmp/tide-ostore-XXXXXX";
      dir_ = ::mkdtemp(tmpl);
      std::unique_ptr<Store> s;
      status_ = Store::Open(dir_, clock, &s);
      store_ = std::move(s);
      return;
    }
    etcd_ = std::make_unique<TestEtcd>();
    if (!etcd_->ok()) {
      status_ = Status::Unavailable(etcd_->error());
      return;
    }
    client_ = std::make_unique<etcd::EtcdClient>(etcd::EtcdClient::Options{{etcd_->url()}, 3});
    std::unique_ptr<EtcdStore> s;
    status_ = EtcdStore::Open(*client_, clock, {}, &s);
    store_ = std::move(s);
  }
  ~Backend() {
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  Status status_;
  std::unique_ptr<ObjectStore> store_;
  std::unique_ptr<TestEtcd> etcd_;
  std::unique_ptr<etcd::EtcdClient> client_;
  std::string dir_;
};

class ObjectStoreContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    b_ = std::make_unique<Backend>(GetParam(), clock_);
    ASSERT_TRUE(b_->status_.ok()) << b_->status_.message();
    store_ = b_->store_.get();
  }
  std::vector<ApplyResult> MustApply(const std::vector<Object>& objs, bool dry = false) {
    std::vector<ApplyResult> r;
    Status s = store_->Apply(objs, dry, &r);
    EXPECT_TRUE(s.ok()) << s.message();
    return r;
  }
  FakeClock clock_;
  std::unique_ptr<Backend> b_;
  ObjectStore* store_ = nullptr;
};

TEST_P(ObjectStoreContract, ActionsAndGenerations) {
  Object svc = Service("users", 2);
  svc.metadata.labels = {{"team", "core"}};
  auto r = MustApply({svc, Layer("common", "/opt/common")});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].action, "created");
  EXPECT_EQ(r[0].generation, 1);
  EXPECT_EQ(r[1].kind, Kind::kLayer);
  r = MustApply({svc, Layer("common", "/opt/common")});
  EXPECT_EQ(r[0].action, "unchanged");
  StoredObject got;
  ASSERT_TRUE(store_->Get("users", &got).ok());
  const int64_t created = got.created_ms;
  EXPECT_EQ(created, clock_.WallMs());
  clock_.Advance(5000);
  svc.spec.env["X"] = "1";
  r = MustApply({svc});
  EXPECT_EQ(r[0].action, "configured");
  EXPECT_EQ(r[0].generation, 2);
  ASSERT_TRUE(store_->Get("users", &got).ok());
  EXPECT_EQ(got.created_ms, created);
  EXPECT_EQ(got.updated_ms, created + 5000);
  svc.metadata.labels["tier"] = "web";
  r = MustApply({svc});
  EXPECT_EQ(r[0].action, "configured");
  EXPECT_EQ(r[0].generation, 2);  // labels only
  // Service -> Function: configured, new generation; List by kind follows.
  Object fn = svc;
  fn.kind = Kind::kFunction;
  r = MustApply({fn});
  EXPECT_EQ(r[0].generation, 3);
  std::vector<StoredObject> services, functions;
  ASSERT_TRUE(store_->List(Kind::kService, &services).ok());
  ASSERT_TRUE(store_->List(Kind::kFunction, &functions).ok());
  EXPECT_TRUE(services.empty());
  EXPECT_EQ(functions.size(), 1u);
}

// Hostile: a batch with one bad object leaves nothing applied, whichever object is bad.
TEST_P(ObjectStoreContract, AFailingBatchLeavesNothingApplied) {
  Object bad = Service("b");
  bad.spec.layers = {"missing"};
  std::vector<ApplyResult> r;
  Status s = store_->Apply({Service("a"), bad}, false, &r);
  EXPECT_EQ(s.code(), Status::Code::kInvalid);
  EXPECT_NE(s.message().find("missing"), std::string::npos) << s.message();
  EXPECT_TRUE(r.empty());
  StoredObject got;
  EXPECT_EQ(store_->Get("a", &got).code(), Status::Code::kNotFound);
  s = store_->Apply({Service("a"), Service("a", 2)}, false, &r);
  EXPECT_EQ(s.code(), Status::Code::kInvalid);
  EXPECT_NE(s.message().find("more than once"), std::string::npos);
  EXPECT_EQ(store_->Get("a", &got).code(), Status::Code::kNotFound);
  MustApply({bad, Layer("missing", "/x")});  // with its layer in the batch it works
  EXPECT_TRUE(store_->Get("b", &got).ok());
  // Dry run: results, no write.
  r = MustApply({Service("c")}, true);
  EXPECT_EQ(r[0].action, "created");
  EXPECT_EQ(store_->Get("c", &got).code(), Status::Code::kNotFound);
}

TEST_P(ObjectStoreContract, ScaleDeleteAndLayerInUse) {
  Object svc = Service("users", 2);
  svc.spec.layers = {"common"};
  MustApply({svc, Layer("common", "/c")});
  EXPECT_EQ(store_->SetScale("nope", 3).code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->SetScale("users", -1).code(), Status::Code::kInvalid);
  ASSERT_TRUE(store_->SetScale("users", 4).ok());
  StoredObject got;
  ASSERT_TRUE(store_->Get("users", &got).ok());
  EXPECT_EQ(got.scale_replicas, std::optional<int>(4));
  svc.spec.replicas = 3;  // changing spec.replicas clears the override
  MustApply({svc});
  ASSERT_TRUE(store_->Get("users", &got).ok());
  EXPECT_FALSE(got.scale_replicas.has_value());

  Status s = store_->DeleteLayer("common");
  EXPECT_EQ(s.code(), Status::Code::kConflict);
  EXPECT_NE(s.message().find("users"), std::string::npos) << s.message();
  StoredObject deleted;
  ASSERT_TRUE(store_->Delete("users", &deleted).ok());
  EXPECT_EQ(deleted.object.metadata.name, "users");
  EXPECT_EQ(store_->Delete("users").code(), Status::Code::kNotFound);
  EXPECT_TRUE(store_->DeleteLayer("common").ok());
  EXPECT_EQ(store_->DeleteLayer("common").code(), Status::Code::kNotFound);
}

TEST_P(ObjectStoreContract, RevisionAndListenerCountEachChange) {
  std::atomic<int> calls{0};
  store_->SetChangeListener([&] { calls++; });
  MustApply({Service("a")});
  MustApply({Service("a")});  // unchanged: no notification
  ASSERT_TRUE(store_->SetScale("a", 2).ok());
  ASSERT_TRUE(store_->Delete("a").ok());
  EXPECT_GE(calls.load(), 3);
  EXPECT_GE(store_->Revision(), 3);
}

TEST_P(ObjectStoreContract, EventsInvocationsAndCredentials) {
  int64_t id1 = 0, id2 = 0;
  ASSERT_TRUE(
      store_->AppendEvent({0, 0, "Normal", "Created", "workload/a", "a", "one"}, &id1).ok());
  clock_.Advance(10);
  ASSERT_TRUE(store_
                  ->AppendEvents({{0, 0, "Warning", "Failed", "workload/b", "b", "two"},
                                  {0, 0, "Normal", "Ready", "workload/a", "a", "three"}},
                                 &id2)
                  .ok());
  EXPECT_GT(id2, id1);
  std::vector<Event> ev;
  ASSERT_TRUE(store_->ListEvents("", 0, 0, &ev).ok());
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].message, "one");
  EXPECT_EQ(ev[2].message, "three");
  EXPECT_EQ(ev[2].id, id2);
  ASSERT_TRUE(store_->ListEvents("a", 0, 1, &ev).ok());
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].message, "three");  // the newest match
  ASSERT_TRUE(store_->ListEvents("", clock_.WallMs(), 0, &ev).ok());
  EXPECT_EQ(ev.size(), 2u);

  Invocation inv{"inv-1", "fn", "Queued", 0, std::string("a\0b\xff", 4), "", 0, 0};
  ASSERT_TRUE(store_->PutInvocation(inv).ok());
  const int64_t created = clock_.WallMs();
  clock_.Advance(100);
  inv.state = "Succeeded";
  inv.response = "done";
  ASSERT_TRUE(store_->PutInvocation(inv).ok());
  Invocation got;
  ASSERT_TRUE(store_->GetInvocation("inv-1", &got).ok());
  EXPECT_EQ(got.request, std::string("a\0b\xff", 4));
  EXPECT_EQ(got.state, "Succeeded");
  EXPECT_EQ(got.created_ms, created);
  EXPECT_EQ(got.updated_ms, created + 100);
  EXPECT_EQ(store_->GetInvocation("nope", &got).code(), Status::Code::kNotFound);
  std::vector<Invocation> list;
  ASSERT_TRUE(store_->ListInvocations("fn", "Succeeded", &list).ok());
  EXPECT_EQ(list.size(), 1u);

  ASSERT_TRUE(store_->PutNodeCredential("node-a", std::string(64, 'a')).ok());
  EXPECT_EQ(store_->PutNodeCredential("node-a", std::string(64, 'b')).code(),
            Status::Code::kConflict);
  std::vector<std::pair<std::string, std::string>> creds;
  ASSERT_TRUE(store_->ListNodeCredentials(&creds).ok());
  ASSERT_EQ(creds.size(), 1u);
  EXPECT_EQ(creds[0].second, std::string(64, 'a'));
}

// What the invoker resumes: Queued and Running ones, not finished ones, on either backend.
TEST_P(ObjectStoreContract, PendingInvocationsAreTheQueuedAndRunningOnes) {
  for (const char* id : {"q", "r", "s", "d"}) {
    ASSERT_TRUE(store_->PutInvocation({id, "fn", "Queued", 0, "req", "", 0, 0}).ok());
    clock_.Advance(1);
  }
  ASSERT_TRUE(store_->PutInvocationAsLeader({"r", "fn", "Running", 1, "req", "", 0, 0}).ok());
  ASSERT_TRUE(store_->PutInvocationAsLeader({"s", "fn", "Succeeded", 1, "req", "ok", 0, 0}).ok());
  ASSERT_TRUE(store_->PutInvocation({"d", "fn", "DeadLetter", 3, "req", "", 0, 0}).ok());
  std::vector<std::string> ids;
  ASSERT_TRUE(store_->ListPendingInvocations(&ids).ok());
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"q", "r"}));
}

INSTANTIATE_TEST_SUITE_P(Backends, ObjectStoreContract, ::testing::Values("sqlite", "etcd"));

// ---- etcd only: several members on one etcd ----

class EtcdStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(etcd_.ok()) << etcd_.error();
    client_ = std::make_unique<etcd::EtcdClient>(etcd::EtcdClient::Options{{etcd_.url()}, 2});
    ASSERT_TRUE(EtcdStore::Open(*client_, clock_, {}, &a_).ok());
    ASSERT_TRUE(EtcdStore::Open(*client_, clock_, {}, &b_).ok());
  }
  TestEtcd etcd_;
  FakeClock clock_;
  std::unique_ptr<etcd::EtcdClient> client_;
  std::unique_ptr<EtcdStore> a_, b_;
};

TEST_F(EtcdStoreTest, AMembersChangeWakesTheOthers) {
  std::atomic<int> b_calls{0};
  b_->SetChangeListener([&] { b_calls++; });
  std::vector<ApplyResult> r;
  ASSERT_TRUE(a_->Apply({Service("x")}, false, &r).ok());
  ASSERT_TRUE(Eventually([&] { return b_calls.load() >= 1; }, std::chrono::seconds(5)));
  StoredObject got;
  EXPECT_TRUE(b_->Get("x", &got).ok());
  EXPECT_GE(b_->Revision(), 1);
}

// Hostile: two members race to apply overlapping batches. Each batch is all or nothing, every
// answered change is there, and a name is created exactly once.
TEST_F(EtcdStoreTest, ConcurrentAppliesFromTwoMembersNeverHalfApply) {
  constexpr int kRounds = 20;
  std::atomic<int> created{0};
  auto run = [&](EtcdStore* s, const std::string& mine) {
    for (int i = 0; i < kRounds; ++i) {
      std::vector<ApplyResult> r;
      Status st = s->Apply(
          {Service("shared-" + std::to_string(i)), Service(mine + std::to_string(i))}, false, &r);
      ASSERT_TRUE(st.ok()) << st.message();
      if (r[0].action == "created") created++;
    }
  };
  std::thread t1(run, a_.get(), "a-");
  std::thread t2(run, b_.get(), "b-");
  t1.join();
  t2.join();
  EXPECT_EQ(created.load(), kRounds);  // each shared name created once, then unchanged
  std::vector<StoredObject> all;
  ASSERT_TRUE(a_->List(std::nullopt, &all).ok());
  EXPECT_EQ(all.size(), static_cast<size_t>(3 * kRounds));
}

// Hostile: a member deletes a layer while another applies a workload that uses it. Whatever the
// order, no stored workload ends up naming a layer that does not exist.
TEST_F(EtcdStoreTest, ALayerCannotVanishUnderAWorkloadThatUsesIt) {
  for (int i = 0; i < 10; ++i) {
    const std::string layer = "l" + std::to_string(i);
    std::vector<ApplyResult> r;
    ASSERT_TRUE(a_->Apply({Layer(layer, "/x")}, false, &r).ok());
    Object w = Service("w" + std::to_string(i));
    w.spec.layers = {layer};
    Status applied, deleted;
    std::thread t1([&] { applied = a_->Apply({w}, false, &r); });
    std::thread t2([&] { deleted = b_->DeleteLayer(layer); });
    t1.join();
    t2.join();
    EXPECT_FALSE(applied.ok() && deleted.ok()) << "both the workload and the removal of its layer";
    StoredObject got;
    if (applied.ok()) {
      EXPECT_TRUE(a_->GetLayer(layer, &got).ok());
    }
  }
}

TEST_F(EtcdStoreTest, EtcdGoneIsUnavailableNamingItAndNothingIsHalfApplied) {
  std::vector<ApplyResult> r;
  ASSERT_TRUE(a_->Apply({Service("before")}, false, &r).ok());
  etcd_.Pause();
  Status s = a_->Apply({Service("during")}, false, &r);
  EXPECT_EQ(s.code(), Status::Code::kUnavailable);
  EXPECT_NE(s.message().find("etcd unavailable"), std::string::npos) << s.message();
  etcd_.Resume();
  StoredObject got;
  ASSERT_TRUE(Eventually([&] { return a_->Get("before", &got).ok(); }, std::chrono::seconds(5)));
  EXPECT_EQ(a_->Get("during", &got).code(), Status::Code::kNotFound);
}

// The leader's invocation writes (the invoker's claims and results) are fenced: once another
// member leads, the deposed one's write is refused and changes nothing (docs/ha.md).
TEST_F(EtcdStoreTest, ADeposedLeadersInvocationWriteIsRefused) {
  auto elector = [&](const std::string& name) {
    ElectorOptions eo;
    eo.name = name;
    eo.key = a_->prefix() + "leader";
    eo.ttl_seconds = 2;
    return std::make_unique<Elector>(eo, *client_, SystemClock::Get());
  };
  auto ea = elector("a");
  auto fence = [&](Elector* e) {
    return [e, c = client_.get()](const std::vector<etcd::Compare>& cmp,
                                  const std::vector<etcd::Op>& ops, etcd::TxnResult* out) {
      return FencedTxn(*c, e->key(), e->FenceRevision(), cmp, ops, out);
    };
  };
  a_->SetFencedWriter(fence(ea.get()));
  // Not leading yet: refused before anything is written.
  ASSERT_TRUE(a_->PutInvocation({"i1", "fn", "Queued", 0, "req", "", 0, 0}).ok());
  EXPECT_EQ(a_->PutInvocationAsLeader({"i1", "fn", "Running", 1, "req", "", 0, 0}).code(),
            Status::Code::kUnavailable);
  ea->Tick();
  ea->Tick();
  ASSERT_TRUE(ea->IsLeader()) << ea->Why();
  ASSERT_TRUE(a_->PutInvocationAsLeader({"i1", "fn", "Running", 1, "req", "", 0, 0}).ok());

  // Depose a (its lease goes, as after a pause past the TTL) and let b win.
  etcd::KeyValue kv;
  bool found = false;
  ASSERT_TRUE(client_->Get(ea->key(), &kv, &found).ok());
  ASSERT_TRUE(found);
  ASSERT_TRUE(client_->LeaseRevoke(kv.lease).ok());
  auto eb = elector("b");
  eb->Tick();
  eb->Tick();
  ASSERT_TRUE(eb->IsLeader()) << eb->Why();
  Status st = a_->PutInvocationAsLeader({"i1", "fn", "Succeeded", 1, "req", "a's", 0, 0});
  EXPECT_EQ(st.code(), Status::Code::kConflict) << st.message();
  EXPECT_NE(st.message().find("deposed"), std::string::npos) << st.message();
  Invocation got;
  ASSERT_TRUE(b_->GetInvocation("i1", &got).ok());
  EXPECT_EQ(got.state, "Running");  // untouched by the deposed member
  std::vector<std::string> pending;
  ASSERT_TRUE(b_->ListPendingInvocations(&pending).ok());
  EXPECT_EQ(pending, std::vector<std::string>{"i1"});  // the new leader finds it to deliver
}

TEST(EtcdStoreOpen, RefusesABadPrefixAndAnUnreachableEtcd) {
  FakeClock clock;
  etcd::EtcdClient c(etcd::EtcdClient::Options{{"http://127.0.0.1:1"}, 1});
  std::unique_ptr<EtcdStore> s;
  Status st = EtcdStore::Open(c, clock, {"tide", 100}, &s);
  EXPECT_EQ(st.code(), Status::Code::kInvalid);
  EXPECT_NE(st.message().find("--store-prefix"), std::string::npos);
  st = EtcdStore::Open(c, clock, {}, &s);
  EXPECT_EQ(st.code(), Status::Code::kUnavailable);
  EXPECT_NE(st.message().find("127.0.0.1:1"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace tide
