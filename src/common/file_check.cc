#include "common/file_check.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace mies {

bool PermissionChecksEnabled() {
  const char* v = std::getenv("MINDIE_CHECK_INPUTFILES_PERMISSION");
  return !(v != nullptr && std::string(v) == "0");
}

FileRule RuleFromEnv(mode_t max_mode) {
  FileRule rule;
  rule.max_mode = max_mode;
  rule.check_owner_and_mode = PermissionChecksEnabled();
  return rule;
}

std::string ModeString(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

Status CheckInputFile(const std::string& path, const FileRule& rule, const std::string& what) {
  if (path.empty()) return InvalidArgument(what, ": path is empty");
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    return NotFound(what, " ", path, ": cannot stat: ", std::strerror(errno));
  }
  if (S_ISLNK(st.st_mode)) {
    return FailedPrecondition(what, " ", path,
                              ": must not be a symbolic link (rule: regular file, not a link)");
  }
  if (!S_ISREG(st.st_mode)) {
    return FailedPrecondition(what, " ", path, ": must be a regular file");
  }
  if (st.st_size <= 0) {
    return FailedPrecondition(what, " ", path, ": is empty (rule: size in (0, ", rule.max_bytes,
                              "] bytes)");
  }
  if (static_cast<uint64_t>(st.st_size) > rule.max_bytes) {
    return FailedPrecondition(what, " ", path, ": size ", st.st_size,
                              " bytes exceeds the limit (rule: size in (0, ", rule.max_bytes,
                              "] bytes)");
  }
  if (rule.check_owner_and_mode) {
    if (st.st_uid != geteuid()) {
      return FailedPrecondition(what, " ", path, ": owner uid ", st.st_uid,
                                " differs from the running user uid ", geteuid(),
                                " (rule: owned by the running user; "
                                "MINDIE_CHECK_INPUTFILES_PERMISSION=0 disables this check)");
    }
    mode_t mode = st.st_mode & 07777;
    if ((mode & ~rule.max_mode) != 0) {
      return FailedPrecondition(what, " ", path, ": mode ", ModeString(mode), " is wider than ",
                                ModeString(rule.max_mode), " (rule: permissions no greater than ",
                                ModeString(rule.max_mode),
                                "; MINDIE_CHECK_INPUTFILES_PERMISSION=0 disables this check)");
    }
  }
  return OkStatus();
}

StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open ", path, ": ", std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Internal("cannot read ", path);
  return ss.str();
}

StatusOr<std::string> ReadCheckedFile(const std::string& path, const FileRule& rule,
                                      const std::string& what) {
  MIES_RETURN_IF_ERROR(CheckInputFile(path, rule, what));
  return ReadWholeFile(path);
}

}  // namespace mies
