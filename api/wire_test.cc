#include "api/wire.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "api/json.h"
#include "api/manifest.h"

namespace tide {
namespace {

NodeInfo SampleNode() {
  NodeInfo n;
  n.name = "node-a";
  n.address = "127.0.0.1";
  n.agent_url = "http://127.0.0.1:7401";
  n.capacity.cpu = 3.5;
  n.capacity.memory_bytes = int64_t{8} << 30;
  n.labels = {{"zone", "a"}};
  return n;
}

InstanceStatus SampleInstance(const std::string& id) {
  InstanceStatus s;
  s.id = id;
  s.workload = "users";
  s.node = "node-a";
  s.generation = 7;
  s.pid = 4242;
  s.port = 31000;
  s.state = InstanceState::kReady;
  s.restarts = 2;
  s.started_at_ms = 1700000000000;
  s.ready_at_ms = 1700000000123;
  s.cpu = 0.25;
  s.cpu_seconds_total = 12.5;
  s.memory_bytes = 1 << 20;
  s.last_exit_code = 1;
  s.last_signal = 9;
  s.reason = "OOMKilled";
  s.message = "line one\nline two";
  s.limit_enforcer = "rlimit";
  return s;
}

std::string RegisterBody(const json& node, const json& instances) {
  json j = {{"node", node}};
  if (!instances.is_null()) j["instances"] = instances;
  return j.dump();
}

// ---- register --------------------------------------------------------------------------

TEST(DecodeRegisterBody, RoundTripsWhatToJsonWrites) {
  NodeInfo n = SampleNode();
  std::vector<InstanceStatus> in = {SampleInstance("users-1"), SampleInstance("users-2")};
  NodeInfo got;
  std::vector<InstanceStatus> out;
  Status st = DecodeRegisterBody(RegisterBody(n, in), &got, &out);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(json(got), json(n));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(json(out[0]), json(in[0]));
  EXPECT_EQ(json(out[1]), json(in[1]));
}

TEST(DecodeRegisterBody, InstancesOptionalAndDefaultsApply) {
  NodeInfo got;
  std::vector<InstanceStatus> out = {SampleInstance("stale")};
  Status st = DecodeRegisterBody(R"({"node":{"name":"n1","labels":null}})", &got, &out);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(got.name, "n1");
  EXPECT_EQ(got.capacity.cpu, 0);
  EXPECT_TRUE(out.empty());
  // A null output vector is allowed.
  EXPECT_TRUE(
      DecodeRegisterBody(R"({"node":{"name":"n1"},"instances":[{"id":"x"}]})", &got, nullptr).ok());
}

TEST(DecodeRegisterBody, NamesTheBadField) {
  struct Case {
    const char* body;
    const char* message;
  } cases[] = {
      {R"({"node":{"name":"n","capacity":{"cpu":"4"}}})", "node.capacity.cpu: expected a number"},
      {R"({"node":{"name":"n","capacity":{"memory":1.5}}})",
       "node.capacity.memory: expected an integer"},
      {R"({"node":{"name":"n","capacity":{"memory":-1}}})",
       "node.capacity.memory: must be between 0 and 9223372036854775807"},
      {R"({"node":{"name":"n","capacity":[]}})", "node.capacity: expected an object"},
      {R"({"node":{"name":"n","labels":{"a":1}}})", "node.labels: every value must be a string"},
      {R"({"node":{"name":"n","labels":["a"]}})", "node.labels: expected an object of strings"},
      {R"({"node":{"name":7}})", "node.name: expected a string"},
      {R"({"node":{"name":""}})", "node.name: must not be empty"},
      {R"({"node":{}})", "node.name: required"},
      {R"({"node":"n"})", "node: expected an object"},
      {R"({"instances":[]})", "node: required"},
      {R"({"node":{"name":"n"},"instances":{}})", "instances: expected an array"},
      {R"({"node":{"name":"n"},"instances":[{"id":"a"},3]})", "instances[1]: expected an object"},
      {R"({"node":{"name":"n"},"instances":[{"id":"a","port":70000}]})",
       "instances[0].port: must be between 0 and 65535"},
      {R"({"node":{"name":"n"},"instances":[{"id":"a","pid":"12"}]})",
       "instances[0].pid: expected an integer"},
      {R"({"node":{"name":"n"},"instances":[{"id":"a","pid":1e300}]})",
       "instances[0].pid: expected an integer"},
      {R"({"node":{"name":"n"},"instances":[{"id":"a","pid":99999999999}]})",
       "instances[0].pid: must be between 0 and 2147483647"},
      {R"({"node":{"name":"n"},"instances":[{"id":"a","state":"Sleeping"}]})",
       "instances[0].state: unknown instance state"},
      {R"({"node":{"name":"n"},"instances":[{"id":"a","cpu":1e999}]})",
       "body: a number is out of range"},
      {R"({"node":{"name":"n"},"instances":[{"id":"a","cpu":1e7}]})",
       "instances[0].cpu: must be between 0 and 1000000"},
      {R"({"node":{"name":"n"},"instances":[{"workload":"w"}]})", "instances[0].id: required"},
      {R"({"node":{"name":"n"},"instances":[{"id":"a","generation":18446744073709551615}]})",
       "instances[0].generation: must be between 0 and 9223372036854775807"},
  };
  for (const auto& c : cases) {
    NodeInfo n;
    std::vector<InstanceStatus> v;
    Status st = DecodeRegisterBody(c.body, &n, &v);
    EXPECT_EQ(st.code(), Status::Code::kInvalid) << c.body;
    EXPECT_EQ(st.message(), c.message) << c.body;
  }
}

TEST(DecodeRegisterBody, RejectsGarbageAndNonObjects) {
  const char* bodies[] = {
      "",           "null",       "[]",         "\"node\"",
      "{",          "{\"node\":", "\xff\xfe{}", "{\"node\":{\"name\":\"\xc3\x28\"}}",
      "{} trailing"};
  for (const char* b : bodies) {
    NodeInfo n;
    Status st = DecodeRegisterBody(b, &n, nullptr);
    EXPECT_EQ(st.code(), Status::Code::kInvalid) << b;
    EXPECT_EQ(st.message().rfind("body: ", 0), 0u) << st.message();
  }
}

TEST(DecodeRegisterBody, ErrorMessagesNeverEchoInputBytes) {
  NodeInfo n;
  Status st = DecodeRegisterBody("{\"node\": \x80\x81 secret}", &n, nullptr);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message().find("secret"), std::string::npos) << st.message();
  EXPECT_NO_THROW(json({{"message", st.message()}}).dump());
}

TEST(DecodeRegisterBody, DeepNestingIsRefused) {
  std::string deep = R"({"node":{"name":"n","labels":)" + std::string(100000, '[') +
                     std::string(100000, ']') + "}}";
  NodeInfo n;
  Status st = DecodeRegisterBody(deep, &n, nullptr);
  EXPECT_EQ(st.code(), Status::Code::kInvalid);
  EXPECT_EQ(st.message(), "body: nested deeper than 64 levels");
  // Brackets inside strings do not count.
  std::string in_string = R"({"node":{"name":")" + std::string(1000, '[') + "\"}}";
  EXPECT_EQ(DecodeRegisterBody(in_string, &n, nullptr).message(),
            "node.name: longer than 253 bytes");
}

