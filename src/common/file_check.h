// MindIE's rules for files a deployment hands us (config.json, ranktable.json, certificates,
// keys, CRLs, the model's config.json): a regular file, not a symlink, owned by the running
// user, no permission bit beyond a limit, size within (0, max]. A violation names the file,
// the rule and the actual value, so an operator can fix it in one go.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "common/status.h"

namespace mies {

struct FileRule {
  mode_t max_mode = 0640;            // no bit outside this mask may be set
  uint64_t max_bytes = 10ull << 20;  // MindIE's documented 10 MB limit
  bool check_owner_and_mode = true;  // MINDIE_CHECK_INPUTFILES_PERMISSION=0 turns this off
};

inline constexpr mode_t kConfigFileMode = 0640;
inline constexpr mode_t kPrivateKeyMode = 0600;
inline constexpr mode_t kModelDirMode = 0750;

// True unless $MINDIE_CHECK_INPUTFILES_PERMISSION is exactly "0".
bool PermissionChecksEnabled();

// The rule for `max_mode` with the owner/mode switch read from the environment.
FileRule RuleFromEnv(mode_t max_mode);

// Checks `path` against `rule`; `what` names the file's role ("config file", "ranktable").
Status CheckInputFile(const std::string& path, const FileRule& rule, const std::string& what);

// Checks, then reads the whole file.
StatusOr<std::string> ReadCheckedFile(const std::string& path, const FileRule& rule,
                                      const std::string& what);

// Reads a file without checks (for files whose rules the caller applies itself).
StatusOr<std::string> ReadWholeFile(const std::string& path);

// Octal text of a mode, e.g. "0644".
std::string ModeString(mode_t mode);

}  // namespace mies
