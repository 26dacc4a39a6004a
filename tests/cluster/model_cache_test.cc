// The slave's weight cache (cluster/model_cache.h) against a feed served from a local model
// directory (cluster/model_source.h), with faults injected into the feed: a transfer that
// breaks half way (the master killed), a master that never comes back, a node killed mid-fetch
// (its partial file left behind), corrupt, truncated and foreign cache files, a refusal.
#include "cluster/model_cache.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cluster/model_source.h"

namespace mies::cluster {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

void Write(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}
std::string Read(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
mode_t Mode(const fs::path& p) {
  struct stat st {};
  ::lstat(p.c_str(), &st);
  return st.st_mode & 07777;
}

// A model directory's files, served like the master does; `break_after` > 0 makes the next
// fetches stop with Unavailable after that many bytes (a killed master), `down` makes every
// call fail (a master that is gone), `refuse` answers like a master that does not serve.
class FakeFeed final : public ModelFeed {
 public:
  explicit FakeFeed(std::string dir) : source_(std::move(dir)) {}
  StatusOr<ModelManifest> Manifest() override {
    ++manifests;
    if (refuse) return absl::PermissionDeniedError("refused");
    if (down) return absl::UnavailableError("connection refused");
    return source_.Manifest();
  }
  Status Fetch(const std::string& key, const std::string& name,
               const std::function<Status(std::string_view)>& sink) override {
    if (down) return absl::UnavailableError("connection refused");
    ++fetches;
    uint64_t sent = 0;
    bool broke = false;
    Status sunk = OkStatus();
    Status s = source_.Stream(key, name, [&](std::string_view bytes) {
      for (size_t i = 0; i < bytes.size(); i += 1000) {
        const std::string_view piece = bytes.substr(i, 1000);
        if (breaks > 0 && sent + piece.size() > break_after) {
          broke = true;
          return false;
        }
        sunk = sink(piece);
        if (!sunk.ok()) return false;
        sent += piece.size();
      }
      return true;
    });
    if (broke) {
      --breaks;
      return absl::UnavailableError("Socket closed");
    }
    if (!sunk.ok()) return sunk;
    return s;
  }
  std::string Describe() const override { return "the fake master"; }

  int manifests = 0, fetches = 0;
  int breaks = 0;  // how many fetches break after break_after bytes
  uint64_t break_after = 0;
  bool down = false, refuse = false;

 private:
  ModelSource source_;
};

class ModelCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("mies-model-cache-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "model");
    Write(dir_ / "model" / "config.json", R"({"model_type": "llama"})");
    std::string big(50000, '\0');
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + 3);
    Write(dir_ / "model" / "model.safetensors", big);
    Write(dir_ / "model" / "tokenizer.json", "{}");  // not a file a rank loads: not sent
    root_ = (dir_ / "cache").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  StatusOr<CacheSync> Sync(FakeFeed& feed, milliseconds budget = milliseconds(5000)) {
    return SyncModelCache(root_, feed, budget);
  }
  void ExpectSameAsModel(const CacheSync& s) {
    EXPECT_EQ(Read(fs::path(s.model_dir) / "model.safetensors"),
              Read(dir_ / "model" / "model.safetensors"));
    EXPECT_EQ(Read(fs::path(s.model_dir) / "config.json"), Read(dir_ / "model" / "config.json"));
    EXPECT_FALSE(fs::exists(fs::path(s.model_dir) / "tokenizer.json"));
    EXPECT_FALSE(fs::exists(fs::path(s.model_dir) / "model.safetensors.partial"));
  }

  fs::path dir_;
  std::string root_;
};

TEST_F(ModelCacheTest, ColdStartFetchesEverythingWithPrivateModesAndWarmStartFetchesNothing) {
  FakeFeed feed((dir_ / "model").string());
  auto cold = Sync(feed);
  ASSERT_TRUE(cold.ok()) << cold.status();
  EXPECT_EQ(cold->files, 2);
  EXPECT_EQ(cold->fetched, 2);
  EXPECT_EQ(cold->bytes_fetched, cold->bytes);
  ExpectSameAsModel(*cold);
  EXPECT_EQ(Mode(root_), 0700u);
  EXPECT_EQ(Mode(cold->model_dir), 0700u);
  EXPECT_EQ(Mode(fs::path(cold->model_dir) / "model.safetensors"), 0600u);
  EXPECT_EQ(fs::path(cold->model_dir).filename().string().size(), 64u);  // the manifest key

  feed.fetches = 0;
  auto warm = Sync(feed);
  ASSERT_TRUE(warm.ok()) << warm.status();
  EXPECT_EQ(warm->fetched, 0);
  EXPECT_EQ(feed.fetches, 0);
  EXPECT_EQ(warm->model_dir, cold->model_dir);
}

TEST_F(ModelCacheTest, CorruptTruncatedOrForeignFilesAreFetchedAgainAndStraysRemoved) {
  FakeFeed feed((dir_ / "model").string());
  auto first = Sync(feed);
  ASSERT_TRUE(first.ok()) << first.status();
  const fs::path weights = fs::path(first->model_dir) / "model.safetensors";
  const std::string good = Read(weights);

  std::string corrupt = good;
  corrupt[25000] ^= 1;  // same size, one bit off
  Write(weights, corrupt);
  auto s = Sync(feed);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->fetched, 1);
  ExpectSameAsModel(*s);