// ---- report ----------------------------------------------------------------------------

TEST(DecodeNodeReport, RoundTrips) {
  NodeReport r;
  r.node = "node-a";
  r.instances = {SampleInstance("a"), SampleInstance("b")};
  NodeReport got;
  Status st = DecodeNodeReport(json(r).dump(), &got);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(json(got), json(r));
}

TEST(DecodeNodeReport, RequiresNodeAndChecksInstances) {
  NodeReport r;
  EXPECT_EQ(DecodeNodeReport(R"({"instances":[]})", &r).message(), "node: required");
  EXPECT_EQ(DecodeNodeReport(R"({"node":["a"]})", &r).message(), "node: expected a string");
  EXPECT_EQ(DecodeNodeReport(R"({"node":"a","instances":"x"})", &r).message(),
            "instances: expected an array");
  EXPECT_EQ(
      DecodeNodeReport(R"({"node":"a","instances":[{"id":"i","restarts":-1}]})", &r).message(),
      "instances[0].restarts: must be between 0 and 2147483647");
  EXPECT_EQ(DecodeNodeReport(R"({"node":"a","instances":[{"id":"i","state":3}]})", &r).message(),
            "instances[0].state: expected a string");
  EXPECT_EQ(DecodeNodeReport("[1,2]", &r).message(), "body: expected a JSON object");
  Status ok = DecodeNodeReport(R"({"node":"a"})", &r);
  ASSERT_TRUE(ok.ok()) << ok.message();
  EXPECT_EQ(r.node, "a");
  EXPECT_TRUE(r.instances.empty());
}

