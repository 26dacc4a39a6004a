// The master's membership state machine on its own, with a fake clock: joins, heartbeats,
// epochs, and every way a healthy cluster breaks and comes back.
#include "cluster/membership.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace mies::cluster {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Clock = Membership::Clock;
using std::chrono::milliseconds;

class MembershipTest : public ::testing::Test {
 protected:
  MembershipTest()
      : m_({{"127.0.1.2", {1}}, {"127.0.1.3", {2, 3}}}, Timeouts(),
           [this](const std::string& why) { breaks_.push_back(why); }) {}
  static ClusterTimeouts Timeouts() {
    ClusterTimeouts t;
    t.heartbeat_timeout = milliseconds(3000);
    t.connect_timeout = milliseconds(500);
    return t;
  }
  // Both slaves join, the epoch forms on every rank: kHealthy at epoch 1.
  void FormEpochOne() {
    m_.Join("127.0.1.2", 11, "peer", now_);
    m_.Join("127.0.1.3", 22, "peer", now_);
    EXPECT_EQ(m_.Tick(now_, {0}, {0}), MasterTarget(1));
    EXPECT_EQ(m_.state(), ClusterState::kForming);
    EXPECT_EQ(m_.Heartbeat("127.0.1.2", {11, 1, 0, false}, now_), 1u);
    EXPECT_EQ(m_.Heartbeat("127.0.1.3", {22, 1, 0, false}, now_), 1u);
    EXPECT_EQ(m_.Tick(now_, {MasterTarget(1)}, {0}), std::nullopt);
    EXPECT_EQ(m_.state(), ClusterState::kHealthy);
  }
  Clock::time_point now_ = Clock::now();
  std::vector<std::string> breaks_;
  Membership m_;
};

TEST_F(MembershipTest, StartsBrokenAndNamesTheNodesThatHaveNotJoined) {
  EXPECT_EQ(m_.state(), ClusterState::kBroken);
  EXPECT_THAT(m_.AbnormalNodes(),
              ElementsAre("node(127.0.1.2) is abnormal.", "node(127.0.1.3) is abnormal."));
  EXPECT_THAT(m_.UnavailableReason(), HasSubstr("node(127.0.1.3) is abnormal: never joined"));
  m_.Join("127.0.1.2", 11, "peer", now_);
  EXPECT_EQ(m_.Tick(now_, {0}, {0}), 0u);  // one node missing: no mesh yet
  EXPECT_THAT(m_.AbnormalNodes(), ElementsAre("node(127.0.1.3) is abnormal."));
  EXPECT_EQ(m_.Heartbeat("127.0.1.2", {11, 0, 0, false}, now_), 0u);
  EXPECT_THAT(std::string(m_.WaitHealthy(milliseconds(10)).message()),
              HasSubstr("did not form within 10 ms"));
  EXPECT_EQ(*m_.RanksOf("127.0.1.3"), (std::vector<int>{2, 3}));
  EXPECT_EQ(m_.RanksOf("127.0.1.9"), nullptr);
}

TEST_F(MembershipTest, AllJoinedFormsAnEpochThenHealthyWhenEveryRankHasIt) {
  m_.Join("127.0.1.2", 11, "peer", now_);
  m_.Join("127.0.1.3", 22, "peer", now_);
  EXPECT_EQ(m_.Tick(now_, {0}, {0}), MasterTarget(1));
  // One slave formed, the master's rank not yet: still forming.
  EXPECT_EQ(m_.Heartbeat("127.0.1.2", {11, 1, 0, false}, now_), 1u);
  EXPECT_EQ(m_.Tick(now_, {0}, {0}), std::nullopt);
  EXPECT_EQ(m_.state(), ClusterState::kForming);
  EXPECT_EQ(m_.Heartbeat("127.0.1.3", {22, 1, 0, false}, now_), 1u);
  EXPECT_EQ(m_.Tick(now_, {MasterTarget(1)}, {0}), std::nullopt);
  EXPECT_TRUE(m_.healthy());
  EXPECT_TRUE(m_.WaitHealthy(milliseconds(0)).ok());
  EXPECT_TRUE(m_.AbnormalNodes().empty());
  EXPECT_TRUE(breaks_.empty());
}

