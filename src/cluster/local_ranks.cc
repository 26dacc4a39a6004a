#include "cluster/local_ranks.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/logging.h"

namespace mies::cluster {

bool IsLocalAddress(const std::string& ip) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  std::string bare = ip;
  if (bare.size() > 2 && bare.front() == '[') bare = bare.substr(1, bare.size() - 2);
  if (inet_pton(AF_INET, bare.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, bare.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    len = sizeof(sockaddr_in6);
  } else {
    return false;
  }
  int fd = ::socket(ss.ss_family, SOCK_STREAM, 0);
  if (fd < 0) return false;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0;
  ::close(fd);
  return ok;
}

StatusOr<std::vector<std::unique_ptr<RankWorker>>> LoadLocalRanks(const NodeOptions& o,
                                                                  NodeState* state) {
  const config::RankServer& server = o.ranktable.servers[o.topology.local_server];
  std::vector<std::unique_ptr<RankWorker>> workers;
  MIES_LOG_INFO("CPU budget: {}; {} local rank(s) x {} compute threads{}", o.cpu.Describe(),
                server.devices.size(), o.threads_per_rank, o.pin_cpus.empty() ? "" : " pinned");
  for (size_t i = 0; i < server.devices.size(); ++i) {
    const config::RankDevice& d = server.devices[i];
    std::string bind = o.topology.local_address;
    if (!d.device_ip.empty() && IsLocalAddress(d.device_ip)) {
      bind = d.device_ip;
    } else if (!d.device_ip.empty()) {
      MIES_LOG_WARN(
          "rank {}: device_ip {} is not an address of this host; the data plane binds "
          "the node address {}",
          d.rank_id, d.device_ip, bind);
    }
    auto w = std::make_unique<RankWorker>(d.rank_id, o.ranktable.WorldSize(), bind, o.deterministic,
                                          o.timeouts, state);
    const std::vector<int> pin = i < o.pin_cpus.size() ? o.pin_cpus[i] : std::vector<int>{};
    model::ModelOptions mo;
    mo.dtype = o.dtype;
    mo.activations = o.activations;
    mo.num_threads = o.threads_per_rank;
    mo.pin_cpus = pin;
    mo.parallel.moe_ep = o.moe_ep;
    Status s = w->LoadModel(o.model_dir, mo);
    if (!s.ok()) {
      return FailedPrecondition("rank ", d.rank_id, ": loading its shard of ", o.model_dir,
                                " failed: ", s.message());
    }
    workers.push_back(std::move(w));
  }
  return workers;
}

}  // namespace mies::cluster
