// Generation benchmark: prefill tokens/s (one 512-token prompt), decode tokens/s at batch 1 and
// batch 16, for a model directory (default: the TinyLlama-1.1B-shaped synthetic model, written
// with mies-make-model's generator on first use) in each weight dtype and thread count.
//
// Decode at batch 1 reads every matmul weight once per token (a MoE model: its attention, router
// and lm_head, and the top_k chosen experts of each MoE layer), so its speed is bounded by memory
// bandwidth: bound = bandwidth / weight bytes read per token. The bandwidth is measured in the same
// run (a multi-threaded streaming read of a buffer much larger than the caches), per thread
// count, and each decode figure is printed as a percentage of its bound.
//
// Prefill is timed `--prefill-reps` times (best run printed: the machine is shared). Each dtype
// runs with every `--activations` mode: auto (bf16 / int8 activations in the dot-product kernels)
// and float32 (the precise mode, today's numerics), so both are measured in one sitting.
//
//   mies-bench-generate                       # 1.1B shape, f32/bf16/int8, 1 and 2 threads
//   mies-bench-generate --dtypes bfloat16,int8,int4 --activations auto,float32 --threads 2
//   mies-bench-generate --preset tiny --dtypes float32 --threads 1   # a quick smoke run
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <vector>

#include "common/thread_pool.h"
#include "make_model/synthetic_model.h"
#include "model/llama_model.h"
#include "model/weights.h"

namespace {

using Clock = std::chrono::steady_clock;
using mies::model::ForwardOutput;
using mies::model::KvCache;
using mies::model::LlamaModel;
using mies::model::SequenceInput;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Streaming-read bandwidth in GB/s with `threads` threads: the best of a few passes over 1 GiB.
double MeasureBandwidth(int threads) {
  const size_t n = (1ull << 30) / sizeof(uint64_t);
  mies::model::AlignedBuffer buf(n * sizeof(uint64_t));
  auto* p = reinterpret_cast<uint64_t*>(buf.data());
  mies::ThreadPool pool(threads);
  pool.ParallelFor(static_cast<int64_t>(n), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) p[i] = static_cast<uint64_t>(i);
  });
  double best = 0;
  // One slot (a cache line apart) per chunk the pool may cut the range into.
  const int64_t slots = int64_t{mies::ThreadPool::kChunksPerThread} * threads;
  std::vector<uint64_t> sums(static_cast<size_t>(slots) * 8);
  for (int rep = 0; rep < 4; ++rep) {
    auto t0 = Clock::now();
    pool.ParallelFor(static_cast<int64_t>(n), [&](int64_t b, int64_t e) {
      uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      int64_t i = b;
      for (; i + 4 <= e; i += 4) {
        s0 += p[i];
        s1 += p[i + 1];
        s2 += p[i + 2];
        s3 += p[i + 3];
      }
      for (; i < e; ++i) s0 += p[i];
      // Chunk index: ceil(b * slots / n) (b = floor(n * c / chunks)).
      const int64_t slot = (b * slots + static_cast<int64_t>(n) - 1) / static_cast<int64_t>(n);
      sums[static_cast<size_t>(slot) * 8] = s0 + s1 + s2 + s3;
    });
    best = std::max(best, static_cast<double>(n * sizeof(uint64_t)) / Seconds(t0, Clock::now()));
  }
  if (std::accumulate(sums.begin(), sums.end(), uint64_t{0}) == 42) std::puts("");  // keep reads
  return best / 1e9;
}

struct Result {
  double prefill_tps = 0, decode1_tps = 0, decode16_tps = 0;
};

