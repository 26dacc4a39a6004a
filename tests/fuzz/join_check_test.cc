// The master's join check from the wire bytes (cluster/join_check.h), which the cluster_join
// fuzz target drives: decoding, and each refusal naming the field and both values.
#include "cluster/join_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cluster.pb.h"

namespace mies::cluster {
namespace {

using ::testing::HasSubstr;

const Fingerprint kMaster = {{"model.shape", "64x5"}, {"tp.world_size", "3"}};
const std::vector<int> kSlaveRanks = {1, 2};

std::string Wire(uint32_t version, const std::string& node, std::vector<int> ranks,
                 const Fingerprint& fp) {
  v1::JoinRequest req;
  req.set_protocol_version(version);
  req.set_node_address(node);
  for (int r : ranks) req.add_ranks(r);
  for (const auto& [f, v] : fp) {
    auto* e = req.add_fingerprint();
    e->set_field(f);
    e->set_value(v);
  }
  req.set_incarnation(42);
  return req.SerializeAsString();
}

TEST(JoinCheckTest, DecodesEveryFieldOfAJoinRequest) {
  auto claim = DecodeJoinRequest(Wire(1, "127.0.1.2", {1, 2}, kMaster));
  ASSERT_TRUE(claim.ok()) << claim.status();
  EXPECT_EQ(claim->protocol_version, 1u);
  EXPECT_EQ(claim->node_address, "127.0.1.2");
  EXPECT_EQ(claim->ranks, kSlaveRanks);
  EXPECT_EQ(claim->fingerprint, kMaster);
  EXPECT_EQ(claim->incarnation, 42u);
  EXPECT_EQ(JoinRefusal(*claim, &kSlaveRanks, kMaster, "127.0.1.1", 1), "");
}

TEST(JoinCheckTest, BytesThatAreNotAProtobufMessageAreAnError) {
  auto claim = DecodeJoinRequest(std::string("\x0a\xff\xff\xff\xff\x0f", 6));
  ASSERT_FALSE(claim.ok());
  EXPECT_THAT(claim.status().message(), HasSubstr("not a valid protobuf message"));
}

TEST(JoinCheckTest, EachRefusalNamesTheFieldAndBothValues) {
  auto refuse = [](uint32_t version, const std::string& node, std::vector<int> ranks,
                   const Fingerprint& fp, const std::vector<int>* table) {
    auto claim = DecodeJoinRequest(Wire(version, node, std::move(ranks), fp));
    EXPECT_TRUE(claim.ok());
    return JoinRefusal(*claim, table, kMaster, "127.0.1.1", 1);
  };
  EXPECT_EQ(refuse(2, "127.0.1.2", {1, 2}, kMaster, &kSlaveRanks),
            "protocol version: master has 1, node 127.0.1.2 has 2");
  EXPECT_EQ(refuse(1, "127.0.1.1", {0}, kMaster, nullptr),
            "node 127.0.1.1 is not a slave in the ranktable (it is the master's address)");
  EXPECT_EQ(refuse(1, "127.0.1.2", {2, 1}, kMaster, &kSlaveRanks),
            "rank identity: the ranktable gives node 127.0.1.2 ranks [1,2], it claims [2,1]");
  EXPECT_THAT(refuse(1, "127.0.1.2", {1, 2}, {{"model.shape", "64x5"}, {"tp.world_size", "2"}},
                     &kSlaveRanks),
              HasSubstr("fingerprint mismatch: tp.world_size"));
}

}  // namespace
}  // namespace mies::cluster
