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

}  // namespace
}  // namespace mies::cluster
