#include "certs/import.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "certs/config_planes.h"
#include "common/file_check.h"
#include "config/tls_planes.h"

namespace mies::certs {
namespace {

namespace fs = std::filesystem;

struct Planned {
  ImportedFile file;
  std::string staged;  // temporary copy next to the target
  std::string backup;  // hard link to the replaced target, when there was one
  bool committed = false;
};

// Holds what an import changed on disk until Commit(); the destructor undoes the rest.
class Transaction {
 public:
  ~Transaction() { Rollback(); }

  // mkdir -p with kDirMode for every missing component; existing directories are left alone.
  Status EnsureDir(const fs::path& dir) {
    std::vector<fs::path> missing;
    for (fs::path p = dir; !p.empty() && p != p.root_path(); p = p.parent_path()) {
      struct stat st {};
      if (lstat(p.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode))
          return FailedPrecondition(p.string(), ": exists and is not a directory");
        break;
      }
      missing.push_back(p);
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
      if (mkdir(it->c_str(), kDirMode) != 0 && errno != EEXIST) {
        return Internal("cannot create directory ", it->string(), ": ", std::strerror(errno));
      }
      chmod(it->c_str(), kDirMode);  // mkdir applies the umask
      created_dirs_.push_back(*it);
    }
    return OkStatus();
  }

