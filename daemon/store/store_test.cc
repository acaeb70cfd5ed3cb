#include "daemon/store/store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

namespace tide {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tide-store-XXXXXX").string();
    char* p = mkdtemp(tmpl.data());
    EXPECT_NE(p, nullptr);
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

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

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen(Store::Options opts = {}) {
    store_.reset();
    Status s = Store::Open(dir_.path(), clock_, opts, &store_);
    ASSERT_TRUE(s.ok()) << s.message();
  }
  std::vector<ApplyResult> MustApply(const std::vector<Object>& objs, bool dry = false) {
    std::vector<ApplyResult> r;
    Status s = store_->Apply(objs, dry, &r);
    EXPECT_TRUE(s.ok()) << s.message();
    return r;
  }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, RoundTripAndActions) {
  Object svc = Service("users", 2);
  svc.metadata.labels = {{"team", "core"}};
  svc.spec.env = {{"LOG_LEVEL", "info"}};
  auto r = MustApply({svc, Layer("common", "/opt/common")});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].action, "created");
  EXPECT_EQ(r[0].name, "users");
  EXPECT_EQ(r[0].generation, 1);
  EXPECT_EQ(r[1].action, "created");
  EXPECT_EQ(r[1].kind, Kind::kLayer);

  StoredObject got;
  ASSERT_TRUE(store_->Get("users", &got).ok());
  EXPECT_EQ(got.object.metadata.labels.at("team"), "core");
  EXPECT_EQ(got.object.spec.replicas, 2);
  EXPECT_EQ(got.object.spec.env.at("LOG_LEVEL"), "info");
  EXPECT_EQ(got.generation, 1);
  EXPECT_EQ(got.created_ms, clock_.WallMs());
  EXPECT_FALSE(got.scale_replicas.has_value());

  // Same again: unchanged.
  r = MustApply({svc, Layer("common", "/opt/common")});
  EXPECT_EQ(r[0].action, "unchanged");
  EXPECT_EQ(r[1].action, "unchanged");

  // Spec change: configured, generation 2, updated_ms moves, created_ms stays.
  clock_.Advance(5000);
  svc.spec.env["LOG_LEVEL"] = "debug";
  r = MustApply({svc});
  EXPECT_EQ(r[0].action, "configured");
  EXPECT_EQ(r[0].generation, 2);
  StoredObject after;
  ASSERT_TRUE(store_->Get("users", &after).ok());
  EXPECT_EQ(after.generation, 2);
  EXPECT_EQ(after.created_ms, got.created_ms);
  EXPECT_EQ(after.updated_ms, got.created_ms + 5000);

  // Labels only: configured, same generation.
  svc.metadata.labels["tier"] = "web";
  r = MustApply({svc});
  EXPECT_EQ(r[0].action, "configured");
  EXPECT_EQ(r[0].generation, 2);
}

TEST_F(StoreTest, NamespacesAndKindChange) {
  // A layer may share a name with a workload.
  MustApply({Service("shared"), Layer("shared", "/l")});
  StoredObject w, l;
  ASSERT_TRUE(store_->Get("shared", &w).ok());
  ASSERT_TRUE(store_->GetLayer("shared", &l).ok());
  EXPECT_EQ(w.object.kind, Kind::kService);
  EXPECT_EQ(l.object.layer.path, "/l");

  // Service -> Function under the same name: configured, new generation.
  Object fn = Service("shared");
  fn.kind = Kind::kFunction;
  auto r = MustApply({fn});
  EXPECT_EQ(r[0].action, "configured");
  EXPECT_EQ(r[0].generation, 2);
  std::vector<StoredObject> services, functions, all;
  ASSERT_TRUE(store_->List(Kind::kService, &services).ok());
  ASSERT_TRUE(store_->List(Kind::kFunction, &functions).ok());
  ASSERT_TRUE(store_->List(std::nullopt, &all).ok());
  EXPECT_TRUE(services.empty());
  ASSERT_EQ(functions.size(), 1u);
  EXPECT_EQ(all.size(), 1u);
}

TEST_F(StoreTest, DryRunWritesNothing) {
  auto r = MustApply({Service("a"), Service("b")}, /*dry=*/true);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].action, "created");
  std::vector<StoredObject> all;
  ASSERT_TRUE(store_->List(std::nullopt, &all).ok());
  EXPECT_TRUE(all.empty());
  EXPECT_EQ(store_->Revision(), 0);

  MustApply({Service("a", 1)});
  r = MustApply({Service("a", 3)}, /*dry=*/true);
  EXPECT_EQ(r[0].action, "configured");
  StoredObject got;
  ASSERT_TRUE(store_->Get("a", &got).ok());
  EXPECT_EQ(got.object.spec.replicas, 1);
  EXPECT_EQ(got.generation, 1);
}

