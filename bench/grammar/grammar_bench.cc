// Structured-output cost, in two parts:
//  1. Matcher alone, per tokenizer: vocabulary build, grammar compile, and the time per token
//     of FillNextTokenBitmask + Accept while replaying tokenized answers of a typical schema,
//     cold (empty mask cache: first request with this schema) and warm (cache filled);
//     the same for json_object mode (a recursive grammar).
//  2. Engine, batch 16 (optional, --engine): decode step time of a synthetic model with and
//     without a constraint (JSON Lines: recursive JSON objects, one per line, so the grammar
//     never forces an end and all 16 sequences run their full length, as the unconstrained
//     ones do with ignore_eos), greedy and sampled, and the mask time per step.
//
//   mies-bench-grammar                      # qwen3 (151k) and mistral-7b (32k) tokenizers
//   mies-bench-grammar --engine             # plus the batch-16 engine comparison
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>
#include <thread>

#include "engine/engine.h"
#include "executor/local_executor.h"
#include "grammar/grammar.h"
#include "grammar/matcher.h"
#include "make_model/synthetic_model.h"
#include "model/llama_model.h"
#include "runner/model_runner.h"
#include "tokenizer/tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace mies;

const char* kSchema = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string"},
    "age": {"type": "integer", "minimum": 0, "maximum": 150},
    "email": {"type": "string", "format": "date"},
    "color": {"enum": ["red", "green", "blue", "light yellow"]},
    "active": {"type": "boolean"},
    "score": {"type": "number"},
    "tags": {"type": "array", "items": {"type": "string"}}
  },
  "required": ["name", "age", "color", "tags"],
  "additionalProperties": false
})";

// llama.cpp's json.gbnf, one object per line.
const char* kJsonLines = R"gbnf(root ::= (object "\n")+
value  ::= object | array | string | number | ("true" | "false" | "null") ws
object ::= "{" ws ( string ":" ws value ("," ws string ":" ws value)* )? "}" ws
array  ::= "[" ws ( value ("," ws value)* )? "]" ws
string ::= "\"" ( [^"\\\x7F\x00-\x1F] | "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4}) )* "\"" ws
number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws
ws ::= | " " | "\n" [ \t]{0,20}
)gbnf";

const char* kAnswers[] = {
    R"({"name": "Ada Lovelace", "age": 36, "email": "1815-12-10", "color": "green", "active": true, "score": 98.5, "tags": ["mathematics", "poetry", "engines"]})",
    R"({"name":"Bob","age":7,"color":"light yellow","tags":[]})",
    "{\n  \"name\": \"Zoë Ångström, Ph.D. (née Müller) — 量子\",\n  \"age\": 150,\n  \"color\": "
    "\"red\",\n  \"score\": -0.25e3,\n  \"tags\": [\"a\", \"bb\", \"a longer tag with spaces\"]\n}",
};

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

struct Figures {
  std::vector<double> us;  // per token
  void Print(const char* what) const {
    std::vector<double> v = us;
    std::sort(v.begin(), v.end());
    const double mean = std::accumulate(v.begin(), v.end(), 0.0) / std::max<size_t>(v.size(), 1);
    std::printf(
        "    %-34s %4zu tokens: mean %8.1f us, p50 %7.1f, p90 %7.1f, p99 %8.1f, max %8.1f\n", what,
        v.size(), mean, v[v.size() / 2], v[v.size() * 9 / 10],
        v[std::min(v.size() - 1, v.size() * 99 / 100)], v.back());
  }
};

