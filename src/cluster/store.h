// The rendezvous key-value store Gloo needs to connect a context (each rank publishes its
// address, then reads everyone else's). The master keeps it in memory and serves it over the
// control plane; slaves reach it through gRPC (control.h). Keys of one cluster epoch share the
// prefix "e<epoch>/", so a context rebuilt after a fault never reads a stale address.
#pragma once

#include <gloo/rendezvous/store.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"

namespace mies::cluster {

class KvStore {
 public:
  virtual ~KvStore() = default;
  virtual Status Set(const std::string& key, const std::string& value) = 0;
  // Blocks until the key exists or `timeout` passes (DeadlineExceeded).
  virtual StatusOr<std::string> Get(const std::string& key, std::chrono::milliseconds timeout) = 0;
};

class MemoryStore final : public KvStore {
 public:
  Status Set(const std::string& key, const std::string& value) override;
  StatusOr<std::string> Get(const std::string& key, std::chrono::milliseconds timeout) override;
  // Drops every key that does not start with `keep_prefix` (old epochs).
  void EraseAllBut(const std::string& keep_prefix);
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::string> data_;
};

// gloo::rendezvous::Store over a KvStore, with a key prefix. Gloo expects exceptions:
// failures and timeouts throw gloo::IoException.
class GlooStore final : public gloo::rendezvous::Store {
 public:
  // `cancelled` (optional) is polled while waiting: a rank gives up an epoch the master has
  // already abandoned instead of blocking for the whole timeout.
  GlooStore(KvStore* store, std::string prefix, std::chrono::milliseconds timeout,
            std::function<bool()> cancelled = {})
      : store_(store),
        prefix_(std::move(prefix)),
        timeout_(timeout),
        cancelled_(std::move(cancelled)) {}
  void set(const std::string& key, const std::vector<char>& data) override;
  std::vector<char> get(const std::string& key) override;
  void wait(const std::vector<std::string>& keys) override;
  void wait(const std::vector<std::string>& keys,
            const std::chrono::milliseconds& timeout) override;

 private:
  KvStore* store_;
  std::string prefix_;
  std::chrono::milliseconds timeout_;
  std::function<bool()> cancelled_;
  std::string WaitFor(const std::string& key, std::chrono::milliseconds timeout);
};

}  // namespace mies::cluster