TEST_F(StoreTest, FailingBatchLeavesNothingApplied) {
  Object bad = Service("b");
  bad.spec.layers = {"missing"};
  std::vector<ApplyResult> r;
  Status s = store_->Apply({Service("a"), bad}, false, &r);
  EXPECT_EQ(s.code(), Status::Code::kInvalid);
  EXPECT_NE(s.message().find("missing"), std::string::npos) << s.message();
  EXPECT_TRUE(r.empty());
  StoredObject got;
  EXPECT_EQ(store_->Get("a", &got).code(), Status::Code::kNotFound);

  // Duplicate names in one batch are rejected too.
  s = store_->Apply({Service("a"), Service("a", 2)}, false, &r);
  EXPECT_EQ(s.code(), Status::Code::kInvalid);
  EXPECT_EQ(store_->Get("a", &got).code(), Status::Code::kNotFound);

  // With the layer in the same batch it works.
  MustApply({bad, Layer("missing", "/x")});
  EXPECT_TRUE(store_->Get("b", &got).ok());
}

TEST_F(StoreTest, ReopenKeepsData) {
  MustApply({Service("users", 2), Layer("common", "/c")});
  ASSERT_TRUE(store_->SetScale("users", 5).ok());
  int64_t ev = 0;
  ASSERT_TRUE(
      store_->AppendEvent({0, 0, "Normal", "Created", "workload/users", "users", "hi"}, &ev).ok());
  Reopen();
  StoredObject got;
  ASSERT_TRUE(store_->Get("users", &got).ok());
  EXPECT_EQ(got.object.spec.replicas, 2);
  EXPECT_EQ(got.scale_replicas, std::optional<int>(5));
  ASSERT_TRUE(store_->GetLayer("common", &got).ok());
  std::vector<Event> events;
  ASSERT_TRUE(store_->ListEvents("", 0, 0, &events).ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].id, ev);
  EXPECT_EQ(events[0].message, "hi");
  // Reapplying the same object after reopen is unchanged.
  auto r = MustApply({Service("users", 2)});
  EXPECT_EQ(r[0].action, "unchanged");
}

