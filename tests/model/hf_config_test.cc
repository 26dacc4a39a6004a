#include "model/hf_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "model_test_util.h"
#include "support/shared_data.h"

namespace mies::model {
namespace {

using ::testing::HasSubstr;

std::string Llama(const std::string& extra = "") {
  return R"({"architectures":["LlamaForCausalLM"],"hidden_size":64,"intermediate_size":172,
    "num_hidden_layers":2,"num_attention_heads":8,"num_key_value_heads":4,"vocab_size":512,
    "max_position_embeddings":512,"rms_norm_eps":1e-5)" +
         extra + "}";
}

std::string ErrorOf(const std::string& text) {
  auto c = ParseHfConfig(text, "config.json");
  EXPECT_FALSE(c.ok());
  return c.ok() ? "" : std::string(c.status().message());
}

TEST(HfConfigTest, LlamaFieldsAndDefaults) {
  auto c = ParseHfConfig(Llama(R"(,"eos_token_id":[2,1],"tie_word_embeddings":true)"), "c");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, Architecture::kLlama);
  EXPECT_EQ(c->head_dim, 8);
  EXPECT_EQ(c->num_key_value_heads, 4);
  EXPECT_DOUBLE_EQ(c->rope_theta, 10000.0);
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-5);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_FALSE(c->qkv_bias);
  EXPECT_EQ(c->eos_token_ids, (std::vector<int64_t>{2, 1}));
}

TEST(HfConfigTest, QwenFamiliesSetBiasAndQkNorm) {
  std::string q2 = Llama();
  q2.replace(q2.find("LlamaForCausalLM"), 16, "Qwen2ForCausalLM");
  auto c2 = ParseHfConfig(q2, "c");
  ASSERT_TRUE(c2.ok());
  EXPECT_TRUE(c2->qkv_bias);
  EXPECT_FALSE(c2->o_bias);
  std::string q3 = Llama(R"(,"head_dim":16)");
  q3.replace(q3.find("LlamaForCausalLM"), 16, "Qwen3ForCausalLM");
  auto c3 = ParseHfConfig(q3, "c");
  ASSERT_TRUE(c3.ok());
  EXPECT_TRUE(c3->qk_norm);
  EXPECT_EQ(c3->head_dim, 16);
}

TEST(HfConfigTest, UnsupportedArchitectureIsNamed) {
  std::string g = Llama();
  g.replace(g.find("LlamaForCausalLM"), 16, "GemmaForCausalLM");
  EXPECT_THAT(ErrorOf(g), HasSubstr("architecture \"GemmaForCausalLM\" is not supported"));
}

TEST(HfConfigTest, MissingOrMistypedFieldsAreNamed) {
  EXPECT_THAT(ErrorOf(R"({"architectures":["LlamaForCausalLM"]})"),
              HasSubstr("required field \"hidden_size\" is missing"));
  EXPECT_THAT(ErrorOf(Llama(R"(,"rope_theta":"big")")),
              HasSubstr("field \"rope_theta\" must be a number"));
  EXPECT_THAT(ErrorOf(Llama(R"(,"num_key_value_heads":3)")), HasSubstr("must be a multiple"));
  EXPECT_THAT(ErrorOf("not json"), HasSubstr("not valid JSON"));
  EXPECT_THAT(ErrorOf(Llama(R"(,"hidden_act":"gelu")")), HasSubstr("hidden_act \"gelu\""));
  EXPECT_THAT(ErrorOf(Llama(R"(,"torch_dtype":"float64")")), HasSubstr("torch_dtype \"float64\""));
}

