#include "config/ranktable.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace mies::config {
namespace {

using ::testing::HasSubstr;

// Two servers with two devices each: ranks 0,1 on 127.0.1.1 and 2,3 on 127.0.1.2.
nlohmann::json TwoByTwo() {
  return nlohmann::json::parse(R"({
    "version": "1.0", "status": "completed", "server_count": "2",
    "server_list": [
      {"server_id": "127.0.1.1", "container_ip": "127.0.1.1", "device": [
        {"device_id": "0", "device_ip": "127.0.1.1", "rank_id": "0"},
        {"device_id": "1", "device_ip": "127.0.1.1", "rank_id": "1"}]},
      {"server_id": "127.0.1.2", "container_ip": "127.0.1.2", "device": [
        {"device_id": "0", "device_ip": "127.0.1.2", "rank_id": "2"},
        {"device_id": "1", "device_ip": "127.0.1.2", "rank_id": "3"}]}
    ]})");
}

TEST(RankTableTest, ParsesValidTable) {
  auto table = ParseRankTable(TwoByTwo());
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->servers.size(), 2u);
  EXPECT_EQ(table->WorldSize(), 4);
  EXPECT_EQ(table->MasterIndex(), 0);
}

struct BadTable {
  std::string name;
  std::string pointer;
  nlohmann::json value;
  bool remove = false;
  std::string expected;
};

std::vector<BadTable> BadTables() {
  using J = nlohmann::json;
  return {
      {"CountNotNumber", "/server_count", "two", false,
       "ranktable.server_count: expected a number written as a string"},
      {"CountMismatch", "/server_count", "3", false,
       "ranktable.server_count: value 3 is not equal to the server_list length (2)"},
      {"CountTooLarge", "/server_count", "61", false,
       "ranktable.server_count: value 61 is out of range [1, 60]"},
      {"ServerListMissing", "/server_list", J(), true,
       "ranktable.server_list: missing compulsory field"},
      {"ContainerIpEmpty", "/server_list/1/container_ip", "", false,
       "ranktable.server_list[1].container_ip: expected a non-empty IP address string"},
      {"ContainerIpMissing", "/server_list/0/container_ip", J(), true,
       "ranktable.server_list[0].container_ip: missing compulsory field"},
      {"ContainerIpDuplicate", "/server_list/1/container_ip", "127.0.1.1", false,
       "ranktable.server_list[1].container_ip: \"127.0.1.1\" is used by another server"},
      {"ServerIdInvalid", "/server_list/0/server_id", "node-a", false,
       "ranktable.server_list[0].server_id: \"node-a\" is not a valid IPv4 or IPv6 address"},
      {"DeviceIpInvalid", "/server_list/0/device/1/device_ip", "1.2.3", false,
       "ranktable.server_list[0].device[1].device_ip: \"1.2.3\" is not a valid"},
      {"DeviceIdRange", "/server_list/0/device/0/device_id", "64", false,
       "ranktable.server_list[0].device[0].device_id: value 64 is out of range [0, 63]"},
      {"DeviceIdDuplicate", "/server_list/1/device/1/device_id", "0", false,
       "ranktable.server_list[1].device[1].device_id: value 0 appears twice on this server"},
      {"RankIdRange", "/server_list/1/device/1/rank_id", "512", false,
       "ranktable.server_list[1].device[1].rank_id: value 512 is out of range [0, 511]"},
      // Above INT64_MAX the integer once wrapped to -1 and was reported as that value.
      {"RankIdBeyondInt64", "/server_list/1/device/1/rank_id", J(18446744073709551615u), false,
       "ranktable.server_list[1].device[1].rank_id: value 18446744073709551615 is out of range "
       "[0, 511]"},
      {"RankIdDuplicate", "/server_list/1/device/1/rank_id", "1", false,
       "ranktable.server_list[1].device[1].rank_id: value 1 is already used by "
       "ranktable.server_list[0].device[1]"},
      {"RankIdGap", "/server_list/1/device/1/rank_id", "7", false,
       "ranktable: rank_id 3 is missing"},
      {"RankIdNotZeroBased", "/server_list/0/device/0/rank_id", "4", false,
       "ranktable: rank_id 0 is missing"},
      {"DeviceCountDiffers", "/server_list/1/device/1", J(), true,
       "ranktable.server_list[1].device: has 1 devices, server_list[0] has 2"},
      {"DeviceListEmpty", "/server_list/0/device", J::array(), false,
       "ranktable.server_list[0].device: expected a list of 1 to 32 devices"},
      {"ServerNotObject", "/server_list/0", "x", false,
       "ranktable.server_list[0]: expected an object"},
  };
}