TEST(DecodeNodeReport, CapsInstanceCount) {
  std::string body = R"({"node":"a","instances":[)";
  for (size_t i = 0; i <= kMaxWireInstances; ++i) body += i == 0 ? "{}" : ",{}";
  body += "]}";
  NodeReport r;
  Status st = DecodeNodeReport(body, &r);
  EXPECT_EQ(st.code(), Status::Code::kTooLarge);
  EXPECT_EQ(st.message(), "instances: more than 100000 entries");
}

// The report is decoded an element at a time (wire.cc): the answers are those of the whole
// tree, for shapes a hostile or broken agent may send.
TEST(DecodeNodeReport, StreamedDecodingAnswersAsTheWholeTreeWould) {
  NodeReport r;
  // A repeated key: the last list wins.
  ASSERT_TRUE(
      DecodeNodeReport(
          R"({"node":"a","instances":[{"id":"x"},{"id":"y"}],"instances":[{"id":"z"}]})", &r)
          .ok());
  ASSERT_EQ(r.instances.size(), 1u);
  EXPECT_EQ(r.instances[0].id, "z");
  ASSERT_TRUE(
      DecodeNodeReport(R"({"node":"a","instances":[{"id":"x"}],"instances":null})", &r).ok());
  EXPECT_TRUE(r.instances.empty());
  // Objects under an "instances" that is not a list are not instances.
  Status st = DecodeNodeReport(R"({"node":"a","instances":{"k":{"id":"x"}}})", &r);
  EXPECT_EQ(st.message(), "instances: expected an array");
  // Elements that are not objects are named by their index.
  st = DecodeNodeReport(R"({"node":"a","instances":[{"id":"x"},[{"id":"y"}]]})", &r);
  EXPECT_EQ(st.message(), "instances[1]: expected an object");
  st = DecodeNodeReport(R"({"node":"a","instances":[{"id":"x"},7]})", &r);
  EXPECT_EQ(st.message(), "instances[1]: expected an object");
  // The first bad element is the one reported; the node is still required.
  st = DecodeNodeReport(R"({"node":"a","instances":[{"id":"x"},{"port":1},{"id":5}]})", &r);
  EXPECT_EQ(st.message(), "instances[1].id: required");
  st = DecodeNodeReport(R"({"instances":[{"id":"x"}]})", &r);
  EXPECT_EQ(st.message(), "node: required");
  // Objects deeper down ("instances" of an instance) are fields, not instances.
  ASSERT_TRUE(
      DecodeNodeReport(R"({"node":"a","gone":[],"instances":[{"id":"x","reason":"r"}]})", &r).ok());
  ASSERT_EQ(r.instances.size(), 1u);
  EXPECT_EQ(r.instances[0].reason, "r");
}

// ---- scale -----------------------------------------------------------------------------

TEST(DecodeScaleBody, AcceptsIntegersInRange) {
  int n = -1;
  ASSERT_TRUE(DecodeScaleBody(R"({"replicas":0})", &n).ok());
  EXPECT_EQ(n, 0);
  ASSERT_TRUE(DecodeScaleBody(R"({"replicas":10000,"other":true})", &n).ok());
  EXPECT_EQ(n, 10000);
}

