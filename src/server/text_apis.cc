// TGI (/, /generate, /generate_stream), vLLM /generate, MindIE native (/infer, /infer_token,
// /v1/tokenizer, stopInfer) and Triton (/v2...) routes, each with MindIE's framing
// (MINDIE-REFERENCE section 2.6).
#include <chrono>
#include <random>
#include <regex>

#include "server/adapters.h"

namespace mies::server {

using nlohmann::json;

namespace {

enum class Flavor { kTgi, kTgiArray, kVllm, kNative, kTritonText, kTritonToken };

double NowMs() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

json TokenList(const std::vector<int32_t>& ids) {
  json a = json::array();
  for (int32_t id : ids) {
    a.push_back({{"id", id}, {"logprob", nullptr}, {"special", nullptr}, {"text", nullptr}});
  }
  return a;
}

class TextFormatter : public Formatter {
 public:
  TextFormatter(ServingContext& ctx, Flavor flavor, bool stream, const ApiOptions& opt,
                std::string id, std::string prompt_text, int64_t prompt_tokens, uint64_t seed,
                int n)
      : ctx_(ctx),
        flavor_(flavor),
        stream_(stream),
        opt_(opt),
        id_(std::move(id)),
        prompt_text_(std::move(prompt_text)),
        prompt_tokens_(prompt_tokens),
        seed_(seed),
        seqs_(n),
        last_ms_(NowMs()) {}

  bool stream() const override { return stream_; }
  std::string stream_content_type() const override {
    return flavor_ == Flavor::kVllm ? "application/json" : "text/event-stream";
  }

  std::string OnOutput(const engine::RequestOutput& out) override {
    std::string bytes;
    if (flavor_ == Flavor::kVllm && stream_) {
      // One chunk per output: a delta (or cumulative text) per sequence, NUL-terminated.
      json texts = json::array();
      bool any = false;
      for (auto& s : seqs_) (void)s;
      std::vector<std::string> deltas(seqs_.size());
      for (const auto& ev : out.events) {
        if (ev.index < 0 || ev.index >= static_cast<int>(seqs_.size())) continue;
        Apply(ev);
        deltas[ev.index] += ev.text_delta;
        any = true;
      }
      if (!any) return bytes;
      for (size_t i = 0; i < seqs_.size(); ++i) {
        texts.push_back(ctx_.model.full_text ? seqs_[i].text : deltas[i]);
      }
      bytes += json{{"text", texts}}.dump();
      bytes.push_back('\0');
      return bytes;
    }
    for (const auto& ev : out.events) {
      if (ev.index < 0 || ev.index >= static_cast<int>(seqs_.size())) continue;
      Apply(ev);
      if (!stream_) continue;
      const Seq& s = seqs_[ev.index];
      double now = NowMs();
      double elapsed = now - last_ms_;
      last_ms_ = now;
      bool first = !first_sent_;
      bool finished = ev.finish != engine::FinishReason::kNone;
      if (ev.new_token_ids.empty() && !finished) continue;
      first_sent_ = true;
      std::string text = ctx_.model.full_text ? s.text : ev.text_delta;
      json token_id =
          ev.new_token_ids.size() == 1 ? json(ev.new_token_ids[0]) : json(ev.new_token_ids);
      if (flavor_ == Flavor::kTgi || flavor_ == Flavor::kTgiArray) {
        json e = {{"token",
                   {{"id", token_id}, {"text", text}, {"logprob", nullptr}, {"special", nullptr}}},
                  {"generated_text", nullptr},
                  {"details", nullptr}};
        if (finished) {
          e["generated_text"] = FullText(s);
          if (opt_.details) {
            e["details"] = {{"prompt_tokens", prompt_tokens_},
                            {"finish_reason", MindIeFinishReason(s.finish)},
                            {"generated_tokens", s.ids.size()},
                            {"seed", seed_}};
          }
        }
        bytes += "data: " + e.dump() + "\n\n";
      } else if (flavor_ == Flavor::kNative) {
        if (!ev.new_token_ids.empty()) {
          json e = {{first ? "prefill_time" : "decode_time", elapsed},
                    {"token", {{"id", token_id}, {"text", text}}}};
          bytes += "data: " + e.dump() + "\n\n";
        }
        if (finished) {
          json e = {
              {"generated_text", s.text},
              {"details", opt_.details ? NativeDetails(s) : json(nullptr)},
              {"token",
               {{"id", s.ids.empty() ? json(nullptr) : json(s.ids.back())}, {"text", nullptr}}}};
          bytes += "data: " + e.dump() + "\n\n";
        }
      } else if (flavor_ == Flavor::kTritonText) {
        json e = TritonTextBody(s, text);
        if (opt_.details) {
          e["details"][first ? "prefill_time" : "decode_time"] = elapsed;
        }
        bytes += "data:" + e.dump() + "\n\n";
      }
    }
    return bytes;
  }

