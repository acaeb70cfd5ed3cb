#include "api/client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

namespace tide {
namespace {

// A cpp-httplib server on 127.0.0.1, ephemeral port, serving on a background thread.
class FakeServer {
 public:
  httplib::Server& server() { return server_; }
  void Start() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() is a no-op until the accept loop runs, so wait for it (deadline 5 s).
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!server_.is_running() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    ASSERT_TRUE(server_.is_running());
  }
  ~FakeServer() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

// A loopback port nobody listens on (bound, then closed).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

TEST(ClientTest, SendsBearerTokenAndReadsBody) {
  FakeServer fake;
  std::string auth;
  fake.server().Get("/v1/version", [&](const httplib::Request& req, httplib::Response& res) {
    auth = req.get_header_value("Authorization");
    res.set_content(R"({"version":"1.2.3"})", "application/json");
  });
  fake.Start();
  Client client({fake.url(), "s3cret", 5});
  Response r;
  Status st = client.Get("/v1/version", &r);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(auth, "Bearer s3cret");
  EXPECT_TRUE(r.reached);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"version":"1.2.3"})");
  EXPECT_EQ(r.content_type, "application/json");
}

TEST(ClientTest, NoTokenNoAuthorizationHeader) {
  FakeServer fake;
  bool has_auth = true;
  fake.server().Get("/x", [&](const httplib::Request& req, httplib::Response& res) {
    has_auth = req.has_header("Authorization");
    res.set_content("ok", "text/plain");
  });
  fake.Start();
  Client client({fake.url(), "", 5});
  Response r;
  ASSERT_TRUE(client.Get("/x", &r).ok());
  EXPECT_FALSE(has_auth);
}

TEST(ClientTest, DecodesErrorAnswer) {
  FakeServer fake;
  fake.server().Post("/v1/apply", [&](const httplib::Request&, httplib::Response& res) {
    res.status = 400;
    res.set_content(
        R"({"error":{"code":"InvalidManifest","message":"manifest is invalid","details":[)"
        R"({"file":"a.yaml","line":7,"column":13,"path":"spec.replicas","message":"must be >= 0"}]}})",
        "application/json");
  });
  fake.Start();
  Client client({fake.url(), "t", 5});
  Response r;
  Status st = client.Post("/v1/apply", "kind: Service\n", "application/yaml", &r);
  EXPECT_EQ(st.code(), Status::Code::kInvalid);
  EXPECT_EQ(st.message(), "manifest is invalid");
  EXPECT_TRUE(r.reached);
  EXPECT_FALSE(IsUnreachable(st, r));
  ApiError e;
  ASSERT_TRUE(ParseApiError(r.body, &e));
  EXPECT_EQ(e.code, "InvalidManifest");
  ASSERT_EQ(e.details.size(), 1u);
  EXPECT_EQ(e.details[0].file, "a.yaml");
  EXPECT_EQ(e.details[0].line, 7);
  EXPECT_EQ(e.details[0].column, 13);
  EXPECT_EQ(e.details[0].path, "spec.replicas");
  EXPECT_EQ(e.details[0].message, "must be >= 0");
}

TEST(ClientTest, NonJsonErrorUsesBodyAsMessage) {
  FakeServer fake;
  fake.server().Get("/v1/nodes/x", [&](const httplib::Request&, httplib::Response& res) {
    res.status = 503;
    res.set_content("overloaded\nmore", "text/plain");
  });
  fake.Start();
  Client client({fake.url(), "", 5});
  Response r;
  Status st = client.Get("/v1/nodes/x", &r);
  EXPECT_EQ(st.code(), Status::Code::kUnavailable);
  EXPECT_EQ(st.message(), "overloaded");
  EXPECT_FALSE(IsUnreachable(st, r));  // a 503 answer is not "unreachable"
}

TEST(ClientTest, MapsHttpStatuses) {
  EXPECT_TRUE(StatusFromHttp(204, "").ok());
  EXPECT_EQ(StatusFromHttp(401, "m").code(), Status::Code::kUnauthorized);
  EXPECT_EQ(StatusFromHttp(403, "m").code(), Status::Code::kForbidden);
  EXPECT_EQ(StatusFromHttp(404, "m").code(), Status::Code::kNotFound);
  EXPECT_EQ(StatusFromHttp(409, "m").code(), Status::Code::kConflict);
  EXPECT_EQ(StatusFromHttp(413, "m").code(), Status::Code::kTooLarge);
  EXPECT_EQ(StatusFromHttp(504, "m").code(), Status::Code::kTimeout);
  EXPECT_EQ(StatusFromHttp(500, "m").code(), Status::Code::kInternal);
}