// Sizes far beyond any model once went straight into allocations (RoPE tables of head_dim / 2
// doubles) and products; integers above INT64_MAX once wrapped to negative ids.
TEST(HfConfigTest, AbsurdSizesAndHugeIntegersAreNamedErrors) {
  EXPECT_THAT(ErrorOf(Llama(R"(,"head_dim":1000000000000)")),
              HasSubstr("field \"head_dim\" = 1000000000000 must be <= 1048576"));
  EXPECT_THAT(ErrorOf(R"({"architectures":["LlamaForCausalLM"],"hidden_size":4398046511104,
    "intermediate_size":1,"num_hidden_layers":1,"num_attention_heads":1,"vocab_size":2})"),
              HasSubstr("field \"hidden_size\" = 4398046511104 must be <= 1048576"));
  EXPECT_THAT(ErrorOf(Llama(R"(,"num_hidden_layers":100000)")),
              HasSubstr("\"num_hidden_layers\" = 100000 must be <= 4096"));
  EXPECT_THAT(ErrorOf(Llama(R"(,"max_position_embeddings":4294967296)")),
              HasSubstr("must be <= 2147483647"));
  EXPECT_THAT(ErrorOf(Llama(R"(,"eos_token_id":18446744073709551615)")),
              HasSubstr("\"eos_token_id\" must be an integer or a list of integers"));
  EXPECT_THAT(ErrorOf(Llama(R"(,"bos_token_id":18446744073709551615)")),
              HasSubstr("\"bos_token_id\" must be a 64-bit integer"));
  auto ok = ParseHfConfig(Llama(R"(,"head_dim":1048576)"), "c");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->head_dim, 1048576);
}

// 20000 nested arrays once overflowed the stack in nlohmann's dump() of the error message.
TEST(HfConfigTest, DeeplyNestedJsonIsRejectedBeforeParsing) {
  const std::string deep = std::string(20000, '[') + std::string(20000, ']');
  EXPECT_THAT(ErrorOf(R"({"architectures":["LlamaForCausalLM"],"hidden_size":)" + deep + "}"),
              HasSubstr("config.json: JSON nests 20001 levels deep (at most 64 allowed)"));
  auto g = ParseGenerationConfig(R"({"eos_token_id":)" + deep + "}", "generation_config.json");
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(std::string(g.status().message()), HasSubstr("JSON nests 20001 levels deep"));
  // Brackets inside strings do not count.
  auto ok = ParseHfConfig(
      Llama(R"(,"torch_dtype":"float32","note":")" + std::string(100, '[') + R"(")"), "c");
  EXPECT_TRUE(ok.ok()) << ok.status();
}

TEST(HfConfigTest, RopeScalingKinds) {
  EXPECT_THAT(ErrorOf(Llama(R"(,"rope_scaling":{"type":"dynamic","factor":4})")),
              HasSubstr("rope_scaling type \"dynamic\" is not supported"));
  // yarn (transformers' _compute_yarn_parameters): frequencies above beta_fast rotations over
  // the original context unchanged, below beta_slow divided by the factor; cos/sin scaled by
  // mscale / mscale_all_dim.
  auto yarn = ParseHfConfig(
      Llama(R"(,"rope_scaling":{"type":"yarn","factor":4,"original_max_position_embeddings":64,
                "mscale":1.0,"mscale_all_dim":0.5})"),
      "c");
  ASSERT_TRUE(yarn.ok()) << yarn.status();
  HfConfig no_scaling = *yarn;
  no_scaling.rope_scaling = {};
  const auto fy = yarn->RopeInvFreq(), f0 = no_scaling.RopeInvFreq();
  EXPECT_DOUBLE_EQ(fy[0], f0[0]);
  EXPECT_DOUBLE_EQ(fy.back(), f0.back() / 4);
  const double m1 = 0.1 * std::log(4.0) + 1, m05 = 0.1 * 0.5 * std::log(4.0) + 1;
  EXPECT_NEAR(yarn->RopeAttentionFactor(), m1 / m05, 1e-12);
  auto lin = ParseHfConfig(Llama(R"(,"rope_scaling":{"type":"linear","factor":2.0})"), "c");
  ASSERT_TRUE(lin.ok());
  auto plain = ParseHfConfig(Llama(), "c");
  ASSERT_TRUE(plain.ok());
  auto fl = lin->RopeInvFreq(), fp = plain->RopeInvFreq();
  ASSERT_EQ(fl.size(), 4u);
  for (size_t i = 0; i < fl.size(); ++i) EXPECT_DOUBLE_EQ(fl[i], fp[i] / 2);

  // llama3: short wavelengths kept, long ones divided by factor.
  auto l3 = ParseHfConfig(Llama(R"(,"head_dim":64,"rope_theta":500000,"rope_scaling":{
      "rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,
      "original_max_position_embeddings":8192})"),
                          "c");
  ASSERT_TRUE(l3.ok()) << l3.status();
  auto f3 = l3->RopeInvFreq();
  HfConfig base = *l3;
  base.rope_scaling = {};
  auto fb = base.RopeInvFreq();
  EXPECT_DOUBLE_EQ(f3[0], fb[0]);
  EXPECT_DOUBLE_EQ(f3.back(), fb.back() / 8);
}