  std::string Finish() override {
    if (stream_) return "";
    const Seq& s = seqs_[0];
    switch (flavor_) {
      case Flavor::kTgi:
      case Flavor::kTgiArray: {
        json body = {{"generated_text", FullText(s)}};
        if (opt_.details || opt_.decoder_input_details) {
          body["details"] = {{"prompt_tokens", prompt_tokens_},
                             {"finish_reason", MindIeFinishReason(s.finish)},
                             {"generated_tokens", s.ids.size()},
                             {"prefill", json::array()},
                             {"seed", seed_},
                             {"tokens", TokenList(s.ids)}};
        }
        return flavor_ == Flavor::kTgiArray ? json::array({body}).dump() : body.dump();
      }
      case Flavor::kVllm: {
        json texts = json::array();
        for (const auto& q : seqs_) texts.push_back(prompt_text_ + " " + q.text);
        return json{{"text", texts}}.dump();
      }
      case Flavor::kNative: {
        json body = {{"generated_text", s.text}};
        if (opt_.details) body["details"] = NativeDetails(s);
        return body.dump();
      }
      case Flavor::kTritonText:
        return TritonTextBody(s, s.text).dump();
      case Flavor::kTritonToken: {
        json out = {{"id", id_},
                    {"outputs", json::array({{{"name", output_name_},
                                              {"shape", {1, s.ids.size()}},
                                              {"datatype", "UINT32"},
                                              {"data", s.ids}}})}};
        return out.dump();
      }
    }
    return "";
  }

  void set_output_name(std::string name) { output_name_ = std::move(name); }

 private:
  struct Seq {
    std::string text;
    std::vector<int32_t> ids;
    engine::FinishReason finish = engine::FinishReason::kNone;
  };

  void Apply(const engine::SequenceEvent& ev) {
    Seq& s = seqs_[ev.index];
    s.text += ev.text_delta;
    s.ids.insert(s.ids.end(), ev.new_token_ids.begin(), ev.new_token_ids.end());
    if (ev.finish != engine::FinishReason::kNone) s.finish = ev.finish;
  }

  std::string FullText(const Seq& s) const {
    return opt_.return_full_text ? prompt_text_ + " " + s.text : s.text;
  }

  json NativeDetails(const Seq& s) const {
    return {{"finish_reason", MindIeFinishReason(s.finish)},
            {"generated_tokens", s.ids.size()},
            {"generated_token_ids", s.ids},
            {"seed", seed_}};
  }

  json TritonTextBody(const Seq& s, const std::string& text) const {
    json body = {{"id", id_},
                 {"model_name", ctx_.model.name},
                 {"model_version", nullptr},
                 {"text_output", text}};
    if (opt_.details) {
      body["details"] = {{"finish_reason", s.finish == engine::FinishReason::kNone
                                               ? json(nullptr)
                                               : json(MindIeFinishReason(s.finish))},
                         {"generated_tokens", s.ids.size()},
                         {"first_token_cost", nullptr},
                         {"decode_cost", nullptr},
                         {"batch_size", json::array()},
                         {"queue_wait_time", json::array()}};
    }
    return body;
  }

  ServingContext& ctx_;
  Flavor flavor_;
  bool stream_;
  ApiOptions opt_;
  std::string id_;
  std::string prompt_text_;
  int64_t prompt_tokens_;
  uint64_t seed_;
  std::vector<Seq> seqs_;
  double last_ms_;
  bool first_sent_ = false;
  std::string output_name_ = "output0";
};

uint64_t RandomSeed() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng() >> 1;  // [0, 2^63-1], as MindIE's seed range
}

// Input text from a string or a list of {"type":"text","text":...} parts.
StatusOr<std::string> ReadTextInput(const json& v, const char* key) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    if (v.size() > 20) return InvalidArgument(key, " has more than 20 items");
    std::string text;
    for (const auto& part : v) {
      if (!part.is_object() || !part.contains("type") || !part["type"].is_string()) {
        return InvalidArgument(key, " items must be objects with a type");
      }
      if (part["type"] != "text") {
        return InvalidArgument(key, " item type ", part["type"].dump(),
                               " is not supported: the model takes text only");
      }
      if (!part.contains("text") || !part["text"].is_string()) {
        return InvalidArgument("text must be string type.");
      }
      text += part["text"].get<std::string>();
    }
    return text;
  }
  return InvalidArgument(key, " must be string type.");
}

