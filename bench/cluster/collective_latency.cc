// Latency of one small collective between processes over loopback TCP: what a decode step pays
// 45 times (two allreduces per layer plus the logits gather). Run one process per rank (see
// collective_latency.sh, which pins each to its own core):
//
//   mies-bench-collective --rank R --world 2 --address 127.0.1.(R+1) --store DIR --mode M
//
// Modes:
//   mies   GlooCollective as the cluster uses it (AllReduceSum, and AllGather with --gather)
//   async  Gloo's ring allreduce on a context left in async mode (the device thread does the
//          socket I/O and wakes the caller), as GlooCollective uses it
//   sync   the same on sync pairs (the caller reads its socket itself, blocking)
//   busy   the same on sync pairs with busy polling (the caller spins on its socket)
//   raw    a plain TCP ping-pong of the same payload (TCP_NODELAY), rank 0 <-> rank 1: the floor
// Prints microseconds per collective (median and mean over --iters after --warmup).
#include <arpa/inet.h>
#include <gloo/allreduce_ring.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/file_store.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cluster/gloo_collective.h"
#include "cluster/store.h"

namespace {

// The rendezvous store between the two processes: one file per key in a shared directory
// (written under a temporary name, then renamed, so a reader never sees half a value).
class DirStore final : public mies::cluster::KvStore {
 public:
  explicit DirStore(std::filesystem::path dir) : dir_(std::move(dir)) {}
  mies::Status Set(const std::string& key, const std::string& value) override {
    const auto path = File(key);
    const auto tmp = path.string() + ".tmp";
    {
      std::ofstream f(tmp, std::ios::binary);
      f << value;
      if (!f) return absl::InternalError("cannot write " + tmp);
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) return absl::InternalError("cannot rename " + tmp + ": " + ec.message());
    return mies::OkStatus();
  }
  mies::StatusOr<std::string> Get(const std::string& key,
                                  std::chrono::milliseconds timeout) override {
    const auto until = std::chrono::steady_clock::now() + timeout;
    const auto path = File(key);
    while (!std::filesystem::exists(path)) {
      if (std::chrono::steady_clock::now() > until) {
        return absl::DeadlineExceededError("rendezvous key " + key + " not set");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

 private:
  std::filesystem::path File(const std::string& key) const {
    std::string name = key;
    std::replace(name.begin(), name.end(), '/', '_');
    return dir_ / name;
  }
  std::filesystem::path dir_;
};

using Clock = std::chrono::steady_clock;

void Report(const char* mode, size_t count, std::vector<double>& us) {
  std::sort(us.begin(), us.end());
  double sum = 0;
  for (double u : us) sum += u;
  std::printf("%-5s count=%zu iters=%zu  median %.1f us  mean %.1f us  p90 %.1f us\n", mode, count,
              us.size(), us[us.size() / 2], sum / us.size(), us[us.size() * 9 / 10]);
}

bool WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t rv = ::send(fd, p, n, 0);
    if (rv <= 0) return false;
    p += rv;
    n -= static_cast<size_t>(rv);
  }
  return true;
}

bool ReadAll(int fd, char* p, size_t n) {
  while (n > 0) {
    ssize_t rv = ::recv(fd, p, n, 0);
    if (rv <= 0) return false;
    p += rv;
    n -= static_cast<size_t>(rv);
  }
  return true;
}

// Ping-pong: rank 1 listens on its address, rank 0 connects; each round trip is one exchange of
// `bytes` each way, which is what a 2-rank allreduce moves.
int RawPingPong(int rank, const std::string& peer_or_self, int port, size_t bytes, int warmup,
                int iters) {
  int fd = -1;
  if (rank == 1) {
    int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
    int on = 1;
    ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, peer_or_self.c_str(), &a.sin_addr);
    if (::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(lfd, 1) != 0) {
      std::perror("bind/listen");
      return 1;
    }
    fd = ::accept(lfd, nullptr, nullptr);
    ::close(lfd);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, peer_or_self.c_str(), &a.sin_addr);
    for (int i = 0; i < 200; ++i) {
      fd = ::socket(AF_INET, SOCK_STREAM, 0);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) break;
      ::close(fd);
      fd = -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  if (fd < 0) {
    std::perror("connect/accept");
    return 1;
  }
  int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  std::vector<char> buf(bytes);
  std::vector<double> us;
  for (int i = 0; i < warmup + iters; ++i) {
    auto t0 = Clock::now();
    bool ok = rank == 0 ? WriteAll(fd, buf.data(), bytes) && ReadAll(fd, buf.data(), bytes)
                        : ReadAll(fd, buf.data(), bytes) && WriteAll(fd, buf.data(), bytes);
    if (!ok) {
      std::fprintf(stderr, "raw ping-pong: connection lost\n");
      return 1;
    }
    if (i >= warmup) {
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
  }
  ::close(fd);
  if (rank == 0) Report("raw", bytes / sizeof(float), us);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"latency of one small collective between two processes over loopback TCP"};
  int rank = 0, world = 2, iters = 1000, warmup = 50, port = 29750;
  size_t count = 2048;
  std::string address, peer, store_dir, mode = "mies";
  bool gather = false;
  app.add_option("--rank", rank)->required();
  app.add_option("--world", world);
  app.add_option("--address", address, "this rank's data-plane address")->required();
  app.add_option("--peer", peer, "raw mode: rank 1's address (rank 0 connects to it)");
  app.add_option("--port", port, "raw mode: rank 1's listening port");
  app.add_option("--store", store_dir, "directory for Gloo's file store (rendezvous)");
  app.add_option("--mode", mode)->check(CLI::IsMember({"mies", "async", "sync", "busy", "raw"}));
  app.add_option("--count", count, "floats per collective");
  app.add_option("--iters", iters);
  app.add_option("--warmup", warmup);
  app.add_flag("--gather", gather, "mies mode: time AllGather (count per rank) instead");
  CLI11_PARSE(app, argc, argv);