std::string As(std::string text, const std::string& arch) {
  return text.replace(text.find("LlamaForCausalLM"), 16, arch);
}

TEST(HfConfigTest, MistralSlidingWindowIsKeptAndQwensIsRefused) {
  auto m = ParseHfConfig(As(Llama(R"(,"sliding_window":128)"), "MistralForCausalLM"), "c");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->sliding_window, 128);
  // A window covering the whole context changes nothing: 0 (none).
  auto wide = ParseHfConfig(As(Llama(R"(,"sliding_window":4096)"), "MistralForCausalLM"), "c");
  ASSERT_TRUE(wide.ok());
  EXPECT_EQ(wide->sliding_window, 0);
  auto none = ParseHfConfig(As(Llama(R"(,"sliding_window":null)"), "MixtralForCausalLM"), "c");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->sliding_window, 0);
  // Qwen2 lists a window but does not use it unless use_sliding_window is true; then it applies
  // to some layers only, which is refused.
  EXPECT_TRUE(
      ParseHfConfig(
          As(Llama(R"(,"sliding_window":128,"use_sliding_window":false)"), "Qwen2ForCausalLM"), "c")
          .ok());
  EXPECT_THAT(
      ErrorOf(As(Llama(R"(,"sliding_window":128,"use_sliding_window":true)"), "Qwen2ForCausalLM")),
      HasSubstr("use_sliding_window with sliding_window 128 shorter than "
                "max_position_embeddings 512 is not supported"));
}

TEST(HfConfigTest, MoeArchitecturesReadTheirExpertFields) {
  auto q3 =
      ParseHfConfig(As(Llama(R"(,"num_experts":8,"num_experts_per_tok":2,"moe_intermediate_size":32,
                 "norm_topk_prob":true,"decoder_sparse_step":1,"mlp_only_layers":[0])"),
                       "Qwen3MoeForCausalLM"),
                    "c");
  ASSERT_TRUE(q3.ok()) << q3.status();
  EXPECT_EQ(q3->architecture, Architecture::kQwen3Moe);
  EXPECT_TRUE(q3->qk_norm);
  EXPECT_EQ(q3->moe.num_experts, 8);
  EXPECT_EQ(q3->moe.top_k, 2);
  EXPECT_EQ(q3->moe.expert_intermediate_size, 32);
  EXPECT_TRUE(q3->moe.norm_topk_prob);
  EXPECT_FALSE(q3->IsSparseLayer(0));  // mlp_only_layers
  EXPECT_TRUE(q3->IsSparseLayer(1));

  auto q2 =
      ParseHfConfig(As(Llama(R"(,"num_experts":4,"num_experts_per_tok":2,"moe_intermediate_size":32,
                 "shared_expert_intermediate_size":64,"decoder_sparse_step":2)"),
                       "Qwen2MoeForCausalLM"),
                    "c");
  ASSERT_TRUE(q2.ok()) << q2.status();
  EXPECT_TRUE(q2->qkv_bias);
  EXPECT_FALSE(q2->moe.norm_topk_prob);  // Qwen2-MoE's default
  EXPECT_EQ(q2->moe.shared_expert_intermediate_size, 64);
  EXPECT_FALSE(q2->IsSparseLayer(0));  // (layer + 1) % decoder_sparse_step
  EXPECT_TRUE(q2->IsSparseLayer(1));

  auto mx = ParseHfConfig(
      As(Llama(R"(,"num_local_experts":4,"num_experts_per_tok":2)"), "MixtralForCausalLM"), "c");
  ASSERT_TRUE(mx.ok()) << mx.status();
  EXPECT_EQ(mx->moe.num_experts, 4);
  EXPECT_EQ(mx->moe.expert_intermediate_size, 172);  // Mixtral's experts use intermediate_size
  EXPECT_TRUE(mx->moe.norm_topk_prob);
  EXPECT_TRUE(mx->IsSparseLayer(0) && mx->IsSparseLayer(1));
  EXPECT_FALSE(ParseHfConfig(Llama(), "c")->is_moe());
}