TEST_F(MembershipTest, ALostHeartbeatBreaksTheClusterAndTheNodeMustRejoin) {
  FormEpochOne();
  now_ += milliseconds(2000);
  EXPECT_TRUE(m_.Heartbeat("127.0.1.2", {11, 1, 0, false}, now_).has_value());
  now_ += milliseconds(1500);  // 127.0.1.3 last heard 3.5 s ago
  EXPECT_EQ(m_.Tick(now_, {MasterTarget(1)}, {0}), 0u);
  EXPECT_EQ(m_.state(), ClusterState::kBroken);
  ASSERT_EQ(breaks_.size(), 1u);
  EXPECT_THAT(breaks_[0], HasSubstr("node 127.0.1.3 lost"));
  EXPECT_THAT(m_.AbnormalNodes(), ElementsAre("node(127.0.1.3) is abnormal."));
  EXPECT_THAT(m_.UnavailableReason(), HasSubstr("no heartbeat for 3500 ms"));
  // Its late heartbeat is not accepted: it must join again.
  EXPECT_EQ(m_.Heartbeat("127.0.1.3", {22, 1, 0, false}, now_), std::nullopt);
  m_.Join("127.0.1.3", 22, "peer", now_);
  EXPECT_EQ(m_.Tick(now_, {0}, {0}), MasterTarget(2));  // a new epoch, a new mesh
  EXPECT_EQ(m_.epoch(), 2u);
}

TEST_F(MembershipTest, ARestartedNodeARankFailureAndASlowMeshEachBreakIt) {
  FormEpochOne();
  m_.Join("127.0.1.2", 99, "peer", now_);  // same address, new incarnation: it restarted
  EXPECT_EQ(m_.state(), ClusterState::kBroken);
  EXPECT_THAT(breaks_.back(), HasSubstr("node 127.0.1.2 restarted"));

  EXPECT_EQ(m_.Tick(now_, {0}, {0}), MasterTarget(2));
  EXPECT_EQ(m_.Heartbeat("127.0.1.2", {99, 2, 0, false}, now_), 2u);
  EXPECT_EQ(m_.Heartbeat("127.0.1.3", {22, 2, 0, false}, now_), 2u);
  EXPECT_EQ(m_.Tick(now_, {MasterTarget(2)}, {0}), std::nullopt);
  ASSERT_TRUE(m_.healthy());
  EXPECT_EQ(m_.Heartbeat("127.0.1.3", {22, 2, 2, false}, now_), 2u);  // its rank lost epoch 2
  // Every node is still joined, so the tick that breaks the cluster starts the next epoch.
  EXPECT_EQ(m_.Tick(now_, {MasterTarget(2)}, {0}), MasterTarget(3));
  EXPECT_THAT(breaks_.back(), HasSubstr("node 127.0.1.3 reports its data plane failed"));
  EXPECT_EQ(m_.state(), ClusterState::kForming);

  EXPECT_EQ(m_.Tick(now_, {0}, {MasterTarget(3)}), MasterTarget(4));  // the master's own rank
  EXPECT_THAT(breaks_.back(), HasSubstr("a local rank's data plane failed"));

  EXPECT_EQ(m_.Heartbeat("127.0.1.2", {99, 0, 0, false}, now_), 4u);
  EXPECT_EQ(m_.Heartbeat("127.0.1.3", {22, 0, 0, false}, now_), 4u);
  now_ += milliseconds(2600);  // connect_timeout + 2 s without a mesh
  EXPECT_EQ(m_.Tick(now_, {0}, {0}), std::nullopt);
  EXPECT_THAT(breaks_.back(), HasSubstr("the data plane did not connect in time"));
  EXPECT_EQ(m_.Tick(now_, {0}, {0}), MasterTarget(5));  // and the next tick tries again
  EXPECT_EQ(breaks_.size(), 4u);
}

TEST_F(MembershipTest, NodesLeavingAfterAShutdownAreCountedOut) {
  FormEpochOne();
  EXPECT_FALSE(m_.AllLeft());
  EXPECT_TRUE(m_.Heartbeat("127.0.1.2", {11, 1, 0, true}, now_).has_value());
  EXPECT_FALSE(m_.AllLeft());
  EXPECT_TRUE(m_.Heartbeat("127.0.1.3", {22, 1, 0, true}, now_).has_value());
  EXPECT_TRUE(m_.AllLeft());
  EXPECT_THAT(m_.UnavailableReason(), HasSubstr("left after shutdown"));
}