mies::StatusOr<Result> RunOne(LlamaModel& model, int prompt_len, int decode_steps, int batch,
                              int prefill_reps) {
  const auto shape = model.CacheShape(16);
  const int64_t blocks_per_seq = (prompt_len + decode_steps) / 16 + 2;
  MIES_ASSIGN_OR_RETURN(auto cache, KvCache::Create(shape, blocks_per_seq * std::max(batch, 1)));
  const int32_t vocab = static_cast<int32_t>(model.config().vocab_size);
  auto table = [&](int s) {
    std::vector<int32_t> t(static_cast<size_t>(blocks_per_seq));
    std::iota(t.begin(), t.end(), static_cast<int32_t>(s * blocks_per_seq));
    return t;
  };
  Result r;
  ForwardOutput out;
  // Prefill one prompt, then decode batch 1 on it.
  std::vector<int32_t> prompt(static_cast<size_t>(prompt_len));
  for (int i = 0; i < prompt_len; ++i) prompt[i] = (i * 7919 + 13) % vocab;
  auto t0 = table(0);
  SequenceInput in{prompt, 0, t0, 1};
  auto a = Clock::now();
  for (int rep = 0; rep < std::max(1, prefill_reps); ++rep) {
    a = Clock::now();
    MIES_RETURN_IF_ERROR(model.Forward({&in, 1}, *cache, &out));
    r.prefill_tps = std::max(r.prefill_tps, prompt_len / Seconds(a, Clock::now()));
  }
  int32_t tok = 1;
  a = Clock::now();
  for (int s = 0; s < decode_steps; ++s) {
    SequenceInput d{{&tok, 1}, prompt_len + s, t0, 1};
    MIES_RETURN_IF_ERROR(model.Forward({&d, 1}, *cache, &out));
    tok = static_cast<int32_t>(std::max_element(out.logits.begin(), out.logits.end()) -
                               out.logits.begin());
  }
  r.decode1_tps = decode_steps / Seconds(a, Clock::now());
  // Batch decode: `batch` sequences with short prompts, stepping together.
  const int short_len = 16;
  std::vector<std::vector<int32_t>> tables, prompts;
  std::vector<SequenceInput> seqs;
  for (int s = 0; s < batch; ++s) {
    tables.push_back(table(s));
    prompts.emplace_back(short_len, (s * 31 + 5) % vocab);
  }
  for (int s = 0; s < batch; ++s) seqs.push_back({prompts[s], 0, tables[s], 1});
  MIES_RETURN_IF_ERROR(model.Forward(seqs, *cache, &out));
  std::vector<int32_t> toks(static_cast<size_t>(batch), 1);
  a = Clock::now();
  for (int step = 0; step < decode_steps; ++step) {
    for (int s = 0; s < batch; ++s) seqs[s] = {{&toks[s], 1}, short_len + step, tables[s], false};
    MIES_RETURN_IF_ERROR(model.Forward(seqs, *cache, &out));
  }
  r.decode16_tps = static_cast<double>(batch) * decode_steps / Seconds(a, Clock::now());
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mies generation benchmark (prefill and decode tokens/s vs the bandwidth bound)"};
  std::string model_dir, preset = "tinyllama-1.1b";
  std::vector<std::string> dtypes{"float32", "bfloat16", "int8"};
  std::vector<std::string> activations{"auto"};
  int prefill_reps = 3;
  std::vector<int> threads{1, 2};
  int prompt_len = 512, decode_steps = 16, batch = 16;
  app.add_option("--model-dir", model_dir,
                 "model directory (default: generate the preset under the temp dir)");
  app.add_option("--preset", preset, "synthetic preset to generate when --model-dir is absent")
      ->capture_default_str();
  app.add_option("--dtypes", dtypes, "weight storage dtypes")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--activations", activations, "activation modes: auto | float32 (precise)")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--prefill-reps", prefill_reps, "prefill timings (best printed)")
      ->capture_default_str();
  app.add_option("--threads", threads, "thread counts")->delimiter(',')->capture_default_str();
  app.add_option("--prompt", prompt_len, "prefill prompt length")->capture_default_str();
  app.add_option("--steps", decode_steps, "decode steps per measurement")->capture_default_str();
  app.add_option("--batch", batch, "sequences in the batched decode")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (model_dir.empty()) {
    model_dir = (std::filesystem::temp_directory_path() / ("mies_bench_" + preset)).string();
    if (!std::filesystem::exists(model_dir + "/model.safetensors")) {
      std::printf("writing the %s synthetic model (float32) to %s ...\n", preset.c_str(),
                  model_dir.c_str());
      auto spec = mies::tools::PresetSpec(preset);
      if (!spec.ok()) {
        std::fprintf(stderr, "%s\n", std::string(spec.status().message()).c_str());
        return 1;
      }
      auto st = mies::tools::WriteSyntheticModel(*spec, model_dir);
      if (!st.ok()) {
        std::fprintf(stderr, "%s\n", std::string(st.message()).c_str());
        return 1;
      }
    }
  }
  // The machine may be shared, so the bandwidth is measured again right before each row.
  std::printf("%-9s %-7s %3s %10s %7s %10s %11s %9s %12s %9s %8s\n", "dtype", "act", "thr",
              "GB/token", "BW GB/s", "prefill/s", "decode b1/s", "% of bound", "decode b16/s",
              "b16/b1", "load s");
  for (const auto& [dtype, act] : [&] {
         std::vector<std::pair<std::string, std::string>> runs;
         for (const auto& d : dtypes) {
           for (const auto& a : activations) runs.emplace_back(d, a);
         }
         return runs;
       }()) {
    mies::model::IdentityCollective one;
    mies::model::ModelOptions opt;
    opt.dtype = dtype;
    opt.activations = act;
    auto a = Clock::now();
    auto model = LlamaModel::Load(model_dir, opt, &one);
    if (!model.ok()) {
      std::fprintf(stderr, "load: %s\n", std::string(model.status().message()).c_str());
      return 1;
    }
    const double load_s = Seconds(a, Clock::now());
    {
      // KV memory per token (f32 cache), and what a full K/V cache of the same model would take.
      const auto& cfg = (*model)->config();
      const int64_t cached = (*model)->CacheShape(16).BytesPerToken();
      const int64_t full =
          cfg.is_mla()
              ? cfg.num_hidden_layers * cfg.num_attention_heads *
                    (cfg.mla.qk_nope_head_dim + cfg.mla.qk_rope_head_dim + cfg.mla.v_head_dim) * 4
              : cached;
      std::printf(
          "# %s: KV cache %lld bytes/token%s\n", dtype.c_str(), static_cast<long long>(cached),
          cfg.is_mla()
              ? (" (latent; a full K/V cache would take " + std::to_string(full) + ")").c_str()
              : "");
    }
    for (size_t ti = 0; ti < threads.size(); ++ti) {
      (*model)->ResetThreadPool(threads[ti]);
      const double bw = MeasureBandwidth(threads[ti]);
      auto r = RunOne(**model, prompt_len, decode_steps, batch, prefill_reps);
      if (!r.ok()) {
        std::fprintf(stderr, "run: %s\n", std::string(r.status().message()).c_str());
        return 1;
      }
      const auto& cfg = (*model)->config();
      const double gb =
          static_cast<double>(cfg.is_moe() ? (*model)->weights().ActiveWeightBytes(cfg.moe.top_k)
                                           : (*model)->weights().MatmulWeightBytes()) /
          1e9;
      const double bound = bw / gb;  // tokens/s if weights stream at the measured bandwidth
      std::printf("%-9s %-7s %3d %10.2f %7.1f %10.1f %11.2f %8.0f%% %12.2f %8.1fx %8.1f\n",
                  dtype.c_str(), act.c_str(), threads[ti], gb, bw, r->prefill_tps, r->decode1_tps,
                  100 * r->decode1_tps / bound, r->decode16_tps, r->decode16_tps / r->decode1_tps,
                  load_s);
      std::fflush(stdout);
    }
  }
  return 0;
}
