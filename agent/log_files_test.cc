#include "agent/log_files.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "agent/os_test_util.h"

namespace tide {
namespace {

using testing::ReadAll;
using testing::TempDir;
using testing::WaitFor;
using testing::WriteAll;

std::string Lines(int from, int to) {
  std::string s;
  for (int i = from; i <= to; ++i) s += "line " + std::to_string(i) + "\n";
  return s;
}

TEST(LogFilesTest, PathForCreatesTheDirectory) {
  TempDir t;
  LogFiles logs(t / "logs");
  EXPECT_EQ(logs.PathFor("web-1"), t / "logs/web-1.log");
  EXPECT_TRUE(std::filesystem::is_directory(t / "logs"));
}

TEST(LogFilesTest, RotationIsBounded) {
  TempDir t;
  LogFiles logs(t.path(), /*max_bytes=*/1000, /*keep=*/2);
  std::string path = logs.PathFor("a");
  std::string line(99, 'x');
  line += '\n';
  for (int i = 0; i < 200; ++i) {
    WriteAll(path, line, /*append=*/true);
    logs.RotateIfNeeded("a");
  }
  int64_t total = 0;
  for (const auto& e : std::filesystem::directory_iterator(t.path())) {
    total += static_cast<int64_t>(e.file_size());
    EXPECT_LE(e.file_size(), 1100u) << e.path();
  }
  EXPECT_TRUE(std::filesystem::exists(path + ".1"));
  EXPECT_TRUE(std::filesystem::exists(path + ".2"));
  EXPECT_FALSE(std::filesystem::exists(path + ".3"));
  EXPECT_LE(total, 3 * 1100);
  EXPECT_GT(total, 2 * 1000);  // something was kept

  logs.Remove("a");
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".1"));
}

TEST(LogFilesTest, TailSpansRotatedFiles) {
  TempDir t;
  LogFiles logs(t.path(), /*max_bytes=*/50, /*keep=*/5);
  std::string path = logs.PathFor("a");
  for (int i = 1; i <= 12; ++i) {
    WriteAll(path, Lines(i, i), true);
    logs.RotateIfNeeded("a");
  }
  ASSERT_TRUE(std::filesystem::exists(path + ".1"));
  std::string out;
  ASSERT_TRUE(logs.Tail("a", 5, &out).ok());
  EXPECT_EQ(out, Lines(8, 12));
  ASSERT_TRUE(logs.Tail("a", -1, &out).ok());
  EXPECT_EQ(out, Lines(1, 12));
  ASSERT_TRUE(logs.Tail("a", 0, &out).ok());
  EXPECT_EQ(out, "");
  ASSERT_TRUE(logs.Tail("a", 1000, &out).ok());
  EXPECT_EQ(out, Lines(1, 12));
  EXPECT_EQ(logs.Tail("nope", 5, &out).code(), Status::Code::kNotFound);
}

TEST(LogFilesTest, TailCountsAPartialLastLine) {
  TempDir t;
  LogFiles logs(t.path());
  WriteAll(logs.PathFor("a"), "one\ntwo\nthree");
  std::string out;
  ASSERT_TRUE(logs.Tail("a", 2, &out).ok());
  EXPECT_EQ(out, "two\nthree");
  WriteAll(logs.PathFor("b"), "\n\nx\n");
  ASSERT_TRUE(logs.Tail("b", 2, &out).ok());
  EXPECT_EQ(out, "\nx\n");
  WriteAll(logs.PathFor("c"), "");
  ASSERT_TRUE(logs.Tail("c", 2, &out).ok());
  EXPECT_EQ(out, "");
}

TEST(LogFilesTest, TailOfALargeFileReadsAcrossChunks) {
  TempDir t;
  LogFiles logs(t.path(), 100 << 20);
  WriteAll(logs.PathFor("a"), Lines(1, 20000));
  std::string out;
  ASSERT_TRUE(logs.Tail("a", 3000, &out).ok());
  EXPECT_EQ(out, Lines(17001, 20000));
}

// Collects what Follow sends, on its own thread.
class Follower {
 public:
  Follower(const LogFiles& logs, const std::string& id, int tail) {
    thread_ = std::thread([this, &logs, id, tail] {
      status_ = logs.Follow(
          id, tail,
          [this](const std::string& chunk) {
            std::lock_guard<std::mutex> lock(mu_);
            got_ += chunk;
            return got_.find("STOP") == std::string::npos;
          },
          [this] { return stop_.load(); });
      done_ = true;
    });
  }
  ~Follower() {
    stop_ = true;
    thread_.join();
  }
  std::string got() {
    std::lock_guard<std::mutex> lock(mu_);
    return got_;
  }
  bool Saw(const std::string& s) {
    return WaitFor([&] { return got().find(s) != std::string::npos; });
  }
  void Stop() { stop_ = true; }
  bool done() const { return done_; }
  const Status& status() const { return status_; }

 private:
  std::mutex mu_;
  std::string got_;
  std::atomic<bool> stop_{false}, done_{false};
  Status status_;
  std::thread thread_;
};

TEST(LogFilesTest, FollowSendsTailThenNewOutputAndStops) {
  TempDir t;
  LogFiles logs(t.path());
  std::string path = logs.PathFor("a");
  WriteAll(path, Lines(1, 5));
  Follower f(logs, "a", 2);
  ASSERT_TRUE(f.Saw("line 5\n"));
  EXPECT_EQ(f.got(), Lines(4, 5));
  WriteAll(path, Lines(6, 7), true);
  ASSERT_TRUE(f.Saw("line 7\n"));
  EXPECT_EQ(f.got(), Lines(4, 7));
  f.Stop();
  EXPECT_TRUE(WaitFor([&] { return f.done(); }));
  EXPECT_TRUE(f.status().ok());
}

TEST(LogFilesTest, FollowEndsWhenTheSinkSaysSo) {
  TempDir t;
  LogFiles logs(t.path());
  std::string path = logs.PathFor("a");
  WriteAll(path, "ready\n");
  Follower f(logs, "a", 1);
  ASSERT_TRUE(f.Saw("ready\n"));  // following from here on
  WriteAll(path, "hello STOP\n", true);
  EXPECT_TRUE(WaitFor([&] { return f.done(); }));
  EXPECT_EQ(f.got(), "ready\nhello STOP\n");
}

TEST(LogFilesTest, FollowSurvivesRotation) {
  TempDir t;
  LogFiles logs(t.path(), /*max_bytes=*/10, /*keep=*/1);
  std::string path = logs.PathFor("a");
  WriteAll(path, "ready\n");
  Follower f(logs, "a", 1);
  ASSERT_TRUE(f.Saw("ready\n"));  // following from here on
  WriteAll(path, "before\n", true);
  ASSERT_TRUE(f.Saw("before\n"));
  // Written and rotated away before the follower polls again: recovered from .1.
  WriteAll(path, "missed?\n", true);
  logs.RotateIfNeeded("a");
  ASSERT_EQ(std::filesystem::file_size(path), 0u);
  WriteAll(path, "after\n", true);
  ASSERT_TRUE(f.Saw("after\n"));
  std::string got = f.got();
  EXPECT_EQ(got, "ready\nbefore\nmissed?\nafter\n");
}

TEST(LogFilesTest, FollowOfAMissingInstanceIsNotFound) {
  TempDir t;
  LogFiles logs(t.path());
  Status s = logs.Follow(
      "nope", 10, [](const std::string&) { return true; }, [] { return true; });
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
}

}  // namespace
}  // namespace tide