// Builds the job for a text API after its fields were parsed.
RouteResult TextJob(ServingContext& ctx, engine::GenerateRequest req, const ApiOptions& opt,
                    Flavor flavor, std::string public_id, std::string prompt_text) {
  // TGI's grammar, vLLM's guided_* and structured_outputs.
  if (auto st = AttachConstraint(ctx.constraints, opt.constraint, &req); !st.ok()) {
    return FailWith(st);
  }
  if (!req.sampling.seed) req.sampling.seed = RandomSeed();
  req.request_id = ctx.NewRequestId();
  req.stream = opt.stream;
  if (opt.truncate && static_cast<int64_t>(req.prompt_ids.size()) > *opt.truncate) {
    req.prompt_ids.erase(req.prompt_ids.begin(),
                         req.prompt_ids.end() - static_cast<std::ptrdiff_t>(*opt.truncate));
  }
  GenerationJob job;
  job.public_id = public_id.empty() ? req.request_id : std::move(public_id);
  job.timeout_s = opt.timeout_s;
  job.prompt_tokens = static_cast<int64_t>(req.prompt_ids.size());
  auto fmt = std::make_unique<TextFormatter>(ctx, flavor, opt.stream, opt, job.public_id,
                                             std::move(prompt_text), job.prompt_tokens,
                                             *req.sampling.seed, req.sampling.n);
  job.formatter = std::move(fmt);
  job.request = std::move(req);
  RouteResult r;
  r.job = std::move(job);
  return r;
}

Status ParseTextPrompt(ServingContext& ctx, const json& value, const char* key,
                       engine::GenerateRequest* req, std::string* text) {
  MIES_ASSIGN_OR_RETURN(*text, ReadTextInput(value, key));
  MIES_RETURN_IF_ERROR(CheckInputText(*text, ctx.model, "Inputs"));
  MIES_ASSIGN_OR_RETURN(req->prompt_ids, EncodeText(ctx, *text, true));
  return OkStatus();
}

const std::regex& IdPattern() {
  static const std::regex re("^[A-Za-z0-9_-]{1,256}$");
  return re;
}

}  // namespace

RouteResult HandleTgi(ServingContext& ctx, const json& body, TgiRoute route,
                      std::string_view body_text) {
  auto inputs = body.find("inputs");
  if (inputs == body.end() || inputs->is_null()) {
    return Fail(422,
                "`inputs` or `prompt` must be necessary and data type must be string. "
                "Additionally, the request body must be valid json");
  }
  engine::GenerateRequest req;
  std::string text;
  if (auto st = ParseTextPrompt(ctx, *inputs, "inputs", &req, &text); !st.ok()) return FailWith(st);
  ApiOptions opt;
  json params = body.contains("parameters") ? body["parameters"] : json(nullptr);
  if (auto st = ParseGenerationParams(params, Api::kTgi, ctx.model, &req, &opt); !st.ok()) {
    return FailWith(st);
  }
  KeepSchemaKeyOrder(body_text, &opt.constraint);
  Flavor flavor = Flavor::kTgi;
  if (route == TgiRoute::kRoot) {
    auto stream = GetBool(body, "stream");
    if (!stream.ok()) return FailWith(stream.status());
    opt.stream = stream->value_or(false);
    flavor = Flavor::kTgiArray;
  } else {
    opt.stream = route == TgiRoute::kGenerateStream;
  }
  if (opt.stream && opt.decoder_input_details) {
    return Fail(422, "The decoder_input_details must not be true when stream is true.");
  }
  return TextJob(ctx, std::move(req), opt, flavor, "", text);
}

RouteResult HandleVllmGenerate(ServingContext& ctx, const json& body, std::string_view body_text) {
  engine::GenerateRequest req;
  std::string text;
  if (auto st = ParseTextPrompt(ctx, body["prompt"], "prompt", &req, &text); !st.ok()) {
    return FailWith(st);
  }
  ApiOptions opt;
  if (auto st = ParseGenerationParams(body, Api::kVllm, ctx.model, &req, &opt); !st.ok()) {
    return FailWith(st);
  }
  KeepSchemaKeyOrder(body_text, &opt.constraint);
  auto stream = GetBool(body, "stream");
  if (!stream.ok()) return FailWith(stream.status());
  opt.stream = stream->value_or(false);
  if (auto model = GetString(body, "model"); !model.ok()) {
    return FailWith(model.status());
  } else if (*model && **model != ctx.model.name) {
    return Fail(422, "Not found given model, please check modelName in config file.");
  }
  auto n_check = CheckN(req.sampling, ctx.model, false);
  if (!n_check.ok()) return FailWith(n_check);
  return TextJob(ctx, std::move(req), opt, Flavor::kVllm, "", text);
}

