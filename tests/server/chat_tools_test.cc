// The chat features of the OpenAI routes without sockets: tool calls and reasoning in whole and
// streamed answers (and the npm `openai` client assembling a streamed one), the structured-output
// fields of every API into ConstraintSpecs and their errors, tool_choice's constraint, and the
// conformance points of issue #20 (empty content, unknown or missing model, logit_bias).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "server/constraint_spec.h"
#include "server/serving_fixture.h"
#include "server/tool_call_parser.h"

namespace mies::server {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using json = nlohmann::json;

// Records what it is asked to compile; answers `result`.
class FakeConstraintCompiler : public ConstraintCompiler {
 public:
  Status Attach(const ConstraintSpec& spec, engine::GenerateRequest*) override {
    specs.push_back(spec);
    return result;
  }
  std::vector<ConstraintSpec> specs;
  Status result;
};

class ChatToolsTest : public testing::ServingFixture {
 protected:
  // The status and body of a request answered at once.
  std::pair<int, std::string> Answer(const std::string& path, const std::string& body) {
    auto r = Post(path, body);
    if (!r.response) return {0, "(a job)"};
    return {r.response->status, r.response->body};
  }
  // The spec a request hands the compiler (fails the test when there is none).
  ConstraintSpec SpecOf(const std::string& path, const std::string& body) {
    compiler_.specs.clear();
    auto r = Post(path, body);
    EXPECT_TRUE(r.job.has_value()) << body << " -> " << (r.response ? r.response->body : "");
    EXPECT_EQ(compiler_.specs.size(), 1u) << body;
    return compiler_.specs.empty() ? ConstraintSpec{} : compiler_.specs.back();
  }

  static std::vector<json> Events(const std::string& sse) {
    std::vector<json> events;
    size_t pos = 0;
    while ((pos = sse.find("data: ", pos)) != std::string::npos) {
      size_t end = sse.find("\n\n", pos);
      std::string payload = sse.substr(pos + 6, end - pos - 6);
      if (payload != "[DONE]") events.push_back(json::parse(payload));
      pos = end;
    }
    return events;
  }

  // Plays `pieces` as one sequence's outputs (the last finishing with `finish`) through the
  // request's formatter; returns everything it wrote.
  std::string Play(RouteResult& r, const std::vector<std::string>& pieces,
                   engine::FinishReason finish = engine::FinishReason::kStop) {
    std::string bytes;
    for (size_t i = 0; i < pieces.size(); ++i) {
      const bool last = i + 1 == pieces.size();
      bytes += r.job->formatter->OnOutput(Out(0, {static_cast<int32_t>(100 + i)}, pieces[i],
                                              last ? finish : engine::FinishReason::kNone, last,
                                              static_cast<int64_t>(pieces.size())));
    }
    return bytes + r.job->formatter->Finish();
  }

  FakeConstraintCompiler compiler_;
};

constexpr const char* kTools =
    R"([{"type":"function","function":{"name":"get_weather","description":"Weather",
        "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},
       {"type":"function","function":{"name":"get_time","parameters":{"type":"object"}}}])";

std::string ChatBody(const std::string& extra) {
  return R"({"model":"stories260K","messages":[{"role":"user","content":"Weather?"}])" + extra +
         "}";
}

const std::vector<std::string> kHermesCall = {
    "Checking.\n<tool_", "call>\n{\"name\": \"get_weather\", \"arguments\": {\"ci",
    "ty\": \"Paris\"}}\n</tool_call>"};

// --- conformance ---------------------------------------------------------------------------

TEST_F(ChatToolsTest, EmptyMessageContentIsAccepted) {
  auto r = Post("/v1/chat/completions",
                R"({"model":"stories260K","messages":[{"role":"system","content":""},
                    {"role":"user","content":""}]})");
  ASSERT_TRUE(r.job.has_value()) << r.response->body;
  EXPECT_EQ(r.job->request.prompt_ids, Encode("<s>system: \nuser: \nassistant:", false));
}

TEST_F(ChatToolsTest, AMissingModelMeansTheServedOne) {
  EXPECT_TRUE(Post("/v1/chat/completions", R"({"messages":[{"role":"user","content":"x"}]})")
                  .job.has_value());
  EXPECT_TRUE(Post("/v1/completions", R"({"prompt":"x","model":null})").job.has_value());
  EXPECT_TRUE(Post("/v1/completions", R"({"prompt":"x","model":""})").job.has_value());
  EXPECT_EQ(Answer("/tokenize", R"({"prompt":"x"})").first, 200);
  EXPECT_EQ(Answer("/generate", R"({"prompt":"x"})").first, 0);  // a job
}