// A damaged store is refused at open, with a message that says so and what to do.
TEST_F(StoreTest, DamagedStoreIsRefusedAtOpen) {
  std::vector<Object> objs;
  for (int i = 0; i < 60; ++i) objs.push_back(Service("svc-" + std::to_string(i), 1));
  MustApply(objs);
  store_.reset();  // the last connection checkpoints the WAL into tide.db
  const std::string db = dir_.path() + "/tide.db";
  const auto size = std::filesystem::file_size(db);
  ASSERT_GE(size, 4u * 4096u);
  {  // Scribble over every page but the first (the header stays valid).
    FILE* f = std::fopen(db.c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    for (uintmax_t off = 4096; off + 64 < size; off += 4096) {
      std::fseek(f, static_cast<long>(off), SEEK_SET);
      const char junk[64] = "\x0d\xff\xff\xff\xff\xff\xff\xff garbage garbage garbage";
      std::fwrite(junk, 1, sizeof junk, f);
    }
    std::fclose(f);
  }
  std::unique_ptr<Store> s;
  Status st = Store::Open(dir_.path(), clock_, &s);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(s, nullptr);
  EXPECT_NE(st.message().find("is damaged"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("quick_check"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find(db), std::string::npos) << st.message();

  // Not a database at all: the same clear refusal.
  {
    FILE* f = std::fopen(db.c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    std::fwrite("this is not sqlite", 1, 18, f);
    std::fclose(f);
  }
  st = Store::Open(dir_.path(), clock_, &s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("is damaged"), std::string::npos) << st.message();
}

TEST_F(StoreTest, ApplySurvivesKill9) {
  store_.reset();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    FakeClock clock;
    std::unique_ptr<Store> s;
    std::vector<ApplyResult> r;
    if (!Store::Open(dir_.path(), clock, &s).ok()) _exit(2);
    if (!s->Apply({Service("durable", 3)}, false, &r).ok()) _exit(3);
    raise(SIGKILL);  // no destructors, no checkpoint
    _exit(4);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  EXPECT_TRUE(std::filesystem::exists(dir_.path() + "/tide.db-wal"));
  Reopen();
  StoredObject got;
  ASSERT_TRUE(store_->Get("durable", &got).ok());
  EXPECT_EQ(got.object.spec.replicas, 3);
}

TEST_F(StoreTest, NewerSchemaIsRefused) {
  store_.reset();
  {
    SqliteDb db;
    ASSERT_TRUE(db.Open(dir_.path() + "/tide.db").ok());
    ASSERT_TRUE(db.Exec("UPDATE meta SET value = '99' WHERE key = 'schema_version'").ok());
  }
  std::unique_ptr<Store> s;
  Status st = Store::Open(dir_.path(), clock_, &s);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("99"), std::string::npos) << st.message();
}

TEST_F(StoreTest, ScaleOverride) {
  MustApply({Service("users", 2)});
  EXPECT_EQ(store_->SetScale("nope", 3).code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->SetScale("users", -1).code(), Status::Code::kInvalid);
  ASSERT_TRUE(store_->SetScale("users", 4).ok());
  StoredObject got;
  ASSERT_TRUE(store_->Get("users", &got).ok());
  EXPECT_EQ(got.scale_replicas, std::optional<int>(4));

  // An apply that does not touch replicas keeps the override.
  Object svc = Service("users", 2);
  svc.spec.env["X"] = "1";
  MustApply({svc});
  ASSERT_TRUE(store_->Get("users", &got).ok());
  EXPECT_EQ(got.scale_replicas, std::optional<int>(4));

  // Changing spec.replicas clears it.
  svc.spec.replicas = 3;
  MustApply({svc});
  ASSERT_TRUE(store_->Get("users", &got).ok());
  EXPECT_FALSE(got.scale_replicas.has_value());
  EXPECT_EQ(got.object.spec.replicas, 3);
}

TEST_F(StoreTest, DeleteWorkloadsAndLayers) {
  Object svc = Service("users");
  svc.spec.layers = {"common"};
  MustApply({svc, Layer("common", "/c"), Layer("other", "/o")});
  EXPECT_EQ(store_->Delete("nope").code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->DeleteLayer("nope").code(), Status::Code::kNotFound);

  Status s = store_->DeleteLayer("common");
  EXPECT_EQ(s.code(), Status::Code::kConflict);
  EXPECT_NE(s.message().find("users"), std::string::npos) << s.message();
  EXPECT_TRUE(store_->DeleteLayer("other").ok());

  StoredObject deleted;
  ASSERT_TRUE(store_->Delete("users", &deleted).ok());
  EXPECT_EQ(deleted.object.metadata.name, "users");
  StoredObject got;
  EXPECT_EQ(store_->Get("users", &got).code(), Status::Code::kNotFound);
  EXPECT_TRUE(store_->DeleteLayer("common").ok());
  std::vector<StoredObject> layers;
  ASSERT_TRUE(store_->ListLayers(&layers).ok());
  EXPECT_TRUE(layers.empty());
}

TEST_F(StoreTest, RevisionAndListener) {
  std::atomic<int> calls{0};
  store_->SetChangeListener([&] { calls++; });
  MustApply({Service("a")});
  MustApply({Service("a")});  // unchanged: no notification
  ASSERT_TRUE(store_->SetScale("a", 2).ok());
  ASSERT_TRUE(store_->Delete("a").ok());
  EXPECT_EQ(calls.load(), 3);
  EXPECT_EQ(store_->Revision(), 3);
}

TEST_F(StoreTest, AppendEventsWritesABatchInOrderAndPrunes) {
  Reopen(Store::Options{.max_events = 5});
  std::vector<Event> batch;
  for (int i = 0; i < 7; ++i) {
    Event e;
    e.type = "Normal";
    e.reason = "B" + std::to_string(i);
    e.workload = "w";
    e.object = "instance/w-" + std::to_string(i);
    batch.push_back(e);
  }
  int64_t last = 0;
  ASSERT_TRUE(store_->AppendEvents(batch, &last).ok());
  std::vector<Event> all;
  ASSERT_TRUE(store_->ListEvents("", 0, 0, &all).ok());
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all.front().reason, "B2");
  EXPECT_EQ(all.back().reason, "B6");
  EXPECT_EQ(all.back().id, last);
  EXPECT_EQ(all.back().object, "instance/w-6");
  EXPECT_GT(all.back().time_ms, 0);
  EXPECT_TRUE(store_->AppendEvents({}).ok());
}

TEST_F(StoreTest, EventsFiltersAndPruning) {
  Reopen(Store::Options{.max_events = 5});
  for (int i = 0; i < 8; ++i) {
    Event e;
    e.type = "Normal";
    e.reason = "R" + std::to_string(i);
    e.workload = i % 2 == 0 ? "even" : "odd";
    e.object = "workload/" + e.workload;
    ASSERT_TRUE(store_->AppendEvent(e).ok());
    clock_.Advance(1000);
  }
  std::vector<Event> all;
  ASSERT_TRUE(store_->ListEvents("", 0, 0, &all).ok());
  ASSERT_EQ(all.size(), 5u);  // pruned to the newest 5
  EXPECT_EQ(all.front().reason, "R3");
  EXPECT_EQ(all.back().reason, "R7");
  EXPECT_LT(all.front().id, all.back().id);

  std::vector<Event> even;
  ASSERT_TRUE(store_->ListEvents("even", 0, 0, &even).ok());
  ASSERT_EQ(even.size(), 2u);
  EXPECT_EQ(even[0].reason, "R4");
  EXPECT_EQ(even[1].reason, "R6");

  std::vector<Event> recent;
  ASSERT_TRUE(store_->ListEvents("", all[3].time_ms, 0, &recent).ok());
  ASSERT_EQ(recent.size(), 2u);
  EXPECT_EQ(recent[0].reason, "R6");

  std::vector<Event> limited;
  ASSERT_TRUE(store_->ListEvents("", 0, 2, &limited).ok());
  ASSERT_EQ(limited.size(), 2u);
  EXPECT_EQ(limited[0].reason, "R6");
  EXPECT_EQ(limited[1].reason, "R7");
}

TEST_F(StoreTest, Invocations) {
  Invocation inv;
  inv.id = "inv-1";
  inv.workload = "fn";
  inv.state = "Queued";
  inv.request = std::string("a\0b", 3);
  ASSERT_TRUE(store_->PutInvocation(inv).ok());
  const int64_t created = clock_.WallMs();
  clock_.Advance(100);
  inv.state = "Succeeded";
  inv.attempts = 1;
  inv.response = "done";
  ASSERT_TRUE(store_->PutInvocation(inv).ok());
  Invocation other{"inv-2", "fn", "DeadLetter", 3, "x", "", 0, 0};
  ASSERT_TRUE(store_->PutInvocation(other).ok());

  Invocation got;
  ASSERT_TRUE(store_->GetInvocation("inv-1", &got).ok());
  EXPECT_EQ(got.state, "Succeeded");
  EXPECT_EQ(got.request, std::string("a\0b", 3));
  EXPECT_EQ(got.response, "done");
  EXPECT_EQ(got.created_ms, created);
  EXPECT_EQ(got.updated_ms, created + 100);
  EXPECT_EQ(store_->GetInvocation("nope", &got).code(), Status::Code::kNotFound);

  std::vector<Invocation> list;
  ASSERT_TRUE(store_->ListInvocations("fn", "DeadLetter", &list).ok());
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].id, "inv-2");
  ASSERT_TRUE(store_->ListInvocations("", "", &list).ok());
  EXPECT_EQ(list.size(), 2u);
}