RouteResult HandleNativeInfer(ServingContext& ctx, const json& body) {
  bool has_inputs = body.contains("inputs") && !body["inputs"].is_null();
  bool has_ids = body.contains("input_id") && !body["input_id"].is_null();
  if (has_inputs && has_ids) return Fail(422, "Input conflict.");
  if (!has_inputs && !has_ids) return Fail(422, "Not found inputs.");
  engine::GenerateRequest req;
  std::string text;
  if (has_inputs) {
    if (auto st = ParseTextPrompt(ctx, body["inputs"], "inputs", &req, &text); !st.ok()) {
      return FailWith(st);
    }
  } else {
    auto ids = ReadIdArray(body["input_id"], "input_id");
    if (!ids.ok()) return FailWith(ids.status());
    if (auto st = CheckInputIds(*ids, ctx.model); !st.ok()) return FailWith(st);
    req.prompt_ids = std::move(*ids);
  }
  ApiOptions opt;
  json params = body.contains("parameters") ? body["parameters"] : json(nullptr);
  if (auto st = ParseGenerationParams(params, Api::kNative, ctx.model, &req, &opt); !st.ok()) {
    return FailWith(st);
  }
  auto stream = GetBool(body, "stream");
  if (!stream.ok()) return FailWith(stream.status());
  opt.stream = stream->value_or(false);
  return TextJob(ctx, std::move(req), opt, Flavor::kNative, "", text);
}

RouteResult HandleNativeTokenizer(ServingContext& ctx, const json& body) {
  auto inputs = GetString(body, "inputs");
  if (!inputs.ok()) return FailWith(inputs.status());
  if (!*inputs) return Fail(422, "Not found inputs.");
  if (auto st = CheckInputText(**inputs, ctx.model, "Inputs"); !st.ok()) return FailWith(st);
  auto do_decode = GetBool(body, "do_decode");
  if (!do_decode.ok()) return FailWith(do_decode.status());
  auto ids = EncodeText(ctx, **inputs, true);
  if (!ids.ok()) return FailWith(ids.status());
  json tokens = json::array();
  for (int32_t id : *ids) {
    if (do_decode->value_or(true)) {
      tokens.push_back(TokenText(ctx, id));
    } else {
      tokens.push_back(id);
    }
  }
  json out = {{"token_number", ids->size()}, {"tokens", tokens}};
  return Reply(JsonResponse(200, out.dump()));
}

RouteResult HandleTritonGenerate(ServingContext& ctx, const json& body, bool stream) {
  auto id = GetString(body, "id");
  if (!id.ok()) return FailWith(id.status());
  if (*id && !std::regex_match(**id, IdPattern())) {
    return Fail(422, "id must match ^[A-Za-z0-9_-]{1,256}$");
  }
  if (!body.contains("text_input") || body["text_input"].is_null()) {
    return Fail(422, "text_input must be necessary");
  }
  engine::GenerateRequest req;
  std::string text;
  if (auto st = ParseTextPrompt(ctx, body["text_input"], "text_input", &req, &text); !st.ok()) {
    return FailWith(st);
  }
  ApiOptions opt;
  json params = body.contains("parameters") ? body["parameters"] : json(nullptr);
  if (auto st = ParseGenerationParams(params, Api::kTriton, ctx.model, &req, &opt); !st.ok()) {
    return FailWith(st);
  }
  opt.stream = stream;
  return TextJob(ctx, std::move(req), opt, Flavor::kTritonText, id->value_or(""), text);
}