TEST(DecodeScaleBody, RejectsEverythingElse) {
  struct Case {
    const char* body;
    const char* message;
  } cases[] = {
      {R"({"replicas":10001})", "replicas: must be between 0 and 10000"},
      {R"({"replicas":-1})", "replicas: must be between 0 and 10000"},
      {R"({"replicas":-9223372036854775808})", "replicas: must be between 0 and 10000"},
      {R"({"replicas":99999999999999999999})", "replicas: expected an integer"},
      {R"({"replicas":2.0})", "replicas: expected an integer"},
      {R"({"replicas":"3"})", "replicas: expected an integer"},
      {R"({"replicas":true})", "replicas: expected an integer"},
      {R"({"replicas":null})", "replicas: required"},
      {R"({})", "replicas: required"},
      {R"(3)", "body: expected a JSON object"},
      {R"({"replicas":3)", "body: invalid JSON near byte 14"},
  };
  for (const auto& c : cases) {
    int n = 42;
    Status st = DecodeScaleBody(c.body, &n);
    EXPECT_EQ(st.code(), Status::Code::kInvalid) << c.body;
    EXPECT_EQ(st.message(), c.message) << c.body;
    EXPECT_EQ(n, 42) << "output touched on failure: " << c.body;
  }
}

// ---- files -----------------------------------------------------------------------------

TEST(DecodeFilesBody, DecodesNamesAndContent) {
  std::vector<std::pair<std::string, std::string>> files;
  Status st = DecodeFilesBody(
      R"({"files":[{"name":"a.yaml","content":"kind: Service\n"},{"content":""},{"name":"","content":"x"}]})",
      &files);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0], (std::pair<std::string, std::string>{"a.yaml", "kind: Service\n"}));
  EXPECT_EQ(files[1], (std::pair<std::string, std::string>{"<body>", ""}));
  EXPECT_EQ(files[2].first, "<body>");
  ASSERT_TRUE(DecodeFilesBody(R"({"files":[]})", &files).ok());
  EXPECT_TRUE(files.empty());
}

TEST(DecodeFilesBody, NamesTheBadField) {
  struct Case {
    const char* body;
    const char* message;
  } cases[] = {
      {R"({})", "files: required"},
      {R"({"files":{"name":"a"}})", "files: expected an array"},
      {R"({"files":["kind: Service"]})", "files[0]: expected an object"},
      {R"({"files":[{"content":"a"},{"name":"b"}]})", "files[1].content: required"},
      {R"({"files":[{"content":{"kind":"Service"}}]})", "files[0].content: expected a string"},
      {R"({"files":[{"name":3,"content":"a"}]})", "files[0].name: expected a string"},
      {R"({"files":[{"name":"a\nb","content":"a"}]})",
       "files[0].name: must not contain control characters"},
  };
  for (const auto& c : cases) {
    std::vector<std::pair<std::string, std::string>> files;
    Status st = DecodeFilesBody(c.body, &files);
    EXPECT_EQ(st.code(), Status::Code::kInvalid) << c.body;
    EXPECT_EQ(st.message(), c.message) << c.body;
  }
}

TEST(DecodeFilesBody, CapsContentSize) {
  std::string body =
      R"({"files":[{"content":")" + std::string(kMaxManifestBytes + 1, 'a') + "\"}]}";
  std::vector<std::pair<std::string, std::string>> files;
  Status st = DecodeFilesBody(body, &files);
  EXPECT_EQ(st.code(), Status::Code::kInvalid);
  EXPECT_EQ(st.message(), "files[0].content: longer than 4194304 bytes");
}

// ---- api/json.h from_json (lenient decoding, still used for trusted peers) ---------------

