#include "cluster/model_cache.h"

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <thread>

#include "cluster.grpc.pb.h"
#include "cluster/control_plane.h"
#include "cluster/digest.h"
#include "common/file_check.h"
#include "common/logging.h"

namespace mies::cluster {
namespace {

namespace fs = std::filesystem;
namespace pb = ::mies::cluster::v1;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr mode_t kCacheDirMode = 0700;
constexpr mode_t kCacheFileMode = 0600;

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// A cache directory: created 0700 when absent; else a real directory (not a link) of ours, no
// wider than 0700 (owner and mode unless MINDIE_CHECK_INPUTFILES_PERMISSION=0).
Status PrepareDir(const std::string& dir, const std::string& what) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return Internal(what, " ", dir, ": cannot stat: ", std::strerror(errno));
    std::error_code ec;
    const fs::path parent = fs::path(dir).parent_path();
    if (!parent.empty()) fs::create_directories(parent, ec);
    if (::mkdir(dir.c_str(), kCacheDirMode) != 0 && errno != EEXIST) {
      return Internal(what, " ", dir, ": cannot create: ", std::strerror(errno));
    }
    ::chmod(dir.c_str(), kCacheDirMode);  // whatever the umask took away, nothing more
    if (::lstat(dir.c_str(), &st) != 0) {
      return Internal(what, " ", dir, ": cannot stat: ", std::strerror(errno));
    }
  }
  if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode)) {
    return FailedPrecondition(what, " ", dir,
                              " must be a directory, not a symbolic link or a file (rule: a real "
                              "directory owned by the running user, mode 0700)");
  }
  if (PermissionChecksEnabled()) {
    if (st.st_uid != ::geteuid()) {
      return FailedPrecondition(what, " ", dir, ": owner uid ", st.st_uid,
                                " differs from the running user uid ", ::geteuid(),
                                " (rule: owned by the running user)");
    }
    if ((st.st_mode & 07777 & ~kCacheDirMode) != 0) {
      return FailedPrecondition(what, " ", dir, ": mode ", ModeString(st.st_mode),
                                " is wider than ", ModeString(kCacheDirMode),
                                " (rule: the weight cache is private to its user)");
    }
  }
  return OkStatus();
}

// Why the cached copy of `f` in `dir` cannot be used ("" when its size and SHA-256 match).
std::string CachedFileProblem(const std::string& dir, const ModelManifest::File& f) {
  const std::string path = (fs::path(dir) / f.name).string();
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return "not cached";
  if (!S_ISREG(st.st_mode)) return "not a regular file (a link or a directory)";
  if (PermissionChecksEnabled()) {
    if (st.st_uid != ::geteuid()) return absl::StrCat("owned by uid ", st.st_uid);
    if ((st.st_mode & 07777 & ~kCacheFileMode) != 0) {
      return absl::StrCat("mode ", ModeString(st.st_mode), " wider than 0600");
    }
  }
  if (static_cast<uint64_t>(st.st_size) != f.size) {
    return absl::StrCat("size ", st.st_size, " bytes, the master's is ", f.size);
  }
  auto d = DigestFile(dir, f.name);
  if (!d.ok()) return std::string(d.status().message());
  if (d->sha256 != f.sha256) return "content differs from the master's (SHA-256 mismatch)";
  return "";
}

// Fetches `f` into <dir>/<name>.partial, checks its size and SHA-256 and renames it.
Status FetchFile(const std::string& dir, const std::string& key, const ModelManifest::File& f,
                 ModelFeed& feed) {
  const std::string final_path = (fs::path(dir) / f.name).string();
  const std::string partial = final_path + ".partial";
  ::unlink(partial.c_str());
  Fd out{::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                kCacheFileMode)};
  if (out.fd < 0) return Internal("cannot create ", partial, ": ", std::strerror(errno));
  Sha256 h;
  uint64_t got = 0;
  Status s = feed.Fetch(key, f.name, [&](std::string_view bytes) -> Status {
    got += bytes.size();
    if (got > f.size) {
      return absl::DataLossError(
          absl::StrCat(f.name, ": more than the manifest's ", f.size, " bytes arrived"));
    }
    h.Update(bytes);
    for (size_t done = 0; done < bytes.size();) {
      const ssize_t n = ::write(out.fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Internal("cannot write ", partial, ": ", std::strerror(errno));
      done += static_cast<size_t>(n);
    }
    return OkStatus();
  });
  if (s.ok() && got != f.size) {
    s = absl::DataLossError(
        absl::StrCat(f.name, ": the transfer ended after ", got, " of ", f.size, " bytes"));
  }
  if (s.ok()) {
    const std::string digest = h.Final();
    if (digest != f.sha256) {
      s = absl::DataLossError(absl::StrCat(f.name, ": SHA-256 ", digest.substr(0, 16),
                                           "... of the received bytes differs from the master's ",
                                           f.sha256.substr(0, 16), "..."));
    }
  }
  if (s.ok() && ::fsync(out.fd) != 0) {
    s = Internal("cannot sync ", partial, ": ", std::strerror(errno));
  }
  if (!s.ok()) {
    ::unlink(partial.c_str());
    return s;
  }
  if (::rename(partial.c_str(), final_path.c_str()) != 0) {
    const int e = errno;
    ::unlink(partial.c_str());
    return Internal("cannot rename ", partial, ": ", std::strerror(e));
  }
  return OkStatus();
}

