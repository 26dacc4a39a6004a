// mies-cluster-node: one node of a multi-node cluster, driven by the cluster library.
//
//   slave:  mies-cluster-node --ranktable rt.json --address 127.0.1.2 --model DIR --port 23100
//   master: mies-cluster-node --ranktable rt.json --address 127.0.1.1 --model DIR --port 23100
//             --prompts "1,2,3;4,5" --new-tokens 8 --logits-out /tmp/x.bin
//   local reference (one process, no cluster): --local --model DIR --prompts ... --logits-out ...
//   weights from the master: --weights-from-master on every node; a slave then takes no --model
//     but --weight-cache DIR, and prints "weights: fetched N of M files ..." or "weights: all M
//     files from the cache ...".
//
// The master's workload is greedy generation of every prompt together (one prefill step, then
// one decode step per token), printing "tokens <i>: ..." per prompt and writing every step's
// logits (f32, [step][prompt][vocab]) to --logits-out. --serve-loop repeats it until SIGTERM,
// printing one line per run ("run N ok ..." / "run N error: ...") and the cluster health.
// --bench prints prefill and decode throughput and the time spent in collectives.
#include <absl/strings/numbers.h>
#include <absl/strings/str_join.h>
#include <absl/strings/str_split.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "cluster/fingerprint.h"
#include "cluster/master.h"
#include "cluster/model_cache.h"
#include "cluster/slave.h"
#include "common/logging.h"
#include "config/ranktable.h"
#include "engine/step_plan.h"
#include "executor/cluster_executor.h"
#include "executor/in_process_tp_executor.h"
#include "executor/local_executor.h"
#include "model/llama_model.h"
#include "runner/model_runner.h"

using namespace mies;
using Clock = std::chrono::steady_clock;