  Write(weights, good.substr(0, 1000));  // truncated
  s = Sync(feed);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->fetched, 1);
  ExpectSameAsModel(*s);

  Write(weights, "another model's weights");  // foreign content under the right name
  Write(fs::path(first->model_dir) / "model.safetensors.partial", "half");  // a killed node's
  Write(fs::path(first->model_dir) / "old.safetensors", "stale");
  s = Sync(feed);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->fetched, 1);
  ExpectSameAsModel(*s);
  EXPECT_FALSE(fs::exists(fs::path(first->model_dir) / "old.safetensors"));

  // A symbolic link in place of a file is replaced, never followed.
  fs::remove(weights);
  fs::create_symlink(dir_ / "model" / "model.safetensors", weights);
  s = Sync(feed);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->fetched, 1);
  EXPECT_FALSE(fs::is_symlink(weights));
}

TEST_F(ModelCacheTest, AnotherModelGetsItsOwnDirectory) {
  FakeFeed a((dir_ / "model").string());
  auto sa = Sync(a);
  ASSERT_TRUE(sa.ok()) << sa.status();
  fs::create_directories(dir_ / "model2");
  Write(dir_ / "model2" / "config.json", R"({"model_type": "qwen2"})");
  Write(dir_ / "model2" / "model.safetensors", "other weights");
  FakeFeed b((dir_ / "model2").string());
  auto sb = Sync(b);
  ASSERT_TRUE(sb.ok()) << sb.status();
  EXPECT_NE(sa->model_dir, sb->model_dir);
  EXPECT_EQ(sb->fetched, 2);
  EXPECT_EQ(Read(fs::path(sb->model_dir) / "model.safetensors"), "other weights");
}

TEST_F(ModelCacheTest, TransferBrokenHalfWayIsRetriedCleanly) {
  FakeFeed feed((dir_ / "model").string());
  feed.breaks = 2;
  feed.break_after = 20000;
  auto s = Sync(feed);
  ASSERT_TRUE(s.ok()) << s.status();
  ExpectSameAsModel(*s);
  EXPECT_EQ(feed.breaks, 0);
}

TEST_F(ModelCacheTest, MasterGoneMidTransferEndsInAClearErrorWithNothingHalfWritten) {
  FakeFeed feed((dir_ / "model").string());
  feed.breaks = 1000;
  feed.break_after = 20000;
  auto s = Sync(feed, milliseconds(1500));
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::IsUnavailable(s.status())) << s.status();
  EXPECT_NE(s.status().message().find("could not fetch the model from the fake master"),
            std::string::npos)
      << s.status();
  EXPECT_NE(s.status().message().find("Socket closed"), std::string::npos) << s.status();
  for (const auto& e : fs::recursive_directory_iterator(root_)) {
    EXPECT_NE(e.path().filename(), "model.safetensors") << "a half file under its final name";
    EXPECT_NE(e.path().extension(), ".partial") << e.path();
  }
  // The master comes back: the next start fetches cleanly.
  feed.breaks = 0;
  auto again = Sync(feed);
  ASSERT_TRUE(again.ok()) << again.status();
  ExpectSameAsModel(*again);
}

TEST_F(ModelCacheTest, RefusalAndUnreachableMasterAreErrors) {
  FakeFeed feed((dir_ / "model").string());
  feed.refuse = true;
  auto s = Sync(feed);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(s.status())) << s.status();
  EXPECT_EQ(feed.manifests, 1);  // not retried
  feed.refuse = false;
  feed.down = true;
  s = Sync(feed, milliseconds(800));
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::IsUnavailable(s.status())) << s.status();
  EXPECT_GT(feed.manifests, 2);  // retried within the budget
}

TEST_F(ModelCacheTest, CacheRootWiderThanPrivateOrALinkIsRefused) {
  fs::create_directories(root_);
  ::chmod(root_.c_str(), 0755);
  FakeFeed feed((dir_ / "model").string());
  auto s = Sync(feed);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("mode 0755 is wider than 0700"), std::string::npos)
      << s.status();
  fs::remove(root_);
  fs::create_directories(dir_ / "elsewhere");
  fs::create_directory_symlink(dir_ / "elsewhere", root_);
  s = Sync(feed);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("symbolic link"), std::string::npos) << s.status();
}

}  // namespace
}  // namespace mies::cluster
