// Offline serving throughput: N requests with mixed prompt and output lengths submitted at once
// to the engine (continuous batching, LocalExecutor), once per maxBatchSize limit. Prints
// generated tokens/s, total (prompt + generated) tokens/s, and the scheduler's own overhead per
// step: the time of an engine iteration spent outside Executor::Execute (scheduling, block
// bookkeeping, sampling, stop checks, detokenization, output), as a share of the step time.
//
//   mies-bench-engine                                   # 1.1B shape (slow on small machines)
//   mies-bench-engine --preset bench-small              # 256 requests on a small model
//   mies-bench-engine --model-dir /tmp/m --requests 32 --out-max 24 --dtype bfloat16
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <sstream>
#include <thread>

#include "common/cpu_budget.h"
#include "engine/engine.h"
#include "executor/local_executor.h"
#include "make_model/synthetic_model.h"
#include "model/llama_model.h"
#include "runner/model_runner.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace mies;

// A small LLaMA shape (~60M parameters, 32000 vocab) for full-size workloads on slow machines.
tools::SyntheticModelSpec BenchSmall() {
  tools::SyntheticModelSpec s;
  s.hidden_size = 512;
  s.intermediate_size = 1408;
  s.num_hidden_layers = 8;
  s.num_attention_heads = 8;
  s.num_key_value_heads = 4;
  s.vocab_size = 32000;
  s.max_position_embeddings = 2048;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("mies engine offline throughput benchmark");
  std::string model_dir, preset = "tinyllama-1.1b", dtype = "auto", batches = "1,8,32";
  std::string tokenizer_dir = std::string(MIES_SHARED_TOKENIZERS) + "/mistral-7b";
  int requests = 256, prompt_min = 16, prompt_max = 256, out_min = 16, out_max = 128;
  int threads = DetectCpuBudget().usable;  // the CPUs taskset / a cgroup leave us
  int64_t block_size = 16, kv_mib = 2048;
  app.add_option("--model-dir", model_dir, "model directory (default: generate the preset)");
  app.add_option("--preset", preset, "synthetic preset (mies-make-model names, or bench-small)");
  app.add_option("--tokenizer-dir", tokenizer_dir, "directory with tokenizer.json");
  app.add_option("--dtype", dtype, "weight dtype: auto|float32|bfloat16|float16|int8");
  app.add_option("--batches", batches, "comma-separated maxBatchSize values");
  app.add_option("--requests", requests);
  app.add_option("--prompt-min", prompt_min);
  app.add_option("--prompt-max", prompt_max);
  app.add_option("--out-min", out_min);
  app.add_option("--out-max", out_max);
  app.add_option("--threads", threads);
  app.add_option("--block-size", block_size);
  app.add_option("--kv-mib", kv_mib, "KV pool size in MiB");
  CLI11_PARSE(app, argc, argv);
  if (prompt_min < 1 || prompt_max < prompt_min || out_min < 1 || out_max < out_min ||
      requests < 1) {
    std::fprintf(stderr,
                 "need 1 <= prompt-min <= prompt-max, 1 <= out-min <= out-max, "
                 "requests >= 1\n");
    return 2;
  }

  if (model_dir.empty()) {
    model_dir = (std::filesystem::temp_directory_path() / ("mies_bench_" + preset)).string();
    if (!std::filesystem::exists(model_dir + "/model.safetensors")) {
      tools::SyntheticModelSpec spec;
      if (preset == "bench-small") {
        spec = BenchSmall();
      } else {
        auto p = tools::PresetSpec(preset);
        if (!p.ok()) {
          std::fprintf(stderr, "%s\n", p.status().ToString().c_str());
          return 2;
        }
        spec = *p;
      }
      std::printf("writing the %s synthetic model to %s ...\n", preset.c_str(), model_dir.c_str());
      if (auto st = tools::WriteSyntheticModel(spec, model_dir); !st.ok()) {
        std::fprintf(stderr, "%s\n", st.ToString().c_str());
        return 2;
      }
    }
  }
  auto tok = tokenizer::Tokenizer::Load(tokenizer_dir);
  if (!tok.ok()) {
    std::fprintf(stderr, "%s\n", tok.status().ToString().c_str());
    return 2;
  }
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer(std::move(tok).value());

  std::vector<int> batch_list;
  {
    std::stringstream ss(batches);
    std::string item;
    while (std::getline(ss, item, ',')) batch_list.push_back(std::stoi(item));
  }
  // The model and its KV pool are loaded once; each batch limit gets a fresh engine (and so a
  // fresh block manager and an empty prefix cache) over them.
  model::IdentityCollective one;
  model::ModelOptions mo;
  mo.dtype = dtype;
  mo.num_threads = threads;
  const auto load0 = Clock::now();
  auto model = model::LlamaModel::Load(model_dir, mo, &one);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
    return 2;
  }
  const int64_t vocab = (*model)->config().vocab_size;
  const auto shape = (*model)->CacheShape(block_size);
  const int64_t blocks = shape.BlocksForBudget(kv_mib << 20);
  const auto defaults = (*model)->generation_defaults();
  auto runner = runner::ModelRunner::Create(std::move(model).value(), blocks, block_size);
  if (!runner.ok()) {
    std::fprintf(stderr, "%s\n", runner.status().ToString().c_str());
    return 2;
  }
  // Each engine is handed the executor and gives it back (Engine::Release) for the next one.
  std::unique_ptr<engine::Executor> executor =
      std::make_unique<executor::LocalExecutor>(std::move(runner).value());
  std::printf("model %s (dtype %s, %d threads) loaded in %.1f s; KV pool %lld blocks x %lld\n",
              model_dir.c_str(), dtype.c_str(), threads,
              std::chrono::duration<double>(Clock::now() - load0).count(),
              static_cast<long long>(blocks), static_cast<long long>(block_size));
  std::fflush(stdout);
  for (int max_batch : batch_list) {
    engine::EngineOptions o;
    o.scheduler.max_batch_size = max_batch;
    o.scheduler.max_prefill_batch_size = max_batch;
    o.scheduler.max_prefill_tokens = 2048;
    o.limits.max_seq_len = 4096;
    o.limits.max_input_tokens = 4095;
    o.limits.max_iter_times = 4096;
    o.limits.max_n = max_batch;
    o.limits.max_batch_size = max_batch;
    o.max_queue_delay_us = 0;
    auto eng = engine::Engine::Create(o, std::move(executor), tokenizer, defaults, vocab);
    if (!eng.ok()) {
      std::fprintf(stderr, "%s\n", eng.status().ToString().c_str());
      return 2;
    }
    std::mt19937 rng(1);
    std::atomic<int64_t> generated{0}, prompt_tokens{0};
    const auto t0 = Clock::now();
    for (int i = 0; i < requests; ++i) {
      engine::GenerateRequest r;
      r.request_id = "b" + std::to_string(i);
      const int plen = prompt_min + static_cast<int>(rng() % (prompt_max - prompt_min + 1));
      for (int k = 0; k < plen; ++k)
        r.prompt_ids.push_back(3 + static_cast<int32_t>(rng() % (vocab - 3)));
      r.sampling.temperature = 0.0;
      r.stop.max_tokens = out_min + static_cast<int>(rng() % (out_max - out_min + 1));
      r.stop.ignore_eos = true;
      prompt_tokens += plen;
      auto st = (*eng)->Submit(std::move(r), [&](engine::RequestOutput out) {
        if (out.finished) generated += out.usage.completion_tokens;
      });
      if (!st.ok()) {
        std::fprintf(stderr, "%s\n", st.ToString().c_str());
        return 2;
      }
    }
    (*eng)->WaitIdle(std::chrono::hours(24));
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    const engine::EngineCounters c = (*eng)->Counters();
    const double overhead = c.step_seconds - c.forward_seconds;
    std::printf(
        "maxBatchSize %3d: %d requests, %lld prompt + %lld generated tokens in %.1f s: "
        "%.1f generated tok/s, %.1f total tok/s; %lld steps, %.2f ms/step, scheduler overhead "
        "%.3f ms/step = %.2f%% of step time; preemptions %lld\n",
        max_batch, requests, static_cast<long long>(prompt_tokens.load()),
        static_cast<long long>(generated.load()), wall, generated / wall,
        (generated + prompt_tokens) / wall, static_cast<long long>(c.steps),
        1e3 * c.step_seconds / c.steps, 1e3 * overhead / c.steps, 100.0 * overhead / c.step_seconds,
        static_cast<long long>(c.preemptions));
    std::fflush(stdout);
    executor = engine::Engine::Release(std::move(*eng));
  }
  return 0;
}