class BadRankTableTest : public ::testing::TestWithParam<BadTable> {};

TEST_P(BadRankTableTest, NamesFieldValueAndRule) {
  const BadTable& c = GetParam();
  nlohmann::json doc = TwoByTwo();
  nlohmann::json::json_pointer ptr(c.pointer);
  if (c.remove) {
    auto& parent = doc[ptr.parent_pointer()];
    if (parent.is_array()) {
      parent.erase(std::stoul(ptr.back()));
    } else {
      parent.erase(ptr.back());
    }
  } else {
    doc[ptr] = c.value;
  }
  auto table = ParseRankTable(doc);
  ASSERT_FALSE(table.ok()) << "accepted " << c.pointer << " = " << c.value;
  EXPECT_THAT(std::string(table.status().message()), HasSubstr(c.expected));
}

INSTANTIATE_TEST_SUITE_P(EveryRule, BadRankTableTest, ::testing::ValuesIn(BadTables()),
                         [](const auto& info) { return info.param.name; });

TEST(RankTableTest, LocatesSlaveByContainerIp) {
  auto table = ParseRankTable(TwoByTwo());
  ASSERT_TRUE(table.ok());
  MapEnvironment env({{"MIES_CONTAINER_IP", "127.0.1.2"}});
  auto topo = LocateLocalServer(*table, env);
  ASSERT_TRUE(topo.ok()) << topo.status();
  EXPECT_FALSE(topo->is_master);
  EXPECT_EQ(topo->world_size, 4);
  EXPECT_THAT(topo->local_ranks, ::testing::ElementsAre(2, 3));
  EXPECT_THAT(topo->local_device_ids, ::testing::ElementsAre(0, 1));
  EXPECT_EQ(topo->master_address, "127.0.1.1");
}

TEST(RankTableTest, LocatesMasterByHostIp) {
  auto table = ParseRankTable(TwoByTwo());
  ASSERT_TRUE(table.ok());
  MapEnvironment env({{"HOST_IP", "127.0.1.1"}});
  auto topo = LocateLocalServer(*table, env);
  ASSERT_TRUE(topo.ok()) << topo.status();
  EXPECT_TRUE(topo->is_master);
  EXPECT_THAT(topo->local_ranks, ::testing::ElementsAre(0, 1));
}

TEST(RankTableTest, MasterIsTheServerHoldingRankZero) {
  nlohmann::json doc = TwoByTwo();
  std::swap(doc["server_list"][0]["device"], doc["server_list"][1]["device"]);
  auto table = ParseRankTable(doc);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->MasterIndex(), 1);
}

TEST(RankTableTest, NoMatchListsWhatWasTried) {
  auto table = ParseRankTable(TwoByTwo());
  ASSERT_TRUE(table.ok());
  MapEnvironment env({{"MIES_CONTAINER_IP", "127.0.1.9"}});
  auto topo = LocateLocalServer(*table, env);
  ASSERT_FALSE(topo.ok());
  std::string msg(topo.status().message());
  EXPECT_THAT(msg, HasSubstr("tried $MIES_CONTAINER_IP=127.0.1.9 as container_ip"));
  EXPECT_THAT(msg, HasSubstr("127.0.1.1 (server_id 127.0.1.1), 127.0.1.2"));
}

TEST(RankTableTest, NeedsAnIdentity) {
  auto table = ParseRankTable(TwoByTwo());
  ASSERT_TRUE(table.ok());
  MapEnvironment env;
  auto topo = LocateLocalServer(*table, env);
  ASSERT_FALSE(topo.ok());
  EXPECT_THAT(std::string(topo.status().message()),
              HasSubstr("neither $MIES_CONTAINER_IP (container) nor $HOST_IP"));
}

}  // namespace
}  // namespace mies::config