TEST_F(ChatToolsTest, AnUnknownModelIs404OnOpenAiAndVllmRoutes) {
  for (const char* path : {"/tokenize", "/detokenize"}) {
    auto [status, body] = Answer(path, R"({"model":"nope","prompt":"x","tokens":[1]})");
    EXPECT_EQ(status, 404) << path << body;
    EXPECT_EQ(json::parse(body)["error"]["type"], "NotFoundError");
  }
  ctx_.model.native_openai = true;
  auto [status, body] = Answer("/v1/chat/completions",
                               R"({"model":"nope","messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(status, 404);
  EXPECT_THAT(body, HasSubstr("Got model nope, but not found in server"));
}

TEST_F(ChatToolsTest, LogitBiasIsAppliedAndIdsOutsideTheVocabularyAre400) {
  auto r = Post("/v1/completions", R"({"prompt":"x","logit_bias":{"5":2.5,"17":-100}})");
  ASSERT_TRUE(r.job.has_value()) << r.response->body;
  using Bias = std::vector<std::pair<int32_t, float>>;
  EXPECT_EQ(r.job->request.sampling.logit_bias, (Bias{{5, 2.5f}, {17, -100.0f}}));
  auto g = Post("/generate", R"({"prompt":"x","logit_bias":{"3":1}})");
  ASSERT_TRUE(g.job.has_value());
  EXPECT_EQ(g.job->request.sampling.logit_bias, (Bias{{3, 1.0f}}));

  const std::string vocab = std::to_string(ctx_.model.vocab_size);
  auto [status, body] =
      Answer("/v1/chat/completions", ChatBody(R"(,"logit_bias":{"1":1,"99999":5,"-1":1})"));
  EXPECT_EQ(status, 400);
  EXPECT_THAT(body, HasSubstr("token_id(s) [-1, 99999] in logit_bias contain out-of-vocab token "
                              "ids. Vocabulary size: " +
                              vocab));
  EXPECT_EQ(Answer("/v1/completions", R"({"prompt":"x","logit_bias":{"a":1}})").first, 422);
  EXPECT_EQ(Answer("/v1/completions", R"({"prompt":"x","logit_bias":{"1":101}})").first, 422);
  EXPECT_EQ(Answer("/v1/completions", R"({"prompt":"x","logit_bias":[1]})").first, 422);
}

// --- structured output fields ------------------------------------------------------------------

TEST_F(ChatToolsTest, EveryApisStructuredOutputFieldsBecomeOneSpec) {
  ctx_.constraints = &compiler_;
  using Kind = ConstraintSpec::Kind;
  const json schema = {{"type", "object"}, {"properties", {{"a", {{"type", "integer"}}}}}};
  ConstraintSpec s = SpecOf(
      "/v1/chat/completions",
      ChatBody(R"(,"response_format":{"type":"json_schema","json_schema":{"name":"x","strict":true,
               "schema":)" +
               schema.dump() + "}}"));
  EXPECT_EQ(s, (ConstraintSpec{Kind::kJsonSchema, schema.dump(), "response_format"}));
  EXPECT_EQ(
      SpecOf("/v1/completions", R"({"prompt":"x","response_format":{"type":"json_object"}})").kind,
      Kind::kJsonObject);
  // guided_json as JSON text, as vLLM accepts it.
  s = SpecOf("/v1/completions",
             R"({"prompt":"x","guided_json":)" + json(schema.dump()).dump() + "}");
  EXPECT_EQ(s, (ConstraintSpec{Kind::kJsonSchema, schema.dump(), "guided_json"}));
  EXPECT_EQ(SpecOf("/v1/chat/completions", ChatBody(R"(,"guided_regex":"[0-9]+")")),
            (ConstraintSpec{Kind::kRegex, "[0-9]+", "guided_regex"}));
  EXPECT_EQ(SpecOf("/v1/chat/completions", ChatBody(R"(,"guided_choice":["yes","no"])")),
            (ConstraintSpec{Kind::kChoice, R"(["yes","no"])", "guided_choice"}));
  EXPECT_EQ(SpecOf("/v1/completions", R"({"prompt":"x","guided_grammar":"root ::= \"a\""})"),
            (ConstraintSpec{Kind::kGrammar, "root ::= \"a\"", "guided_grammar"}));
  EXPECT_EQ(
      SpecOf("/v1/completions",
             R"({"prompt":"x","structured_outputs":{"choice":["a","b"],"json_object":false}})"),
      (ConstraintSpec{Kind::kChoice, R"(["a","b"])", "structured_outputs.choice"}));
  EXPECT_EQ(SpecOf("/v1/completions",
                   R"({"prompt":"x","response_format":{"type":"structural_tag",
                      "structures":[{"begin":"<f>","schema":{},"end":"</f>"}],"triggers":["<f>"]}})")
                .kind,
            Kind::kStructuralTag);
  // vLLM's /generate, TGI's grammar.
  EXPECT_EQ(SpecOf("/generate", R"({"prompt":"x","guided_regex":"a|b"})"),
            (ConstraintSpec{Kind::kRegex, "a|b", "guided_regex"}));
  EXPECT_EQ(SpecOf("/generate", R"({"inputs":"x","parameters":{"grammar":{"type":"json",
                                    "value":)" +
                                    schema.dump() + "}}}"),
            (ConstraintSpec{Kind::kJsonSchema, schema.dump(), "grammar"}));
  EXPECT_EQ(SpecOf("/generate_stream",
                   R"({"inputs":"x","parameters":{"grammar":{"type":"regex","value":"\\d+"}}})"),
            (ConstraintSpec{Kind::kRegex, "\\d+", "grammar"}));
  // A schema keeps the client's key order (properties are generated in it), on every route.
  const std::string unsorted =
      R"({"type":"object","properties":{"z":{"type":"integer"},"a":{"type":"string"}}})";
  const std::pair<std::string, std::string> ordered[] = {
      {"/v1/chat/completions",
       ChatBody(R"(,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":)" +
                unsorted + "}}")},
      {"/v1/completions", R"({"prompt":"x","guided_json":)" + unsorted + "}"},
      {"/generate", R"({"prompt":"x","structured_outputs":{"json":)" + unsorted + "}}"},
      {"/generate", R"({"inputs":"x","parameters":{"grammar":{"type":"json_schema",)"
                    R"("value":{"name":"n","schema":)" +
                        unsorted + "}}}}"}};
  for (const auto& [path, body] : ordered) EXPECT_EQ(SpecOf(path, body).source, unsorted) << body;
  // No constraint: nothing to compile.
  compiler_.specs.clear();
  EXPECT_TRUE(Post("/v1/chat/completions", ChatBody(R"(,"response_format":{"type":"text"})"))
                  .job.has_value());
  EXPECT_TRUE(compiler_.specs.empty());
}

