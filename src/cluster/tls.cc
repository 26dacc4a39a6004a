#include "cluster/tls.h"

#include <grpc/support/log.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "certs/ossl.h"
#include "common/logging.h"
#include "config/tls_planes.h"

namespace mies::cluster {
namespace {

namespace fs = std::filesystem;

StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return absl::NotFoundError(absl::StrCat("internode TLS: cannot read ", path));
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// config.json keys named in messages.
const config::TlsPlaneKeys& InterNodeKeys() {
  return config::TlsPlaneOf(config::TlsPlane::kInterNode).keys;
}

void GrpcLog(gpr_log_func_args* args) {
  switch (args->severity) {
    case GPR_LOG_SEVERITY_ERROR:
      MIES_LOG_ERROR("grpc: {} ({}:{})", args->message, args->file, args->line);
      break;
    case GPR_LOG_SEVERITY_INFO:
      MIES_LOG_INFO("grpc: {}", args->message);
      break;
    default:
      MIES_LOG_DEBUG("grpc: {}", args->message);
  }
}

}  // namespace

void RouteGrpcLogging() {
  static std::once_flag once;
  std::call_once(once, [] { gpr_set_log_function(&GrpcLog); });
}

StatusOr<std::unique_ptr<TlsContext>> TlsContext::Prepare(const TlsSettings& settings) {
  RouteGrpcLogging();
  std::unique_ptr<TlsContext> ctx(new TlsContext());
  if (!settings.enabled) {
    static std::once_flag warned;
    std::call_once(warned, [] {
      MIES_LOG_WARN(
          "interNodeTLSEnabled is false: the inter-node control plane runs in plaintext without "
          "peer authentication; use it only on a trusted, isolated network");
    });
    return ctx;
  }
  const certs::PlaneMaterial& m = settings.material;
  if (settings.check_local_material) {
    certs::CheckOptions opts;
    opts.apply_file_rules = settings.apply_file_rules;
    MIES_RETURN_IF_ERROR(certs::CheckPlaneMaterial(m, opts));
  }
  ctx->enabled_ = true;
  ctx->omit_identity_ = settings.omit_identity;
  if (m.ca_files.empty()) return FailedPrecondition("internode TLS: no CA file configured");
  std::vector<certs::X509Ptr> cas;
  for (const std::string& f : m.ca_files) {
    MIES_ASSIGN_OR_RETURN(std::string pem, ReadFile(f));
    auto parsed = certs::ParseCertificatesPem(pem);
    if (!parsed.ok()) {
      return FailedPrecondition("internode TLS: CA file ", f, ": ", parsed.status().message());
    }
    for (auto& c : *parsed) cas.push_back(std::move(c));
    ctx->ca_pem_ += pem;
    if (!pem.empty() && pem.back() != '\n') ctx->ca_pem_ += '\n';
  }
  if (!settings.omit_identity) {
    MIES_ASSIGN_OR_RETURN(ctx->cert_pem_, ReadFile(m.cert_file));
    MIES_ASSIGN_OR_RETURN(
        certs::SecretString key,
        certs::LoadPlainPrivateKey(m.key_file, m.key_password_file, settings.apply_file_rules));
    ctx->key_pem_ = key.str();
  }
  if (!m.crl_files.empty()) {
    char tmpl[] = "/tmp/mies-crl-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      return absl::InternalError("internode TLS: cannot create the hashed CRL directory");
    }
    ctx->crl_dir_ = tmpl;
    std::map<unsigned long, int> next_index;
    for (const std::string& f : m.crl_files) {
      MIES_ASSIGN_OR_RETURN(std::string pem, ReadFile(f));
      auto crls = certs::ParseCrlsPem(pem);
      if (!crls.ok()) {
        return FailedPrecondition("internode TLS: CRL file ", f,
                                  " does not load: ", crls.status().message());
      }
      for (auto& crl : *crls) {
        bool issued = false;
        for (const auto& ca : cas) {
          if (X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), X509_get_subject_name(ca.get())) == 0 &&
              X509_CRL_verify(crl.get(), X509_get0_pubkey(ca.get())) == 1) {
            issued = true;
            break;
          }
        }
        if (!issued) {
          certs::TakeOpenSslErrors();
          return FailedPrecondition("internode TLS: CRL file ", f, " (issuer ",
                                    certs::NameOneLine(X509_CRL_get_issuer(crl.get())),
                                    ") is not issued by any configured CA (",
                                    InterNodeKeys().ca_files,
                                    "); gRPC would ignore it and accept revoked certificates");
        }
        const unsigned long hash =
            X509_NAME_hash_ex(X509_CRL_get_issuer(crl.get()), nullptr, nullptr, nullptr);
        char name[32];
        std::snprintf(name, sizeof(name), "%08lx.r%d", hash, next_index[hash]++);
        const std::string out_path = ctx->crl_dir_ + "/" + name;
        FILE* out = std::fopen(out_path.c_str(), "w");
        if (out == nullptr) return absl::InternalError(absl::StrCat("cannot write ", out_path));
        PEM_write_X509_CRL(out, crl.get());
        std::fclose(out);
      }
    }
    MIES_LOG_INFO("internode TLS: {} CRL file(s) checked and installed in {}", m.crl_files.size(),
                  ctx->crl_dir_);
  } else {
    MIES_LOG_WARN(
        "internode TLS: no CRL configured ({}): revoked node certificates are not detected",
        InterNodeKeys().crl_files);
  }
  return ctx;
}

TlsContext::~TlsContext() {
  if (!key_pem_.empty()) OPENSSL_cleanse(key_pem_.data(), key_pem_.size());
  if (!crl_dir_.empty()) {
    std::error_code ec;
    fs::remove_all(crl_dir_, ec);
  }
}

std::shared_ptr<grpc::ServerCredentials> TlsContext::ServerCredentials() const {
  if (!enabled_) return grpc::InsecureServerCredentials();
  using namespace grpc::experimental;
  auto provider = std::make_shared<StaticDataCertificateProvider>(
      ca_pem_, std::vector<IdentityKeyCertPair>{{key_pem_, cert_pem_}});
  TlsServerCredentialsOptions o(provider);
  o.watch_root_certs();
  o.watch_identity_key_cert_pairs();
  o.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  if (!crl_dir_.empty()) o.set_crl_directory(crl_dir_);
  return TlsServerCredentials(o);
}

std::shared_ptr<grpc::ChannelCredentials> TlsContext::ChannelCredentials() const {
  if (!enabled_) return grpc::InsecureChannelCredentials();
  using namespace grpc::experimental;
  std::shared_ptr<StaticDataCertificateProvider> provider;
  if (omit_identity_) {
    provider = std::make_shared<StaticDataCertificateProvider>(ca_pem_);
  } else {
    provider = std::make_shared<StaticDataCertificateProvider>(
        ca_pem_, std::vector<IdentityKeyCertPair>{{key_pem_, cert_pem_}});
  }
  TlsChannelCredentialsOptions o;
  o.set_certificate_provider(provider);
  o.watch_root_certs();
  if (!omit_identity_) o.watch_identity_key_cert_pairs();
  if (!crl_dir_.empty()) o.set_crl_directory(crl_dir_);
  return TlsCredentials(o);
}

}  // namespace mies::cluster
