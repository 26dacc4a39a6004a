// The API adapters without sockets: each route's parsing and validation into a GenerateRequest,
// and each API's framing of engine outputs (MINDIE-REFERENCE section 2), on the real
// stories260K tokenizer.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "common/json_depth.h"
#include "server/request_parsing.h"
#include "server/serving_fixture.h"

namespace mies::server {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using json = nlohmann::json;

using AdaptersTest = testing::ServingFixture;

TEST_F(AdaptersTest, ChatCompletionMapsFieldsAndRendersTheTemplate) {
  auto r = Post("/v1/chat/completions", R"({"model":"stories260K",
      "messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hi"}]}],
      "temperature":0.7,"top_p":0.9,"top_k":40,"min_p":0.05,"max_tokens":12,"seed":7,
      "stop":["\n\n"],"stop_token_ids":[5,5,-1],"ignore_eos":true,"min_tokens":2,
      "repetition_penalty":1.1,"presence_penalty":0.5,"logprobs":true,"top_logprobs":3,
      "skip_special_tokens":false})");
  ASSERT_TRUE(r.job.has_value()) << r.response->body;
  const auto& q = r.job->request;
  EXPECT_EQ(q.prompt_ids, Encode("<s>system: Be brief.\nuser: Hi\nassistant:", false));
  EXPECT_EQ(q.sampling.temperature, 0.7);
  EXPECT_EQ(q.sampling.top_p, 0.9);
  EXPECT_EQ(q.sampling.top_k, 40);
  EXPECT_EQ(q.sampling.min_p, 0.05);
  EXPECT_EQ(q.sampling.seed, 7u);
  EXPECT_EQ(q.sampling.logprobs, 3);
  EXPECT_EQ(q.sampling.repetition_penalty, 1.1);
  EXPECT_EQ(q.sampling.presence_penalty, 0.5);
  EXPECT_EQ(q.stop.max_tokens, 12);
  EXPECT_EQ(q.stop.min_tokens, 2);
  EXPECT_EQ(q.stop.stop, std::vector<std::string>{"\n\n"});
  EXPECT_EQ(q.stop.stop_token_ids, std::vector<int32_t>{5});  // deduped, negatives dropped
  EXPECT_TRUE(q.stop.ignore_eos);
  EXPECT_FALSE(q.skip_special_tokens);
  EXPECT_FALSE(r.job->formatter->stream());
}

TEST_F(AdaptersTest, ToolsArePassedToTheChatTemplateUnlessToolChoiceIsNone) {
  const char* tools = R"([{"type":"function","function":{"name":"get_weather","parameters":{}}}])";
  auto with = Post(
      "/v1/chat/completions",
      std::string(R"({"model":"stories260K","messages":[{"role":"user","content":"x"}],"tools":)") +
          tools + "}");
  ASSERT_TRUE(with.job.has_value()) << with.response->body;
  EXPECT_EQ(with.job->request.prompt_ids, Encode("<s>user: x\ntools: 1\nassistant:", false));
  auto none = Post(
      "/v1/chat/completions",
      std::string(
          R"({"model":"stories260K","messages":[{"role":"user","content":"x"}],"tool_choice":"none","tools":)") +
          tools + "}");
  ASSERT_TRUE(none.job.has_value());
  EXPECT_EQ(none.job->request.prompt_ids, Encode("<s>user: x\nassistant:", false));
}

TEST_F(AdaptersTest, NonStreamChatBodyHasChoicesLogprobsAndUsage) {
  auto r = Post("/v1/chat/completions",
                R"({"model":"stories260K","messages":[{"role":"user","content":"Hi"}],"n":2,
                    "temperature":1,"logprobs":true,"top_logprobs":1})");
  ASSERT_TRUE(r.job.has_value()) << r.response->body;
  auto& f = *r.job->formatter;
  engine::RequestOutput out;
  for (int i = 0; i < 2; ++i) {
    engine::SequenceEvent ev;
    ev.index = i;
    ev.new_token_ids = {300 + i};
    ev.text_delta = i == 0 ? "Once" : "The";
    ev.finish = i == 0 ? engine::FinishReason::kLength : engine::FinishReason::kStop;
    engine::TokenLogprob lp{300 + i, -0.5f, {{300 + i, -0.5f}}};
    ev.logprobs = {lp};
    out.events.push_back(ev);
  }
  out.finished = true;
  out.usage.completion_tokens = 2;
  EXPECT_EQ(f.OnOutput(out), "");
  json body = json::parse(f.Finish());
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_THAT(body["id"].get<std::string>(), StartsWith("endpoint_common_"));
  ASSERT_EQ(body["choices"].size(), 2u);
  EXPECT_EQ(body["choices"][0]["message"]["content"], "Once");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(body["choices"][1]["finish_reason"], "stop");
  EXPECT_EQ(body["choices"][0]["logprobs"]["content"][0]["logprob"], -0.5);
  EXPECT_EQ(body["choices"][0]["logprobs"]["content"][0]["top_logprobs"].size(), 1u);
  EXPECT_EQ(body["usage"]["prompt_tokens"], r.job->prompt_tokens);
  EXPECT_EQ(body["usage"]["completion_tokens"], 2);
  EXPECT_EQ(body["usage"]["total_tokens"], r.job->prompt_tokens + 2);
}

