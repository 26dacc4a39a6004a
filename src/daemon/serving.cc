#include "daemon/serving.h"

#include <signal.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "certs/config_planes.h"
#include "common/logging.h"
#include "common/process_memory.h"
#include "engine/engine.h"
#include "jinja/chat_template.h"
#include "model/hf_config.h"
#include "server/adapters.h"
#include "server/api_key_store.h"
#include "server/chat_output.h"
#include "server/grammar_constraints.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/router.h"
#include "server/serving_context.h"
#include "server/tool_call_parser.h"

namespace mies::daemon {

namespace {

// For models whose tokenizer_config.json has no chat_template (stories260K, base models): a
// plain "User:/Assistant:" transcript, so /v1/chat/completions still works. Documented in the
// README; a model's own template always wins.
constexpr const char* kFallbackChatTemplate =
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}\n\n"
    "{% elif message['role'] == 'user' %}User: {{ message['content'] }}\n"
    "{% elif message['role'] == 'assistant' %}Assistant: {{ message['content'] }}\n"
    "{% else %}{{ message['role'] }}: {{ message['content'] }}\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}";

// `source` gets the template text (all named templates, one after the other), from which the
// chat output parsers are chosen.
StatusOr<jinja::ChatTemplate> LoadChatTemplate(const std::string& model_dir,
                                               const tokenizer::Tokenizer& tok,
                                               std::string* source) {
  std::string path = model_dir + "/tokenizer_config.json";
  std::ifstream in(path);
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    auto cfg = nlohmann::ordered_json::parse(ss.str(), nullptr, false);
    if (!cfg.is_discarded() && cfg.contains("chat_template") && !cfg["chat_template"].is_null()) {
      const auto& t = cfg["chat_template"];
      if (t.is_string()) {
        *source = t.get<std::string>();
      } else if (t.is_array()) {
        for (const auto& named : t) {
          if (named.is_object() && named.contains("template") && named["template"].is_string()) {
            *source += named["template"].get<std::string>();
          }
        }
      }
      return jinja::ChatTemplate::FromTokenizerConfig(cfg);
    }
  }
  *source = kFallbackChatTemplate;
  std::vector<std::pair<std::string, std::string>> special;
  auto name = [&](std::optional<int> id) { return id ? tok.IdToToken(*id).value_or("") : ""; };
  special.emplace_back("bos_token", name(tok.bos_id()));
  special.emplace_back("eos_token", tok.eos_ids().empty() ? "" : name(tok.eos_ids()[0]));
  MIES_LOG_INFO("{} has no chat_template; /v1/chat/completions uses a plain User/Assistant one",
                path);
  return jinja::ChatTemplate::FromString(kFallbackChatTemplate, special);
}

class ServingImpl : public Serving {
 public:
  ~ServingImpl() override {
    if (http) http->Stop();
    http.reset();
    engine.engine.reset();
  }

  engine::ServingEngine engine;
  std::optional<jinja::ChatTemplate> chat_template;
  std::unique_ptr<server::Metrics> metrics;
  std::unique_ptr<server::GrammarConstraintCompiler> constraints;
  std::shared_ptr<server::ApiKeyStore> api_keys;
  std::unique_ptr<server::ServingContext> ctx;
  std::unique_ptr<server::Router> router;
  std::unique_ptr<server::HttpServer> http;
};

int EnvInt(const config::Environment& env, const char* name, int fallback) {
  auto v = env.Get(name);
  if (!v || v->empty()) return fallback;
  try {
    return std::stoi(*v);
  } catch (...) {
    return fallback;
  }
}

// ServerConfig.apiKeyFile's keys; null when the field is empty (keys off).
StatusOr<std::shared_ptr<server::ApiKeyStore>> ReadApiKeys(const config::Config& config) {
  if (config.server.api_key_file.empty()) return std::shared_ptr<server::ApiKeyStore>();
  MIES_ASSIGN_OR_RETURN(auto keys,
                        server::ApiKeyStore::Create(config.Resolve(config.server.api_key_file),
                                                    "ServerConfig.apiKeyFile"));
  return std::shared_ptr<server::ApiKeyStore>(std::move(keys));
}

}  // namespace

Status LoadApiKeys(StartupState& state) {
  MIES_ASSIGN_OR_RETURN(state.api_keys, ReadApiKeys(state.config));
  return OkStatus();
}

