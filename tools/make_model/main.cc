// mies-make-model: writes a synthetic Hugging Face model directory with seeded random weights.
//
//   mies-make-model --preset tinyllama-1.1b --dtype bfloat16 --out /tmp/tinyllama-bf16
//   mies-make-model --preset tiny --kv-heads 1 --qkv-bias --arch Qwen2ForCausalLM --out dir
#include <CLI/CLI.hpp>
#include <iostream>
#include <optional>

#include "make_model/synthetic_model.h"

int main(int argc, char** argv) {
  CLI::App app{"Write a synthetic Hugging Face model directory (random weights, seeded)"};
  std::string preset = "tiny", out;
  app.add_option("--preset", preset,
                 "tinyllama-1.1b | moe-4b | tiny | tiny-gqa4 | tiny-qwen2 | tiny-qwen3 | "
                 "tiny-tied | tiny-llama3 | tiny-mistral-window | tiny-qwen3-moe | "
                 "tiny-qwen2-moe | tiny-mixtral")
      ->capture_default_str();
  app.add_option("--out", out, "output directory")->required();
  // Overrides, applied on top of the preset; unset ones keep the preset's value.
  std::optional<std::string> arch, dtype, rope_scaling, tokenizer;
  std::optional<int64_t> hidden, inter, layers, heads, kv_heads, head_dim, vocab, max_pos,
      rope_original_max, window, experts, experts_per_tok, moe_inter, shared_inter, sparse_step;
  std::optional<double> rope_theta, rope_factor, init_std, norm_jitter, router_std;
  std::optional<std::vector<int64_t>> mlp_only;
  bool norm_topk = false, equal_experts = false;
  std::optional<uint64_t> seed;
  std::optional<int> shards;
  std::optional<std::string> quant;
  std::optional<int64_t> quant_group;
  bool qkv_bias = false, qk_norm = false, tie = false;
  app.add_option("--arch", arch,
                 "LlamaForCausalLM | MistralForCausalLM | Qwen2ForCausalLM | "
                 "Qwen3ForCausalLM | Qwen2MoeForCausalLM | Qwen3MoeForCausalLM | "
                 "MixtralForCausalLM");
  app.add_option("--dtype", dtype, "float32 | bfloat16 | float16");
  app.add_option("--hidden", hidden, "hidden_size");
  app.add_option("--intermediate", inter, "intermediate_size");
  app.add_option("--layers", layers, "num_hidden_layers");
  app.add_option("--heads", heads, "num_attention_heads");
  app.add_option("--kv-heads", kv_heads, "num_key_value_heads (GQA ratio = heads / kv-heads)");
  app.add_option("--head-dim", head_dim, "head_dim (default hidden / heads)");
  app.add_option("--vocab", vocab, "vocab_size");
  app.add_option("--max-pos", max_pos, "max_position_embeddings");
  app.add_option("--rope-theta", rope_theta, "rope_theta");
  app.add_option("--rope-scaling", rope_scaling, "none | linear | llama3");
  app.add_option("--rope-factor", rope_factor, "rope_scaling factor");
  app.add_option("--rope-original-max", rope_original_max,
                 "llama3 original_max_position_embeddings");
  app.add_flag("--qkv-bias", qkv_bias, "q/k/v biases (Qwen2; Llama attention_bias)");
  app.add_flag("--qk-norm", qk_norm, "per-head q/k RMSNorm (Qwen3)");
  app.add_flag("--tie", tie, "tie_word_embeddings (no lm_head.weight)");
  app.add_option("--seed", seed, "random seed");
  app.add_option("--std", init_std, "standard deviation of matrix weights");
  app.add_option("--norm-jitter", norm_jitter, "norm weights = 1 + jitter * N(0,1)");
  app.add_option("--shards", shards, "write N safetensors shards plus an index");
  app.add_option("--sliding-window", window, "Mistral/Mixtral sliding_window");
  app.add_option("--experts", experts, "MoE: num_experts (Mixtral: num_local_experts)");
  app.add_option("--experts-per-tok", experts_per_tok, "MoE: num_experts_per_tok");
  app.add_option("--moe-intermediate", moe_inter, "MoE: moe_intermediate_size");
  app.add_flag("--norm-topk-prob", norm_topk, "MoE: renormalize the top-k weights");
  app.add_option("--decoder-sparse-step", sparse_step, "MoE: every Nth layer is sparse");
  app.add_option("--mlp-only-layers", mlp_only, "MoE: layers with a dense MLP");
  app.add_option("--shared-expert-intermediate", shared_inter,
                 "Qwen2-MoE: shared_expert_intermediate_size");
  app.add_option("--router-std", router_std, "MoE: standard deviation of router weights");
  app.add_flag("--equal-experts", equal_experts,
               "MoE: every expert gets the layer's dense MLP values (equals a dense model)");
  app.add_option("--quant", quant, "none | gptq | awq: 4-bit projection matrices as published");
  app.add_option("--quant-group", quant_group, "group size of --quant (default 128)");
  app.add_option("--tokenizer", tokenizer, "tokenizer.json to copy into the directory")
      ->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);

  auto spec = mies::tools::PresetSpec(preset);
  if (!spec.ok()) {
    std::cerr << "mies-make-model: " << spec.status().message() << "\n";
    return 2;
  }
  auto& s = *spec;
  if (arch) s.architecture = *arch;
  if (dtype) s.dtype = *dtype;
  if (hidden) s.hidden_size = *hidden;
  if (inter) s.intermediate_size = *inter;
  if (layers) s.num_hidden_layers = *layers;
  if (heads) s.num_attention_heads = *heads;
  if (kv_heads) s.num_key_value_heads = *kv_heads;
  if (head_dim) s.head_dim = *head_dim;
  if (vocab) s.vocab_size = *vocab;
  if (max_pos) s.max_position_embeddings = *max_pos;
  if (rope_theta) s.rope_theta = *rope_theta;
  if (rope_scaling) s.rope_scaling = *rope_scaling;
  if (rope_factor) s.rope_factor = *rope_factor;
  if (rope_original_max) s.rope_original_max = *rope_original_max;
  if (qkv_bias) s.qkv_bias = true;
  if (qk_norm) s.qk_norm = true;
  if (tie) s.tie_word_embeddings = true;
  if (seed) s.seed = *seed;
  if (init_std) s.init_std = *init_std;
  if (norm_jitter) s.norm_jitter = *norm_jitter;
  if (shards) s.shards = *shards;
  if (quant) s.quant = *quant;
  if (quant_group) s.quant_group_size = *quant_group;
  if (tokenizer) s.tokenizer_json = *tokenizer;
  if (window) s.sliding_window = *window;
  if (experts) s.num_experts = *experts;
  if (experts_per_tok) s.num_experts_per_tok = *experts_per_tok;
  if (moe_inter) s.moe_intermediate_size = *moe_inter;
  if (norm_topk) s.norm_topk_prob = true;
  if (sparse_step) s.decoder_sparse_step = *sparse_step;
  if (mlp_only) s.mlp_only_layers = *mlp_only;
  if (shared_inter) s.shared_expert_intermediate_size = *shared_inter;
  if (router_std) s.router_std = *router_std;
  if (equal_experts) s.equal_experts = true;
  mies::Status st = mies::tools::WriteSyntheticModel(s, out);
  if (!st.ok()) {
    std::cerr << "mies-make-model: " << st.message() << "\n";
    return 1;
  }
  std::cout << "wrote " << s.architecture << " (" << s.dtype << ") to " << out << "\n";
  return 0;
}
