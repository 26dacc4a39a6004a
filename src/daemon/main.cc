// mindieservice_daemon: MindIE Server's entry point, as mies implements it.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <iostream>
#include <string>
#include <thread>

#include "common/logging.h"
#include "daemon/multi_node.h"
#include "daemon/serving.h"
#include "daemon/startup.h"
#include "executor/local_executor.h"

namespace {

constexpr const char* kVersion = "mies " MIES_VERSION;

// Prints each line of a multi-line error as its own line on stderr.
void PrintError(const mies::Status& status) {
  std::string msg(status.message());
  size_t start = 0;
  while (start <= msg.size()) {
    size_t end = msg.find('\n', start);
    if (end == std::string::npos) end = msg.size();
    if (end > start)
      std::cerr << "mindieservice_daemon: " << msg.substr(start, end - start) << "\n";
    start = end + 1;
  }
}

// How long a master waits for every rank to join (slaves retry for ~120 s, as in MindIE).
constexpr std::chrono::milliseconds kClusterFormTimeout{180000};

// A slave opens no plane: it joins the master and runs its ranks until the master shuts the
// cluster down (exit 0), SIGTERM/SIGINT (exit 0), or a fatal cluster error (exit 1).
int RunSlave(const mies::daemon::StartupState& state, const mies::config::Environment& env,
             sigset_t stop_signals, const std::function<void()>& announce_ready) {
  MIES_LOG_INFO(
      "Multi Nodes infer slave instance need not init TokenizerProcessPool and HttpWrapper");
  auto slave = mies::daemon::CreateClusterSlave(state, env);
  if (!slave.ok()) {
    PrintError(slave.status());
    spdlog::shutdown();
    return 1;
  }
  mies::Status result;
  std::thread runner([&] {
    result = (*slave)->Run(announce_ready);
    kill(getpid(), SIGUSR1);  // wakes the sigwait below
  });
  sigaddset(&stop_signals, SIGUSR1);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  if (sig != SIGUSR1) {
    MIES_LOG_INFO("received {}, leaving the cluster", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    (*slave)->Stop();
  }
  runner.join();
  if (!result.ok()) {
    PrintError(result);
    MIES_LOG_ERROR("slave stopped: {}", std::string(result.message()));
  } else {
    MIES_LOG_INFO("slave stopped: the master shut the cluster down");
  }
  spdlog::shutdown();
  return result.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  // A peer that dies mid-write (a killed node) must give an error on the socket, not end this
  // process with SIGPIPE.
  signal(SIGPIPE, SIG_IGN);
  CLI::App app{"mies mindieservice_daemon: a MindIE-compatible LLM inference server for CPUs",
               "mindieservice_daemon"};
  std::string config_file;
  std::string expert_parallel;
  app.add_option(
      "--config-file", config_file,
      "config.json to use (default: $MIES_CONFIG_JSON_PATH, else <home>/conf/config.json)");
  app.add_option("--expert-parallel", expert_parallel,
                 "MoE models in a cluster: true splits the experts over the ranks (the default), "
                 "false slices every expert over all ranks; ModelConfig moe_ep/moe_tp win")
      ->check(CLI::IsMember({"true", "false"}));
  app.set_version_flag("--version", kVersion);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help / --version
    std::cerr
        << "mindieservice_daemon: " << e.what()
        << " (expected [--config-file <path>, --expert-parallel <bool>, --help, --version])\n";
    return 2;
  }

  // SIGTERM/SIGINT are taken synchronously by the main thread; every thread started later
  // inherits the blocked mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  mies::config::ProcessEnvironment env;
  mies::daemon::StartupOptions options;
  options.executable_path = "/proc/self/exe";
  options.config_file = config_file;
  if (!expert_parallel.empty()) options.expert_parallel = expert_parallel == "true";
  auto state = mies::daemon::LoadStartupState(options, env);
  if (!state.ok()) {
    PrintError(state.status());
    return 1;
  }
  if (auto st = mies::daemon::SetUpLogging(*state, env); !st.ok()) {
    PrintError(st);
    return 1;
  }
  const auto& config = state->config;
  MIES_LOG_INFO("mies {} starting; home {}, config {}", MIES_VERSION, config.home,
                config.source_path);
  for (const auto& key : config.unknown_keys) {
    MIES_LOG_WARN("config: unknown key {} is ignored", key);
  }
  if (state->topology) {
    const auto& t = *state->topology;
    MIES_LOG_INFO("multi-node: this node is {} ({}), world size {}, local ranks {}",
                  t.local_address, t.is_master ? "master" : "slave", t.world_size,
                  t.local_ranks.size());
    MIES_LOG_INFO(
        "Update worldSize and npuDeviceIds of backend config successfully for Multi Nodes "
        "Inference.");
  }

  // MindIE prints every effective parameter before the success line.
  auto announce_ready = [&config] {
    std::cout << config.ToJson().dump(2) << std::endl;
    std::cout << "Daemon start success!" << std::endl;
    MIES_LOG_INFO("Daemon start success!");
  };

  if (state->topology && !state->topology->is_master) {
    return RunSlave(*state, env, stop_signals, announce_ready);
  }

  // The service plane's API keys (only the master or a single node serves requests), before the
  // model loads: a bad key file fails the start at once.
  if (auto st = mies::daemon::LoadApiKeys(*state); !st.ok()) {
    PrintError(st);
    MIES_LOG_ERROR("{}", std::string(st.message()));
    spdlog::shutdown();
    return 1;
  }

  // The executor: a multi-node master's covers every rank of the ranktable (all of them join
  // before the planes open); a single node runs the model in this process.
  std::unique_ptr<mies::engine::Executor> executor;
  mies::daemon::ConsoleFacts console;
  if (state->topology) {
    MIES_LOG_INFO("Multi Nodes infer master: waiting for {} ranks", state->topology->world_size);
    auto started = mies::daemon::StartClusterMaster(*state, env, kClusterFormTimeout);
    if (!started.ok()) {
      PrintError(started.status());
      MIES_LOG_ERROR("Failed to form the cluster: {}", std::string(started.status().message()));
      spdlog::shutdown();
      return 1;
    }
    // The executor (and its master) outlive the HTTP planes that call this (serving.h).
    const mies::cluster::ClusterMaster* master = &(*started)->master();
    console.cluster_view = [master] { return mies::daemon::MasterSnapshot(*master); };
    console.moe_ep = master->options().moe_ep;
    executor = std::move(*started);
  } else {
    auto local = mies::executor::LocalExecutor::FromConfig(config);
    if (!local.ok()) {
      PrintError(local.status());
      MIES_LOG_ERROR("Failed to load the model: {}", std::string(local.status().message()));
      spdlog::shutdown();
      return 1;
    }
    executor = std::move(*local);
  }

  // The engine, tokenizer, chat template and HTTP planes; only the master (or a single node)
  // serves requests.
  auto started = mies::daemon::StartServing(*state, env, std::move(executor), std::move(console));
  if (!started.ok()) {
    PrintError(started.status());
    MIES_LOG_ERROR("Failed to init endpoint! {}", std::string(started.status().message()));
    spdlog::shutdown();
    return 1;
  }
  std::unique_ptr<mies::daemon::Serving> serving = std::move(*started);
  announce_ready();

  int sig = 0;
  sigwait(&stop_signals, &sig);
  MIES_LOG_INFO("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  // Closes the planes, cancels in-flight requests, stops the engine, then its executor (a
  // cluster's tells every slave to stop).
  serving.reset();
  spdlog::shutdown();
  return 0;
}