TEST_F(AdaptersTest, StreamingChatFramingRoleDeltaFinishUsageDone) {
  auto r = Post("/v1/chat/completions",
                R"({"model":"stories260K","messages":[{"role":"user","content":"Hi"}],
                    "stream":true,"stream_options":{"include_usage":true}})");
  ASSERT_TRUE(r.job.has_value()) << r.response->body;
  auto& f = *r.job->formatter;
  ASSERT_TRUE(f.stream());
  std::string a = f.OnOutput(Out(0, {400}, "Once"));
  std::string b = f.OnOutput(Out(0, {401}, " upon", engine::FinishReason::kLength, true, 2));
  std::string tail = f.Finish();
  std::vector<json> events;
  for (const std::string& s : {a, b, tail}) {
    size_t pos = 0;
    while ((pos = s.find("data: ", pos)) != std::string::npos) {
      size_t end = s.find("\n\n", pos);
      std::string payload = s.substr(pos + 6, end - pos - 6);
      if (payload != "[DONE]") events.push_back(json::parse(payload));
      pos = end;
    }
  }
  ASSERT_EQ(events.size(), 4u) << a << b << tail;
  EXPECT_EQ(events[0]["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(events[1]["choices"][0]["delta"]["content"], "Once");
  EXPECT_TRUE(events[1]["choices"][0]["finish_reason"].is_null());
  EXPECT_EQ(events[2]["choices"][0]["delta"]["content"], " upon");
  EXPECT_EQ(events[2]["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(events[2]["usage"]["completion_tokens"], 2);
  EXPECT_TRUE(events[3]["choices"].empty());
  EXPECT_EQ(events[3]["usage"]["completion_tokens"], 2);
  EXPECT_THAT(tail, ::testing::EndsWith("data: [DONE]\n\n"));
  for (const auto& e : events) EXPECT_EQ(e["object"], "chat.completion.chunk");
}

TEST_F(AdaptersTest, CompletionAcceptsTokenIdsAndReportsLogprobsInCompletionShape) {
  auto r = Post("/v1/completions",
                R"({"model":"stories260K","prompt":[1,400,401],"max_tokens":3,"logprobs":2})");
  ASSERT_TRUE(r.job.has_value()) << r.response->body;
  EXPECT_EQ(r.job->request.prompt_ids, (std::vector<int32_t>{1, 400, 401}));
  EXPECT_EQ(r.job->request.sampling.logprobs, 2);
  auto& f = *r.job->formatter;
  auto out = Out(0, {402}, "x", engine::FinishReason::kLength, true, 1);
  out.events[0].logprobs = {{402, -1.25f, {{402, -1.25f}, {403, -2.0f}}}};
  f.OnOutput(out);
  json body = json::parse(f.Finish());
  EXPECT_EQ(body["object"], "text_completion");
  EXPECT_EQ(body["choices"][0]["text"], "x");
  EXPECT_EQ(body["choices"][0]["logprobs"]["token_logprobs"][0], -1.25);
  EXPECT_EQ(body["choices"][0]["logprobs"]["top_logprobs"][0].size(), 2u);
  EXPECT_EQ(body["usage"]["prompt_tokens"], 3);
}

struct BadCase {
  const char* path;
  const char* body;
  int status;
  const char* message;
};

TEST_F(AdaptersTest, BadRequestsGetTheRightStatusAndMessage) {
  const BadCase cases[] = {
      {"/v1/completions", R"({"model":"stories260K","prompt":"x","temperature":-1})", 422,
       "Parameter temperature must be in [0.0,"},
      {"/v1/completions", R"({"model":"stories260K","prompt":"x","top_p":0})", 422,
       "Parameter top_p must be in (0.0,1.0]"},
      {"/v1/completions", R"({"model":"stories260K","prompt":"x","top_k":-5})", 422,
       "Parameter top_k must be in -1 ||"},
      {"/v1/completions", R"({"model":"stories260K","prompt":"x","max_tokens":0})", 422,
       "Parameter max_tokens must be (0,2147483647], got 0"},
      {"/v1/completions", R"({"model":"stories260K","prompt":"x","max_tokens":"7"})", 422,
       "max_tokens must be integer type."},
      {"/v1/completions", R"({"model":"stories260K","prompt":"x","seed":-3})", 422,
       "seed must be unsigned type."},
      {"/v1/completions", R"({"model":"stories260K","prompt":"x","temperature":1e400})", 422,
       "Failed to parse request context to json"},
      {"/v1/completions", R"({"model":"stories260K","prompt":"x","temperature":NaN})", 422,
       "Failed to parse request context to json"},
      {"/v1/completions", R"({"model":"nope","prompt":"x"})", 404,
       "Not found given model, please check modelName in config file."},
      {"/v1/chat/completions", R"({"model":"nope","messages":[{"role":"user","content":"x"}]})",
       404, "Model not found: nope"},
      {"/v1/chat/completions", R"({"model":7,"messages":[{"role":"user","content":"x"}]})", 422,
       "model must be string"},
      {"/generate", R"({"prompt":"x","model":"nope"})", 422,
       "Not found given model, please check modelName in config file."},
      {"/v1/completions", R"({"model":"stories260K","prompt":"x","logprobs":9})", 422,
       "logprobs should be in range [0, 5]"},
      {"/v1/completions", R"({"model":"stories260K","prompt":[1,99999999]})", 422,
       "prompt must be a string or a non-empty list of token ids"},
      {"/v1/completions", R"({"model":"stories260K","prompt":[1,100000]})", 424,
       "Invalid Input Ids"},
      {"/v1/completions", R"({"model":"stories260K","prompt":"x","n":3})", 422,
       "best_of/n can not greater than 1"},
      {"/v1/completions", R"({"model":"stories260K","prompt":"x","n":9,"temperature":1})", 422,
       "exceeds 'maxN'"},
      {"/v1/completions", R"({"model":"stories260K","prompt":"x","stop":[""]})", 422,
       "Input validation error: `stop` must be list[string]"},
      {"/v1/chat/completions", R"({"model":"stories260K","messages":[]})", 422,
       "messages must be a non-empty array"},
      {"/v1/chat/completions",
       R"({"model":"stories260K","messages":[{"role":"user","content":"x"}],"logprobs":false,"top_logprobs":2})",
       422, "when using top_logprobs, logprobs must be true"},
      {"/v1/chat/completions",
       R"({"model":"stories260K","messages":[{"role":"robot","content":"x"}]})", 422,
       "role must be one of"},
      {"/v1/chat/completions",
       "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}",
       422, "Failed to parse request context to json"},
      {"/v1/chat/completions", "{\"model\": ", 422, "Failed to parse request context to json"},
      {"/generate", R"({"inputs":"x","parameters":{"top_p":1.0}})", 422,
       "Parameter top_p must be in (0.0,1.0)"},
      {"/generate", R"({"inputs":"x","parameters":{"temperature":0}})", 422,
       "Parameter temperature must be in (0.0,"},
      {"/generate", R"({"parameters":{}})", 422, "`inputs` or `prompt` must be necessary"},
      {"/generate_stream", R"({"inputs":"x","parameters":{"decoder_input_details":true}})", 422,
       "The decoder_input_details must not be true when stream is true."},
      {"/infer", R"({"inputs":"x","input_id":[1]})", 422, "Input conflict."},
      {"/infer", R"({"stream":false})", 422, "Not found inputs."},
      {"/infer", R"({"inputs":"x","parameters":{"priority":9}})", 422,
       "Parameter priority must be in [1,5], got 9."},
      {"/infer", R"({"inputs":"x","parameters":{"timeout":0}})", 422,
       "Parameter timeout must be strictly positive"},
      {"/v2/models/stories260K/infer",
       R"({"inputs":[{"name":"input0","shape":[1,3],"datatype":"UINT32","data":[1,2]}]})", 422,
       "inputs[0].shape must be [n] or [1, n]"},
      {"/v2/models/other/generate", R"({"text_input":"x"})", 404, "Model other not found."},
      {"/v2/models/stories260K/stopInfer", R"({"id":"nope"})", 404, "RequestId is nope not found."},
  };
  for (const auto& c : cases) {
    auto r = Post(c.path, c.body);
    ASSERT_TRUE(r.response.has_value()) << c.path << " " << c.body;
    EXPECT_EQ(r.response->status, c.status)
        << c.path << " " << c.body << " -> " << r.response->body;
    EXPECT_THAT(r.response->body,
                HasSubstr(json(c.message).dump().substr(1, std::strlen(c.message))))
        << c.path << " " << c.body;
  }
}

TEST_F(AdaptersTest, OpenAiRoutesAnswerErrorsInTheOpenAiShapeOthersInMindIes) {
  auto openai = Post("/v1/completions", R"({"model":"stories260K","prompt":"x","top_p":0})");
  json a = json::parse(openai.response->body);
  EXPECT_TRUE(a["error"].is_object());
  EXPECT_EQ(a["error"]["code"], 422);
  EXPECT_EQ(a["error"]["type"], "Input Validation Error");
  // An unknown model is 404 NotFoundError on OpenAI routes, as OpenAI and vLLM answer.
  json nf = json::parse(Post("/v1/completions", R"({"model":"nope","prompt":"x"})").response->body);
  EXPECT_EQ(nf["error"]["code"], 404);
  EXPECT_EQ(nf["error"]["type"], "NotFoundError");
  auto tgi = Post("/generate", R"({"parameters":{}})");
  json b = json::parse(tgi.response->body);
  EXPECT_TRUE(b["error"].is_string());
  EXPECT_EQ(b["error_type"], "Input Validation Error");
}

TEST_F(AdaptersTest, DeepJsonIsRefusedWithoutRecursing) {
  std::string deep = "{\"a\":" + std::string(10000, '[') + std::string(10000, ']') + "}";
  EXPECT_EQ(JsonTextDepth(deep), 10001);
  auto r = Post("/v1/completions", deep);
  ASSERT_TRUE(r.response.has_value());
  EXPECT_EQ(r.response->status, 422);
  EXPECT_THAT(r.response->body, HasSubstr("exceeds maxJsonDepth 10"));
  // Brackets inside strings do not count.
  EXPECT_EQ(JsonTextDepth(R"({"a":"[[[[{{{{\"]]"})"), 1);
}

TEST_F(AdaptersTest, TgiGenerateAndStreamFraming) {
  auto r = Post("/generate",
                R"({"inputs":"Once","parameters":{"details":true,"seed":5,"max_new_tokens":2}})");
  ASSERT_TRUE(r.job.has_value()) << r.response->body;
  EXPECT_EQ(r.job->request.stop.max_tokens, 2);
  r.job->formatter->OnOutput(Out(0, {10, 11}, " upon a", engine::FinishReason::kLength, true, 2));
  json body = json::parse(r.job->formatter->Finish());
  EXPECT_EQ(body["generated_text"], " upon a");
  EXPECT_EQ(body["details"]["finish_reason"], "length");
  EXPECT_EQ(body["details"]["generated_tokens"], 2);
  EXPECT_EQ(body["details"]["seed"], 5);
  EXPECT_EQ(body["details"]["tokens"].size(), 2u);

  auto defaults = Post("/generate", R"({"inputs":"Once"})");
  EXPECT_EQ(defaults.job->request.stop.max_tokens, 20);  // MindIE's max_new_tokens default

  auto root = Post("/", R"({"inputs":"Once"})");
  root.job->formatter->OnOutput(Out(0, {10}, "x", engine::FinishReason::kStop, true, 1));
  EXPECT_TRUE(json::parse(root.job->formatter->Finish()).is_array());

  auto s = Post("/generate_stream", R"({"inputs":"Once","parameters":{"details":true}})");
  ASSERT_TRUE(s.job->formatter->stream());
  std::string e1 = s.job->formatter->OnOutput(Out(0, {10}, " upon"));
  std::string e2 =
      s.job->formatter->OnOutput(Out(0, {11}, " a", engine::FinishReason::kStop, true, 2));
  ASSERT_THAT(e1, StartsWith("data: "));
  json j1 = json::parse(e1.substr(6));
  EXPECT_EQ(j1["token"]["text"], " upon");
  EXPECT_EQ(j1["token"]["id"], 10);
  EXPECT_TRUE(j1["generated_text"].is_null());
  json j2 = json::parse(e2.substr(6));
  EXPECT_EQ(j2["generated_text"], " upon a");
  EXPECT_EQ(j2["details"]["finish_reason"], "eos_token");
}

TEST_F(AdaptersTest, VllmGeneratePrependsPromptAndStreamsNulTerminatedChunks) {
  auto r = Post("/generate", R"({"prompt":"Once","max_tokens":4})");
  ASSERT_TRUE(r.job.has_value()) << r.response->body;
  r.job->formatter->OnOutput(Out(0, {10}, "upon", engine::FinishReason::kLength, true, 1));
  EXPECT_EQ(json::parse(r.job->formatter->Finish())["text"][0], "Once upon");

  auto s = Post("/generate", R"({"prompt":"Once","stream":true})");
  std::string chunk = s.job->formatter->OnOutput(Out(0, {10}, " upon"));
  ASSERT_FALSE(chunk.empty());
  EXPECT_EQ(chunk.back(), '\0');
  EXPECT_EQ(json::parse(chunk.substr(0, chunk.size() - 1))["text"][0], " upon");
}

TEST_F(AdaptersTest, NativeInferTokenInputAndStreamEvents) {
  auto r = Post("/infer", R"({"input_id":[1,400],"stream":true,"parameters":{"details":true}})");
  ASSERT_TRUE(r.job.has_value()) << r.response->body;
  EXPECT_EQ(r.job->request.prompt_ids, (std::vector<int32_t>{1, 400}));
  std::string a = r.job->formatter->OnOutput(Out(0, {10}, "x"));
  std::string b =
      r.job->formatter->OnOutput(Out(0, {11}, "y", engine::FinishReason::kLength, true, 2));
  EXPECT_TRUE(json::parse(a.substr(6)).contains("prefill_time"));
  auto second = b.find("data: ", 1);
  ASSERT_NE(second, std::string::npos) << b;
  EXPECT_TRUE(json::parse(b.substr(6, second - 8)).contains("decode_time"));
  json last = json::parse(b.substr(second + 6));
  EXPECT_EQ(last["generated_text"], "xy");
  EXPECT_EQ(last["details"]["generated_token_ids"], json({10, 11}));
  EXPECT_TRUE(last["token"]["text"].is_null());
}

TEST_F(AdaptersTest, TritonGenerateStreamUsesDataWithoutSpaceAndInferReturnsIds) {
  auto g = Post("/v2/models/stories260K/generate_stream", R"({"id":"abc","text_input":"Once"})");
  ASSERT_TRUE(g.job.has_value()) << g.response->body;
  EXPECT_EQ(g.job->public_id, "abc");
  std::string e = g.job->formatter->OnOutput(Out(0, {10}, " upon"));
  ASSERT_THAT(e, StartsWith("data:{"));
  EXPECT_EQ(json::parse(e.substr(5))["text_output"], " upon");

  auto t = Post(
      "/v2/models/stories260K/infer",
      R"({"id":"t1","inputs":[{"name":"input0","shape":[1,2],"datatype":"UINT32","data":[1,400],
                    "parameters":{"max_new_tokens":2}}],"outputs":[{"name":"out"}]})");
  ASSERT_TRUE(t.job.has_value()) << t.response->body;
  t.job->formatter->OnOutput(Out(0, {10, 11}, "", engine::FinishReason::kLength, true, 2));
  json body = json::parse(t.job->formatter->Finish());
  EXPECT_EQ(body["id"], "t1");
  EXPECT_EQ(body["outputs"][0]["name"], "out");
  EXPECT_EQ(body["outputs"][0]["shape"], json({1, 2}));
  EXPECT_EQ(body["outputs"][0]["data"], json({10, 11}));
}

TEST_F(AdaptersTest, StopInferCancelsALiveRequestById) {
  ctx_.registry.Add("abc", "endpoint_common_9");
  auto r = Post("/v2/models/stories260K/stopInfer", R"({"id":"abc"})");
  ASSERT_TRUE(r.response.has_value());
  EXPECT_EQ(r.response->status, 200);
  EXPECT_EQ(engine_.cancelled(), std::vector<std::string>{"endpoint_common_9"});
}

TEST_F(AdaptersTest, TokenizeDetokenizeAndNativeTokenizer) {
  auto t = Post("/tokenize", R"({"model":"stories260K","prompt":"Once upon a time"})");
  ASSERT_TRUE(t.response.has_value());
  json tj = json::parse(t.response->body);
  EXPECT_EQ(tj["tokens"].get<std::vector<int32_t>>(), Encode("Once upon a time", true));
  EXPECT_EQ(tj["count"], tj["tokens"].size());
  auto d = Post("/detokenize", json{{"model", "stories260K"}, {"tokens", tj["tokens"]}}.dump());
  // As the reference decodes (special tokens kept): "<s> Once upon a time".
  std::vector<int> v = tj["tokens"].get<std::vector<int>>();
  EXPECT_EQ(json::parse(d.response->body)["prompt"], tokenizer_->Decode(v));
  EXPECT_THAT(json::parse(d.response->body)["prompt"].get<std::string>(),
              HasSubstr("Once upon a time"));
  auto n = Post("/v1/tokenizer", R"({"inputs":"Once upon a time"})");
  EXPECT_EQ(json::parse(n.response->body)["token_number"], tj["count"]);
}

TEST_F(AdaptersTest, ModelsAndTritonMetadata) {
  json list = json::parse(Get("/v1/models").response->body);
  EXPECT_EQ(list["data"][0]["id"], "stories260K");
  EXPECT_EQ(Get("/v1/models/other").response->status, 404);
  EXPECT_EQ(json::parse(Get("/v2/models/stories260K").response->body)["name"], "stories260K");
  EXPECT_EQ(json::parse(Get("/v2/models/stories260K/config").response->body)["model_weight_path"],
            "stories260K");
  EXPECT_EQ(json::parse(Get("/v2").response->body)["name"], "MindIE Server");
}

TEST_F(AdaptersTest, ManagementHealthSlotsStatusAndStop) {
  engine::EngineStats stats;
  stats.running = 3;
  stats.waiting = 2;
  stats.kv_blocks_total = 100;
  stats.kv_blocks_used = 40;
  engine_.set_stats(stats);
  ctx_.model.cache_block_size = 16;
  EXPECT_EQ(Get("/health").response->status, 200);
  json slots = json::parse(Get("/v2/models/stories260K/getSlotCount").response->body);
  EXPECT_EQ(slots["total_slots"], 16);
  EXPECT_EQ(slots["free_slots"], 11);
  EXPECT_EQ(slots["available_tokens_length"], 60 * 16);
  json status = json::parse(Get("/v1/status").response->body);
  EXPECT_EQ(status["resource"]["runningRequestNum"], 3);
  EXPECT_EQ(Get("/health/timed-700").response->status, 404);
  auto timed = Get("/health/timed-5");
  ASSERT_TRUE(timed.job.has_value());
  EXPECT_EQ(timed.job->timeout_s, 5);
  EXPECT_EQ(timed.job->request.stop.max_tokens, 1);

  auto stop = Get("/stopService");
  EXPECT_EQ(stop.action, ServiceAction::kStopService);
  EXPECT_EQ(Get("/stopService").response->status, 500);  // second call
  EXPECT_EQ(Get("/health").response->status, 503);
  auto after = Post("/v1/completions", R"({"model":"stories260K","prompt":"x"})");
  EXPECT_EQ(after.response->status, 503);
  EXPECT_THAT(after.response->body, HasSubstr("The service has been stopped."));
}

TEST_F(AdaptersTest, MetricsNeedMonitorModeAndRenderPrometheusText) {
  auto off = Get("/metrics");
  EXPECT_EQ(off.response->status, 500);
  EXPECT_THAT(off.response->body, HasSubstr("MIES_SERVICE_MONITOR_MODE is not set"));
  ctx_.monitor_mode = true;
  metrics_->RequestReceived();
  metrics_->RequestFinished(true);
  metrics_->ObserveGeneration(5, 3, 0.02, {0.01, 0.03}, 0.1);
  std::string text = Get("/metrics").response->body;
  EXPECT_THAT(text, HasSubstr("request_success_total{model_name=\"stories260K\"} 1\n"));
  EXPECT_THAT(
      text,
      HasSubstr("time_to_first_token_seconds_bucket{model_name=\"stories260K\",le=\"0.02\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("time_per_output_token_seconds_count{model_name=\"stories260K\"} 2\n"));
  json mj = json::parse(Get("/metrics-json").response->body);
  EXPECT_EQ(mj["result"][0]["metric"][0]["__name__"], "TTFT");
  EXPECT_EQ(mj["result"][0]["value"], "20");
}

}  // namespace
}  // namespace mies::server