TEST(ClientTest, UnreachableServer) {
  Client client({"http://127.0.0.1:" + std::to_string(FreePort()), "t", 2});
  Response r;
  Status st = client.Get("/v1/version", &r);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Status::Code::kUnavailable);
  EXPECT_FALSE(r.reached);
  EXPECT_TRUE(IsUnreachable(st, r));
  EXPECT_NE(st.message().find("cannot reach server"), std::string::npos) << st.message();
}

TEST(ClientTest, InvalidUrl) {
  Client client({"ftp://x:1", "", 2});
  Response r;
  Status st = client.Get("/", &r);
  EXPECT_EQ(st.code(), Status::Code::kInvalid);
}

TEST(ServerListTest, ParsesAndRefusesWhatIsNotAList) {
  std::vector<std::string> v;
  ASSERT_TRUE(ParseServerList("http://a:1, https://b:2/p ,c:3", &v).ok());
  EXPECT_EQ(v, (std::vector<std::string>{"http://a:1", "https://b:2/p", "http://c:3"}));
  for (auto [bad, want] : std::vector<std::pair<std::string, std::string>>{
           {"", "entry 1 is empty"},
           {"http://a:1,,http://b:2", "entry 2 is empty"},
           {"http://a:1,", "entry 2 is empty"},
           {"http://a:1,ftp://b:2", "\"ftp://b:2\" (entry 2)"},
           {"http://a:1,http://a:1", "listed twice"},
           {"http://a b:1", "invalid server URL"}}) {
    Status st = ParseServerList(bad, &v);
    EXPECT_EQ(st.code(), Status::Code::kInvalid) << bad;
    EXPECT_NE(st.message().find(want), std::string::npos) << bad << ": " << st.message();
  }
  std::string many;
  for (int i = 0; i <= static_cast<int>(kMaxServers); ++i) {
    many += (i ? "," : "") + std::string("http://h") + std::to_string(i) + ":1";
  }
  EXPECT_EQ(ParseServerList(many, &v).code(), Status::Code::kInvalid);
}

// Several members: a call that cannot reach the first, or that a member answers 503 NotLeader,
// goes to the next one, which then stays in use; other answers (a 503 of another kind, a 4xx)
// are the answer.
TEST(ClientTest, MovesToTheNextMemberOnlyWhenThisOneCannotServe) {
  FakeServer follower, leader;
  follower.server().Get("/work", [](const httplib::Request&, httplib::Response& res) {
    res.status = 503;
    res.set_content(R"({"error":{"code":"NotLeader","message":"not the leader"}})",
                    "application/json");
  });
  follower.server().Get("/busy", [](const httplib::Request&, httplib::Response& res) {
    res.status = 503;
    res.set_content(R"({"error":{"code":"Unavailable","message":"store: etcd unavailable"}})",
                    "application/json");
  });
  std::atomic<int> leader_calls{0};
  leader.server().Get("/work", [&](const httplib::Request&, httplib::Response& res) {
    leader_calls++;
    res.set_content("from leader", "text/plain");
  });
  follower.Start();
  leader.Start();
  const std::string dead = "http://127.0.0.1:" + std::to_string(FreePort());

  Client c({dead + "," + follower.url() + "," + leader.url(), "", 2});
  Response r;
  ASSERT_TRUE(c.Get("/work", &r).ok());
  EXPECT_EQ(r.body, "from leader");
  EXPECT_EQ(c.server(), leader.url());
  ASSERT_TRUE(c.Get("/work", &r).ok());  // stays with the member that answered
  EXPECT_EQ(leader_calls.load(), 2);

  Client c2({follower.url() + "," + leader.url(), "", 2});
  Status st = c2.Get("/busy", &r);
  EXPECT_EQ(st.code(), Status::Code::kUnavailable);
  EXPECT_EQ(c2.server(), follower.url());  // a 503 of etcd is every member's: no move

  Client none({dead + "," + follower.url(), "", 2});
  st = none.Get("/work", &r);
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(st.message().find("not the leader"), std::string::npos) << st.message();
}

