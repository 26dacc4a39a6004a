// OpenAI-compatible routes (vLLM flavour by default): /v1/chat/completions, /v1/completions,
// /v1/models(/{m}), and vLLM's /tokenize and /detokenize.
#include <algorithm>
#include <map>
#include <memory>

#include "server/adapters.h"
#include "server/chat_output.h"
#include "server/tool_request.h"

namespace mies::server {

using nlohmann::json;
using nlohmann::ordered_json;

namespace {

json UsageJson(int64_t prompt, int64_t completion, int64_t cached) {
  json u = {{"prompt_tokens", prompt},
            {"completion_tokens", completion},
            {"total_tokens", prompt + completion}};
  if (cached > 0) u["prompt_tokens_details"] = {{"cached_tokens", cached}};
  return u;
}

json BytesOf(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

// One OpenAI response (chat or text completion), streamed or not.
class OpenAiFormatter : public Formatter {
 public:
  // `output`: how chat text splits into reasoning, content and tool calls (unused for text
  // completions).
  OpenAiFormatter(ServingContext& ctx, bool chat, bool stream, bool include_usage,
                  bool want_logprobs, std::string id, int n, int64_t prompt_tokens,
                  const ChatOutputOptions& output)
      : ctx_(ctx),
        chat_(chat),
        stream_(stream),
        include_usage_(include_usage),
        want_logprobs_(want_logprobs),
        reasoning_(output.reasoning),
        id_(std::move(id)),
        created_(UnixNow()),
        prompt_tokens_(prompt_tokens),
        choices_(n) {
    if (chat_) {
      for (Choice& c : choices_) c.parser = std::make_unique<ChatOutputParser>(output);
    }
  }

  bool stream() const override { return stream_; }
  ErrorStyle error_style() const override { return ErrorStyle::kOpenAi; }
  // An error event and no [DONE]: the openai clients (python and node) raise on it, where a
  // cut-off stream or MindIE's raw text would pass as complete. vLLM does the same.
  std::string OnStreamError(StreamFailure, int status, const std::string& message) override {
    return "data: " + ErrorResponse(status, message, ErrorStyle::kOpenAi).body + "\n\n";
  }

  std::string OnOutput(const engine::RequestOutput& out) override {
    std::string bytes;
    if (out.finished) usage_ = out.usage;
    for (size_t k = 0; k < out.events.size(); ++k) {
      const auto& ev = out.events[k];
      if (ev.index < 0 || ev.index >= static_cast<int>(choices_.size())) continue;
      Choice& c = choices_[ev.index];
      c.text += ev.text_delta;
      c.tokens += static_cast<int64_t>(ev.new_token_ids.size());
      if (ev.finish != engine::FinishReason::kNone) c.finish = ev.finish;
      if (ev.stop_reason) c.stop_reason = *ev.stop_reason;
      const bool finished = ev.finish != engine::FinishReason::kNone;
      ChatDelta delta;
      if (chat_) {
        delta = finished ? c.parser->FeedLast(ev.text_delta) : c.parser->Feed(ev.text_delta);
      }
      json lp = LogprobsJson(ev, c);
      if (!stream_) {
        if (want_logprobs_) AppendLogprobs(lp, &c.logprobs);
        if (chat_) c.message.Add(delta);
        continue;
      }
      if (chat_ && !c.role_sent) {
        c.role_sent = true;
        json first = Chunk();
        first["choices"] = json::array({{{"index", ev.index},
                                         {"delta", {{"role", "assistant"}, {"content", ""}}},
                                         {"logprobs", nullptr},
                                         {"finish_reason", nullptr}}});
        bytes += Sse(first);
      }
      const bool empty = chat_ ? delta.empty() : ev.text_delta.empty();
      if (empty && !finished && lp.is_null()) continue;
      if (finished && !delta.tool_calls.empty()) {
        // The last tool-call delta in a chunk of its own, finish_reason in the next (as OpenAI
        // sends them): the openai clients' stream helpers close a call when another chunk comes.
        json calls = Chunk();
        calls["choices"] = json::array({{{"index", ev.index},
                                         {"delta", ChatDeltaJson(delta)},
                                         {"logprobs", want_logprobs_ ? lp : json(nullptr)},
                                         {"finish_reason", nullptr}}});
        bytes += Sse(calls);
        delta = ChatDelta();
        lp = nullptr;
      }
      json choice = {{"index", ev.index}, {"logprobs", want_logprobs_ ? lp : json(nullptr)}};
      if (chat_) {
        choice["delta"] = ChatDeltaJson(delta);
      } else {
        choice["text"] = ev.text_delta;
        choice["stop_reason"] = nullptr;
      }
      choice["finish_reason"] = finished ? json(FinishReasonOf(c)) : json(nullptr);
      json chunk = Chunk();
      chunk["choices"] = json::array({choice});
      // MindIE puts usage on the final event; the last choice to finish carries the totals.
      bool last = finished && out.finished && k + 1 == out.events.size();
      if (last) {
        chunk["usage"] =
            UsageJson(prompt_tokens_, usage_.completion_tokens, usage_.cached_prompt_tokens);
        if (ctx_.model.full_text) chunk["full_text"] = c.text;
      }
      bytes += Sse(chunk);
    }
    return bytes;
  }

  std::string Finish() override {
    // A choice that got no final event still gives up the text its parser held back.
    std::string bytes;
    for (size_t i = 0; chat_ && i < choices_.size(); ++i) {
      Choice& c = choices_[i];
      if (c.parser->finished()) continue;
      ChatDelta rest = c.parser->Finish();
      if (!stream_) {
        c.message.Add(rest);
      } else if (!rest.empty()) {
        json chunk = Chunk();
        chunk["choices"] = json::array({{{"index", i},
                                         {"delta", ChatDeltaJson(rest)},
                                         {"logprobs", nullptr},
                                         {"finish_reason", nullptr}}});
        bytes += Sse(chunk);
      }
    }
    if (stream_) {
      if (include_usage_) {
        json chunk = Chunk();
        chunk["choices"] = json::array();
        chunk["usage"] =
            UsageJson(prompt_tokens_, usage_.completion_tokens, usage_.cached_prompt_tokens);
        bytes += Sse(chunk);
      }
      return bytes + "data: [DONE]\n\n";
    }
    json choices = json::array();
    for (size_t i = 0; i < choices_.size(); ++i) {
      const Choice& c = choices_[i];
      json choice = {{"index", i}};
      if (chat_) {
        choice["message"] = ChatMessageJson(c.message, reasoning_);
      } else {
        choice["text"] = c.text;
        choice["stop_reason"] = c.stop_reason.empty() ? json(nullptr) : json(c.stop_reason);
      }
      choice["logprobs"] = want_logprobs_ ? c.logprobs : json(nullptr);
      choice["finish_reason"] = FinishReasonOf(c);
      choices.push_back(std::move(choice));
    }
    json body = {{"id", id_},
                 {"object", chat_ ? "chat.completion" : "text_completion"},
                 {"created", created_},
                 {"model", ctx_.model.name},
                 {"choices", std::move(choices)},
                 {"usage", UsageJson(prompt_tokens_, usage_.completion_tokens,
                                     usage_.cached_prompt_tokens)}};
    return body.dump();
  }

 private:
  struct Choice {
    std::string text;
    int64_t tokens = 0;
    int64_t text_offset = 0;  // completions logprobs: offset of the next token
    engine::FinishReason finish = engine::FinishReason::kNone;
    std::string stop_reason;
    bool role_sent = false;
    json logprobs;                             // accumulated (non-stream)
    std::unique_ptr<ChatOutputParser> parser;  // chat only
    ChatMessage message;                       // chat, accumulated (non-stream)
  };

  // "tool_calls" when the model stopped after calling tools; "length" stays "length".
  const char* FinishReasonOf(const Choice& c) const {
    if (chat_ && c.finish == engine::FinishReason::kStop && c.parser->tool_calls() > 0) {
      return "tool_calls";
    }
    return OpenAiFinishReason(c.finish);
  }

  json Chunk() const {
    return {{"id", id_},
            {"object", chat_ ? "chat.completion.chunk" : "text_completion"},
            {"created", created_},
            {"model", ctx_.model.name}};
  }

  static std::string Sse(const json& j) { return "data: " + j.dump() + "\n\n"; }

  // The event's logprobs in this API's shape; null when none were asked or given.
  json LogprobsJson(const engine::SequenceEvent& ev, Choice& c) {
    if (!want_logprobs_ || ev.logprobs.empty()) return nullptr;
    if (chat_) {
      json content = json::array();
      for (const auto& t : ev.logprobs) {
        std::string tok = TokenText(ctx_, t.token_id);
        json top = json::array();
        for (const auto& alt : t.top) {
          std::string s = TokenText(ctx_, alt.token_id);
          top.push_back({{"token", s}, {"logprob", alt.logprob}, {"bytes", BytesOf(s)}});
        }
        content.push_back({{"token", tok},
                           {"logprob", t.logprob},
                           {"bytes", BytesOf(tok)},
                           {"top_logprobs", top}});
      }
      return {{"content", content}};
    }
    json lp = {{"text_offset", json::array()},
               {"token_logprobs", json::array()},
               {"tokens", json::array()},
               {"top_logprobs", json::array()}};
    for (const auto& t : ev.logprobs) {
      std::string tok = TokenText(ctx_, t.token_id);
      lp["text_offset"].push_back(c.text_offset);
      c.text_offset += static_cast<int64_t>(tok.size());
      lp["token_logprobs"].push_back(t.logprob);
      lp["tokens"].push_back(tok);
      json top = json::object();
      for (const auto& alt : t.top) top[TokenText(ctx_, alt.token_id)] = alt.logprob;
      lp["top_logprobs"].push_back(top);
    }
    return lp;
  }

  void AppendLogprobs(const json& lp, json* acc) const {
    if (lp.is_null()) return;
    if (acc->is_null()) {
      *acc = lp;
      return;
    }
    for (auto it = lp.begin(); it != lp.end(); ++it) {
      for (const auto& v : it.value()) (*acc)[it.key()].push_back(v);
    }
  }

  ServingContext& ctx_;
  bool chat_, stream_, include_usage_, want_logprobs_, reasoning_;
  std::string id_;
  int64_t created_;
  int64_t prompt_tokens_;
  std::vector<Choice> choices_;
  engine::Usage usage_;
};

// `model`: absent, null or empty means the served model (vLLM and llama-server serve the only
// model loaded); any other name is 404, as OpenAI and vLLM answer (NotFoundError in the clients).
Status CheckModelField(const ServingContext& ctx, const json& body, bool chat) {
  auto it = body.find("model");
  if (it == body.end() || it->is_null()) return OkStatus();
  if (!it->is_string()) return InvalidArgument("model must be string");
  const std::string& model = it->get_ref<const std::string&>();
  if (model.empty() || model == ctx.model.name) return OkStatus();
  if (ctx.model.native_openai && chat)
    return NotFound("Got model ", model, ", but not found in server");
  return NotFound(chat ? "Model not found: " + model
                       : "Not found given model, please check modelName in config file.");
}

// Common OpenAI fields (stream, stream_options, n) and the generation-parameter table.
Status ParseOpenAiCommon(ServingContext& ctx, const json& body, bool chat,
                         engine::GenerateRequest* req, ApiOptions* opt, bool* include_usage) {
  Api api = chat && ctx.model.native_openai ? Api::kOpenAiNative : Api::kOpenAi;
  MIES_RETURN_IF_ERROR(ParseGenerationParams(body, api, ctx.model, req, opt));
  MIES_ASSIGN_OR_RETURN(auto stream, GetBool(body, "stream"));
  opt->stream = stream.value_or(false);
  *include_usage = false;
  if (auto it = body.find("stream_options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return InvalidArgument("stream_options must be object type.");
    MIES_ASSIGN_OR_RETURN(auto inc, GetBool(*it, "include_usage"));
    if (inc && !opt->stream) {
      return InvalidArgument("stream_options.include_usage is only allowed when stream is true.");
    }
    *include_usage = inc.value_or(false);
  }
  MIES_RETURN_IF_ERROR(CheckN(req->sampling, ctx.model, opt->stream));
  req->stream = opt->stream;
  return OkStatus();
}

RouteResult MakeJob(ServingContext& ctx, engine::GenerateRequest req, const ApiOptions& opt,
                    bool chat, bool include_usage, bool want_logprobs,
                    const ChatOutputOptions& output = {}) {
  GenerationJob job;
  req.request_id = ctx.NewRequestId();
  job.public_id = req.request_id;
  job.prompt_tokens = static_cast<int64_t>(req.prompt_ids.size());
  job.formatter =
      std::make_unique<OpenAiFormatter>(ctx, chat, opt.stream, include_usage, want_logprobs,
                                        req.request_id, req.sampling.n, job.prompt_tokens, output);
  job.request = std::move(req);
  RouteResult r;
  r.job = std::move(job);
  return r;
}

// Concatenated text of a message's content (string or list of parts).
StatusOr<ordered_json> NormalizeMessage(const ordered_json& m, size_t i) {
  std::string where = "messages[" + std::to_string(i) + "]";
  if (!m.is_object()) return InvalidArgument(where, " must be object type.");
  auto role_it = m.find("role");
  if (role_it == m.end() || !role_it->is_string()) {
    return InvalidArgument(where, ".role must be string type.");
  }
  std::string role = role_it->get<std::string>();
  if (role != "system" && role != "user" && role != "assistant" && role != "tool" &&
      role != "developer") {
    return InvalidArgument(where, ".role must be one of system, user, assistant, tool; got ", role);
  }
  ordered_json out = m;
  auto content_it = m.find("content");
  bool has_tool_calls = m.contains("tool_calls") && !m["tool_calls"].is_null();
  if (content_it == m.end() || content_it->is_null()) {
    if (role == "assistant" && has_tool_calls) {
      out["content"] = "";
      return out;
    }
    return InvalidArgument(where, ".content must be string or array type.");
  }
  if (content_it->is_array()) {
    std::string text;
    for (const auto& part : *content_it) {
      if (!part.is_object() || !part.contains("type") || !part["type"].is_string()) {
        return InvalidArgument(where, ".content parts must be objects with a type");
      }
      if (part["type"] != "text") {
        return InvalidArgument(where, ".content part type ", part["type"].dump(),
                               " is not supported: the model takes text only");
      }
      if (!part.contains("text") || !part["text"].is_string()) {
        return InvalidArgument(where, ".content text part must have a string text");
      }
      text += part["text"].get<std::string>();
    }
    out["content"] = text;
  } else if (!content_it->is_string()) {
    return InvalidArgument(where, ".content must be string or array type.");
  }
  if (role == "tool" && (!m.contains("tool_call_id") || !m["tool_call_id"].is_string())) {
    return InvalidArgument(where, ".tool_call_id must be string type for the tool role.");
  }
  return out;
}

// The prompt of a chat request: its messages (keeping each object's key order, which the
// templates' tojson reproduces), the tools unless tool_choice is none, and chat_template_kwargs,
// through the model's chat template.
StatusOr<std::string> RenderChatPrompt(const ServingContext& ctx, const ordered_json& raw,
                                       const ToolRequest& tools) {
  auto msgs = raw.find("messages");
  if (msgs == raw.end() || !msgs->is_array() || msgs->empty()) {
    return InvalidArgument("messages must be a non-empty array");
  }
  jinja::ChatRenderRequest render;
  for (size_t i = 0; i < msgs->size(); ++i) {
    MIES_ASSIGN_OR_RETURN(auto m, NormalizeMessage((*msgs)[i], i));
    render.messages.push_back(std::move(m));
  }
  render.add_generation_prompt = true;
  if (auto it = raw.find("add_generation_prompt"); it != raw.end() && !it->is_null()) {
    if (!it->is_boolean()) return FieldTypeError("add_generation_prompt", "boolean");
    render.add_generation_prompt = it->get<bool>();
  }
  if (tools.active()) render.tools = tools.tools;
  if (auto it = raw.find("chat_template_kwargs"); it != raw.end() && !it->is_null()) {
    if (!it->is_object()) return FieldTypeError("chat_template_kwargs", "object");
    if (auto t = it->find("enable_thinking"); t != it->end() && !t->is_boolean()) {
      return InvalidArgument("chat_template_kwargs.enable_thinking must be boolean type, got ",
                             t->dump());
    }
    // MindIE's cap on reasoning tokens needs the engine to close the think block; refused rather
    // than passed to a template that ignores it.
    if (it->contains("thinking_budget")) {
      return InvalidArgument(
          "chat_template_kwargs.thinking_budget is not supported by mies (reasoning is not "
          "capped); leave it out");
    }
    render.extra_context = *it;
  }
  if (raw.contains("chat_template") && !raw["chat_template"].is_null()) {
    return InvalidArgument(
        "chat_template in the request is not supported; the model's tokenizer_config.json "
        "template is used");
  }
  if (ctx.chat_template == nullptr) {
    return InvalidArgument("the served model has no chat template; use /v1/completions");
  }
  auto prompt = ctx.chat_template->Render(render);
  if (!prompt.ok()) {
    return InvalidArgument("chat template rendering failed: ", prompt.status().message());
  }
  return *prompt;
}

}  // namespace

RouteResult HandleChatCompletions(ServingContext& ctx, const json& body,
                                  std::string_view body_text) {
  const auto style = ErrorStyle::kOpenAi;
  if (auto st = CheckModelField(ctx, body, true); !st.ok()) return FailWith(st, style);
  // Messages and tools in the client's key order (templates' tojson prints them as given).
  ordered_json raw = ordered_json::parse(body_text, nullptr, /*allow_exceptions=*/false);
  if (!raw.is_object()) raw = ordered_json::parse(body.dump());
  auto tools = ParseToolRequest(raw);
  if (!tools.ok()) return FailWith(tools.status(), style);
  auto prompt = RenderChatPrompt(ctx, raw, *tools);
  if (!prompt.ok()) return FailWith(prompt.status(), style);
  if (auto st = CheckInputText(*prompt, ctx.model, "Messages"); !st.ok())
    return FailWith(st, style);

  engine::GenerateRequest req;
  ApiOptions opt;
  bool include_usage = false;
  if (auto st = ParseOpenAiCommon(ctx, body, true, &req, &opt, &include_usage); !st.ok()) {
    return FailWith(st, style);
  }
  KeepSchemaKeyOrder(body_text, &opt.constraint);
  // logprobs: bool; top_logprobs [0, 20] and only with logprobs true.
  auto logprobs = GetBool(body, "logprobs");
  if (!logprobs.ok()) return FailWith(logprobs.status(), style);
  auto top = GetUnsigned(body, "top_logprobs");
  if (!top.ok()) return FailWith(top.status(), style);
  bool want_logprobs = logprobs->value_or(false);
  if (*top) {
    if (logprobs->has_value() && !**logprobs) {
      return Fail(422,
                  "Value error, when using top_logprobs, logprobs must be true or null in chat "
                  "completions",
                  style);
    }
    if (**top > 20) {
      return Fail(422, "Parameter top logprobs must be in [0, 20], got " + std::to_string(**top),
                  style);
    }
  }
  if (want_logprobs) req.sampling.logprobs = static_cast<int>(top->value_or(0));

  // How the output is read: reasoning first (when the model thinks), then tool calls in the
  // model's syntax. tool_choice "required" or a named function forces calls in that syntax
  // (hermes for a model without one).
  ChatOutputOptions output;
  output.reasoning = ctx.model.reasoning;
  output.reasoning_start = ReasoningStartOf(*prompt);
  output.stream = opt.stream;
  output.parallel_tool_calls = tools->parallel;
  std::optional<ConstraintSpec> constraint = opt.constraint;
  if (tools->active()) {
    output.tool_format = ctx.model.tool_format;
    const bool forced = tools->choice == ToolRequest::Choice::kRequired ||
                        tools->choice == ToolRequest::Choice::kNamed;
    if (forced) {
      if (constraint) {
        return Fail(
            422,
            "tool_choice and " + constraint->field + " both ask for structured output; use one",
            style);
      }
      if (output.tool_format == nullptr) output.tool_format = &HermesToolCallFormat();
      constraint = ToolChoiceConstraint(*tools, *output.tool_format);
    }
    if (output.tool_format != nullptr && output.tool_format->needs_special_tokens()) {
      req.skip_special_tokens = false;
    }
  }
  if (constraint && output.reasoning) {
    constraint = AfterReasoning(*constraint, output.reasoning_start);
  }
  if (auto st = AttachConstraint(ctx.constraints, constraint, &req); !st.ok()) {
    return FailWith(st, style);
  }
  // Templates that bring their own BOS/special tokens are encoded without adding them again.
  auto ids = EncodeText(ctx, *prompt, /*add_special_tokens=*/false);
  if (!ids.ok()) return FailWith(ids.status(), style);
  req.prompt_ids = std::move(*ids);
  return MakeJob(ctx, std::move(req), opt, true, include_usage, want_logprobs, output);
}

RouteResult HandleCompletions(ServingContext& ctx, const json& body, std::string_view body_text) {
  const auto style = ErrorStyle::kOpenAi;
  if (auto st = CheckModelField(ctx, body, false); !st.ok()) return FailWith(st, style);
  engine::GenerateRequest req;
  auto pit = body.find("prompt");
  if (pit == body.end() || pit->is_null()) return Fail(422, "prompt must be necessary", style);
  const json* prompt = &*pit;
  if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) {
    prompt = &(*prompt)[0];  // a batch of one prompt
  }
  if (prompt->is_string()) {
    std::string text = prompt->get<std::string>();
    if (auto st = CheckInputText(text, ctx.model, "Prompt"); !st.ok()) return FailWith(st, style);
    auto ids = EncodeText(ctx, text, true);
    if (!ids.ok()) return FailWith(ids.status(), style);
    req.prompt_ids = std::move(*ids);
  } else if (prompt->is_array() && !prompt->empty()) {
    auto ids = ReadIdArray(*prompt, "prompt");
    if (!ids.ok()) {
      return Fail(422, "prompt must be a string or a non-empty list of token ids", style);
    }
    if (auto st = CheckInputIds(*ids, ctx.model); !st.ok()) return FailWith(st, style);
    req.prompt_ids = std::move(*ids);
  } else {
    return Fail(422, "prompt must be a string or a non-empty list of token ids", style);
  }
  ApiOptions opt;
  bool include_usage = false;
  if (auto st = ParseOpenAiCommon(ctx, body, false, &req, &opt, &include_usage); !st.ok()) {
    return FailWith(st, style);
  }
  KeepSchemaKeyOrder(body_text, &opt.constraint);
  auto logprobs = GetInt(body, "logprobs");
  if (!logprobs.ok()) return FailWith(logprobs.status(), style);
  bool want_logprobs = false;
  if (*logprobs) {
    if (**logprobs < 0 || **logprobs > 5) {
      return Fail(422, "logprobs should be in range [0, 5], got " + std::to_string(**logprobs),
                  style);
    }
    want_logprobs = true;
    req.sampling.logprobs = static_cast<int>(**logprobs);
  }
  auto echo = GetBool(body, "echo");
  if (!echo.ok()) return FailWith(echo.status(), style);
  if (echo->value_or(false)) return Fail(422, "echo is not supported", style);
  if (auto st = AttachConstraint(ctx.constraints, opt.constraint, &req); !st.ok()) {
    return FailWith(st, style);
  }
  return MakeJob(ctx, std::move(req), opt, false, include_usage, want_logprobs);
}

RouteResult HandleModelList(ServingContext& ctx) {
  json card = {{"id", ctx.model.name},
               {"object", "model"},
               {"created", ctx.start_time_s},
               {"owned_by", "MindIE Server"},
               {"root", ctx.model.name},
               {"parent", nullptr},
               {"max_model_len", ctx.model.max_seq_len}};
  json body = {{"object", "list"}, {"data", json::array({card})}};
  return Reply(JsonResponse(200, body.dump(2)));
}

RouteResult HandleModelCard(ServingContext& ctx, const std::string& model) {
  if (model != ctx.model.name) {
    return Fail(404, "Model " + model + " not found.", ErrorStyle::kOpenAi);
  }
  json body = {{"id", ctx.model.name},
               {"object", "model"},
               {"created", ctx.start_time_s},
               {"owned_by", "MindIE Server"}};
  return Reply(JsonResponse(200, body.dump()));
}

RouteResult HandleTokenize(ServingContext& ctx, const json& body) {
  const auto style = ErrorStyle::kOpenAi;
  if (auto st = CheckModelField(ctx, body, false); !st.ok()) return FailWith(st, style);
  auto add_special = GetBool(body, "add_special_tokens");
  if (!add_special.ok()) return FailWith(add_special.status(), style);
  std::string text;
  bool special = true;
  if (body.contains("prompt") && !body["prompt"].is_null()) {
    if (!body["prompt"].is_string()) return Fail(422, "prompt must be string type.", style);
    text = body["prompt"].get<std::string>();
    special = add_special->value_or(true);
  } else if (body.contains("messages")) {
    // As vLLM: the chat prompt with the request's tools and chat_template_kwargs.
    ordered_json raw = ordered_json::parse(body.dump());
    auto tools = ParseToolRequest(raw);
    if (!tools.ok()) return FailWith(tools.status(), style);
    auto rendered = RenderChatPrompt(ctx, raw, *tools);
    if (!rendered.ok()) return FailWith(rendered.status(), style);
    text = *rendered;
    special = add_special->value_or(false);
  } else {
    return Fail(422, "the body needs a prompt or messages", style);
  }
  auto ids = ctx.tokenizer->Encode(text, special);
  if (!ids.ok()) return Fail(422, std::string(ids.status().message()), style);
  json body_out = {
      {"tokens", *ids}, {"count", ids->size()}, {"max_model_len", ctx.model.max_seq_len}};
  return Reply(JsonResponse(200, body_out.dump()));
}

RouteResult HandleDetokenize(ServingContext& ctx, const json& body) {
  const auto style = ErrorStyle::kOpenAi;
  if (auto st = CheckModelField(ctx, body, false); !st.ok()) return FailWith(st, style);
  if (!body.contains("tokens")) return Fail(422, "tokens must be necessary", style);
  auto ids = ReadIdArray(body["tokens"], "tokens");
  if (!ids.ok()) return FailWith(ids.status(), style);
  for (int32_t id : *ids) {
    if (id >= ctx.model.vocab_size) {
      return Fail(422, "token id " + std::to_string(id) + " is outside the vocabulary", style);
    }
  }
  std::vector<int> v(ids->begin(), ids->end());
  json out = {{"prompt", ctx.tokenizer->Decode(v)}};
  return Reply(JsonResponse(200, out.dump()));
}

}  // namespace mies::server
