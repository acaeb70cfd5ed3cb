// ControlPlane driven without its threads (no Start()): each reconcile pass is run by the test,
// so what happens outside a pass is seen apart from it.
#include "daemon/control/control_plane.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>

#include "api/clock.h"
#include "api/manifest.h"
#include "daemon/metrics.h"
#include "daemon/store/store.h"

namespace tide {
namespace {

class ControlPlaneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tide-control-plane-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    Status st = Store::Open(dir_, clock_, &store_);
    ASSERT_TRUE(st.ok()) << st.message();
    ControlPlaneOptions o;
    o.startup_settle_ms = 0;
    cp_ = std::make_unique<ControlPlane>(o, *store_, clock_, metrics_, nullptr);
    NodeInfo n;
    n.name = "node-a";
    n.address = "127.0.0.1";
    n.capacity.cpu = 4;
    n.capacity.memory_bytes = int64_t{8} << 30;
    ASSERT_TRUE(cp_->RegisterNode(n, {}).ok());
  }
  void TearDown() override {
    cp_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Apply(const std::string& yaml) {
    ParseResult parsed = ParseManifests(yaml, "test.yaml");
    ASSERT_TRUE(parsed.ok()) << parsed.errors.front().message;
    std::vector<ApplyResult> results;
    Status st = store_->Apply(parsed.objects, false, &results);
    ASSERT_TRUE(st.ok()) << st.message();
  }
  size_t AssignedTo(const std::string& node) {
    AssignmentSet set;
    EXPECT_TRUE(cp_->WaitAssignments(node, -1, 0, &set).ok());
    return set.instances.size();
  }

  std::string dir_;
  FakeClock clock_;
  Metrics metrics_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ControlPlane> cp_;
};

// A request to a Function at zero is placed by OnLoad itself: the agent's long-poll sees the
// new instance without waiting for the reconcile thread's pass (issue 13, cold starts).
TEST_F(ControlPlaneTest, ActivationFromZeroIsAssignedWithoutAReconcilePass) {
  Apply(
      "apiVersion: tide/v1\nkind: Function\nmetadata: {name: fn}\nspec:\n"
      "  command: [\"/bin/true\"]\n  idleTimeoutSeconds: 1\n"
      "  autoscale: {minReplicas: 0, maxReplicas: 1, target: 1}\n");
  cp_->ReconcileOnce();  // the Function is known, at zero
  const int64_t before = cp_->AssignmentVersion("node-a");
  ASSERT_EQ(AssignedTo("node-a"), 0u);
  cp_->OnLoad("fn", 0, 1);  // a request waits
  EXPECT_GT(cp_->AssignmentVersion("node-a"), before);
  EXPECT_EQ(AssignedTo("node-a"), 1u);
  cp_->ReconcileOnce();  // the pass it kicked finds it placed: still one
  EXPECT_EQ(AssignedTo("node-a"), 1u);
}

}  // namespace
}  // namespace tide