StatusOr<std::unique_ptr<Serving>> StartServing(const StartupState& state,
                                                const config::Environment& env,
                                                std::unique_ptr<engine::Executor> executor,
                                                ConsoleFacts console) {
  const config::Config& config = state.config;
  if (config.server.https_enabled) MIES_RETURN_IF_ERROR(certs::CheckEnabledPlanes(config));
  MIES_ASSIGN_OR_RETURN(auto listeners, server::PlanListeners(config));

  auto s = std::make_unique<ServingImpl>();
  s->api_keys = state.api_keys;
  if (!s->api_keys) {
    MIES_ASSIGN_OR_RETURN(s->api_keys, ReadApiKeys(config));
  }
  const engine::ExecutorResources resources = executor->Resources();
  const int64_t num_kv_blocks = executor->num_kv_blocks();
  const int64_t block_size = executor->block_size();
  const std::string model_dir = config.ModelWeightPath();
  MIES_ASSIGN_OR_RETURN(auto hf, model::LoadHfConfig(model_dir));
  MIES_ASSIGN_OR_RETURN(s->engine, engine::EngineFromConfig(config, std::move(executor)));
  std::string template_source;
  MIES_ASSIGN_OR_RETURN(auto tmpl,
                        LoadChatTemplate(model_dir, *s->engine.tokenizer, &template_source));
  s->chat_template.emplace(std::move(tmpl));

  const std::string& model_name = config.backend.model_deploy.model_config.at(0).model_name;
  s->metrics = std::make_unique<server::Metrics>(model_name);
  s->ctx = std::make_unique<server::ServingContext>();
  auto& ctx = *s->ctx;
  int64_t vocab = std::max<int64_t>(hf.vocab_size, s->engine.tokenizer->vocab_size());
  ctx.model = server::ModelInfo::FromConfig(config, vocab);
  if (!hf.torch_dtype.empty()) ctx.model.torch_dtype = hf.torch_dtype;
  MIES_RETURN_IF_ERROR(server::ConfigureChatOutput(
      config.backend.model_deploy.model_config.at(0).extra, template_source, &ctx.model));
  MIES_LOG_INFO("chat output: tool calls {}, reasoning {}",
                ctx.model.tool_format ? ctx.model.tool_format->name() : "not parsed",
                ctx.model.reasoning ? "split into reasoning_content" : "off");
  ctx.config = &config;
  ctx.tokenizer = s->engine.tokenizer.get();
  ctx.chat_template = &*s->chat_template;
  // The vocabulary's byte strings and trie are built now, not on the first constrained request.
  MIES_ASSIGN_OR_RETURN(s->constraints,
                        server::GrammarConstraintCompiler::ForTokenizer(s->engine.tokenizer));
  ctx.constraints = s->constraints.get();
  ctx.api_keys = s->api_keys.get();
  ctx.engine = s->engine.engine.get();
  ctx.metrics = s->metrics.get();
  ctx.monitor_mode = env.Get("MIES_SERVICE_MONITOR_MODE").value_or("") == "1";
  ctx.start_time_s = static_cast<int64_t>(std::time(nullptr));
  ctx.resources = resources;
  ctx.version = MIES_VERSION;

  // The console (GET /v1/cluster, /console).
  const config::ModelConfig& mc = config.backend.model_deploy.model_config.at(0);
  ctx.layout.architecture = hf.architecture_name;
  ctx.layout.dtype = mc.dtype != "auto" ? mc.dtype : ctx.model.torch_dtype;
  ctx.layout.world_size = state.topology ? state.topology->world_size : mc.world_size;
  ctx.layout.tp = ctx.layout.world_size;
  ctx.layout.moe = hf.is_moe();
  ctx.layout.moe_ep = console.moe_ep;
  ctx.layout.num_kv_blocks = num_kv_blocks;
  ctx.layout.block_size = block_size;
  for (const auto& l : listeners) {
    const std::string origin = std::string(l.tls ? "https://" : "http://") + l.Address();
    if (l.planes & server::kServicePlane) ctx.service_url = origin;
    // The management plane's own origin: the console's page calls the service plane from it.
    if (l.planes & server::kManagementPlane) ctx.allowed_origins.push_back(origin);
  }
  for (const auto& o : config.server.allowed_origins) ctx.allowed_origins.push_back(o);
  if (console.cluster_view) {
    ctx.cluster_view = std::move(console.cluster_view);
  } else {
    const std::string address =
        state.topology ? state.topology->local_address : config.server.ip_address;
    const int64_t started_ms = static_cast<int64_t>(std::time(nullptr)) * 1000;
    ctx.cluster_view = [&ctx, address, started_ms] {
      server::ClusterSnapshot snap = server::SingleNodeSnapshot(ctx, address);
      snap.nodes[0].rss_bytes = ResidentBytes();
      snap.events.push_back({1, started_ms, "started", false, address,
                             "single node " + address + " started serving"});
      return snap;
    };
  }
  s->router = std::make_unique<server::Router>(&ctx);

  server::HttpServerOptions opts;
  opts.threads = std::max(1, EnvInt(env, "MIES_HTTP_THREADS", 2));
  opts.max_connections = config.server.max_link_num;
  opts.max_body_bytes = static_cast<size_t>(config.server.max_request_length_mb) << 20;
  // mies extension: MindIE's socket read timeout is 60 s; tests shorten it.
  opts.read_timeout = std::chrono::milliseconds(EnvInt(env, "MIES_HTTP_READ_TIMEOUT_MS", 60000));
  opts.token_timeout = std::chrono::seconds(config.server.token_timeout_s);
  opts.e2e_timeout = std::chrono::seconds(config.server.e2e_timeout_s);
  if (config.enable_dynamic_adjust_timeout) {
    opts.token_timeout = std::chrono::seconds(3600);
    opts.e2e_timeout = std::chrono::seconds(65535);
  }
  opts.on_stop = [](server::ServiceAction action) {
    MIES_LOG_INFO("/stopService{}: stopping",
                  action == server::ServiceAction::kStopServiceForce ? "?mode=Force" : "");
    // The main thread waits for SIGTERM; it shuts everything down in order.
    kill(getpid(), SIGTERM);
  };
  MIES_ASSIGN_OR_RETURN(s->http, server::HttpServer::Start(s->router.get(), listeners, opts));
  for (const auto& l : listeners) {
    std::string planes;
    if (l.planes & server::kServicePlane) planes += " service";
    if (l.planes & server::kManagementPlane) planes += " management";
    if (l.planes & server::kMetricsPlane) planes += " metrics";
    MIES_LOG_INFO("listening on {} ({}) for{}", l.Address(), l.tls ? "https" : "http", planes);
  }
  return std::unique_ptr<Serving>(std::move(s));
}

}  // namespace mies::daemon