// What the console shows (/v1/cluster): each slave's status, heartbeat age, memory and why it
// is lost, and the events recorded where they happen.
TEST_F(MembershipTest, SnapshotShowsEachNodeAndTheEventsOfAFormAndALoss) {
  Membership::View v = m_.Snapshot(now_);
  ASSERT_EQ(v.nodes.size(), 2u);
  EXPECT_EQ(v.nodes[0].address, "127.0.1.2");
  EXPECT_EQ(v.nodes[0].status, "joining");
  EXPECT_EQ(v.nodes[0].ms_since_heartbeat, -1);
  EXPECT_EQ(v.nodes[1].ranks, (std::vector<int>{2, 3}));
  EXPECT_TRUE(v.events.empty());

  FormEpochOne();
  EXPECT_EQ(m_.Heartbeat("127.0.1.2", {11, 1, 0, false, 123456}, now_), 1u);
  now_ += milliseconds(700);
  v = m_.Snapshot(now_);
  EXPECT_EQ(v.state, ClusterState::kHealthy);
  EXPECT_EQ(v.epoch, 1u);
  EXPECT_EQ(v.nodes[0].status, "healthy");
  EXPECT_EQ(v.nodes[0].ms_since_heartbeat, 700);
  EXPECT_EQ(v.nodes[0].rss_bytes, 123456u);
  EXPECT_EQ(v.nodes[1].rss_bytes, 0u);  // never reported
  ASSERT_EQ(v.events.size(), 3u);
  EXPECT_EQ(v.events[0].kind, "joined");
  EXPECT_EQ(v.events[0].node, "127.0.1.2");
  EXPECT_THAT(v.events[0].message, HasSubstr("node 127.0.1.2 joined (ranks"));
  EXPECT_EQ(v.events[2].kind, "formed");
  EXPECT_EQ(v.events[2].message, "cluster formed: 3 node(s), epoch 1");
  EXPECT_FALSE(v.events[2].error);
  EXPECT_LT(v.events[0].seq, v.events[2].seq);
  EXPECT_GT(v.events[0].unix_ms, 0);

  now_ += milliseconds(3000);  // 127.0.1.3 last heard 3.7 s ago
  EXPECT_TRUE(m_.Heartbeat("127.0.1.2", {11, 1, 0, false}, now_).has_value());
  m_.Tick(now_, {MasterTarget(1)}, {0});
  v = m_.Snapshot(now_);
  EXPECT_EQ(v.state, ClusterState::kBroken);
  EXPECT_EQ(v.nodes[0].status, "joining");   // joined, its mesh is gone with the epoch
  EXPECT_EQ(v.nodes[0].rss_bytes, 123456u);  // a heartbeat without the field keeps the last
  EXPECT_EQ(v.nodes[1].status, "lost");
  EXPECT_EQ(v.nodes[1].lost_reason, "no heartbeat for 3700 ms");
  EXPECT_EQ(v.nodes[1].ms_since_heartbeat, 3700);
  ASSERT_EQ(v.events.size(), 5u);
  EXPECT_EQ(v.events[3].kind, "lost");
  EXPECT_TRUE(v.events[3].error);
  EXPECT_EQ(v.events[3].message, "node 127.0.1.3 lost: no heartbeat for 3700 ms");
  EXPECT_EQ(v.events[4].kind, "degraded");
  EXPECT_THAT(v.events[4].message, HasSubstr("cluster degraded (epoch 1): node 127.0.1.3 lost"));

  m_.RecordRefusal("127.0.1.3", "fingerprint field dtype differs: master float32, node bfloat16");
  v = m_.Snapshot(now_);
  EXPECT_EQ(v.events.back().kind, "refused");
  EXPECT_TRUE(v.events.back().error);
  EXPECT_EQ(v.events.back().message,
            "join of node 127.0.1.3 refused: fingerprint field dtype differs: master float32, "
            "node bfloat16");
}

TEST(EventLogTest, KeepsTheLastCapacityEventsInOrderWithGrowingSequenceNumbers) {
  EventLog log(3);
  EXPECT_TRUE(log.Recent().empty());
  for (int i = 1; i <= 5; ++i) log.Add("joined", i % 2 == 0, "n", "event " + std::to_string(i));
  auto events = log.Recent();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].message, "event 3");
  EXPECT_EQ(events[0].seq, 3u);
  EXPECT_EQ(events[2].message, "event 5");
  EXPECT_EQ(events[2].seq, 5u);
  EXPECT_TRUE(events[1].error);
  EXPECT_EQ(EventLog().capacity(), 50u);
}

}  // namespace
}  // namespace mies::cluster
