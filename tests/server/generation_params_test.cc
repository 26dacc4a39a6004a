// The generation-parameter table: each API reads only the fields its rows name, a value outside
// a row's range is refused with MindIE's message naming the field, the value and the range, and
// the table itself keeps the shape ParseGenerationParams relies on.
#include "server/generation_params.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "server/http_message.h"

namespace mies::server {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

constexpr Api kEveryApi[] = {Api::kTgi,  Api::kNative, Api::kTriton,      Api::kTritonToken,
                             Api::kVllm, Api::kOpenAi, Api::kOpenAiNative};

struct Parsed {
  Status status;
  engine::GenerateRequest request;
  ApiOptions options;
};

Parsed Parse(const json& params, Api api) {
  ModelInfo model;
  model.name = "stories260K";
  Parsed p;
  p.status = ParseGenerationParams(params, api, model, &p.request, &p.options);
  return p;
}

TEST(GenerationParamsTest, AFieldOutsideItsApisIsNotReadThere) {
  // typical_p: TGI, native and Triton text only. Elsewhere neither applied nor validated.
  for (Api api : {Api::kVllm, Api::kOpenAi, Api::kOpenAiNative, Api::kTritonToken}) {
    auto p = Parse({{"typical_p", 7.0}}, api);
    EXPECT_TRUE(p.status.ok()) << static_cast<int>(api) << ": " << p.status;
    EXPECT_FALSE(p.request.sampling.typical_p.has_value());
  }
  auto tgi = Parse({{"typical_p", 0.5}}, Api::kTgi);
  ASSERT_TRUE(tgi.status.ok()) << tgi.status;
  EXPECT_EQ(tgi.request.sampling.typical_p, 0.5);
  // min_p: vLLM and OpenAI only; a wrong type is no error where the field is not read.
  EXPECT_TRUE(Parse({{"min_p", "high"}}, Api::kTgi).status.ok());
  EXPECT_FALSE(Parse({{"min_p", 0.1}}, Api::kNative).request.sampling.min_p.has_value());
  EXPECT_EQ(Parse({{"min_p", "high"}}, Api::kVllm).status.message(), "min_p must be float type.");
  // max_completion_tokens: OpenAI only, not vLLM's /generate.
  EXPECT_FALSE(Parse({{"max_completion_tokens", 9}}, Api::kVllm).request.stop.max_tokens);
  EXPECT_EQ(Parse({{"max_completion_tokens", 9}}, Api::kOpenAi).request.stop.max_tokens, 9);
  // batch_size: Triton only.
  EXPECT_TRUE(Parse({{"batch_size", 0}}, Api::kNative).status.ok());
  EXPECT_FALSE(Parse({{"batch_size", 0}}, Api::kTriton).status.ok());
  // adapter_id: TGI only.
  EXPECT_TRUE(Parse({{"adapter_id", "lora"}}, Api::kNative).status.ok());
  EXPECT_EQ(Parse({{"adapter_id", "lora"}}, Api::kTgi).status.message(),
            "adapter_id lora is not a loaded LoRA adapter.");
}

TEST(GenerationParamsTest, ARangeErrorNamesTheFieldTheValueAndTheRange) {
  struct Case {
    json params;
    Api api;
    const char* message;
  };
  const Case cases[] = {
      {{{"top_p", 1.5}}, Api::kOpenAi, "Parameter top_p must be in (0.0,1.0], got 1.5."},
      {{{"top_p", 1.0}}, Api::kTgi, "Parameter top_p must be in (0.0,1.0), got 1.0."},
      {{{"temperature", 3}},
       Api::kOpenAiNative,
       "Parameter temperature must be in [0.0,2.0], got 3.0."},
      {{{"temperature", 0}},
       Api::kNative,
       "Parameter temperature must be in (0.0,3.4028234663852886e+38], got 0.0."},
      {{{"top_k", -1}}, Api::kTriton, "Parameter top_k must be in [0,2147483647], got -1"},
      {{{"top_k", 0}}, Api::kVllm, "Parameter top_k must be in -1 || (0,2147483647], got 0"},
      {{{"repetition_penalty", 2.5}},
       Api::kOpenAi,
       "Parameter 'repetition_penalty' must be in (0.0, 2.0], got 2.5."},
      {{{"presence_penalty", -3}},
       Api::kVllm,
       "Parameter presence_penalty not in [-2.0, 2.0], but got -3.0."},
      {{{"seed", 9223372036854775808ull}},
       Api::kTgi,
       "Parameter seed must be in [0, 9223372036854775807], got 9223372036854775808."},
      {{{"max_new_tokens", 0}},
       Api::kTgi,
       "Parameter max_new_tokens must be in (0,2147483647], got 0."},
      {{{"max_tokens", 2147483648}},
       Api::kOpenAi,
       "Parameter max_tokens must be (0,2147483647], got 2147483648"},
      {{{"n", 0u}}, Api::kVllm, "Parameter [n] should be in [1, 8192], got 0."},
      {{{"priority", 6u}}, Api::kTritonToken, "Parameter priority must be in [1,5], got 6."},
      {{{"timeout", 65536u}},
       Api::kNative,
       "Parameter timeout must be strictly positive and small than 65535 seconds, got 65536."},
  };
  for (const auto& c : cases) {
    auto p = Parse(c.params, c.api);
    EXPECT_EQ(p.status.code(), absl::StatusCode::kInvalidArgument) << c.params;
    EXPECT_EQ(p.status.message(), c.message) << c.params;
  }
}

TEST(GenerationParamsTest, RangeEndsAndTheExtraValueAreAccepted) {
  EXPECT_EQ(Parse({{"top_k", -1}}, Api::kOpenAi).request.sampling.top_k, -1);
  EXPECT_EQ(Parse({{"top_k", 0}}, Api::kOpenAiNative).request.sampling.top_k, 0);
  EXPECT_EQ(Parse({{"top_p", 1.0}}, Api::kOpenAi).request.sampling.top_p, 1.0);
  EXPECT_EQ(Parse({{"temperature", 0}}, Api::kVllm).request.sampling.temperature, 0.0);
  EXPECT_EQ(Parse({{"seed", 9223372036854775807ull}}, Api::kTgi).request.sampling.seed,
            9223372036854775807ull);
  EXPECT_EQ(Parse({{"timeout", 65535u}}, Api::kTriton).options.timeout_s, 65535);
  EXPECT_EQ(Parse({{"min_tokens", 0}}, Api::kVllm).request.stop.min_tokens, 0);
}

TEST(GenerationParamsTest, FieldsAreReadInTableOrderAndMayDependOnEarlierOnes) {
  // Two bad fields: the first row's is reported.
  EXPECT_THAT(Parse({{"seed", -1}, {"temperature", -1}}, Api::kVllm).status.message(),
              HasSubstr("temperature"));
  // min_tokens is checked against max_tokens, read before it.
  EXPECT_EQ(Parse({{"min_tokens", 5}, {"max_tokens", 4}}, Api::kOpenAi).status.message(),
            "min_tokens (5) must be less than or equal to max_tokens (4).");
  // include_stop_str_in_output is read only with a stop string or id.
  EXPECT_TRUE(Parse({{"include_stop_str_in_output", "yes"}}, Api::kVllm).status.ok());
  EXPECT_EQ(
      Parse({{"include_stop_str_in_output", "yes"}, {"stop", "x"}}, Api::kVllm).status.message(),
      "include_stop_str_in_output must be boolean type.");
  EXPECT_TRUE(Parse({{"include_stop_str_in_output", true}, {"stop_token_ids", {3}}}, Api::kVllm)
                  .request.stop.include_stop_str_in_output);
  // The TGI-like APIs default max_new_tokens to 20; the others leave it to the engine.
  EXPECT_EQ(Parse(nullptr, Api::kTriton).request.stop.max_tokens, 20);
  EXPECT_FALSE(Parse(nullptr, Api::kOpenAi).request.stop.max_tokens.has_value());
  EXPECT_EQ(Parse(json::array(), Api::kTgi).status.message(), "parameters must be object type.");
}

TEST(GenerationParamsTest, TheTableHasOneRowPerFieldAndApiWithARangeMessageForNumbers) {
  std::map<std::string, ApiSet> apis_of;
  std::string previous;
  std::set<std::string> done;  // fields whose rows ended
  for (const ParamField& f : GenerationParamTable()) {
    const std::string name = f.name;
    EXPECT_NE(f.apis, 0u) << name << " is read by no API";
    EXPECT_EQ(f.apis & ~kAllApis, 0u) << name;
    // Rows of one field sit together and never claim an API twice.
    if (name != previous) {
      EXPECT_FALSE(done.count(name)) << name << ": its rows are not next to each other";
      if (!previous.empty()) done.insert(previous);
    }
    EXPECT_EQ(apis_of[name] & f.apis, 0u) << name << " has two rows for one API";
    apis_of[name] |= f.apis;
    previous = name;
    EXPECT_NE(f.apply, nullptr) << name;
    const bool numeric = !std::holds_alternative<std::monostate>(f.range);
    EXPECT_EQ(numeric, !f.range_error.empty()) << name;
    if (numeric) {
      EXPECT_THAT(f.range_error, HasSubstr(name)) << name;
      EXPECT_THAT(f.range_error, HasSubstr("{}")) << name;
    }
  }
  for (Api api : kEveryApi) EXPECT_TRUE(Accepts(apis_of["seed"], api));
}

TEST(GenerationParamsTest, StructuredOutputFieldsAreReadOrRefusedByNameOnEveryApi) {
  std::map<std::string, ApiSet> apis_of;
  for (const ParamField& f : GenerationParamTable()) apis_of[f.name] |= f.apis;
  for (const char* field : {"response_format", "guided_json", "guided_regex", "guided_choice",
                            "guided_grammar", "structured_outputs", "grammar"}) {
    EXPECT_EQ(apis_of[field], kAllApis) << field;
  }
  // One constraint at most, whatever the fields.
  auto p = Parse({{"guided_regex", "a+"}}, Api::kVllm);
  ASSERT_TRUE(p.status.ok()) << p.status;
  ASSERT_TRUE(p.options.constraint.has_value());
  EXPECT_EQ(p.options.constraint->kind, ConstraintSpec::Kind::kRegex);
  EXPECT_EQ(Parse({{"guided_regex", "a"}, {"structured_outputs", {{"regex", "b"}}}}, Api::kOpenAi)
                .status.message(),
            "guided_regex and structured_outputs.regex both ask for structured output; use one");
  EXPECT_EQ(
      Parse({{"grammar", {{"type", "regex"}, {"value", "a"}}}}, Api::kNative).status.message(),
      "grammar is not supported by the MindIE /infer API");
  EXPECT_FALSE(Parse({{"response_format", {{"type", "text"}}}}, Api::kOpenAi)
                   .options.constraint.has_value());
}

TEST(GenerationParamsTest, LogitBiasIdsMustBeInTheVocabulary) {
  ModelInfo model;
  model.vocab_size = 100;
  engine::GenerateRequest req;
  ApiOptions opt;
  Status st = ParseGenerationParams({{"logit_bias", {{"7", 5}, {"100", 1}}}}, Api::kOpenAi, model,
                                    &req, &opt);
  EXPECT_EQ(HttpStatusFor(st), 400);
  EXPECT_EQ(st.message(),
            "token_id(s) [100] in logit_bias contain out-of-vocab token ids. Vocabulary size: 100");
  ASSERT_TRUE(
      ParseGenerationParams({{"logit_bias", {{"99", -2.5}}}}, Api::kVllm, model, &req, &opt).ok());
  EXPECT_EQ(req.sampling.logit_bias, (std::vector<std::pair<int32_t, float>>{{99, -2.5f}}));
  // Not a TGI field: not read there.
  EXPECT_TRUE(ParseGenerationParams({{"logit_bias", 1}}, Api::kTgi, model, &req, &opt).ok());
}

// The probes of a row's range: its ends (accepted unless open), a value past each end (refused)
// and the extra value (accepted).
std::vector<std::pair<json, bool>> RangeProbes(const ParamField& f) {
  std::vector<std::pair<json, bool>> probes;
  if (const auto* r = std::get_if<IntRange>(&f.range)) {
    auto number = [&](int64_t v) {
      return f.type == ParamType::kUnsigned ? json(static_cast<uint64_t>(v)) : json(v);
    };
    probes = {{number(r->lo), true}, {number(r->hi), true}};
    if (f.type == ParamType::kUnsigned) {
      probes.push_back({json(static_cast<uint64_t>(r->hi) + 1), false});
      if (r->lo > 0) probes.push_back({number(r->lo - 1), false});
    } else {
      probes.push_back({number(r->hi + 1), false});
      probes.push_back({number(r->lo - 1), false});
    }
    if (r->also) probes.push_back({number(*r->also), true});
  } else if (const auto* r = std::get_if<FloatRange>(&f.range)) {
    probes = {{r->lo, !r->lo_open},
              {r->hi, !r->hi_open},
              {r->lo - std::max(1.0, std::abs(r->lo)), false},
              {r->hi + std::max(1.0, std::abs(r->hi)), false}};
  }
  return probes;
}

TEST(GenerationParamsTest, EveryNumericRowRefusesValuesJustOutsideItsRange) {
  int checked = 0;
  for (const ParamField& f : GenerationParamTable()) {
    for (Api api : kEveryApi) {
      if (!Accepts(f.apis, api)) continue;
      for (const auto& [value, accepted] : RangeProbes(f)) {
        auto p = Parse({{f.name, value}}, api);
        const std::string what =
            std::string(f.name) + "=" + value.dump() + " on api " + std::to_string(int(api));
        ++checked;
        if (accepted) {
          EXPECT_TRUE(p.status.ok()) << what << ": " << p.status;
          continue;
        }
        EXPECT_EQ(p.status.code(), absl::StatusCode::kInvalidArgument) << what;
        EXPECT_THAT(p.status.message(), HasSubstr(f.name)) << what;
        EXPECT_THAT(p.status.message(), HasSubstr("got " + value.dump())) << what;
      }
    }
  }
  EXPECT_GT(checked, 100);
}

}  // namespace
}  // namespace mies::server