  if (mode == "raw") {
    if (world != 2) {
      std::fprintf(stderr, "--mode raw needs --world 2\n");
      return 2;
    }
    return RawPingPong(rank, rank == 0 ? peer : address, port, count * sizeof(float), warmup,
                       iters);
  }
  if (store_dir.empty()) {
    std::fprintf(stderr, "--store is required for mode %s\n", mode.c_str());
    return 2;
  }

  auto dev = mies::cluster::CreateTcpDevice(address);
  if (!dev.ok()) {
    std::fprintf(stderr, "%s\n", std::string(dev.status().message()).c_str());
    return 1;
  }
  std::vector<float> data(count), out(count * static_cast<size_t>(world));
  std::vector<double> us;
  try {
    if (mode == "mies") {
      // The cluster's own path: the same connect as worker.cc.
      DirStore store(store_dir);
      auto context = mies::cluster::ConnectDataPlane(
          rank, world, *dev, &store, "e1/", std::chrono::seconds(30), std::chrono::seconds(30));
      if (!context.ok()) {
        std::fprintf(stderr, "%s\n", std::string(context.status().message()).c_str());
        return 1;
      }
      mies::cluster::GlooCollective coll(rank, world, /*deterministic=*/false,
                                         std::chrono::seconds(30));
      coll.Attach(*std::move(context));
      for (int i = 0; i < warmup + iters; ++i) {
        for (size_t j = 0; j < count; ++j) data[j] = static_cast<float>(rank + j);
        auto t0 = Clock::now();
        mies::Status s = gather ? coll.AllGather(data, out) : coll.AllReduceSum(data);
        if (!s.ok()) {
          std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
          return 1;
        }
        if (i >= warmup) {
          us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
        }
      }
    } else {
      gloo::rendezvous::FileStore file_store(store_dir);
      auto context = std::make_shared<gloo::rendezvous::Context>(rank, world);
      context->setTimeout(std::chrono::seconds(30));
      std::shared_ptr<gloo::transport::Device> d = *dev;
      context->connectFullMesh(file_store, d);
      if (mode != "async") {
        for (int r = 0; r < world; ++r) {
          if (r != rank) context->getPair(r)->setSync(true, mode == "busy");
        }
      }
      gloo::AllreduceRing<float> algo(context, {data.data()}, static_cast<int>(count));
      for (int i = 0; i < warmup + iters; ++i) {
        auto t0 = Clock::now();
        algo.run();
        if (i >= warmup) {
          us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
        }
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank %d: %s\n", rank, e.what());
    return 1;
  }
  if (rank == 0) Report(gather ? "gathr" : mode.c_str(), count, us);
  return 0;
}