// Removes what is in `dir` but not in the manifest (partials of a killed node, stale files).
void RemoveStrays(const std::string& dir, const ModelManifest& m) {
  std::set<std::string> keep;
  for (const auto& f : m.files) keep.insert(f.name);
  std::error_code ec;
  std::vector<fs::path> strays;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (!keep.contains(e.path().filename().string())) strays.push_back(e.path());
  }
  for (const fs::path& p : strays) {
    MIES_LOG_INFO("weight cache: removing {} (not a file of the master's model)", p.string());
    fs::remove_all(p, ec);
  }
}

bool Retryable(const Status& s) {
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s) || absl::IsFailedPrecondition(s) ||
         absl::IsDataLoss(s) || absl::IsCancelled(s) || absl::IsAborted(s);
}

// The master over gRPC; a new channel after every failure (NewControlChannel).
class GrpcModelFeed final : public ModelFeed {
 public:
  GrpcModelFeed(std::string target, const TlsContext* tls, std::string node)
      : target_(std::move(target)), tls_(tls), node_(std::move(node)) {
    Renew();
  }

  StatusOr<ModelManifest> Manifest() override {
    grpc::ClientContext ctx;
    // The first request makes the master hash its model (about 1 s per GB).
    ctx.set_deadline(DeadlineIn(milliseconds(600000)));
    pb::ModelManifestRequest req;
    req.set_node_address(node_);
    pb::ModelManifestReply rep;
    grpc::Status s = stub_->ModelManifest(&ctx, req, &rep);
    if (!s.ok()) {
      Renew();
      return Unavailable("the master ", target_, " did not answer: ", s.error_message());
    }
    if (!rep.served()) {
      return absl::PermissionDeniedError(
          absl::StrCat("the master ", target_, " does not send its model: ", rep.message()));
    }
    ModelManifest m;
    m.key = rep.model_key();
    for (const auto& f : rep.files()) m.files.push_back({f.name(), f.size(), f.sha256()});
    // Names come from the peer: plain file names of a model, nothing that walks directories.
    for (const auto& f : m.files) {
      if (!IsModelFile(f.name) || f.name.find('/') != std::string::npos || f.name[0] == '.') {
        return absl::PermissionDeniedError(
            absl::StrCat("the master ", target_, " listed \"", f.name, "\", not a model file"));
      }
    }
    if (m.key != ManifestKey(m.files)) {
      return absl::DataLossError(
          absl::StrCat("the manifest from ", target_, " does not match its key"));
    }
    return m;
  }

  Status Fetch(const std::string& key, const std::string& name,
               const std::function<Status(std::string_view)>& sink) override {
    grpc::ClientContext ctx;
    // Generous: a break is seen at once on the connection; this bounds a master that hangs.
    ctx.set_deadline(DeadlineIn(milliseconds(600000)));
    pb::FetchFileRequest req;
    req.set_node_address(node_);
    req.set_model_key(key);
    req.set_name(name);
    auto reader = stub_->FetchFile(&ctx, req);
    pb::FileChunk chunk;
    Status sunk = OkStatus();
    while (reader->Read(&chunk)) {
      sunk = sink(chunk.data());
      if (!sunk.ok()) {
        ctx.TryCancel();
        break;
      }
    }
    grpc::Status s = reader->Finish();
    if (!sunk.ok()) return sunk;
    if (s.ok()) return OkStatus();
    Renew();
    const std::string why = absl::StrCat("fetching ", name, " from the master ", target_,
                                         " failed: ", s.error_message());
    switch (s.error_code()) {
      case grpc::StatusCode::PERMISSION_DENIED:
        return absl::PermissionDeniedError(why);
      case grpc::StatusCode::FAILED_PRECONDITION:
        return absl::FailedPreconditionError(why);
      default:
        return absl::UnavailableError(why);
    }
  }

  std::string Describe() const override { return "the master " + target_; }

 private:
  void Renew() { stub_ = pb::Control::NewStub(NewControlChannel(target_, *tls_)); }

  const std::string target_;
  const TlsContext* tls_;
  const std::string node_;
  std::unique_ptr<pb::Control::Stub> stub_;
};