// Replays `ids` through a fresh matcher: mask then accept, timed per token.
void Replay(const grammar::GrammarPtr& g, const std::vector<int>& ids,
            const std::vector<int32_t>& eos, Figures* fig) {
  grammar::Matcher m(g, eos);
  std::vector<uint64_t> mask(grammar::Matcher::BitmaskWords(g->vocabulary().size()));
  for (int id : ids) {
    const auto t0 = Clock::now();
    m.FillNextTokenBitmask(mask);
    const bool ok = grammar::Matcher::IsSet(mask, id) && m.Accept(id).ok();
    fig->us.push_back(1e6 * Seconds(t0, Clock::now()));
    if (!ok) {
      std::fprintf(stderr, "token %d was not allowed\n", id);
      std::exit(1);
    }
  }
}

void MatcherFigures(const std::string& name, const std::string& dir) {
  const auto t0 = Clock::now();
  auto tok = tokenizer::Tokenizer::Load(dir);
  if (!tok.ok()) {
    std::fprintf(stderr, "%s\n", tok.status().ToString().c_str());
    std::exit(2);
  }
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer(std::move(tok).value());
  const auto t1 = Clock::now();
  auto vocab = grammar::SharedVocabulary(tokenizer);
  const auto t2 = Clock::now();
  std::printf(
      "%s: %d ids, %d grammar tokens, trie %d nodes, longest %d bytes; tokenizer load %.2f s, "
      "vocabulary build %.0f ms\n",
      name.c_str(), (*vocab)->size(), (*vocab)->num_grammar_tokens(), (*vocab)->trie().num_nodes(),
      (*vocab)->max_token_bytes(), Seconds(t0, t1), 1e3 * Seconds(t1, t2));
  const std::vector<int32_t> eos(tokenizer->eos_ids().begin(), tokenizer->eos_ids().end());
  std::vector<std::vector<int>> answers;
  for (const char* a : kAnswers) answers.push_back(*tokenizer->Encode(a, false));

  for (const bool object_mode : {false, true}) {
    const auto c0 = Clock::now();
    auto g = object_mode ? grammar::CompileJsonObject(*vocab)
                         : grammar::CompileJsonSchemaText(kSchema, *vocab);
    const auto c1 = Clock::now();
    if (!g.ok()) {
      std::fprintf(stderr, "%s\n", g.status().ToString().c_str());
      std::exit(2);
    }
    std::printf("  %s: compile %.2f ms, %d automaton states, %zu rules\n",
                object_mode ? "json_object" : "typical schema", 1e3 * Seconds(c0, c1),
                (*g)->num_states(), (*g)->automaton().rule_start.size());
    Figures cold, warm;
    for (const auto& ids : answers) Replay(*g, ids, eos, &cold);
    for (int rep = 0; rep < 5; ++rep) {
      for (const auto& ids : answers) Replay(*g, ids, eos, &warm);
    }
    cold.Print("cold (first request, cache empty)");
    warm.Print("warm (mask cache filled)");
    std::printf("    mask cache: %lld states, %.1f KiB\n",
                static_cast<long long>((*g)->num_cached()), (*g)->cached_bytes() / 1024.0);
    if (!object_mode) {
      auto fresh = grammar::CompileJsonSchemaText(kSchema, *vocab);
      const auto p0 = Clock::now();
      (*fresh)->PrecomputeAll();
      std::printf("    precomputing every state: %.0f ms (%lld states)\n",
                  1e3 * Seconds(p0, Clock::now()), static_cast<long long>((*fresh)->num_cached()));
    }
  }
}