TEST(FromJson, OutOfRangeFloatsForIntegersThrowInsteadOfOverflowing) {
  // A plain float-to-int cast of 1e300 is undefined behaviour; it must be a type error.
  EXPECT_THROW(json::parse(R"({"pid":1e300})").get<InstanceStatus>(), json::type_error);
  EXPECT_THROW(json::parse(R"({"generation":-1e19})").get<InstanceStatus>(), json::type_error);
  EXPECT_THROW(json::parse(R"({"resources":{"memory":1e30}})").get<WorkloadSpec>(),
               json::type_error);
  EXPECT_THROW(json::parse(R"({"pid":"12"})").get<InstanceStatus>(), json::type_error);
  // Floats that fit still convert (truncated), as before.
  EXPECT_EQ(json::parse(R"({"pid":12.0})").get<InstanceStatus>().pid, 12);
  EXPECT_EQ(json::parse(R"({"version":-3.5})").get<AssignmentSet>().version, -3);
}

// ---- the shared-spec form of assignments (agent protocol, instances.json) -----------------

InstanceAssignment Assignment(const std::string& id, int64_t generation,
                              const std::string& command) {
  InstanceAssignment a;
  a.id = id;
  a.workload = "web";
  a.generation = generation;
  a.spec.mut().command = {command, "--port", "${PORT}"};
  a.spec.mut().env = {{"MODE", "fast"}};
  a.layers = {{"py", "/opt/py"}};
  return a;
}

TEST(SharedAssignments, EachDistinctSpecIsWrittenOnceAndReadBackWhole) {
  AssignmentSet set;
  set.version = 7;
  set.instances = {Assignment("web-a", 1, "/bin/old"), Assignment("web-b", 1, "/bin/old"),
                   Assignment("web-c", 2, "/bin/new"), Assignment("web-d", 1, "/bin/old")};
  set.instances[3].layers[0].path = "/opt/py2";  // same generation, a layer moved: its own entry
  const json j = SharedAssignmentSetJson(set);
  ASSERT_EQ(j.at("specs").size(), 3u);
  EXPECT_EQ(j.at("instances")[1], json({{"id", "web-b"}, {"specRef", 0}}));
  EXPECT_EQ(j.at("instances")[2].at("specRef"), 1);
  EXPECT_EQ(j.at("instances")[3].at("specRef"), 2);
  const AssignmentSet back = json::parse(j.dump()).get<AssignmentSet>();
  EXPECT_EQ(back.version, 7);
  EXPECT_EQ(back.instances, set.instances);
  // The inline form (older tided) still reads.
  EXPECT_EQ(json(set).get<AssignmentSet>().instances, set.instances);
  // 200 replicas of one spec: the shared form is several times smaller.
  set.instances.clear();
  for (int i = 0; i < 200; ++i)
    set.instances.push_back(Assignment("web-" + std::to_string(i), 1, "/bin/x"));
  EXPECT_LT(SharedAssignmentSetJson(set).dump().size() * 4, json(set).dump().size());
}

TEST(SharedAssignments, AReferenceToNoSpecIsAnError) {
  EXPECT_THROW(json::parse(R"({"version":1,"specs":[],"instances":[{"id":"a","specRef":0}]})")
                   .get<AssignmentSet>(),
               json::out_of_range);
  EXPECT_THROW(
      json::parse(R"({"version":1,"specs":[{}],"instances":[{"id":"a"}]})").get<AssignmentSet>(),
      json::out_of_range);
  EXPECT_THROW(json::parse(R"({"version":1,"specs":[{}],"instances":[{"id":"a","specRef":-1}]})")
                   .get<AssignmentSet>(),
               json::exception);
}

// ---- all decoders ----------------------------------------------------------------------

