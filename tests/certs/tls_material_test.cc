// What TLS stacks get from a plane: checked PEM with the key decrypted in memory, and a hashed
// CRL directory that OpenSSL's by_dir lookup (what gRPC 1.51 uses) applies to peers.
#include "certs/tls_material.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <cstdio>

#include "test_pki.h"

namespace mies::certs {
namespace {

using ::testing::HasSubstr;
using testing::SharedPki;
using testing::TempDir;
using testing::WriteFile;

std::string Shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[256];
  while (fgets(buf, sizeof buf, p) != nullptr) out += buf;
  pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// Verifies `cert_file` as a TLS client against the test CA with CRLs from `crl_dir` only.
int VerifyWithCrlDir(const std::string& cert_file, const std::string& crl_dir) {
  const testing::Pki& pki = SharedPki();
  auto certs = ParseCertificatesPem(testing::ReadFile(cert_file));
  EXPECT_TRUE(certs.ok());
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
  X509_STORE_add_cert(store.get(), pki.ca.get());
  X509_LOOKUP* lookup = X509_STORE_add_lookup(store.get(), X509_LOOKUP_hash_dir());
  X509_LOOKUP_add_dir(lookup, crl_dir.c_str(), X509_FILETYPE_PEM);
  X509_STORE_set_flags(store.get(), X509_V_FLAG_CRL_CHECK);
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(),
                                                                      X509_STORE_CTX_free);
  X509_STORE_CTX_init(ctx.get(), store.get(), certs->front().get(), nullptr);
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT);
  X509_verify_cert(ctx.get());
  return X509_STORE_CTX_get_error(ctx.get());
}

TEST(HashedCrlDir, NamesMatchOpensslAndRevokedPeersAreRefused) {
  const testing::Pki& pki = SharedPki();
  TempDir dir;
  auto names = WriteHashedCrlDir({pki.File("crl.pem")}, dir / "crls");
  ASSERT_TRUE(names.ok()) << names.status();
  const std::string hash = Shell("openssl crl -hash -noout -in " + pki.File("crl.pem"));
  EXPECT_EQ(*names, std::vector<std::string>{hash + ".r0"});

  EXPECT_EQ(VerifyWithCrlDir(pki.File("revoked-client.pem"), dir / "crls"),
            X509_V_ERR_CERT_REVOKED);
  EXPECT_EQ(VerifyWithCrlDir(pki.File("client.pem"), dir / "crls"), X509_V_OK);
  // An empty directory: OpenSSL cannot find a CRL and says so (gRPC would fail open).
  TempDir empty;
  EXPECT_EQ(VerifyWithCrlDir(pki.File("client.pem"), empty.path()), X509_V_ERR_UNABLE_TO_GET_CRL);

  // Rewriting replaces the old files; two CRLs of one issuer become .r0 and .r1.
  names = WriteHashedCrlDir({pki.File("crl.pem"), pki.File("crl.pem")}, dir / "crls");
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{hash + ".r0", hash + ".r1"}));

  WriteFile(dir / "bad.pem", "no crl here");
  EXPECT_THAT(std::string(WriteHashedCrlDir({dir / "bad.pem"}, dir / "crls").status().message()),
              HasSubstr("no PEM \"X509 CRL\" block found"));
}

TEST(PlanePem, DecryptsTheKeyInMemoryAndRefusesUncheckedMaterial) {
  const testing::Pki& pki = SharedPki();
  PlaneMaterial m;
  m.plane = Plane::kService;
  m.ca_files = {pki.File("ca.pem"), pki.File("foreign-ca.pem")};
  m.cert_file = pki.File("server.pem");
  m.key_file = pki.File("server.key.enc.pem");
  m.key_password_file = pki.File("key-password.txt");
  m.crl_files = {pki.File("crl.pem")};
  CheckOptions options;
  options.apply_file_rules = false;
  auto pem = LoadPlanePem(m, options);
  ASSERT_TRUE(pem.ok()) << pem.status();
  EXPECT_EQ(ParseCertificatesPem(pem->ca_bundle)->size(), 2u);
  EXPECT_EQ(pem->cert_chain, testing::ReadFile(pki.File("server.pem")));
  EXPECT_FALSE(IsEncryptedKeyPem(pem->private_key.str()));
  auto key = ParsePrivateKeyPem(pem->private_key.str(), std::nullopt);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(EVP_PKEY_eq(key->get(), pki.server_key.get()), 1);
  ASSERT_EQ(pem->crls.size(), 1u);

  m.ca_files = {pki.File("foreign-ca.pem")};
  m.crl_files.clear();
  auto refused = LoadPlanePem(m, options);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("service plane TLS material: error: " + pki.File("server.pem")));
}

}  // namespace
}  // namespace mies::certs