  // Writes `content` to a new file next to `target` with `mode`.
  StatusOr<std::string> Stage(const std::string& target, const std::string& content, mode_t mode) {
    fs::path t(target);
    std::string tmpl =
        (t.parent_path() / ("." + t.filename().string() + ".import-XXXXXX")).string();
    int fd = mkstemp(tmpl.data());
    if (fd < 0)
      return Internal("cannot create a file next to ", target, ": ", std::strerror(errno));
    staged_.push_back(tmpl);
    Status st;
    if (fchmod(fd, mode) != 0) st = Internal("cannot chmod ", tmpl, ": ", std::strerror(errno));
    size_t off = 0;
    while (st.ok() && off < content.size()) {
      ssize_t n = write(fd, content.data() + off, content.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        st = Internal("cannot write ", tmpl, ": ", std::strerror(errno));
      else
        off += static_cast<size_t>(n);
    }
    if (st.ok() && fsync(fd) != 0) st = Internal("cannot sync ", tmpl, ": ", std::strerror(errno));
    close(fd);
    if (!st.ok()) return st;
    return tmpl;
  }

  // Renames every staged file over its target, keeping a hard link to what it replaces.
  Status Install(std::vector<Planned>& plan) {
    installed_ = &plan;
    for (Planned& p : plan) {
      struct stat st {};
      if (lstat(p.file.target.c_str(), &st) == 0) {
        p.backup = p.staged + ".old";
        if (link(p.file.target.c_str(), p.backup.c_str()) != 0) {
          p.backup.clear();
          return Internal("cannot keep a backup of ", p.file.target, ": ", std::strerror(errno));
        }
      }
      if (rename(p.staged.c_str(), p.file.target.c_str()) != 0) {
        return Internal("cannot move ", p.staged, " to ", p.file.target, ": ",
                        std::strerror(errno));
      }
      p.committed = true;
    }
    return OkStatus();
  }

  void Commit() {
    if (installed_ != nullptr) {
      for (Planned& p : *installed_) {
        if (!p.backup.empty()) unlink(p.backup.c_str());
      }
    }
    installed_ = nullptr;
    staged_.clear();
    created_dirs_.clear();
  }

 private:
  void Rollback() {
    if (installed_ != nullptr) {
      for (Planned& p : *installed_) {
        if (!p.committed) {
          if (!p.backup.empty()) unlink(p.backup.c_str());
          continue;
        }
        if (!p.backup.empty()) {
          rename(p.backup.c_str(), p.file.target.c_str());
        } else {
          unlink(p.file.target.c_str());
        }
      }
    }
    for (const std::string& s : staged_) unlink(s.c_str());  // already renamed ones: ENOENT
    for (auto it = created_dirs_.rbegin(); it != created_dirs_.rend(); ++it) rmdir(it->c_str());
  }

  std::vector<std::string> staged_;
  std::vector<fs::path> created_dirs_;
  std::vector<Planned>* installed_ = nullptr;
};

// Messages of the check over staged copies name the operator's source files instead.
void RenameFiles(PlaneReport& report, const std::vector<Planned>& plan) {
  for (Finding& f : report.findings) {
    for (const Planned& p : plan) {
      absl::StrReplaceAll({{p.staged, p.file.source}}, &f.file);
      absl::StrReplaceAll({{p.staged, p.file.source}}, &f.actual);
      absl::StrReplaceAll({{p.staged, p.file.source}}, &f.rule);
    }
  }
}

}  // namespace

ImportResult ImportPlane(const config::Config& config, const ImportRequest& req,
                         const CheckOptions& options) {
  ImportResult result;
  const std::string plane(PlaneName(req.plane));
  PlaneMaterial source{req.plane,       req.ca_files,          req.cert_file,
                       req.key_file,    req.key_password_file, req.crl_files,
                       req.node_address};
  CheckOptions source_options = options;
  source_options.apply_file_rules = false;
  result.report = RunPlaneChecks(source, source_options);
  if (const Finding* e = result.report.FirstError()) {
    result.status = FailedPrecondition(plane, " plane: nothing imported: ", e->Line());
    return result;
  }

  // Targets, from config.json.
  const config::TlsPlaneSpec& spec = config::TlsPlaneOf(req.plane);
  const config::TlsMaterial& t = config::PlaneTls(config, req.plane);
  const std::string ca_key = config::KeyPath(spec, spec.keys.ca_files);
  const std::string crl_key = config::KeyPath(spec, spec.keys.crl_files);
  if (req.ca_files.size() > t.ca_files.size()) {
    result.status =
        FailedPrecondition(plane, " plane: nothing imported: ", req.ca_files.size(),
                           " CA files given but ", config.source_path, " names ", t.ca_files.size(),
                           " in ", ca_key, "; list one file name per CA there first");
    return result;
  }
  if (req.crl_files.size() > t.crl_files.size()) {
    result.status = FailedPrecondition(plane, " plane: nothing imported: ", req.crl_files.size(),
                                       " CRL files given but ", config.source_path, " names ",
                                       t.crl_files.size(), " in ", crl_key,
                                       "; list one file name per CRL there first");
    return result;
  }
  PlaneMaterial target = MaterialFromConfig(config, req.plane);
  std::vector<Planned> plan;
  auto add = [&](const std::string& role, const std::string& src, const std::string& dst,
                 mode_t mode) {
    plan.push_back({{role, src, dst, mode}, "", "", false});
  };
  for (size_t i = 0; i < req.ca_files.size(); ++i) {
    add("ca", req.ca_files[i], target.ca_files[i], kPublicFileMode);
  }
  add("cert", req.cert_file, target.cert_file, kPublicFileMode);
  add("key", req.key_file, target.key_file, kSecretFileMode);
  if (!req.key_password_file.empty()) {
    std::string dst = target.key_password_file;
    if (dst.empty()) {
      const char* default_file = spec.defaults.import_password_file;
      dst = config.Resolve(default_file);
      result.notes.push_back(absl::StrCat("config.json names no password file for the ", plane,
                                          " plane: add \"", spec.keys.key_password, "\": \"",
                                          default_file, "\" to ", config::SectionOf(spec),
                                          " so the daemon can decrypt the key"));
    }
    add("password", req.key_password_file, dst, kSecretFileMode);
  }
  for (size_t i = 0; i < req.crl_files.size(); ++i) {
    add("crl", req.crl_files[i], target.crl_files[i], kPublicFileMode);
  }
  for (size_t i = req.ca_files.size(); i < target.ca_files.size(); ++i) {
    result.notes.push_back(absl::StrCat(ca_key, " also names ", target.ca_files[i],
                                        ", which this import leaves as it is"));
  }
  for (size_t i = req.crl_files.size(); i < target.crl_files.size(); ++i) {
    struct stat st {};
    const bool exists = stat(target.crl_files[i].c_str(), &st) == 0;
    result.notes.push_back(absl::StrCat(
        crl_key, " names ", target.crl_files[i],
        exists ? ", which this import leaves as it is"
               : ", which does not exist: import a CRL or remove the name, or the daemon refuses "
                 "to start"));
  }

  // Stage every file next to its target.
  Transaction tx;
  PlaneMaterial staged;
  staged.plane = req.plane;
  staged.node_address = req.node_address;
  for (Planned& p : plan) {
    Status st = tx.EnsureDir(fs::path(p.file.target).parent_path());
    StatusOr<std::string> content =
        st.ok() ? ReadWholeFile(p.file.source) : StatusOr<std::string>(st);
    StatusOr<std::string> path =
        content.ok() ? tx.Stage(p.file.target, *content, p.file.mode) : content.status();
    if (content.ok()) OPENSSL_cleanse(content->data(), content->size());
    if (!path.ok()) {
      result.status =
          FailedPrecondition(plane, " plane: nothing imported: ", path.status().message());
      return result;
    }
    p.staged = *path;
    if (p.file.role == "ca") staged.ca_files.push_back(p.staged);
    if (p.file.role == "cert") staged.cert_file = p.staged;
    if (p.file.role == "key") staged.key_file = p.staged;
    if (p.file.role == "password") staged.key_password_file = p.staged;
    if (p.file.role == "crl") staged.crl_files.push_back(p.staged);
  }

  // The copies are what the daemon will read: check them again, under MindIE's file rules.
  CheckOptions staged_options = options;
  staged_options.apply_file_rules = true;
  PlaneReport again = RunPlaneChecks(staged, staged_options);
  RenameFiles(again, plan);
  if (const Finding* e = again.FirstError()) {
    result.status = FailedPrecondition(plane, " plane: nothing imported: staged copy: ", e->Line());
    return result;
  }

  if (Status st = tx.Install(plan); !st.ok()) {
    result.status = FailedPrecondition(plane, " plane: nothing imported: ", st.message());
    return result;
  }
  tx.Commit();
  for (const Planned& p : plan) result.files.push_back(p.file);
  result.status = OkStatus();
  return result;
}

}  // namespace mies::certs
