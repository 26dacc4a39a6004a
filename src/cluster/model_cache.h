// A slave's copy of the master's model (ModelConfig weightSource "master"): fetched over the
// control plane before the slave joins, kept under the cache root and loaded from there.
//
//   <root>/                  0700, owned by the running user, not a link (created if absent)
//     <key>.lock             flock'd while a node syncs: nodes sharing a host take turns
//     <key>/                 0700; <key> = the manifest key (model_source.h): the model's identity
//       config.json ...      exactly the manifest's files, 0600 each
//       <name>.partial       a file being fetched, renamed to <name> only once its size and
//                            SHA-256 match the manifest; anything else found here (a partial
//                            left by a killed node) is removed
//
// Every start asks the master for its manifest, re-hashes every cached file (about 1 s per GB)
// and fetches only the files that are missing or differ: a corrupt, truncated or foreign file
// is replaced, never loaded. A transfer that breaks (the master gone) is retried from the start
// of that file until the budget (timeouts.join_total) runs out; then the slave stops with an
// error naming the master, the file and the last failure. A refusal (the master does not serve
// weights, the node is not in the ranktable) ends the start at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "cluster/model_source.h"
#include "cluster/node_options.h"
#include "common/status.h"

namespace mies::cluster {

// Where the model's files come from: the master over gRPC, or a test's fake. Errors: Unavailable
// (worth retrying), FailedPrecondition (the master's model changed: fetch the manifest again),
// PermissionDenied (refused: give up).
class ModelFeed {
 public:
  virtual ~ModelFeed() = default;
  virtual StatusOr<ModelManifest> Manifest() = 0;
  // Streams one file of the manifest with key `key` to `sink`, chunk by chunk in order.
  virtual Status Fetch(const std::string& key, const std::string& name,
                       const std::function<Status(std::string_view)>& sink) = 0;
  // What the feed is, for messages ("the master 10.0.0.1:1120").
  virtual std::string Describe() const = 0;
};

struct CacheSync {
  std::string model_dir;  // <root>/<key>: load the model from here
  int files = 0;          // in the manifest
  int fetched = 0;        // fetched by this sync (0: everything came from the cache)
  uint64_t bytes = 0;     // the model's size
  uint64_t bytes_fetched = 0;
  double verify_seconds = 0;  // hashing the cached files
  double fetch_seconds = 0;   // fetching (and hashing) the others
};

// Makes <root>/<key> hold the feed's model, verified (see above).
StatusOr<CacheSync> SyncModelCache(const std::string& root, ModelFeed& feed,
                                   std::chrono::milliseconds budget,
                                   const std::atomic<bool>* stop = nullptr);

// SyncModelCache from the master of `options` (control plane address and TLS, this node's
// address) into options.weight_cache_dir, with timeouts.join_total as the budget. Logs one line
// saying what was fetched and how fast, or that the cache had everything.
StatusOr<CacheSync> FetchModelFromMaster(const NodeOptions& options,
                                         const std::atomic<bool>* stop = nullptr);

}  // namespace mies::cluster
