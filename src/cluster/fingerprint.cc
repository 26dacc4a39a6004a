#include "cluster/fingerprint.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "model/hf_config.h"

namespace mies::cluster {
namespace {

namespace fs = std::filesystem;

std::string Hex(const unsigned char* p, size_t n) {
  static const char* k = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s.push_back(k[p[i] >> 4]);
    s.push_back(k[p[i] & 15]);
  }
  return s;
}

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  void Update(const std::string& s) { EVP_DigestUpdate(ctx_, s.data(), s.size()); }
  std::string Final() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_, md, &n);
    return Hex(md, n);
  }

 private:
  EVP_MD_CTX* ctx_;
};

StatusOr<std::string> ReadAll(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return absl::NotFoundError(absl::StrCat("cannot read ", p.string()));
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The safetensors header (8-byte length + JSON): names, dtypes, shapes and offsets of every
// tensor. Hashing it instead of the data keeps the join fast on large models.
StatusOr<std::string> SafetensorsHeader(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return absl::NotFoundError(absl::StrCat("cannot read ", p.string()));
  uint64_t n = 0;
  if (!f.read(reinterpret_cast<char*>(&n), 8) || n > (uint64_t{100} << 20)) {
    return InvalidArgument(p.string(), ": not a safetensors file (bad header length)");
  }
  std::string h(n, '\0');
  if (!f.read(h.data(), static_cast<std::streamsize>(n))) {
    return InvalidArgument(p.string(), ": truncated safetensors header");
  }
  return h;
}

template <typename T>
std::string Opt(const std::optional<T>& v) {
  if (!v) return "unset";
  std::ostringstream ss;
  ss << *v;
  return ss.str();
}

std::string ScheduleText(const config::ScheduleConfig& s) {
  std::ostringstream o;
  o << "templateType=" << s.template_type << " templateName=" << s.template_name
    << " cacheBlockSize=" << s.cache_block_size
    << " maxPrefillBatchSize=" << s.max_prefill_batch_size
    << " maxPrefillTokens=" << s.max_prefill_tokens
    << " prefillTimeMsPerReq=" << s.prefill_time_ms_per_req
    << " prefillPolicyType=" << s.prefill_policy_type
    << " decodeTimeMsPerReq=" << s.decode_time_ms_per_req
    << " decodePolicyType=" << s.decode_policy_type << " maxBatchSize=" << s.max_batch_size
    << " maxIterTimes=" << s.max_iter_times << " maxPreemptCount=" << s.max_preempt_count
    << " supportSelectBatch=" << s.support_select_batch
    << " maxQueueDelayMicroseconds=" << s.max_queue_delay_us
    << " maxFirstTokenWaitTime=" << s.max_first_token_wait_time_ms << " maxN=" << s.max_n
    << " policyType=" << s.policy_type << " prefillChunkSize=" << s.prefill_chunk_size
    << " maxNumPartialPrefills=" << s.max_num_partial_prefills
    << " maxLongPartialPrefills=" << s.max_long_partial_prefills
    << " longPrefillTokenThreshold=" << s.long_prefill_token_threshold;
  return o.str();
}

}  // namespace

bool DeterministicFromEnv(const config::Environment& env) {
  auto v = env.Get("HCCL_DETERMINISTIC");
  if (!v) return false;
  std::string s = *v;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s == "true" || s == "1";
}