// Batch-16 decode on a synthetic model: unconstrained vs constrained.
void EngineFigures(const std::string& tokenizer_dir, int64_t vocab_size, int64_t hidden,
                   int64_t layers, int threads, int out_tokens, int reps) {
  const std::string dir = (std::filesystem::temp_directory_path() /
                           ("mies_bench_grammar_" + std::to_string(vocab_size) + "_" +
                            std::to_string(hidden) + "_" + std::to_string(layers)))
                              .string();
  if (!std::filesystem::exists(dir + "/model.safetensors")) {
    tools::SyntheticModelSpec spec;
    spec.hidden_size = hidden;
    spec.intermediate_size = hidden * 11 / 4;
    spec.num_hidden_layers = layers;
    spec.num_attention_heads = std::max<int64_t>(hidden / 64, 1);
    spec.num_key_value_heads = std::max<int64_t>(hidden / 128, 1);
    spec.vocab_size = vocab_size;
    spec.max_position_embeddings = 2048;
    if (auto st = tools::WriteSyntheticModel(spec, dir); !st.ok()) {
      std::fprintf(stderr, "%s\n", st.ToString().c_str());
      std::exit(2);
    }
  }
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer(
      std::move(tokenizer::Tokenizer::Load(tokenizer_dir)).value());
  auto vocab = *grammar::SharedVocabulary(tokenizer);
  model::IdentityCollective one;
  model::ModelOptions mo;
  mo.num_threads = threads;
  auto model = model::LlamaModel::Load(dir, mo, &one);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
    std::exit(2);
  }
  const auto defaults = (*model)->generation_defaults();
  auto runner = runner::ModelRunner::Create(std::move(model).value(), 1024, 16);
  std::unique_ptr<engine::Executor> executor =
      std::make_unique<executor::LocalExecutor>(std::move(runner).value());
  std::printf(
      "engine, batch 16, synthetic LLaMA hidden %lld x %lld layers, vocab %lld (%s), %d "
      "threads, %d tokens per request:\n",
      static_cast<long long>(hidden), static_cast<long long>(layers),
      static_cast<long long>(vocab_size), tokenizer_dir.c_str(), threads, out_tokens);
  // The grammar can always go on (another line), so only a sampled EOS at a line end could
  // end a sequence early; the figures say how many ran to max_tokens.
  auto lines = grammar::CompileGrammarText(kJsonLines, vocab);
  if (!lines.ok()) {
    std::fprintf(stderr, "%s\n", lines.status().ToString().c_str());
    std::exit(2);
  }
  // Unconstrained and constrained runs alternate, `reps` times per sampling mode; the fastest
  // run of each kind is compared (the shared machine's speed drifts between runs).
  for (const bool sampled : {false, true}) {
    double best_step[2] = {1e30, 1e30}, best_host[2] = {1e30, 1e30}, best_mask = 1e30;
    for (int rep = 0; rep < reps; ++rep) {
      for (const bool constrained : {false, true}) {
        engine::EngineOptions o;
        o.scheduler.max_batch_size = 16;
        o.scheduler.max_prefill_batch_size = 16;
        o.scheduler.max_prefill_tokens = 4096;
        o.limits.max_seq_len = 2048;
        o.limits.max_input_tokens = 1024;
        o.limits.max_iter_times = 2048;
        o.limits.max_n = 16;
        o.limits.max_batch_size = 16;
        o.max_queue_delay_us = 0;
        auto eng = *engine::Engine::Create(o, std::move(executor), tokenizer, defaults, vocab_size);
        std::atomic<int64_t> generated{0}, length_cut{0};
        for (int i = 0; i < 16; ++i) {
          engine::GenerateRequest r;
          r.request_id = "b" + std::to_string(i);
          for (int k = 0; k < 16; ++k) r.prompt_ids.push_back(3 + (i * 131 + k * 17) % 1000);
          r.sampling.temperature = sampled ? 1.0 : 0.0;
          r.sampling.seed = 1 + i;
          r.stop.max_tokens = out_tokens;
          // Every sequence runs its full length: EOS is masked until max_tokens (the grammar
          // can always go on with another line, so min_tokens holds under it too).
          r.stop.min_tokens = out_tokens;
          r.stop.ignore_eos = true;
          if (constrained) r.constraint = *lines;
          (void)eng->Submit(std::move(r), [&](engine::RequestOutput out) {
            if (out.finished) {
              generated += out.usage.completion_tokens;
              for (const auto& e : out.events) {
                length_cut += e.finish == engine::FinishReason::kLength;
                if (e.finish != engine::FinishReason::kLength) {
                  std::fprintf(stderr, "  %s ended early (finish %d, %lld tokens): %s %s\n",
                               out.request_id.c_str(), static_cast<int>(e.finish),
                               static_cast<long long>(out.usage.completion_tokens),
                               out.error.ToString().c_str(), e.text_delta.c_str());
                }
              }
            }
          });
        }
        eng->WaitIdle(std::chrono::hours(1));
        const engine::EngineCounters c = eng->Counters();
        const double step_ms = 1e3 * c.step_seconds / c.steps;
        const double host_ms = 1e3 * (c.step_seconds - c.forward_seconds) / c.steps;
        const double mask_ms = 1e3 * c.grammar_mask_seconds / c.steps;
        std::printf(
            "  %-7s %-14s %lld tokens (%lld/16 ran to max_tokens), %lld steps: %.2f ms/step, "
            "host (outside forward) %.3f ms/step, of which masks %.3f ms/step\n",
            sampled ? "sampled" : "greedy", constrained ? "json_lines:" : "unconstrained:",
            static_cast<long long>(generated.load()), static_cast<long long>(length_cut.load()),
            static_cast<long long>(c.steps), step_ms, host_ms, mask_ms);
        std::fflush(stdout);
        best_step[constrained] = std::min(best_step[constrained], step_ms);
        best_host[constrained] = std::min(best_host[constrained], host_ms);
        if (constrained) best_mask = std::min(best_mask, mask_ms);
        executor = engine::Engine::Release(std::move(eng));
      }
    }
    std::printf(
        "  %s, fastest of %d: step %.2f -> %.2f ms (%+.1f%%); host %.3f -> %.3f ms/step (added "
        "%.3f ms = %.1f%% of the unconstrained step; masks %.3f ms/step = %.1f us per "
        "sequence-token)\n",
        sampled ? "sampled" : "greedy", reps, best_step[0], best_step[1],
        100.0 * (best_step[1] - best_step[0]) / best_step[0], best_host[0], best_host[1],
        best_host[1] - best_host[0], 100.0 * (best_host[1] - best_host[0]) / best_step[0],
        best_mask, 1e3 * best_mask / 16);
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("mies structured-output (grammar mask) benchmark");
  std::string shared = MIES_SHARED_DIR;
  bool engine = false;
  int threads = std::max(1u, std::thread::hardware_concurrency());
  int out_tokens = 64;
  int reps = 2;
  int64_t hidden = 512, layers = 8;
  app.add_option("--shared", shared, "shared/ folder with tokenizers");
  app.add_flag("--engine", engine, "also measure batch-16 decode with and without a constraint");
  app.add_option("--threads", threads);
  app.add_option("--out-tokens", out_tokens);
  app.add_option("--reps", reps, "engine runs per kind (the fastest counts)");
  std::string engine_vocab = "both";
  app.add_option("--engine-vocab", engine_vocab, "engine runs with: mistral-7b, qwen3 or both");
  bool skip_matcher = false;
  app.add_flag("--skip-matcher", skip_matcher, "only the engine figures");
  app.add_option("--hidden", hidden, "synthetic model hidden size");
  app.add_option("--layers", layers, "synthetic model layers");
  CLI11_PARSE(app, argc, argv);
  if (!skip_matcher) {
    MatcherFigures("qwen3", shared + "/tokenizers/qwen3");
    MatcherFigures("mistral-7b", shared + "/tokenizers/mistral-7b");
  }
  if (engine) {
    if (engine_vocab != "qwen3") {
      EngineFigures(shared + "/tokenizers/mistral-7b", 32000, hidden, layers, threads, out_tokens,
                    reps);
    }
    if (engine_vocab != "mistral-7b") {
      EngineFigures(shared + "/tokenizers/qwen3", 151936, hidden, layers, threads, out_tokens,
                    reps);
    }
  }
  return 0;
}