namespace {

std::atomic<bool> g_stop{false};

// The reference: the whole model in this process (tp_size 1).
StatusOr<std::unique_ptr<engine::Executor>> LocalReference(const std::string& dir,
                                                           const std::string& dtype, int threads,
                                                           std::vector<int> pin, int64_t blocks,
                                                           int64_t block_size) {
  static model::IdentityCollective identity;
  model::ModelOptions mo;
  mo.dtype = dtype;
  mo.num_threads = threads;
  mo.pin_cpus = std::move(pin);
  MIES_ASSIGN_OR_RETURN(auto model, model::LlamaModel::Load(dir, mo, &identity));
  MIES_ASSIGN_OR_RETURN(auto runner,
                        runner::ModelRunner::Create(std::move(model), blocks, block_size));
  return std::make_unique<executor::LocalExecutor>(std::move(runner));
}

StatusOr<std::vector<std::vector<int32_t>>> ParsePrompts(const std::string& text) {
  std::vector<std::vector<int32_t>> out;
  for (auto part : absl::StrSplit(text, ';')) {
    std::vector<int32_t> p;
    for (auto tok : absl::StrSplit(part, ',', absl::SkipEmpty())) {
      int v = 0;
      if (!absl::SimpleAtoi(tok, &v)) return InvalidArgument("--prompts: bad token id '", tok, "'");
      p.push_back(v);
    }
    if (p.empty()) return InvalidArgument("--prompts: empty prompt");
    out.push_back(std::move(p));
  }
  return out;
}

struct RunResult {
  std::vector<std::vector<int32_t>> tokens;  // generated, per prompt
  std::vector<float> logits;                 // [step][prompt][vocab]
};

// Greedy generation of all prompts together.
StatusOr<RunResult> Generate(engine::Executor& ex, const std::vector<std::vector<int32_t>>& prompts,
                             int new_tokens, uint64_t* step_id) {
  const int64_t bs = ex.block_size();
  int64_t max_len = 0;
  for (const auto& p : prompts) max_len = std::max<int64_t>(max_len, p.size() + new_tokens);
  const int64_t per_seq = (max_len + bs - 1) / bs;
  if (per_seq * static_cast<int64_t>(prompts.size()) > ex.num_kv_blocks()) {
    return InvalidArgument("workload needs ", per_seq * prompts.size(), " KV blocks, the pool has ",
                           ex.num_kv_blocks());
  }
  RunResult rr;
  rr.tokens.resize(prompts.size());
  std::vector<int64_t> pos(prompts.size(), 0);
  std::vector<int32_t> last(prompts.size());
  for (int step = 0; step < new_tokens; ++step) {
    engine::StepPlan plan;
    plan.step_id = ++*step_id;
    for (size_t i = 0; i < prompts.size(); ++i) {
      engine::StepSequence s;
      s.seq_id = i;
      if (step == 0) {
        s.tokens = prompts[i];
      } else {
        s.tokens = {last[i]};
      }
      s.start_pos = pos[i];
      const int64_t end = pos[i] + s.tokens.size();
      for (int64_t b = 0; b < (end + bs - 1) / bs; ++b) s.block_table.push_back(i * per_seq + b);
      plan.sequences.push_back(std::move(s));
    }
    MIES_ASSIGN_OR_RETURN(engine::StepResult r, ex.Execute(plan));
    for (size_t i = 0; i < prompts.size(); ++i) {
      const float* row = r.logits.data() + r.first_row[i] * r.vocab;
      rr.logits.insert(rr.logits.end(), row, row + r.vocab);
      int32_t best = 0;
      for (int64_t v = 1; v < r.vocab; ++v) {
        if (row[v] > row[best]) best = static_cast<int32_t>(v);
      }
      pos[i] += plan.sequences[i].tokens.size();
      last[i] = best;
      rr.tokens[i].push_back(best);
    }
  }
  return rr;
}

std::string Join(const std::vector<int32_t>& v) {
  std::string s;
  for (int32_t x : v) s += absl::StrCat(s.empty() ? "" : " ", x);
  return s;
}

// Throughput figures on the given executor.
Status Bench(engine::Executor& ex, cluster::ClusterMaster* master, int prefill_len, int steps) {
  uint64_t id = 0;
  auto take = [&] { return master ? master->TakeCollectiveSeconds() : 0.0; };
  // Prefill: one sequence of prefill_len tokens.
  {
    std::vector<int32_t> p(prefill_len);
    for (int i = 0; i < prefill_len; ++i) p[i] = 1 + (i * 7) % 200;
    MIES_RETURN_IF_ERROR(Generate(ex, {p}, 1, &id).status());  // warm-up
    take();
    const auto t0 = Clock::now();
    MIES_RETURN_IF_ERROR(Generate(ex, {p}, 1, &id).status());
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("bench prefill len=%d: %.1f tok/s (%.3f s, collectives %.3f s)\n", prefill_len,
                prefill_len / s, s, take());
  }
  for (int batch : {1, 16}) {
    std::vector<std::vector<int32_t>> prompts(batch);
    for (int b = 0; b < batch; ++b) prompts[b] = {1 + b, 2 + b, 3 + b, 4 + b};
    MIES_RETURN_IF_ERROR(Generate(ex, prompts, 2, &id).status());  // warm-up
    // Time decode only: subtract a run with 1 new token (the prefill) from one with steps+1.
    take();
    auto t0 = Clock::now();
    MIES_RETURN_IF_ERROR(Generate(ex, prompts, 1, &id).status());
    const double pre = std::chrono::duration<double>(Clock::now() - t0).count();
    const double pre_coll = take();
    t0 = Clock::now();
    MIES_RETURN_IF_ERROR(Generate(ex, prompts, steps + 1, &id).status());
    const double all = std::chrono::duration<double>(Clock::now() - t0).count();
    const double coll = take() - pre_coll;
    const double dec = all - pre;
    const double toks = static_cast<double>(batch) * steps;
    std::printf("bench decode batch=%d: %.1f tok/s (%.2f ms/step, collectives %.3f ms/step)\n",
                batch, toks / dec, 1e3 * dec / steps, 1e3 * coll / steps);
  }
  std::fflush(stdout);
  return OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  // A peer that dies mid-write (a killed node) must give an error on the socket, not end this
  // process with SIGPIPE.
  signal(SIGPIPE, SIG_IGN);
  CLI::App app{"mies-cluster-node: one node of a multi-node mies cluster"};
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  std::string ranktable_path, address, model_dir, dtype = "auto", prompts_text, logits_out;
  std::string ca, cert, key, key_password, crl;
  int port = 23100, threads = 1, new_tokens = 8, prefill_len = 128, bench_steps = 16;
  int64_t kv_blocks = 64, block_size = 16;
  int join_ms = 30000, rejoin_ms = 30000, hb_interval_ms = 300, hb_timeout_ms = 2000;
  int collective_ms = 10000, plan_wait_ms = 2000, connect_ms = 15000, ready_ms = 60000;
  std::vector<int> pin;
  bool local = false, serve_loop = false, bench = false, tls = false, no_local_check = false;
  bool no_identity = false;
  app.add_option("--ranktable", ranktable_path, "ranktable.json");
  app.add_option("--address", address, "this node's container_ip ($MIES_CONTAINER_IP)");
  app.add_option("--model", model_dir, "model directory");
  bool weights_from_master = false;
  std::string weight_cache;
  app.add_flag("--weights-from-master", weights_from_master,
               "the master serves its model; a slave fetches it into --weight-cache");
  app.add_option("--weight-cache", weight_cache, "slave: the weight cache root");
  size_t weights_chunk = 0;
  int weights_pause_ms = 0;
  app.add_option("--weights-test-chunk", weights_chunk,
                 "test: the master sends the model in chunks of this many bytes");
  app.add_option("--weights-test-pause-ms", weights_pause_ms,
                 "test: the master pauses this long after each chunk it sends");
  app.add_option("--dtype", dtype, "weight dtype: auto | float32 | bfloat16 | float16 | int8");
  app.add_option("--port", port, "multiNodesInferPort");
  app.add_option("--threads", threads, "threads per rank");
  app.add_option("--pin", pin, "cores to pin this node's (single) rank to");
  app.add_option("--kv-blocks", kv_blocks, "master: KV blocks per rank");
  app.add_option("--block-size", block_size, "master: tokens per KV block");
  app.add_option("--prompts", prompts_text, "master: prompts as token ids, '1,2,3;4,5'");
  app.add_option("--new-tokens", new_tokens, "master: greedy tokens per prompt");
  app.add_option("--logits-out", logits_out, "master: write every step's logits (f32) here");
  app.add_flag("--local", local, "run the workload in this process alone (reference)");
  int local_tp = 1;
  app.add_option("--local-tp", local_tp, "with --local: ranks as threads (in-process TP)");
  int moe_ep = 1;
  app.add_option("--moe-ep", moe_ep,
                 "MoE models: expert groups (1: every rank a slice of every expert; world "
                 "size: expert parallelism)");
  app.add_flag("--serve-loop", serve_loop, "master: repeat the workload until SIGTERM");
  app.add_flag("--bench", bench, "master: throughput figures");
  app.add_option("--prefill-len", prefill_len, "bench: prefill length");
  app.add_option("--bench-steps", bench_steps, "bench: decode steps");
  app.add_flag("--tls", tls, "mutual TLS on the control plane");
  app.add_option("--ca", ca, "CA file");
  app.add_option("--cert", cert, "node certificate");
  app.add_option("--key", key, "node private key");
  app.add_option("--key-password", key_password, "password file of an encrypted key");
  app.add_option("--crl", crl, "CRL file");
  app.add_flag("--no-local-check", no_local_check, "test: skip checks of our own TLS material");
  app.add_flag("--no-identity", no_identity, "test: TLS client without a certificate");
  app.add_option("--join-timeout-ms", join_ms, "slave: give up joining after this");
  app.add_option("--rejoin-timeout-ms", rejoin_ms, "slave: wait this long for a lost master");
  app.add_option("--heartbeat-interval-ms", hb_interval_ms, "");
  app.add_option("--heartbeat-timeout-ms", hb_timeout_ms, "");
  app.add_option("--collective-timeout-ms", collective_ms, "");
  app.add_option("--plan-wait-ms", plan_wait_ms, "");
  app.add_option("--connect-timeout-ms", connect_ms, "");
  app.add_option("--ready-timeout-ms", ready_ms, "master: wait this long for all ranks");
  CLI11_PARSE(app, argc, argv);
  (void)InitLogging(LogOptions{});

  // SIGTERM/SIGINT handled by a thread (sigwait), never in a signal handler.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  std::vector<std::vector<int32_t>> prompts;
  if (!prompts_text.empty()) {
    auto p = ParsePrompts(prompts_text);
    if (!p.ok()) {
      std::cerr << p.status().message() << "\n";
      return 2;
    }
    prompts = *p;
  }

  std::unique_ptr<engine::Executor> ex;
  executor::ClusterExecutor* cluster_ex = nullptr;
  if (local && local_tp > 1) {
    auto e = executor::InProcessTpExecutor::Create(model_dir, dtype, local_tp, kv_blocks,
                                                   block_size, moe_ep);
    if (!e.ok()) {
      std::cerr << e.status().message() << "\n";
      return 1;
    }
    ex = std::move(*e);
  } else if (local) {
    auto e = LocalReference(model_dir, dtype, threads, pin, kv_blocks, block_size);
    if (!e.ok()) {
      std::cerr << e.status().message() << "\n";
      return 1;
    }
    ex = std::move(*e);
  } else {
    auto table = config::LoadRankTableFile(ranktable_path);
    if (!table.ok()) {
      std::cerr << table.status().message() << "\n";
      return 1;
    }
    config::MapEnvironment env{{"MIES_CONTAINER_IP", address}};
    auto topo = config::LocateLocalServer(*table, env);
    if (!topo.ok()) {
      std::cerr << topo.status().message() << "\n";
      return 1;
    }
    cluster::NodeOptions o;
    o.ranktable = *table;
    o.topology = *topo;
    o.model_dir = model_dir;
    o.dtype = dtype;
    o.threads_per_rank = threads;
    if (!pin.empty()) o.pin_cpus = {pin};
    o.control_port = port;
    o.deterministic = cluster::DeterministicFromEnv(config::ProcessEnvironment());
    o.moe_ep = moe_ep;
    o.num_kv_blocks = kv_blocks;
    o.block_size = block_size;
    o.tls.enabled = tls;
    o.tls.material.plane = certs::Plane::kInterNode;
    if (!ca.empty()) o.tls.material.ca_files = {ca};
    o.tls.material.cert_file = cert;
    o.tls.material.key_file = key;
    o.tls.material.key_password_file = key_password;
    if (!crl.empty()) o.tls.material.crl_files = {crl};
    o.tls.material.node_address = address;
    o.tls.check_local_material = !no_local_check;
    o.tls.apply_file_rules = false;  // test material lives in temp dirs
    o.tls.omit_identity = no_identity;
    o.timeouts.join_total = std::chrono::milliseconds(join_ms);
    o.timeouts.master_rejoin_total = std::chrono::milliseconds(rejoin_ms);
    o.timeouts.heartbeat_interval = std::chrono::milliseconds(hb_interval_ms);
    o.timeouts.heartbeat_timeout = std::chrono::milliseconds(hb_timeout_ms);
    o.timeouts.collective_timeout = std::chrono::milliseconds(collective_ms);
    o.timeouts.plan_wait = std::chrono::milliseconds(plan_wait_ms);
    o.timeouts.connect_timeout = std::chrono::milliseconds(connect_ms);

    o.weights_from_master = weights_from_master;
    o.weights_test_chunk_bytes = weights_chunk;
    o.weights_test_pause = std::chrono::milliseconds(weights_pause_ms);
    if (!topo->is_master && weights_from_master) {
      o.weight_cache_dir = weight_cache;
      const auto t0 = Clock::now();
      auto sync = cluster::FetchModelFromMaster(o);
      if (!sync.ok()) {
        std::cerr << "slave: " << sync.status().message() << "\n";
        return 1;
      }
      o.model_dir = sync->model_dir;
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      if (sync->fetched > 0) {
        std::printf("weights: fetched %d of %d files (%llu bytes) in %.3f s\n", sync->fetched,
                    sync->files, static_cast<unsigned long long>(sync->bytes_fetched), s);
      } else {
        std::printf("weights: all %d files from the cache (%llu bytes) in %.3f s\n", sync->files,
                    static_cast<unsigned long long>(sync->bytes), s);
      }
      std::fflush(stdout);
    } else if (model_dir.empty()) {
      std::cerr << "--model is required (a slave with --weights-from-master takes --weight-cache "
                   "instead)\n";
      return 2;
    }
    if (!topo->is_master) {
      const auto started = Clock::now();
      auto slave = cluster::ClusterSlave::Create(o);
      if (!slave.ok()) {
        std::cerr << "slave: " << slave.status().message() << "\n";
        return 1;
      }
      std::thread sig([&] {
        int s = 0;
        sigwait(&sigs, &s);
        (*slave)->Stop();
      });
      sig.detach();
      std::printf("slave loaded its ranks in %.3f s\n",
                  std::chrono::duration<double>(Clock::now() - started).count());
      std::fflush(stdout);
      Status s = (*slave)->Run([] { std::cout << "slave joined" << std::endl; });
      if (!s.ok()) {
        std::cerr << "slave: " << s.message() << "\n";
        return 1;
      }
      std::cout << "slave done" << std::endl;
      return 0;
    }
    auto m = cluster::ClusterMaster::Start(o);
    if (!m.ok()) {
      std::cerr << "master: " << m.status().message() << "\n";
      return 1;
    }
    Status ready = (*m)->WaitReady(std::chrono::milliseconds(ready_ms));
    if (!ready.ok()) {
      std::cerr << "master: " << ready.message() << "\n";
      return 1;
    }
    std::cout << "cluster ready" << std::endl;
    auto owned = std::make_unique<executor::ClusterExecutor>(std::move(*m));
    cluster_ex = owned.get();
    ex = std::move(owned);
  }

  std::thread sig([&] {
    int s = 0;
    sigwait(&sigs, &s);
    g_stop = true;
  });
  sig.detach();

  int rc = 0;
  uint64_t step_id = 0;
  if (bench) {
    Status s = Bench(*ex, cluster_ex ? &cluster_ex->master() : nullptr, prefill_len, bench_steps);
    if (!s.ok()) {
      std::cerr << "bench: " << s.message() << "\n";
      rc = 1;
    }
  } else if (serve_loop) {
    for (int run = 1; !g_stop; ++run) {
      const auto t0 = Clock::now();
      auto r = Generate(*ex, prompts, new_tokens, &step_id);
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      if (r.ok()) {
        std::cout << "run " << run << " ok " << static_cast<int>(ms) << " ms tokens "
                  << Join(r->tokens[0]) << std::endl;
      } else {
        std::cout << "run " << run << " error after " << static_cast<int>(ms)
                  << " ms: " << r.status().message() << std::endl;
      }
      if (cluster_ex) {
        auto ab = cluster_ex->AbnormalNodes();
        std::cout << "health " << (cluster_ex->healthy() ? "ok" : "abnormal") << " ["
                  << absl::StrJoin(ab, ", ") << "]" << std::endl;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  } else if (!prompts.empty()) {
    auto r = Generate(*ex, prompts, new_tokens, &step_id);
    if (!r.ok()) {
      std::cerr << "generate: " << r.status().message() << "\n";
      rc = 1;
    } else {
      for (size_t i = 0; i < r->tokens.size(); ++i) {
        std::cout << "tokens " << i << ": " << Join(r->tokens[i]) << std::endl;
      }
      if (!logits_out.empty()) {
        std::ofstream f(logits_out, std::ios::binary);
        f.write(reinterpret_cast<const char*>(r->logits.data()),
                static_cast<std::streamsize>(r->logits.size() * sizeof(float)));
      }
    }
  }
  ex.reset();  // a cluster executor shuts the cluster down
  std::cout << "done" << std::endl;
  return rc;
}