StatusOr<Fingerprint> ComputeFingerprint(const FingerprintInputs& in) {
  Fingerprint fp;
  const fs::path dir(in.model_dir);
  MIES_ASSIGN_OR_RETURN(std::string cfg_text, ReadAll(dir / "config.json"));
  {
    Sha256 h;
    h.Update(cfg_text);
    fp.emplace_back("model.config_json.sha256", h.Final());
  }
  if (fs::exists(dir / "generation_config.json")) {
    MIES_ASSIGN_OR_RETURN(std::string g, ReadAll(dir / "generation_config.json"));
    Sha256 h;
    h.Update(g);
    fp.emplace_back("model.generation_config.sha256", h.Final());
  } else {
    fp.emplace_back("model.generation_config.sha256", "absent");
  }
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.ends_with(".safetensors") || name.ends_with(".safetensors.index.json")) {
      files.push_back(e.path());
    }
  }
  if (ec)
    return absl::NotFoundError(absl::StrCat("cannot list ", in.model_dir, ": ", ec.message()));
  std::sort(files.begin(), files.end());
  std::string listing;
  Sha256 headers;
  for (const fs::path& f : files) {
    listing +=
        absl::StrCat(listing.empty() ? "" : ",", f.filename().string(), ":", fs::file_size(f, ec));
    if (f.string().ends_with(".safetensors")) {
      MIES_ASSIGN_OR_RETURN(std::string h, SafetensorsHeader(f));
      headers.Update(h);
    }
  }
  fp.emplace_back("model.files", listing);
  fp.emplace_back("model.safetensors_headers.sha256", headers.Final());

  MIES_ASSIGN_OR_RETURN(model::HfConfig hf,
                        model::ParseHfConfig(cfg_text, (dir / "config.json").string()));
  MIES_ASSIGN_OR_RETURN(model::GenerationDefaults gen,
                        model::LoadGenerationDefaults(in.model_dir, hf));
  fp.emplace_back("model.architecture", hf.architecture_name);
  fp.emplace_back("model.shape",
                  absl::StrCat("hidden=", hf.hidden_size, " intermediate=", hf.intermediate_size,
                               " layers=", hf.num_hidden_layers, " heads=", hf.num_attention_heads,
                               " kv_heads=", hf.num_key_value_heads, " head_dim=", hf.head_dim,
                               " vocab=", hf.vocab_size));
  fp.emplace_back("model.weight_dtype",
                  absl::StrCat("dtype=", in.dtype, " torch_dtype=", hf.torch_dtype,
                               " activations=", in.activations));
  fp.emplace_back("generation.do_sample", Opt(gen.do_sample));
  fp.emplace_back("generation.temperature", Opt(gen.temperature));
  fp.emplace_back("generation.top_k", Opt(gen.top_k));
  fp.emplace_back("generation.top_p", Opt(gen.top_p));
  fp.emplace_back("generation.repetition_penalty", Opt(gen.repetition_penalty));
  fp.emplace_back("generation.max_new_tokens", Opt(gen.max_new_tokens));
  fp.emplace_back("generation.max_length", Opt(gen.max_length));
  std::string eos;
  for (int64_t id : gen.eos_token_ids) eos += absl::StrCat(eos.empty() ? "" : ",", id);
  fp.emplace_back("generation.eos_token_id", eos);

  if (in.ranktable != nullptr) {
    fp.emplace_back("tp.world_size", std::to_string(in.ranktable->WorldSize()));
    std::string layout;
    for (const config::RankServer& s : in.ranktable->servers) {
      layout += absl::StrCat(layout.empty() ? "" : " ", s.container_ip, "[");
      for (size_t i = 0; i < s.devices.size(); ++i) {
        layout += absl::StrCat(i ? "," : "", s.devices[i].rank_id);
      }
      layout += "]";
    }
    fp.emplace_back("tp.layout", layout);
    if (hf.is_moe()) {
      fp.emplace_back("tp.moe_ep", absl::StrCat(in.moe_ep, " expert group(s) of ",
                                                in.ranktable->WorldSize() / in.moe_ep, " rank(s)"));
    }
  }
  if (in.schedule != nullptr) fp.emplace_back("schedule", ScheduleText(*in.schedule));
  fp.emplace_back("env.HCCL_DETERMINISTIC", in.deterministic ? "true" : "false");
  return fp;
}

std::vector<std::string> CompareFingerprints(const Fingerprint& master, const Fingerprint& node,
                                             const std::string& node_name) {
  std::map<std::string, std::string> m(master.begin(), master.end());
  std::map<std::string, std::string> n(node.begin(), node.end());
  std::vector<std::string> out;
  for (const auto& [field, value] : m) {
    auto it = n.find(field);
    const std::string other = it == n.end() ? "(missing)" : it->second;
    if (other != value) {
      out.push_back(absl::StrCat(field, ": master has '", value, "', node ", node_name, " has '",
                                 other, "'"));
    }
  }
  for (const auto& [field, value] : n) {
    if (!m.contains(field)) {
      out.push_back(
          absl::StrCat(field, ": master has '(missing)', node ", node_name, " has '", value, "'"));
    }
  }
  return out;
}

}  // namespace mies::cluster