TEST(ClientTest, BaseUrlPathPrefixAndHeaders) {
  FakeServer fake;
  std::string got_type;
  std::string got_file;
  std::string got_body;
  fake.server().Post("/tide/v1/apply", [&](const httplib::Request& req, httplib::Response& res) {
    got_type = req.get_header_value("Content-Type");
    got_file = req.get_header_value("X-Tide-Filename");
    got_body = req.body;
    res.set_content("{}", "application/json");
  });
  fake.Start();
  Client client({fake.url() + "/tide/", "", 5});
  Response r;
  HeaderMap extra{{"X-Tide-Filename", "a.yaml"}};
  Status st = client.Post("/v1/apply", "kind: Service\n", "application/yaml", &r, extra);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(got_type, "application/yaml");
  EXPECT_EQ(got_file, "a.yaml");
  EXPECT_EQ(got_body, "kind: Service\n");
}

TEST(ClientTest, PutAndDeleteAndSend) {
  FakeServer fake;
  std::string put_body;
  fake.server().Put("/v1/workloads/a/scale",
                    [&](const httplib::Request& req, httplib::Response& res) {
                      put_body = req.body;
                      res.set_content("{}", "application/json");
                    });
  fake.server().Delete("/v1/workloads/a", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"deleted":"a"})", "application/json");
  });
  fake.server().Patch("/p", [&](const httplib::Request& req, httplib::Response& res) {
    res.set_content("patched " + req.body, "text/plain");
  });
  fake.Start();
  Client client({fake.url(), "", 5});
  Response r;
  ASSERT_TRUE(
      client.Put("/v1/workloads/a/scale", R"({"replicas":3})", "application/json", &r).ok());
  EXPECT_EQ(put_body, R"({"replicas":3})");
  ASSERT_TRUE(client.Delete("/v1/workloads/a", &r).ok());
  EXPECT_EQ(r.body, R"({"deleted":"a"})");
  ASSERT_TRUE(client.Send("PATCH", "/p", "x", "text/plain", {}, &r).ok());
  EXPECT_EQ(r.body, "patched x");
}

TEST(ClientTest, StreamsChunksAndStopsEarly) {
  FakeServer fake;
  fake.server().Get("/logs", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("text/plain", [](size_t offset, httplib::DataSink& sink) {
      if (offset >= 3) {
        sink.done();
        return true;
      }
      sink.write("x", 1);
      return true;
    });
  });
  fake.Start();
  Client client({fake.url(), "", 5});
  std::string got;
  Response r;
  Status st = client.GetStream(
      "/logs",
      [&](std::string_view c) {
        got.append(c);
        return true;
      },
      &r);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(got, "xxx");

  int calls = 0;
  st = client.GetStream(
      "/logs",
      [&](std::string_view) {
        ++calls;
        return false;
      },
      &r);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(calls, 1);
}

// The agent's assignments long-poll waits up to 20 s for an answer; Stop() must not.
TEST(ClientTest, AbortEndsACallThatWaitsAtOnce) {
  FakeServer fake;
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, release = false;
  fake.server().Get("/wait", [&](const httplib::Request&, httplib::Response& res) {
    std::unique_lock<std::mutex> lk(mu);
    entered = true;
    cv.notify_all();
    cv.wait_for(lk, std::chrono::seconds(30), [&] { return release; });
    res.set_content("late", "text/plain");
  });
  fake.server().Get("/ok", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok", "text/plain");
  });
  fake.Start();
  Client client({fake.url(), "", 30});
  Status st;
  Response r;
  std::atomic<bool> done{false};
  const auto start = std::chrono::steady_clock::now();
  std::thread caller([&] {
    st = client.Get("/wait", &r);
    done = true;
  });
  {
    std::unique_lock<std::mutex> lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(10), [&] { return entered; }));
  }
  client.Abort();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  const bool ended = done.load();
  {
    std::lock_guard<std::mutex> lk(mu);
    release = true;
  }
  cv.notify_all();
  caller.join();
  ASSERT_TRUE(ended) << "the call still waited 5 s after Abort";
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(25));
  EXPECT_FALSE(st.ok());
  EXPECT_FALSE(r.reached);
  // The Client is usable afterwards.
  EXPECT_TRUE(client.Get("/ok", &r).ok());
  EXPECT_EQ(r.body, "ok");
}

TEST(ClientTest, StreamErrorCollectsBody) {
  FakeServer fake;
  fake.server().Get("/logs", [&](const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content(R"({"error":{"code":"NotFound","message":"no workload x"}})",
                    "application/json");
  });
  fake.Start();
  Client client({fake.url(), "", 5});
  bool called = false;
  Response r;
  Status st = client.GetStream(
      "/logs",
      [&](std::string_view) {
        called = true;
        return true;
      },
      &r);
  EXPECT_EQ(st.code(), Status::Code::kNotFound);
  EXPECT_EQ(st.message(), "no workload x");
  EXPECT_FALSE(called);
}