TEST_F(ChatToolsTest, StructuredOutputErrors) {
  // No grammar engine in this build: 400 naming the field.
  auto [status, body] =
      Answer("/v1/chat/completions", ChatBody(R"(,"response_format":{"type":"json_object"})"));
  EXPECT_EQ(status, 400);
  EXPECT_THAT(body, HasSubstr("response_format: structured output needs the grammar engine"));

  ctx_.constraints = &compiler_;
  // The compiler's own errors (an unsupported schema keyword) pass through as 400.
  compiler_.result = InvalidArgument("unsupported JSON schema keyword: patternProperties");
  std::tie(status, body) =
      Answer("/v1/completions", R"({"prompt":"x","guided_json":{"patternProperties":{"a":{}}}})");
  EXPECT_EQ(status, 400);
  EXPECT_THAT(body, HasSubstr("guided_json: unsupported JSON schema keyword: patternProperties"));
  compiler_.result = OkStatus();

  const struct {
    const char* path;
    const char* body;
    int status;
    const char* message;
  } cases[] = {
      // Routes that do not define a field refuse it by name.
      {"/infer", R"({"inputs":"x","parameters":{"response_format":{"type":"json_object"}}})", 422,
       "response_format is not supported by the MindIE /infer API"},
      {"/v2/models/stories260K/generate", R"({"text_input":"x","parameters":{"guided_json":{}}})",
       422, "guided_json is not supported by the Triton generate API"},
      {"/generate", R"({"inputs":"x","parameters":{"guided_regex":"a"}})", 422,
       "guided_regex is not supported by the TGI API"},
      {"/generate", R"({"prompt":"x","response_format":{"type":"json_object"}})", 422,
       "response_format is not supported by the vLLM /generate API"},
      {"/v1/completions", R"({"prompt":"x","grammar":{"type":"regex","value":"a"}})", 422,
       "grammar is not supported by the OpenAI API"},
      // Shapes.
      {"/v1/completions", R"({"prompt":"x","response_format":{"type":"xml"}})", 422,
       "response_format.type must be one of text, json_object, json_schema, structural_tag"},
      {"/v1/completions",
       R"({"prompt":"x","response_format":{"type":"json_schema","json_schema":{"schema":{}}}})",
       422, "response_format.json_schema.name must be a string of 1 to 64 chars"},
      {"/v1/completions", R"({"prompt":"x","guided_choice":[]})", 422,
       "guided_choice must be a non-empty list of strings"},
      {"/v1/completions", R"({"prompt":"x","guided_json":"{not json"})", 422,
       "guided_json must be a JSON schema"},
      {"/v1/completions", R"({"prompt":"x","structured_outputs":{"regex":"a","choice":["b"]}})",
       422, "structured_outputs sets regex, choice; only one kind of constraint can be used"},
      {"/v1/completions", R"({"prompt":"x","guided_regex":"a","guided_choice":["b"]})", 422,
       "guided_regex and guided_choice both ask for structured output; use one"},
      {"/generate", R"({"inputs":"x","parameters":{"grammar":{"type":"lark","value":"a"}}})", 422,
       "grammar.type must be one of json, regex, json_schema; got lark"},
  };
  for (const auto& c : cases) {
    std::tie(status, body) = Answer(c.path, c.body);
    EXPECT_EQ(status, c.status) << c.path << " " << c.body << " -> " << body;
    EXPECT_THAT(body, HasSubstr(c.message)) << c.path << " " << c.body;
  }
  // MindIE's native OpenAI flavour has no response_format.
  ctx_.model.native_openai = true;
  std::tie(status, body) =
      Answer("/v1/chat/completions", ChatBody(R"(,"response_format":{"type":"json_object"})"));
  EXPECT_EQ(status, 422);
  EXPECT_THAT(body, HasSubstr("response_format is not supported by the OpenAI (openAiSupport"));
}

// --- tool_choice -----------------------------------------------------------------------------

TEST_F(ChatToolsTest, ToolChoiceRequiredAndNamedForceCallsInTheModelsSyntax) {
  ctx_.constraints = &compiler_;
  // No syntax known for the model: hermes.
  ConstraintSpec s =
      SpecOf("/v1/chat/completions",
             ChatBody(R"(,"tool_choice":"required","tools":)" + std::string(kTools)));
  EXPECT_EQ(s.kind, ConstraintSpec::Kind::kStructuralTag);
  EXPECT_EQ(s.field, "tool_choice");
  json tag = json::parse(s.source);
  EXPECT_EQ(tag["type"], "structural_tag");
  EXPECT_EQ(tag["format"],
            json(HermesToolCallFormat().CallsFormat(
                std::vector<FunctionTool>{
                    {"get_weather", json::parse(kTools)[0]["function"]["parameters"]},
                    {"get_time", {{"type", "object"}}}},
                /*parallel=*/true)));
  // The tool's schema keeps the client's key order (properties are generated in it).
  EXPECT_LT(s.source.find(R"("type":"object","properties")"), s.source.find(R"("required")"));
  // A named function: that one only, once.
  ctx_.model.tool_format = &Llama3JsonToolCallFormat();
  s = SpecOf("/v1/chat/completions",
             ChatBody(R"(,"tool_choice":{"type":"function","function":{"name":"get_time"}},
                      "tools":)" +
                      std::string(kTools)));
  tag = json::parse(s.source)["format"];
  ASSERT_EQ(tag["tags"].size(), 1u);
  EXPECT_EQ(tag["tags"][0]["begin"], R"({"name": "get_time", "parameters": )");
  EXPECT_TRUE(tag["stop_after_first"].get<bool>());
  // parallel_tool_calls: false allows one call.
  s = SpecOf("/v1/chat/completions",
             ChatBody(R"(,"tool_choice":"required","parallel_tool_calls":false,"tools":)" +
                      std::string(kTools)));
  EXPECT_TRUE(json::parse(s.source)["format"]["stop_after_first"].get<bool>());
  // auto and none force nothing.
  compiler_.specs.clear();
  EXPECT_TRUE(
      Post("/v1/chat/completions", ChatBody(R"(,"tools":)" + std::string(kTools))).job.has_value());
  EXPECT_TRUE(compiler_.specs.empty());

  const struct {
    std::string body;
    const char* message;
  } bad[] = {
      {ChatBody(R"(,"tool_choice":"required")"), "tool_choice required needs tools"},
      {ChatBody(R"(,"tool_choice":{"type":"function","function":{"name":"nope"}},"tools":)" +
                std::string(kTools)),
       "tool_choice names nope, which is not in tools"},
      {ChatBody(R"(,"tool_choice":"any","tools":)" + std::string(kTools)),
       R"(tool_choice must be none, auto, required or a function object, got \"any\")"},
      {ChatBody(R"(,"tools":[{"type":"function","function":{"name":"f"}},)"
                R"({"type":"function","function":{"name":"f"}}])"),
       "tools[1].function.name f is given twice; function names must be unique"},
      {ChatBody(R"(,"tools":[{"type":"function","function":{"name":"bad name"}}])"),
       "tools[0].function.name must match"},
      {ChatBody(R"(,"tools":[{"type":"function","function":{"name":"f","parameters":[]}}])"),
       "tools[0].function.parameters must be object type."},
      {ChatBody(R"(,"parallel_tool_calls":"no")"), "parallel_tool_calls must be boolean type."},
      {ChatBody(R"(,"tool_choice":"required","guided_regex":"a","tools":)" + std::string(kTools)),
       "tool_choice and guided_regex both ask for structured output; use one"},
  };
  for (const auto& c : bad) {
    auto [status, body] = Answer("/v1/chat/completions", c.body);
    EXPECT_EQ(status, 422) << c.body << " -> " << body;
    EXPECT_THAT(body, HasSubstr(c.message)) << c.body;
  }
  // Chinese function names are MindIE's too.
  EXPECT_TRUE(Post("/v1/chat/completions",
                   ChatBody(R"(,"tools":[{"type":"function","function":{"name":"查询_天气"}}])"))
                  .job.has_value());
}

