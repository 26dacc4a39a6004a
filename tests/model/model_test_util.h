// Helpers shared by the model tests: temporary directories and model-dir copies with the file
// modes MindIE's rules want (the shared models are read-only 0444, which is wider than 0750).
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace mies::model::testing {

inline std::string SharedDir() { return MIES_SHARED_DIR; }
inline std::string Stories260KDir() { return SharedDir() + "/models/stories260K"; }
inline bool HaveShared() { return std::filesystem::exists(Stories260KDir() + "/config.json"); }

// A fresh directory removed when the object dies.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("mies_model_" + std::to_string(::getpid()) + "_" +
             (info ? std::string(info->test_suite_name()) + "_" + info->name() : "x") + "_" +
             std::to_string(counter_++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path() const { return path_.string(); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

// Copies the regular files of `src` into `dst` with mode 0640.
inline void CopyModelDir(const std::string& src, const std::string& dst) {
  namespace fs = std::filesystem;
  for (const auto& e : fs::directory_iterator(src)) {
    if (!e.is_regular_file()) continue;
    const fs::path to = fs::path(dst) / e.path().filename();
    fs::copy_file(e.path(), to, fs::copy_options::overwrite_existing);
    fs::permissions(to, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  }
}

}  // namespace mies::model::testing