TEST_F(StoreTest, NodeCredentialsAreClaimedOnceAndSurviveReopen) {
  const std::string d1(64, 'a'), d2(64, 'b');
  ASSERT_TRUE(store_->PutNodeCredential("node-a", d1).ok());
  Status s = store_->PutNodeCredential("node-a", d2);
  EXPECT_EQ(s.code(), Status::Code::kConflict);
  EXPECT_NE(s.message().find("node-a"), std::string::npos);
  ASSERT_TRUE(store_->PutNodeCredential("node-b", d2).ok());
  Reopen();
  std::vector<std::pair<std::string, std::string>> creds;
  ASSERT_TRUE(store_->ListNodeCredentials(&creds).ok());
  ASSERT_EQ(creds.size(), 2u);
  EXPECT_EQ(creds[0], std::make_pair(std::string("node-a"), d1));  // the first claim stays
  EXPECT_EQ(creds[1], std::make_pair(std::string("node-b"), d2));
}

TEST_F(StoreTest, ConcurrentAppliesAreSerialized) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < 10; ++i) {
        std::vector<ApplyResult> r;
#if defined(__GNUC__) && !defined(__clang__)  // GCC bug 105651: at -O3 GCC 12 reports a bogus
#pragma GCC diagnostic push                   // -Wrestrict in "c" + std::string&&
#pragma GCC diagnostic ignored "-Wrestrict"
#endif
        EXPECT_TRUE(
            store_->Apply({Service("w" + std::to_string(t) + "-" + std::to_string(i))}, false, &r)
                .ok());
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
      }
    });
  }
  for (auto& th : threads) th.join();
  std::vector<StoredObject> all;
  ASSERT_TRUE(store_->List(std::nullopt, &all).ok());
  EXPECT_EQ(all.size(), 40u);
}

}  // namespace
}  // namespace tide
