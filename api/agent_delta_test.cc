#include "api/agent_delta.h"

#include <gtest/gtest.h>

#include "api/json.h"

namespace tide {
namespace {

InstanceAssignment A(const std::string& id, int64_t gen = 1, const std::string& image = "app") {
  InstanceAssignment a;
  a.id = id;
  a.workload = "web";
  a.generation = gen;
  a.spec.mut().command = {image};
  return a;
}

AssignmentSet Set(int64_t version, std::vector<InstanceAssignment> v) {
  AssignmentSet s;
  s.version = version;
  s.instances = std::move(v);
  return s;
}

std::vector<std::string> Ids(const std::vector<InstanceAssignment>& v) {
  std::vector<std::string> out;
  for (const auto& a : v) out.push_back(a.id);
  return out;
}

TEST(AgentDelta, UnknownBaseGivesTheFullSet) {
  const AssignmentDelta d = ComputeAssignmentDelta(nullptr, 3, Set(5, {A("a"), A("b")}));
  EXPECT_TRUE(d.full);
  EXPECT_EQ(d.version, 5);
  EXPECT_EQ(Ids(d.upserts), (std::vector<std::string>{"a", "b"}));
}

TEST(AgentDelta, CarriesOnlyNewChangedAndRemoved) {
  const SetDigest base = DigestOf({A("a"), A("b"), A("c")});
  const AssignmentDelta d = ComputeAssignmentDelta(&base, 4, Set(6, {A("a"), A("b", 2), A("d")}));
  ASSERT_FALSE(d.full);
  EXPECT_EQ(d.base, 4);
  EXPECT_EQ(Ids(d.upserts), (std::vector<std::string>{"b", "d"}));
  EXPECT_EQ(d.removed, (std::vector<std::string>{"c"}));
}

TEST(AgentDelta, NothingChangedIsAnEmptyDelta) {
  const SetDigest base = DigestOf({A("a"), A("b")});
  const AssignmentDelta d = ComputeAssignmentDelta(&base, 1, Set(2, {A("a"), A("b")}));
  EXPECT_FALSE(d.full);
  EXPECT_TRUE(d.upserts.empty());
  EXPECT_TRUE(d.removed.empty());
}

TEST(AgentDelta, ApplyingTheDeltaGivesTheSameSetAsTheFullAnswer) {
  const std::vector<InstanceAssignment> old = {A("a"), A("b"), A("c")};
  const AssignmentSet now = Set(9, {A("a"), A("b", 2, "other"), A("e")});
  const SetDigest base = DigestOf(old);
  // Through the wire form, as the agent sees it.
  AssignmentDelta got;
  ASSERT_TRUE(
      DecodeAssignmentAnswer(AssignmentAnswerJson(ComputeAssignmentDelta(&base, 7, now)), &got)
          .ok());
  std::vector<InstanceAssignment> held = old;
  int64_t version = 7;
  ASSERT_TRUE(ApplyAssignmentDelta(got, &held, &version).ok());
  EXPECT_EQ(version, 9);
  ASSERT_EQ(held.size(), now.instances.size());
  EXPECT_EQ(DigestOf(held), DigestOf(now.instances));
}

TEST(AgentDelta, DeltaOnAnotherBaseIsRefusedAndChangesNothing) {
  const SetDigest base = DigestOf({A("a")});
  const AssignmentDelta d = ComputeAssignmentDelta(&base, 3, Set(4, {A("b")}));
  std::vector<InstanceAssignment> held = {A("x")};
  int64_t version = 2;  // a gap: this agent missed version 3
  Status st = ApplyAssignmentDelta(d, &held, &version);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("version 3"), std::string::npos) << st.message();
  EXPECT_EQ(version, 2);
  EXPECT_EQ(Ids(held), (std::vector<std::string>{"x"}));
}

TEST(AgentDelta, FullAnswerIsTheFormOlderAgentsRead) {
  const json j = AssignmentAnswerJson(ComputeAssignmentDelta(nullptr, -1, Set(3, {A("a")})));
  EXPECT_FALSE(j.contains("base"));
  EXPECT_FALSE(j.contains("removed"));
  const AssignmentSet old_reader = j.get<AssignmentSet>();
  EXPECT_EQ(old_reader.version, 3);
  EXPECT_EQ(Ids(old_reader.instances), (std::vector<std::string>{"a"}));
}

TEST(AgentDelta, MalformedAnswersAreErrorsNotCrashes) {
  AssignmentDelta d;
  for (const char* bad : {R"([])", R"({"instances":[]})", R"({"version":"1"})",
                          R"({"version":1,"base":0})", R"({"version":1,"base":0,"removed":"a"})",
                          R"({"version":1,"specs":[],"instances":[{"id":"a","specRef":5}]})",
                          R"({"version":1,"base":0,"removed":[1],"specs":[],"instances":[]})"}) {
    Status st = DecodeAssignmentAnswer(json::parse(bad), &d);
    EXPECT_FALSE(st.ok()) << bad;
    EXPECT_NE(st.message().find("assignments"), std::string::npos) << st.message();
  }
}

TEST(DeltaHistory, KeepsTheLastVersionsPerNodeAndIsBoundedInNodes) {
  DeltaHistory h(/*max_nodes=*/2);
  for (int64_t v = 1; v <= 6; ++v) {
    std::string id = "a";     // piece by piece: "a" + std::to_string(v) trips GCC 12's bogus
    id += std::to_string(v);  // -Wrestrict at -O3 (GCC bug 105651)
    h.Remember("n1", v, DigestOf({A(id)}));
  }
  EXPECT_EQ(h.Find("n1", 2), nullptr);  // older than the last kVersionsPerNode
  ASSERT_NE(h.Find("n1", 6), nullptr);
  EXPECT_EQ(h.Find("n1", 6)->count("a6"), 1u);
  EXPECT_NE(h.Find("n1", 3), nullptr);
  h.Remember("n2", 1, {});
  h.Remember("n1", 7, {});  // n1 touched last: n2 is the oldest
  h.Remember("n3", 1, {});
  EXPECT_EQ(h.nodes(), 2u);
  EXPECT_EQ(h.Find("n2", 1), nullptr);
  EXPECT_NE(h.Find("n1", 7), nullptr);
  h.Forget("n1");
  EXPECT_EQ(h.Find("n1", 7), nullptr);
  EXPECT_EQ(h.nodes(), 1u);
}

InstanceStatus S(const std::string& id, InstanceState state = InstanceState::kReady) {
  InstanceStatus s;
  s.id = id;
  s.workload = "web";
  s.state = state;
  return s;
}

std::vector<std::string> ReportedIds(const json& j) {
  std::vector<std::string> out;
  for (const auto& i : j["instances"]) out.push_back(i["id"].get<std::string>());
  return out;
}

TEST(ReportDelta, CompleteFirstThenOnlyWhatChangedSinceTheAcknowledgedReport) {
  ReportDeltaState st;
  json first = json::parse(NextReport("n1", {S("a"), S("b")}, &st));
  EXPECT_FALSE(first.contains("base"));
  EXPECT_EQ(ReportedIds(first), (std::vector<std::string>{"a", "b"}));
  OnReportAnswer(200, R"({"ok":true,"seq":)" + first["seq"].dump() + "}", &st);
  json second =
      json::parse(NextReport("n1", {S("a"), S("b", InstanceState::kFailed), S("c")}, &st));
  EXPECT_EQ(second["base"], first["seq"]);
  EXPECT_EQ(ReportedIds(second), (std::vector<std::string>{"b", "c"}));
  EXPECT_TRUE(second["gone"].empty());
  OnReportAnswer(200, R"({"ok":true,"seq":)" + second["seq"].dump() + "}", &st);
  json third = json::parse(NextReport("n1", {S("a"), S("b", InstanceState::kFailed), S("c")}, &st));
  EXPECT_TRUE(third["instances"].empty()) << "a heartbeat that changes nothing carries nothing";
  OnReportAnswer(200, R"({"ok":true,"seq":)" + third["seq"].dump() + "}", &st);
  json fourth = json::parse(NextReport("n1", {S("c")}, &st));
  EXPECT_EQ(fourth["gone"], json({"a", "b"}));
}

TEST(ReportDelta, NoAnswerAResyncOrAStaleAckMeansACompleteReportNext) {
  for (const auto& [status, body] :
       std::vector<std::pair<int, std::string>>{{0, ""},
                                                {200, R"({"ok":true,"resync":true})"},
                                                {200, R"({"ok":true,"seq":999})"},
                                                {500, R"({"ok":true,"seq":2})"},
                                                {200, "not json"}}) {
    ReportDeltaState st;
    json first = json::parse(NextReport("n1", {S("a")}, &st));
    OnReportAnswer(200, R"({"ok":true,"seq":)" + first["seq"].dump() + "}", &st);
    json second = json::parse(NextReport("n1", {S("a"), S("b")}, &st));  // seq 2
    ASSERT_TRUE(second.contains("base"));
    OnReportAnswer(status, body, &st);
    json third = json::parse(NextReport("n1", {S("a"), S("b")}, &st));
    EXPECT_FALSE(third.contains("base")) << status << " " << body;
    EXPECT_EQ(ReportedIds(third), (std::vector<std::string>{"a", "b"})) << body;
  }
}

TEST(ReportDelta, HostileReportFieldsAreRefusedWithTheReason) {
  int64_t seq = 0, base = 0;
  std::vector<std::string> gone;
  EXPECT_TRUE(
      DecodeReportDelta(json::parse(R"({"node":"n","instances":[]})"), &seq, &base, &gone).ok());
  EXPECT_EQ(seq, -1);
  EXPECT_EQ(base, -1);
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"seq":-1})", "seq"},
      {R"({"seq":"1"})", "seq"},
      {R"({"seq":1,"base":1.5})", "base"},
      {R"({"base":3})", "base without seq"},
      {R"({"seq":2,"base":1,"gone":"a"})", "gone"},
      {R"({"seq":2,"base":1,"gone":[1]})", "gone"},
      {R"({"seq":2,"base":1,"gone":[""]})", "gone"},
      {R"({"seq":2,"base":1,"gone":["a","b","c"]})", "at most 2"},
  };
  for (const auto& [body, why] : bad) {
    Status st = DecodeReportDelta(json::parse(body), &seq, &base, &gone, /*max_gone=*/2);
    EXPECT_FALSE(st.ok()) << body;
    EXPECT_NE(st.message().find(why), std::string::npos) << body << ": " << st.message();
  }
}

}  // namespace
}  // namespace tide