// One pass: the manifest, then every file checked or fetched. `verified` (files already
// checked) and the counts in `out` carry over to the next pass after a failure.
Status SyncOnce(const std::string& root, ModelFeed& feed, std::set<std::string>* verified,
                CacheSync* out) {
  MIES_ASSIGN_OR_RETURN(ModelManifest m, feed.Manifest());
  out->model_dir = (fs::path(root) / m.key).string();
  out->files = static_cast<int>(m.files.size());
  out->bytes = m.total_bytes();
  MIES_RETURN_IF_ERROR(PrepareDir(out->model_dir, "the weight cache directory"));
  const std::string lock_path = (fs::path(root) / (m.key + ".lock")).string();
  Fd lock{::open(lock_path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, kCacheFileMode)};
  if (lock.fd < 0) return Internal("cannot open ", lock_path, ": ", std::strerror(errno));
  while (::flock(lock.fd, LOCK_EX) != 0 && errno == EINTR) {
  }
  RemoveStrays(out->model_dir, m);
  for (const auto& f : m.files) {
    const std::string id = f.name + " " + f.sha256;
    if (verified->contains(id)) continue;
    auto t0 = Clock::now();
    const std::string problem = CachedFileProblem(out->model_dir, f);
    out->verify_seconds += SecondsSince(t0);
    if (problem.empty()) {
      verified->insert(id);
      continue;
    }
    if (problem != "not cached") {
      MIES_LOG_WARN("weight cache: {}/{}: {}; fetching it again", out->model_dir, f.name, problem);
    }
    std::error_code ec;
    fs::remove_all(fs::path(out->model_dir) / f.name, ec);
    t0 = Clock::now();
    Status fetched = FetchFile(out->model_dir, m.key, f, feed);
    out->fetch_seconds += SecondsSince(t0);
    MIES_RETURN_IF_ERROR(fetched);
    ++out->fetched;
    out->bytes_fetched += f.size;
    verified->insert(id);
  }
  const int dfd = ::open(out->model_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);  // the renames
    ::close(dfd);
  }
  return OkStatus();
}

}  // namespace

StatusOr<CacheSync> SyncModelCache(const std::string& root, ModelFeed& feed, milliseconds budget,
                                   const std::atomic<bool>* stop) {
  if (root.empty()) return InvalidArgument("the weight cache directory (weightCachePath) is empty");
  MIES_RETURN_IF_ERROR(PrepareDir(root, "weightCachePath"));
  const auto start = Clock::now();
  const auto until = start + budget;
  std::set<std::string> verified;
  CacheSync out;
  milliseconds backoff(200);
  auto last_log = start - std::chrono::hours(1);
  std::string last_error;
  while (true) {
    Status s = SyncOnce(root, feed, &verified, &out);
    if (s.ok()) return out;
    if (!Retryable(s)) return s;
    if ((stop != nullptr && *stop) || Clock::now() + backoff >= until) {
      return absl::UnavailableError(absl::StrCat(
          "could not fetch the model from ", feed.Describe(), " within ",
          std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start).count(),
          " s (a partial file is never loaded; the next start keeps the verified files): ",
          s.message()));
    }
    // Each new failure is logged; the same one again at most every 10 s.
    if (s.message() != last_error || Clock::now() - last_log > std::chrono::seconds(10)) {
      MIES_LOG_WARN("weight cache: {}; retrying", std::string(s.message()));
      last_log = Clock::now();
      last_error = std::string(s.message());
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, milliseconds(1000));
  }
}

StatusOr<CacheSync> FetchModelFromMaster(const NodeOptions& o, const std::atomic<bool>* stop) {
  MIES_ASSIGN_OR_RETURN(std::unique_ptr<TlsContext> tls, TlsContext::Prepare(o.tls));
  const std::string master = HostPort(o.topology.master_address, o.control_port);
  GrpcModelFeed feed(master, tls.get(), o.topology.local_address);
  MIES_ASSIGN_OR_RETURN(CacheSync sync,
                        SyncModelCache(o.weight_cache_dir, feed, o.timeouts.join_total, stop));
  if (sync.fetched == 0) {
    MIES_LOG_INFO(
        "weight cache: all {} files of the model ({} bytes) verified in {} in {:.2f} s; nothing "
        "fetched",
        sync.files, sync.bytes, sync.model_dir, sync.verify_seconds);
  } else {
    MIES_LOG_INFO(
        "weight cache: fetched {} of {} files ({} bytes) from {} in {:.2f} s ({:.1f} MB/s, {}), "
        "{:.2f} s verifying the rest; model in {}",
        sync.fetched, sync.files, sync.bytes_fetched, master, sync.fetch_seconds,
        sync.fetch_seconds > 0 ? sync.bytes_fetched / sync.fetch_seconds / 1e6 : 0.0,
        tls->enabled() ? "mutual TLS" : "plaintext", sync.verify_seconds, sync.model_dir);
  }
  return sync;
}

}  // namespace mies::cluster