RouteResult HandleTritonInfer(ServingContext& ctx, const json& body) {
  auto id = GetString(body, "id");
  if (!id.ok()) return FailWith(id.status());
  if (*id && !std::regex_match(**id, IdPattern())) {
    return Fail(422, "id must match ^[A-Za-z0-9_-]{1,256}$");
  }
  if (!body.contains("inputs") || !body["inputs"].is_array() || body["inputs"].size() != 1) {
    return Fail(422, "inputs must be an array of exactly one tensor");
  }
  const json& in = body["inputs"][0];
  if (!in.is_object()) return Fail(422, "inputs[0] must be object type.");
  auto name = GetString(in, "name");
  if (!name.ok() || !*name || (*name)->size() > 256) {
    return Fail(422, "inputs[0].name must be a string of at most 256 characters");
  }
  if (in.value("datatype", "") != "UINT32") return Fail(422, "inputs[0].datatype must be UINT32");
  auto ids =
      in.contains("data")
          ? ReadIdArray(in["data"], "inputs[0].data")
          : StatusOr<std::vector<int32_t>>(InvalidArgument("inputs[0].data must be necessary"));
  if (!ids.ok()) return FailWith(ids.status());
  const json& shape = in.contains("shape") ? in["shape"] : json(nullptr);
  bool shape_ok = shape.is_array() && (shape.size() == 1 || shape.size() == 2) &&
                  shape.back().is_number_integer() &&
                  shape.back().get<int64_t>() == static_cast<int64_t>(ids->size()) &&
                  (shape.size() == 1 || (shape[0].is_number_integer() && shape[0] == 1));
  if (!shape_ok) {
    return Fail(422, "inputs[0].shape must be [n] or [1, n] with n the number of data items");
  }
  if (auto st = CheckInputIds(*ids, ctx.model); !st.ok()) return FailWith(st);
  std::string output_name = "output0";
  if (body.contains("outputs")) {
    const json& outs = body["outputs"];
    if (!outs.is_array() || outs.size() != 1 || !outs[0].is_object() || !outs[0].contains("name") ||
        !outs[0]["name"].is_string()) {
      return Fail(422, "outputs must be an array of one {\"name\": string}");
    }
    output_name = outs[0]["name"].get<std::string>();
  }
  engine::GenerateRequest req;
  req.prompt_ids = std::move(*ids);
  ApiOptions opt;
  json params = in.contains("parameters") ? in["parameters"] : json(nullptr);
  if (auto st = ParseGenerationParams(params, Api::kTritonToken, ctx.model, &req, &opt); !st.ok()) {
    return FailWith(st);
  }
  RouteResult r = TextJob(ctx, std::move(req), opt, Flavor::kTritonToken, id->value_or(""), "");
  static_cast<TextFormatter*>(r.job->formatter.get())->set_output_name(output_name);
  return r;
}

RouteResult HandleStopInfer(ServingContext& ctx, const json& body) {
  auto id = GetString(body, "id");
  if (!id.ok()) return FailWith(id.status());
  if (!*id) return Fail(422, "id must be necessary");
  auto engine_id = ctx.registry.Find(**id);
  if (!engine_id) return Fail(404, "RequestId is " + **id + " not found.");
  ctx.engine->Cancel(*engine_id);
  return Reply(JsonResponse(200, body.dump()));
}

RouteResult HandleTritonServer(ServingContext& ctx) {
  json body = {{"name", "MindIE Server"},
               {"version", ctx.version},
               {"extensions",
                {{"max_iter_times", ctx.model.max_iter_times},
                 {"prefill_policy_type", ctx.model.prefill_policy_type},
                 {"decode_policy_type", ctx.model.decode_policy_type},
                 {"max_prefill_batch_size", ctx.model.max_prefill_batch_size},
                 {"max_prefill_tokens", ctx.model.max_prefill_tokens}}}};
  return Reply(JsonResponse(200, body.dump()));
}

RouteResult HandleTritonModel(ServingContext& ctx) {
  json body = {
      {"name", ctx.model.name},
      {"platform", "MindIE Server"},
      {"inputs", json::array({{{"name", "input0"}, {"shape", {-1}}, {"datatype", "UINT32"}}})},
      {"outputs", json::array({{{"name", "output0"}, {"shape", {-1}}, {"datatype", "UINT32"}}})}};
  return Reply(JsonResponse(200, body.dump()));
}

RouteResult HandleTritonModelConfig(ServingContext& ctx) {
  std::string tail = ctx.model.weight_path;
  while (tail.size() > 1 && tail.back() == '/') tail.pop_back();
  if (auto pos = tail.rfind('/'); pos != std::string::npos) tail = tail.substr(pos + 1);
  json body = {{"model_name", ctx.model.name},
               {"input_datatype", "INT64"},
               {"output_datatype", "INT64"},
               {"max_seq_len", ctx.model.max_seq_len},
               {"npu_mem_size", ctx.model.npu_mem_size == 0 ? -1 : ctx.model.npu_mem_size},
               {"cpu_mem_size", ctx.model.cpu_mem_size},
               {"world_size", ctx.model.world_size},
               {"model_weight_path", tail},
               {"model_instance_type", ctx.model.instance_type}};
  return Reply(JsonResponse(200, body.dump()));
}

}  // namespace mies::server
