#include "cluster/store.h"

#include <gloo/common/error.h>

namespace mies::cluster {

Status MemoryStore::Set(const std::string& key, const std::string& value) {
  {
    std::lock_guard lock(mu_);
    data_[key] = value;
  }
  cv_.notify_all();
  return OkStatus();
}

StatusOr<std::string> MemoryStore::Get(const std::string& key, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto it = data_.find(key);
    if (it != data_.end()) return it->second;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && !data_.contains(key)) {
      return absl::DeadlineExceededError(
          absl::StrCat("rendezvous key '", key, "' not set within ", timeout.count(), " ms"));
    }
  }
}

void MemoryStore::EraseAllBut(const std::string& keep_prefix) {
  std::lock_guard lock(mu_);
  std::erase_if(data_, [&](const auto& kv) { return !kv.first.starts_with(keep_prefix); });
}

size_t MemoryStore::size() const {
  std::lock_guard lock(mu_);
  return data_.size();
}

void GlooStore::set(const std::string& key, const std::vector<char>& data) {
  Status s = store_->Set(prefix_ + key, std::string(data.begin(), data.end()));
  if (!s.ok()) GLOO_THROW_IO_EXCEPTION("rendezvous set: ", s.ToString());
}

std::string GlooStore::WaitFor(const std::string& key, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    const auto slice = cancelled_ ? std::min(left, std::chrono::milliseconds(200)) : left;
    StatusOr<std::string> v =
        store_->Get(prefix_ + key, std::max(slice, std::chrono::milliseconds(1)));
    if (v.ok()) return *v;
    if (!absl::IsDeadlineExceeded(v.status()) || left <= slice) {
      GLOO_THROW_IO_EXCEPTION("rendezvous get: ", v.status().ToString());
    }
    if (cancelled_ && cancelled_()) {
      GLOO_THROW_IO_EXCEPTION("rendezvous of ", prefix_, " abandoned: the cluster moved on");
    }
  }
}

std::vector<char> GlooStore::get(const std::string& key) {
  std::string v = WaitFor(key, timeout_);
  return std::vector<char>(v.begin(), v.end());
}

void GlooStore::wait(const std::vector<std::string>& keys) { wait(keys, timeout_); }

// Gloo passes its context timeout, which is the collective timeout (see ConnectContext); the
// rendezvous is bounded by the store's own (connect) timeout instead.
void GlooStore::wait(const std::vector<std::string>& keys, const std::chrono::milliseconds&) {
  for (const std::string& key : keys) WaitFor(key, timeout_);
}

}  // namespace mies::cluster