TEST_F(ChatToolsTest, AThinkingModelsConstraintStartsAfterItsThinkBlock) {
  ctx_.constraints = &compiler_;
  ctx_.model.reasoning = true;
  ConstraintSpec s = SpecOf("/v1/chat/completions", ChatBody(R"(,"guided_regex":"[0-9]+")"));
  EXPECT_EQ(s.kind, ConstraintSpec::Kind::kStructuralTag);
  EXPECT_EQ(s.field, "guided_regex");
  // The fixture's prompt leaves thinking to the model: with or without a think block.
  json either = json::parse(s.source)["format"];
  ASSERT_EQ(either["type"], "or");
  EXPECT_EQ(either["elements"][0]["elements"][0], json({{"type", "tag"},
                                                        {"begin", "<think>"},
                                                        {"content", {{"type", "any_text"}}},
                                                        {"end", "</think>"}}));
  EXPECT_EQ(either["elements"][0]["elements"][2], json({{"type", "regex"}, {"pattern", "[0-9]+"}}));
  EXPECT_EQ(either["elements"][1], json({{"type", "regex"}, {"pattern", "[0-9]+"}}));
}

// --- answers ---------------------------------------------------------------------------------

TEST_F(ChatToolsTest, AWholeAnswerCarriesToolCallsAndTheTextAroundThem) {
  ctx_.model.tool_format = &HermesToolCallFormat();
  auto r = Post("/v1/chat/completions", ChatBody(R"(,"tools":)" + std::string(kTools)));
  ASSERT_TRUE(r.job.has_value()) << r.response->body;
  json body = json::parse(Play(r, kHermesCall));
  const json& choice = body["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  EXPECT_EQ(choice["message"]["content"], "Checking.");
  ASSERT_EQ(choice["message"]["tool_calls"].size(), 1u);
  const json& call = choice["message"]["tool_calls"][0];
  EXPECT_THAT(call["id"].get<std::string>(), MatchesRegex("call_[A-Za-z0-9]{24}"));
  EXPECT_EQ(call["type"], "function");
  EXPECT_EQ(call["function"]["name"], "get_weather");
  EXPECT_EQ(call["function"]["arguments"], R"({"city": "Paris"})");
  EXPECT_FALSE(choice["message"].contains("reasoning_content"));

  // Without tools in the request the same text is content.
  auto plain = Post("/v1/chat/completions", ChatBody(""));
  json pb = json::parse(Play(plain, kHermesCall));
  EXPECT_EQ(pb["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(pb["choices"][0]["message"]["content"],
            kHermesCall[0] + kHermesCall[1] + kHermesCall[2]);
  EXPECT_TRUE(pb["choices"][0]["message"]["tool_calls"].empty());

  // Cut off by max_tokens inside a call: "length", and the unfinished call stays content.
  auto cut = Post("/v1/chat/completions", ChatBody(R"(,"tools":)" + std::string(kTools)));
  json cb = json::parse(Play(cut, {kHermesCall[0], kHermesCall[1]}, engine::FinishReason::kLength));
  EXPECT_EQ(cb["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(cb["choices"][0]["message"]["content"], kHermesCall[0] + kHermesCall[1]);
}

TEST_F(ChatToolsTest, AStreamSendsToolCallDeltasWithIdNameAndArgumentFragments) {
  ctx_.model.tool_format = &HermesToolCallFormat();
  auto r =
      Post("/v1/chat/completions", ChatBody(R"(,"stream":true,"tools":)" + std::string(kTools)));
  ASSERT_TRUE(r.job.has_value()) << r.response->body;
  std::vector<json> events = Events(Play(r, kHermesCall));
  std::string content;
  std::vector<json> calls;
  std::string finish;
  for (const json& e : events) {
    for (const json& c : e["choices"]) {
      const json& d = c["delta"];
      if (d.contains("content")) content += d["content"].get<std::string>();
      if (d.contains("tool_calls")) {
        for (const json& t : d["tool_calls"]) calls.push_back(t);
      }
      if (!c["finish_reason"].is_null()) finish = c["finish_reason"];
    }
  }
  EXPECT_EQ(content, "Checking.");
  EXPECT_EQ(finish, "tool_calls");
  ASSERT_GE(calls.size(), 2u);
  EXPECT_EQ(calls[0]["index"], 0);
  EXPECT_EQ(calls[0]["type"], "function");
  EXPECT_EQ(calls[0]["function"]["name"], "get_weather");
  EXPECT_THAT(calls[0]["id"].get<std::string>(), MatchesRegex("call_.*"));
  std::string args;
  for (const json& c : calls) {
    EXPECT_EQ(c["index"], 0);
    args += c["function"]["arguments"].get<std::string>();
  }
  EXPECT_EQ(args, R"({"city": "Paris"})");
  EXPECT_FALSE(calls[1].contains("id"));  // later fragments carry arguments only
}

TEST_F(ChatToolsTest, ReasoningGoesToReasoningContentAndReasoning) {
  ctx_.model.reasoning = true;
  const std::vector<std::string> out = {"<think>\nThe user", " says hi.\n</th", "ink>\n\nHello!"};
  auto whole = Post("/v1/chat/completions", ChatBody(""));
  json msg = json::parse(Play(whole, out))["choices"][0]["message"];
  EXPECT_EQ(msg["reasoning_content"], "The user says hi.");
  EXPECT_EQ(msg["reasoning"], "The user says hi.");
  EXPECT_EQ(msg["content"], "Hello!");

  auto stream = Post("/v1/chat/completions", ChatBody(R"(,"stream":true)"));
  std::string reasoning, reasoning2, content;
  for (const json& e : Events(Play(stream, out))) {
    for (const json& c : e["choices"]) {
      reasoning += c["delta"].value("reasoning_content", "");
      reasoning2 += c["delta"].value("reasoning", "");
      content += c["delta"].value("content", "");
    }
  }
  EXPECT_EQ(reasoning, "The user says hi.");
  EXPECT_EQ(reasoning2, reasoning);
  EXPECT_EQ(content, "Hello!");
}

TEST_F(ChatToolsTest, ChatTemplateKwargsAreCheckedAndThinkingBudgetIsRefusedByName) {
  EXPECT_TRUE(
      Post("/v1/chat/completions", ChatBody(R"(,"chat_template_kwargs":{"enable_thinking":false})"))
          .job.has_value());
  auto [status, body] = Answer("/v1/chat/completions",
                               ChatBody(R"(,"chat_template_kwargs":{"enable_thinking":"no"})"));
  EXPECT_EQ(status, 422);
  EXPECT_THAT(
      body, HasSubstr(R"(chat_template_kwargs.enable_thinking must be boolean type, got \"no\")"));
  std::tie(status, body) = Answer("/v1/chat/completions",
                                  ChatBody(R"(,"chat_template_kwargs":{"thinking_budget":100})"));
  EXPECT_EQ(status, 422);
  EXPECT_THAT(body, HasSubstr("chat_template_kwargs.thinking_budget is not supported by mies"));
}

TEST_F(ChatToolsTest, MistralCallsKeepSpecialTokensAndTokenizeTakesTools) {
  ctx_.model.tool_format = &MistralToolCallFormat();
  auto with = Post("/v1/chat/completions", ChatBody(R"(,"tools":)" + std::string(kTools)));
  ASSERT_TRUE(with.job.has_value());
  EXPECT_FALSE(with.job->request.skip_special_tokens);  // [TOOL_CALLS] must reach the parser
  auto none = Post("/v1/chat/completions",
                   ChatBody(R"(,"tool_choice":"none","tools":)" + std::string(kTools)));
  EXPECT_TRUE(none.job->request.skip_special_tokens);

  auto [status, body] =
      Answer("/tokenize",
             R"({"messages":[{"role":"user","content":"x"}],"tools":)" + std::string(kTools) + "}");
  ASSERT_EQ(status, 200) << body;
  EXPECT_EQ(json::parse(body)["tokens"].get<std::vector<int32_t>>(),
            Encode("<s>user: x\ntools: 2\nassistant:", false));
}

// The npm `openai` client's stream helper assembles a streamed answer into the same message as
// the whole answer (tests/server/openai_tool_stream.mjs replays the bytes to it).
TEST_F(ChatToolsTest, TheNpmOpenAiClientAssemblesStreamedToolCalls) {
  const std::string dir = std::string(MIES_SOURCE_DIR) + "/tests/server";
  if (!std::filesystem::exists(dir + "/node_modules/openai")) {
    GTEST_SKIP() << "run `npm ci` in tests/server (scripts/test.sh does) to install the client";
  }
  ctx_.model.tool_format = &HermesToolCallFormat();
  // Two calls, the second split in odd places, with text before them.
  std::vector<std::string> out = kHermesCall;
  out.push_back("\n<tool_call>\n{\"name\": \"get_time\", \"argum");
  out.push_back("ents\": {\"tz\": \"CET\"}}\n</tool_call>");
  auto stream =
      Post("/v1/chat/completions", ChatBody(R"(,"stream":true,"tools":)" + std::string(kTools)));
  const std::string sse = Play(stream, out);
  const std::string file = ::testing::TempDir() + "/mies_tool_stream.sse";
  std::ofstream(file, std::ios::binary) << sse;

  std::string cmd = "cd " + dir + " && node openai_tool_stream.mjs " + file + " 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  ASSERT_NE(pipe, nullptr);
  std::string text;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), pipe.get())) > 0) text.append(buf.data(), n);
  json got = json::parse(text, nullptr, false);
  ASSERT_FALSE(got.is_discarded()) << text;

  auto whole = Post("/v1/chat/completions", ChatBody(R"(,"tools":)" + std::string(kTools)));
  json want = json::parse(Play(whole, out))["choices"][0];
  EXPECT_EQ(got["finish_reason"], want["finish_reason"]);
  EXPECT_EQ(got["message"]["content"], want["message"]["content"]);
  ASSERT_EQ(got["message"]["tool_calls"].size(), 2u) << text;
  for (size_t i = 0; i < 2; ++i) {
    const json& g = got["message"]["tool_calls"][i];
    const json& w = want["message"]["tool_calls"][i];
    EXPECT_THAT(g["id"].get<std::string>(), MatchesRegex("call_[A-Za-z0-9]{24}"));
    EXPECT_EQ(g["type"], "function");
    EXPECT_EQ(g["function"]["name"], w["function"]["name"]);
    EXPECT_EQ(g["function"]["arguments"], w["function"]["arguments"]);
  }
  // Each finished call was announced by the helper's event.
  EXPECT_EQ(got["done"], json({"get_weather", "get_time"}));
}

}  // namespace
}  // namespace mies::server