// Random mutations of valid bodies: every decoder returns (ok or not), never throws or crashes.
TEST(Decoders, SurviveRandomMutations) {
  NodeReport r;
  r.node = "a";
  r.instances = {SampleInstance("x")};
  const std::string seeds[] = {RegisterBody(SampleNode(), json::array({SampleInstance("y")})),
                               json(r).dump(), R"({"replicas":3})",
                               R"({"files":[{"name":"a","content":"b"}]})"};
  std::mt19937 rng(12345);
  const char kBytes[] = "{}[]\",:0123456789.eE-+ntfaulsr\\u\x80\xff\x00";
  int ok = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    std::string s = seeds[iter % 4];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      const size_t pos = rng() % s.size();
      const char c = kBytes[rng() % (sizeof kBytes - 1)];
      switch (rng() % 3) {
        case 0:
          s[pos] = c;
          break;
        case 1:
          s.insert(pos, 1, c);
          break;
        default:
          s.erase(pos, 1);
      }
    }
    NodeInfo n;
    std::vector<InstanceStatus> v;
    NodeReport rep;
    int replicas = 0;
    std::vector<std::pair<std::string, std::string>> files;
    ASSERT_NO_THROW({
      ok += DecodeRegisterBody(s, &n, &v).ok();
      ok += DecodeNodeReport(s, &rep).ok();
      ok += DecodeScaleBody(s, &replicas).ok();
      ok += DecodeFilesBody(s, &files).ok();
    }) << s;
  }
  EXPECT_GT(ok, 0);  // some mutations stay valid (e.g. a changed digit)
}

}  // namespace
}  // namespace tide

// ---- the workload status (GET /v1/workloads) ------------------------------------------------

namespace tide {
namespace {

TEST(WorkloadStatusJsonTest, RoundTripsWithTheWireNames) {
  WorkloadStatus s;
  s.desired = 3;
  s.ready = 2;
  s.phase = "Progressing";
  s.generation = 4;
  s.observed_generation = 3;
  s.conditions = {{"Available", "False", "NotEnoughReady", "2/3 ready"}};
  s.instance_seconds = 12.5;
  s.scale_override = 3;
  json j = s;
  EXPECT_EQ(j["desiredReplicas"], 3);
  EXPECT_EQ(j["readyReplicas"], 2);
  EXPECT_EQ(j["observedGeneration"], 3);
  EXPECT_EQ(j["instanceSeconds"], 12.5);
  EXPECT_EQ(j["scaleOverride"], 3);
  EXPECT_EQ(j["conditions"][0]["reason"], "NotEnoughReady");
  auto back = WorkloadStatusOf(json{{"status", j}});
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->desired, 3);
  EXPECT_EQ(back->ready, 2);
  EXPECT_EQ(back->phase, "Progressing");
  EXPECT_EQ(back->generation, 4);
  EXPECT_EQ(back->observed_generation, 3);
  ASSERT_EQ(back->conditions.size(), 1u);
  EXPECT_EQ(back->conditions[0].message, "2/3 ready");
  EXPECT_EQ(back->instance_seconds, 12.5);
  EXPECT_EQ(back->scale_override, 3);
  s.scale_override.reset();
  EXPECT_TRUE(json(s)["scaleOverride"].is_null());
}

TEST(WorkloadStatusJsonTest, ClientsGetNothingForAbsentOrMalformedStatus) {
  EXPECT_FALSE(WorkloadStatusOf(json::parse(R"({"kind":"Service"})")).has_value());
  EXPECT_FALSE(WorkloadStatusOf(json::parse(R"({"status":"Running"})")).has_value());
  EXPECT_FALSE(WorkloadStatusOf(json::parse(R"([1,2])")).has_value());
  EXPECT_FALSE(WorkloadStatusOf(json::parse(R"({"status":{"readyReplicas":"two"}})")));
  EXPECT_FALSE(WorkloadStatusOf(json::parse(R"({"status":{"desiredReplicas":1e300}})")));
  EXPECT_FALSE(WorkloadStatusOf(json::parse(R"({"status":{"conditions":[{"type":7}]}})")));
  // Missing members keep their defaults (an older server); unknown ones are ignored.
  auto st = WorkloadStatusOf(json::parse(R"({"status":{"readyReplicas":1,"future":true}})"));
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->ready, 1);
  EXPECT_EQ(st->generation, 0);
  EXPECT_FALSE(st->scale_override.has_value());
}

}  // namespace
}  // namespace tide