TEST(ClientTest, UrlEncode) {
  EXPECT_EQ(UrlEncode("team=core a/b"), "team%3Dcore%20a%2Fb");
  EXPECT_EQ(UrlEncode("Az09-_.~"), "Az09-_.~");
}

// ---- configuration resolution ------------------------------------------------------------

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() / ("tide-client-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    unsetenv("TIDE_SERVER");
    unsetenv("TIDE_TOKEN");
    setenv("TIDE_CONFIG", (dir_ / "absent.yaml").c_str(), 1);
  }
  void TearDown() override {
    unsetenv("TIDE_SERVER");
    unsetenv("TIDE_TOKEN");
    unsetenv("TIDE_CONFIG");
    std::filesystem::remove_all(dir_);
  }
  std::string WriteConfig(const std::string& text) {
    auto p = dir_ / "config.yaml";
    std::ofstream(p) << text;
    return p.string();
  }
  std::filesystem::path dir_;
};

TEST_F(ConfigTest, DefaultWhenNothingSet) {
  ClientConfig c;
  ASSERT_TRUE(ResolveClientConfig("", "", &c).ok());
  EXPECT_EQ(c.server, "http://127.0.0.1:7400");
  EXPECT_EQ(c.token, "");
}

TEST_F(ConfigTest, FileThenEnvThenFlags) {
  setenv("TIDE_CONFIG", WriteConfig("server: http://file:1\ntoken: filetok\n").c_str(), 1);
  ClientConfig c;
  ASSERT_TRUE(ResolveClientConfig("", "", &c).ok());
  EXPECT_EQ(c.server, "http://file:1");
  EXPECT_EQ(c.token, "filetok");

  setenv("TIDE_SERVER", "http://env:2", 1);
  ASSERT_TRUE(ResolveClientConfig("", "", &c).ok());
  EXPECT_EQ(c.server, "http://env:2");
  EXPECT_EQ(c.token, "filetok");  // each field resolves on its own

  setenv("TIDE_TOKEN", "envtok", 1);
  ASSERT_TRUE(ResolveClientConfig("", "", &c).ok());
  EXPECT_EQ(c.token, "envtok");

  ASSERT_TRUE(ResolveClientConfig("http://flag:3", "flagtok", &c).ok());
  EXPECT_EQ(c.server, "http://flag:3");
  EXPECT_EQ(c.token, "flagtok");
}

TEST_F(ConfigTest, ServerListsFromFileEnvAndFlagAreChecked) {
  setenv("TIDE_CONFIG", WriteConfig("server: [\"http://a:1\", \"http://b:2\"]\n").c_str(), 1);
  ClientConfig c;
  ASSERT_TRUE(ResolveClientConfig("", "", &c).ok());
  EXPECT_EQ(c.server, "http://a:1,http://b:2");
  setenv("TIDE_SERVER", "http://a:1,,http://b:2", 1);
  Status st = ResolveClientConfig("", "", &c);
  EXPECT_EQ(st.code(), Status::Code::kInvalid);
  EXPECT_NE(st.message().find("TIDE_SERVER"), std::string::npos) << st.message();
  st = ResolveClientConfig("http://x:1,gopher://y:2", "", &c);
  EXPECT_NE(st.message().find("--server"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("gopher://y:2"), std::string::npos) << st.message();
}

TEST_F(ConfigTest, MalformedFileIsAnError) {
  setenv("TIDE_CONFIG", WriteConfig("server: [unclosed\n").c_str(), 1);
  ClientConfig c;
  Status st = ResolveClientConfig("", "", &c);
  EXPECT_EQ(st.code(), Status::Code::kInvalid);
  EXPECT_NE(st.message().find("config.yaml"), std::string::npos) << st.message();
}

TEST_F(ConfigTest, DefaultFileUnderHome) {
  unsetenv("TIDE_CONFIG");
  const char* old_home = std::getenv("HOME");
  std::string saved = old_home ? old_home : "";
  std::filesystem::create_directories(dir_ / ".config/tide");
  std::ofstream(dir_ / ".config/tide/config.yaml") << "server: http://home:4\n";
  setenv("HOME", dir_.c_str(), 1);
  ClientConfig c;
  Status st = ResolveClientConfig("", "", &c);
  if (old_home) setenv("HOME", saved.c_str(), 1);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(c.server, "http://home:4");
}

}  // namespace
}  // namespace tide
