#include "model/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "model/safetensors_writer.h"

namespace mies::model {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("mies_st_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string WriteBytes(const std::string& name, const std::string& bytes) {
    std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  // A file with the given header JSON and `data_size` bytes of data.
  std::string WithHeader(const std::string& header, size_t data_size) {
    std::string out(8, '\0');
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    out += header;
    out.append(data_size, '\x01');
    return WriteBytes("t.safetensors", out);
  }
  std::string OpenError(const std::string& path) {
    auto f = SafetensorsFile::Open(path);
    EXPECT_FALSE(f.ok());
    return f.ok() ? "" : std::string(f.status().message());
  }

  fs::path dir_;
};

std::vector<std::byte> FloatBytes(const std::vector<float>& v) {
  std::vector<std::byte> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

TEST_F(SafetensorsTest, WrittenFileReadsBackWithShapesDtypesAndMetadata) {
  SafetensorsWriter w;
  ASSERT_TRUE(w.Add("a", TensorDType::kF32, {2, 3}, FloatBytes({1, 2, 3, 4, 5, 6})).ok());
  ASSERT_TRUE(w.Add("b", TensorDType::kBF16, {4}, std::vector<std::byte>(8, std::byte{7})).ok());
  ASSERT_TRUE(w.Add("empty", TensorDType::kF16, {0, 5}, {}).ok());
  w.SetMetadata("format", "pt");
  const std::string path = (dir_ / "ok.safetensors").string();
  ASSERT_TRUE(w.Write(path).ok());
  auto f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  const TensorInfo* a = (*f)->Find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, TensorDType::kF32);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  float v[6];
  std::memcpy(v, a->data.data(), sizeof v);
  EXPECT_EQ(v[5], 6.0f);
  EXPECT_EQ((*f)->Find("b")->dtype, TensorDType::kBF16);
  EXPECT_EQ((*f)->Find("empty")->numel(), 0);
  EXPECT_EQ((*f)->metadata().at("format"), "pt");
  EXPECT_EQ((*f)->Find("missing"), nullptr);
  // The streamed file and the in-memory serialization agree byte for byte.
  std::ifstream in(path, std::ios::binary);
  std::string disk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(disk, w.Serialize());
}

TEST_F(SafetensorsTest, TruncatedDataIsRejected) {
  SafetensorsWriter w;
  ASSERT_TRUE(w.Add("a", TensorDType::kF32, {4}, FloatBytes({1, 2, 3, 4})).ok());
  std::string bytes = w.Serialize();
  bytes.resize(bytes.size() - 3);
  EXPECT_THAT(OpenError(WriteBytes("t.safetensors", bytes)),
              HasSubstr("point outside the data section"));
}

TEST_F(SafetensorsTest, FileShorterThanLengthFieldIsRejected) {
  EXPECT_THAT(OpenError(WriteBytes("t.safetensors", "abc")),
              HasSubstr("shorter than the 8-byte header length"));
  EXPECT_THAT(OpenError(WriteBytes("t.safetensors", "")),
              HasSubstr("shorter than the 8-byte header length"));
}

TEST_F(SafetensorsTest, HeaderLengthBeyondFileIsRejected) {
  std::string bytes(8, '\0');
  bytes[0] = static_cast<char>(0xff);
  bytes[7] = static_cast<char>(0x7f);  // ~9e18
  bytes += "{}";
  EXPECT_THAT(OpenError(WriteBytes("t.safetensors", bytes)), HasSubstr("exceeds the file"));
}

TEST_F(SafetensorsTest, NonJsonHeaderIsRejected) {
  EXPECT_THAT(OpenError(WithHeader("{\"a\": [1, 2", 0)), HasSubstr("not valid JSON"));
  EXPECT_THAT(OpenError(WithHeader("[1, 2, 3]   ", 0)), HasSubstr("must be a JSON object"));
}

TEST_F(SafetensorsTest, OverlappingTensorsAreRejected) {
  EXPECT_THAT(OpenError(WithHeader(R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                                   R"("y":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
                                   24)),
              HasSubstr("overlap"));
}

TEST_F(SafetensorsTest, OffsetsOutOfRangeAreRejected) {
  EXPECT_THAT(
      OpenError(WithHeader(R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[16,32]}})", 20)),
      HasSubstr("outside the data section"));
  EXPECT_THAT(
      OpenError(WithHeader(R"({"x":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 20)),
      HasSubstr("begin > end"));
  EXPECT_THAT(
      OpenError(WithHeader(R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[-1,15]}})", 20)),
      HasSubstr("non-negative integers"));
  EXPECT_THAT(
      OpenError(WithHeader(
          R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,18446744073709551615]}})", 20)),
      HasSubstr("non-negative integers"));
}

TEST_F(SafetensorsTest, SizeNotMatchingShapeIsRejected) {
  EXPECT_THAT(
      OpenError(WithHeader(R"({"x":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", 24)),
      HasSubstr("needs 24 bytes"));
  // A shape whose byte size overflows 64 bits.
  EXPECT_THAT(OpenError(WithHeader(R"({"x":{"dtype":"F32","shape":[4294967296,4294967296],)"
                                   R"("data_offsets":[0,16]}})",
                                   16)),
              HasSubstr("too large"));
  EXPECT_THAT(
      OpenError(WithHeader(R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8)),
      HasSubstr("shape entries must be non-negative"));
}

