#include "api/model.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

// SharedSpec: instances' assignments share one spec; a write copies first.
namespace tide {
namespace {

TEST(SharedSpecTest, CopiesShareOneSpecUntilOneIsWritten) {
  WorkloadSpec spec;
  spec.command = {"server", "--port", "${PORT}"};
  InstanceAssignment a;
  a.spec = spec;
  InstanceAssignment b = a;
  EXPECT_TRUE(a.spec.SameObject(b.spec));
  b.spec.mut().command = {"other"};
  EXPECT_FALSE(a.spec.SameObject(b.spec));
  EXPECT_EQ(a.spec->command, spec.command);  // the first copy kept its value
  EXPECT_EQ(b.spec->command, std::vector<std::string>{"other"});
  EXPECT_FALSE(a == b);
}

TEST(SharedSpecTest, EqualityIsByValueNotByObject) {
  WorkloadSpec spec;
  spec.command = {"server"};
  SharedSpec x(spec), y(spec);
  EXPECT_FALSE(x.SameObject(y));
  EXPECT_TRUE(x == y);
  SharedSpec empty1, empty2;
  EXPECT_TRUE(empty1 == empty2);
  EXPECT_TRUE(empty1->command.empty());
  empty1.mut().command = {"x"};  // the shared empty spec itself is never written
  EXPECT_TRUE(empty2->command.empty());
  EXPECT_TRUE(SharedSpec()->command.empty());
}

TEST(SharedSpecTest, CopiesOnManyThreadsKeepTheSpec) {
  WorkloadSpec spec;
  spec.command = {"server"};
  const SharedSpec base(spec);
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        SharedSpec mine = base;
        if (i % 2 == 0) mine.mut().command.push_back("x");
        ok[t] += (base->command.size() == 1);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(ok[t], 2000);
}

}  // namespace
}  // namespace tide