TEST(HfConfigTest, MoeFieldErrorsNameTheField) {
  EXPECT_THAT(
      ErrorOf(As(Llama(R"(,"num_experts":8,"moe_intermediate_size":32)"), "Qwen3MoeForCausalLM")),
      HasSubstr("required field \"num_experts_per_tok\" is missing"));
  EXPECT_THAT(ErrorOf(As(Llama(R"(,"num_experts":4,"num_experts_per_tok":5,
                                  "moe_intermediate_size":32)"),
                         "Qwen3MoeForCausalLM")),
              HasSubstr("\"num_experts_per_tok\" = 5 must be <= 4"));
  EXPECT_THAT(ErrorOf(As(Llama(R"(,"num_experts":4,"num_experts_per_tok":2,
                                  "moe_intermediate_size":32,"mlp_only_layers":[7])"),
                         "Qwen3MoeForCausalLM")),
              HasSubstr("mlp_only_layers entry 7 is not a layer index in [0, 2)"));
  EXPECT_THAT(ErrorOf(As(Llama(), "DeepseekV9ForCausalLM")),
              HasSubstr("supported: LlamaForCausalLM, MistralForCausalLM"));
}

TEST(HfConfigTest, GenerationConfigEosListAndSamplingDefaults) {
  auto g = ParseGenerationConfig(
      R"({"eos_token_id":[2,1],"bos_token_id":1,"do_sample":true,"temperature":0.6,
          "top_p":0.9,"top_k":20,"repetition_penalty":1.05})",
      "g");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->eos_token_ids, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(*g->top_k, 20);
  EXPECT_DOUBLE_EQ(*g->temperature, 0.6);
  EXPECT_TRUE(*g->do_sample);
  auto single = ParseGenerationConfig(R"({"eos_token_id":7})", "g");
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(single->eos_token_ids, (std::vector<int64_t>{7}));
  auto bad = ParseGenerationConfig(R"({"top_p":1.5})", "g");
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("top_p 1.5 must be in (0, 1]"));
  bad = ParseGenerationConfig(R"({"eos_token_id":"x"})", "g");
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("eos_token_id"));
}

TEST(HfConfigTest, Stories260KLoadsThroughTheModelFileRule) {
  MIES_REQUIRE_SHARED_DATA(testing::HaveShared(), "shared dir " + testing::SharedDir());
  // The shared copy is mode 0444: "other" may read it, which MindIE's 0750 rule refuses.
  auto refused = LoadHfConfig(testing::Stories260KDir());
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("wider than 0750"));
  testing::TempDir dir;
  testing::CopyModelDir(testing::Stories260KDir(), dir.path());
  auto c = LoadHfConfig(dir.path());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->hidden_size, 64);
  EXPECT_EQ(c->num_key_value_heads, 4);
  auto g = LoadGenerationDefaults(dir.path(), *c);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->eos_token_ids, (std::vector<int64_t>{2, 1}));
}

}  // namespace
}  // namespace mies::model