TEST_F(SafetensorsTest, UnsupportedOrUnknownDtypeIsRejectedByName) {
  EXPECT_THAT(OpenError(WithHeader(R"({"x":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}})", 4)),
              HasSubstr("dtype I8 is not supported (supported: F32, F16, BF16, F8_E4M3, I32)"));
  EXPECT_THAT(OpenError(WithHeader(R"({"x":{"dtype":"Q4","shape":[4],"data_offsets":[0,4]}})", 4)),
              HasSubstr("unknown dtype \"Q4\""));
  EXPECT_THAT(OpenError(WithHeader(R"({"x":{"shape":[4],"data_offsets":[0,4]}})", 4)),
              HasSubstr("missing string field \"dtype\""));
}

TEST_F(SafetensorsTest, MalformedEntriesAndMetadataAreRejected) {
  EXPECT_THAT(OpenError(WithHeader(R"({"x":5})", 0)), HasSubstr("entry must be an object"));
  EXPECT_THAT(OpenError(WithHeader(R"({"x":{"dtype":"F32","data_offsets":[0,0]}})", 0)),
              HasSubstr("missing array field \"shape\""));
  EXPECT_THAT(OpenError(WithHeader(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4)),
              HasSubstr("must be an array [begin, end]"));
  EXPECT_THAT(OpenError(WithHeader(R"({"__metadata__":{"a":1}})", 0)),
              HasSubstr("__metadata__ value of \"a\" must be a string"));
}

TEST_F(SafetensorsTest, RandomCorruptionNeverCrashes) {
  // Flip bytes all over a valid file (header included): every outcome is a Status or a valid
  // file whose tensors lie inside the mapping.
  SafetensorsWriter w;
  ASSERT_TRUE(w.Add("a", TensorDType::kF32, {3, 5}, FloatBytes(std::vector<float>(15, 1))).ok());
  ASSERT_TRUE(w.Add("b", TensorDType::kF16, {7}, std::vector<std::byte>(14)).ok());
  const std::string good = w.Serialize();
  uint32_t seed = 12345;
  int rejected = 0;
  for (int iter = 0; iter < 400; ++iter) {
    std::string bad = good;
    for (int k = 0; k < 3; ++k) {
      seed = seed * 1664525u + 1013904223u;
      size_t pos = (seed >> 8) % bad.size();
      bad[pos] = static_cast<char>(seed >> 24);
    }
    if (iter % 7 == 0) bad.resize((seed >> 4) % bad.size());
    auto f = SafetensorsFile::Open(WriteBytes("fuzz.safetensors", bad));
    if (!f.ok()) {
      ++rejected;
      continue;
    }
    for (const auto& [name, t] : (*f)->tensors()) {
      EXPECT_EQ(static_cast<int64_t>(t.data.size()), t.numel() * TensorDTypeSize(t.dtype));
    }
  }
  EXPECT_GT(rejected, 0);
}

TEST_F(SafetensorsTest, ShardedCheckpointResolvesTensorsThroughIndex) {
  SafetensorsWriter w1, w2;
  ASSERT_TRUE(w1.Add("a", TensorDType::kF32, {1}, FloatBytes({1})).ok());
  ASSERT_TRUE(w2.Add("b", TensorDType::kF32, {1}, FloatBytes({2})).ok());
  ASSERT_TRUE(w1.Write((dir_ / "m-1.safetensors").string()).ok());
  ASSERT_TRUE(w2.Write((dir_ / "m-2.safetensors").string()).ok());
  WriteBytes("model.safetensors.index.json",
             R"({"metadata":{},"weight_map":{"a":"m-1.safetensors","b":"m-2.safetensors"}})");
  auto ck = Checkpoint::Open(dir_.string());
  ASSERT_TRUE(ck.ok()) << ck.status();
  EXPECT_EQ((*ck)->num_tensors(), 2u);
  float b = 0;
  std::memcpy(&b, (*ck)->Find("b")->data.data(), 4);
  EXPECT_EQ(b, 2.0f);
  EXPECT_THAT(std::string((*ck)->Get("c").status().message()), HasSubstr("\"c\" is missing"));
}

TEST_F(SafetensorsTest, ShardIndexErrorsNameTheProblem) {
  SafetensorsWriter w1;
  ASSERT_TRUE(w1.Add("a", TensorDType::kF32, {1}, FloatBytes({1})).ok());
  ASSERT_TRUE(w1.Write((dir_ / "m-1.safetensors").string()).ok());
  WriteBytes("model.safetensors.index.json", R"({"weight_map":{"a":"../m-1.safetensors"}})");
  auto ck = Checkpoint::Open(dir_.string());
  ASSERT_FALSE(ck.ok());
  EXPECT_THAT(std::string(ck.status().message()), HasSubstr("plain file name"));
  WriteBytes("model.safetensors.index.json", R"({"weight_map":{"zz":"m-1.safetensors"}})");
  ck = Checkpoint::Open(dir_.string());
  ASSERT_FALSE(ck.ok());
  EXPECT_THAT(std::string(ck.status().message()), HasSubstr("does not contain it"));
  fs::remove(dir_ / "model.safetensors.index.json");
  ck = Checkpoint::Open(dir_.string());
  ASSERT_FALSE(ck.ok());
  EXPECT_THAT(std::string(ck.status().message()), HasSubstr("has neither model.safetensors"));
}

}  // namespace
}  // namespace mies::model
