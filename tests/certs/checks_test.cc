// The checks over one plane's material (RunPlaneChecks / CheckPlaneMaterial): each rule accepts
// good material and refuses the bad case with one line naming the file, what was found and
// the rule.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "certs/plane.h"
#include "test_pki.h"

namespace mies::certs {
namespace {

using testing::CertSpec;
using ::testing::HasSubstr;
using testing::SharedPki;
using testing::TempDir;
using testing::WriteFile;

class PlaneChecksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const testing::Pki& pki = SharedPki();
    WriteFile(dir_ / "ca.pem", testing::ReadFile(pki.File("ca.pem")));
    WriteFile(dir_ / "server.pem", testing::ReadFile(pki.File("server.pem")));
    WriteFile(dir_ / "server.key.pem", testing::ReadFile(pki.File("server.key.pem")));
    WriteFile(dir_ / "crl.pem", testing::ReadFile(pki.File("crl.pem")));
    m_.plane = Plane::kService;
    m_.ca_files = {dir_ / "ca.pem"};
    m_.cert_file = dir_ / "server.pem";
    m_.key_file = dir_ / "server.key.pem";
    m_.crl_files = {dir_ / "crl.pem"};
    options_.apply_file_rules = false;
  }

  // A server certificate of the test CA with `spec` tweaks, written as server.pem.
  void UseServerCert(CertSpec spec) {
    const testing::Pki& pki = SharedPki();
    if (spec.key == nullptr) spec.key = pki.server_key.get();
    if (spec.issuer == nullptr) {
      spec.issuer = pki.ca.get();
      spec.issuer_key = pki.ca_key.get();
    }
    X509Ptr cert = testing::MintCert(spec);
    WriteFile(m_.cert_file, testing::CertPem(cert.get()));
  }

  PlaneReport Run() { return RunPlaneChecks(m_, options_); }

  // Exactly one error, about `file`, whose line contains `text`.
  void ExpectOneError(const PlaneReport& r, const std::string& file, const std::string& text) {
    std::vector<std::string> errors;
    for (const Finding& f : r.findings) {
      if (f.severity == Severity::kError) errors.push_back(f.Line());
    }
    ASSERT_EQ(errors.size(), 1u) << ::testing::PrintToString(errors);
    ASSERT_NE(r.FirstError(), nullptr);
    EXPECT_EQ(r.FirstError()->file, file);
    EXPECT_THAT(errors[0], HasSubstr(text));
    EXPECT_THAT(errors[0], HasSubstr("(rule: "));
    EXPECT_EQ(errors[0].find('\n'), std::string::npos) << "one line per problem";
  }

  TempDir dir_;
  PlaneMaterial m_;
  CheckOptions options_;
};

TEST_F(PlaneChecksTest, GeneratedServiceMaterialPassesEveryCheck) {
  PlaneReport r = Run();
  EXPECT_TRUE(r.ok()) << (r.FirstError() ? r.FirstError()->Line() : "");
  EXPECT_TRUE(r.Problems().empty());
  ASSERT_EQ(r.rows.size(), 4u);
  EXPECT_EQ(r.rows[1].role, "cert");
  EXPECT_EQ(r.rows[1].subject, "CN=mies server,O=mies test");
  EXPECT_THAT(r.rows[3].subject, HasSubstr("CRL of CN=mies test CA"));
  EXPECT_TRUE(CheckPlaneMaterial(m_, options_).ok());
}

TEST_F(PlaneChecksTest, KeyOfAnotherCertificateIsRefused) {
  WriteFile(m_.key_file, testing::KeyPem(SharedPki().client_key.get()));
  ExpectOneError(Run(), m_.key_file, "does not match the certificate's public key");
}

TEST_F(PlaneChecksTest, Rsa2048CertificateIsRefused) {
  EvpPkeyPtr small = testing::GenerateRsa(2048);
  UseServerCert({.key = small.get()});
  WriteFile(m_.key_file, testing::KeyPem(small.get()));
  ExpectOneError(Run(), m_.cert_file, "public key is RSA 2048 bits, too short");
}

TEST_F(PlaneChecksTest, EcP256IsAcceptedAndP224Refused) {
  EvpPkeyPtr p256 = testing::GenerateEc("P-256");
  UseServerCert({.key = p256.get()});
  WriteFile(m_.key_file, testing::KeyPem(p256.get()));
  PlaneReport good = Run();
  EXPECT_TRUE(good.ok()) << good.FirstError()->Line();

  EvpPkeyPtr p224 = testing::GenerateEc("P-224");
  UseServerCert({.key = p224.get()});
  WriteFile(m_.key_file, testing::KeyPem(p224.get()));
  ExpectOneError(Run(), m_.cert_file, "public key is EC secp224r1 (224 bits), too small");
}

TEST_F(PlaneChecksTest, ExpiredCertificateIsRefused) {
  UseServerCert({.not_before_s = -30L * 86400, .not_after_s = -86400});
  ExpectOneError(Run(), m_.cert_file,
                 "certificate CN=mies test leaf,O=mies test expired: notAfter");
}

TEST_F(PlaneChecksTest, NotYetValidCertificateIsRefused) {
  UseServerCert({.not_before_s = 86400, .not_after_s = 400L * 86400});
  ExpectOneError(Run(), m_.cert_file, "is not yet valid: notBefore");
}

TEST_F(PlaneChecksTest, CertificateExpiringWithin30DaysIsAWarning) {
  UseServerCert({.not_after_s = 10L * 86400 + 3600});
  PlaneReport r = Run();
  EXPECT_TRUE(r.ok());
  ASSERT_EQ(r.Problems().size(), 1u);
  EXPECT_EQ(r.Problems()[0]->severity, Severity::kWarning);
  EXPECT_THAT(r.Problems()[0]->Line(), HasSubstr("expires in 10 days"));
  EXPECT_EQ(r.rows[1].status, Severity::kWarning);
}

TEST_F(PlaneChecksTest, CertificateOfAForeignCaIsRefused) {
  WriteFile(m_.ca_files[0], testing::ReadFile(SharedPki().File("foreign-ca.pem")));
  m_.crl_files.clear();  // the test CA's CRL would be refused too; one problem at a time
  ExpectOneError(Run(), m_.cert_file,
                 "does not verify as a TLS server: unable to get local issuer certificate");
}

TEST_F(PlaneChecksTest, IntermediatesInTheCertificateFileCompleteTheChain) {
  const testing::Pki& pki = SharedPki();
  EvpPkeyPtr sub_key = testing::GenerateEc("P-384");
  X509Ptr sub = testing::MintCert({.cn = "mies intermediate CA",
                                   .key = sub_key.get(),
                                   .issuer = pki.ca.get(),
                                   .issuer_key = pki.ca_key.get(),
                                   .san = "",
                                   .eku = "",
                                   .ca = true});
  X509Ptr leaf = testing::MintCert(
      {.key = pki.server_key.get(), .issuer = sub.get(), .issuer_key = sub_key.get()});
  WriteFile(m_.cert_file, testing::CertPem(leaf.get()));
  ExpectOneError(Run(), m_.cert_file, "unable to get local issuer certificate");
  WriteFile(m_.cert_file, testing::CertPem(leaf.get()) + testing::CertPem(sub.get()));
  PlaneReport r = Run();
  EXPECT_TRUE(r.ok()) << r.FirstError()->Line();
}

TEST_F(PlaneChecksTest, ServerOnlyCertificateIsRefusedForTheInterNodePlane) {
  m_.plane = Plane::kInterNode;
  ExpectOneError(Run(), m_.cert_file,
                 "does not verify as a TLS client: unsuitable certificate purpose");
  UseServerCert({.eku = "serverAuth,clientAuth"});
  EXPECT_TRUE(Run().ok());
}

TEST_F(PlaneChecksTest, NodeAddressOutsideTheSanIsRefused) {
  m_.node_address = "127.0.1.1";
  EXPECT_TRUE(Run().ok());
  m_.node_address = "localhost";
  EXPECT_TRUE(Run().ok());
  m_.node_address = "127.0.1.9";
  ExpectOneError(Run(), m_.cert_file,
                 "subjectAltName [IP:127.0.0.1, IP:127.0.1.1, DNS:localhost] does not cover "
                 "127.0.1.9");
  UseServerCert({.san = ""});
  ExpectOneError(Run(), m_.cert_file, "subjectAltName [none] does not cover 127.0.1.9");
}

TEST_F(PlaneChecksTest, CrlOfAnotherCaIsRefused) {
  const testing::Pki& pki = SharedPki();
  WriteFile(m_.crl_files[0],
            testing::MintCrlPem(pki.foreign_ca.get(), pki.foreign_ca_key.get(), {}));
  ExpectOneError(Run(), m_.crl_files[0],
                 "CRL issuer CN=mies foreign CA,O=mies test is none of the plane's CAs");
}

TEST_F(PlaneChecksTest, CrlWithTheCaNameButAnotherKeyIsRefused) {
  // Same issuer name as the test CA, signed by the foreign CA's key: a forged CRL.
  WriteFile(m_.crl_files[0],
            testing::MintCrlPem(SharedPki().ca.get(), SharedPki().foreign_ca_key.get(), {}));
  ExpectOneError(Run(), m_.crl_files[0], "has a signature that does not verify with that CA's key");
}

TEST_F(PlaneChecksTest, ExpiredCrlIsRefused) {
  WriteFile(m_.crl_files[0], testing::MintCrlPem(SharedPki().ca.get(), SharedPki().ca_key.get(), {},
                                                 -10L * 86400, -86400));
  ExpectOneError(Run(), m_.crl_files[0], "CRL of CN=mies test CA,O=mies test expired: nextUpdate");
}

TEST_F(PlaneChecksTest, RevokedCertificateIsRefused) {
  const testing::Pki& pki = SharedPki();
  WriteFile(m_.crl_files[0], testing::MintCrlPem(pki.ca.get(), pki.ca_key.get(),
                                                 {pki.client.get(), pki.server.get()}));
  ExpectOneError(Run(), m_.cert_file, "certificate CN=mies server,O=mies test is revoked by");
}

TEST_F(PlaneChecksTest, EncryptedKeyNeedsTheRightPassword) {
  WriteFile(m_.key_file, testing::ReadFile(SharedPki().File("server.key.enc.pem")));
  ExpectOneError(Run(), m_.key_file, "private key is encrypted and no password file was given");

  m_.key_password_file = dir_ / "pass.txt";
  WriteFile(m_.key_password_file, "not-the-password\n");
  ExpectOneError(Run(), m_.key_file, "cannot decrypt the private key: wrong password");

  WriteFile(m_.key_password_file, testing::ReadFile(SharedPki().File("key-password.txt")));
  PlaneReport r = Run();
  EXPECT_TRUE(r.ok()) << r.FirstError()->Line();
}

TEST_F(PlaneChecksTest, PlainKeyIsRecoveredFromAnEncryptedOneInMemory) {
  const std::string pass = "s3cret pass";
  WriteFile(m_.key_file, testing::EncryptedKeyPem(SharedPki().server_key.get(), pass), 0400);
  WriteFile(dir_ / "pass.txt", pass + "\n", 0400);
  StatusOr<SecretString> plain = LoadPlainPrivateKey(m_.key_file, dir_ / "pass.txt");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_FALSE(IsEncryptedKeyPem(plain->str()));
  auto key = ParsePrivateKeyPem(plain->str(), std::nullopt);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(EVP_PKEY_eq(key->get(), SharedPki().server_key.get()), 1);

  WriteFile(m_.key_file, testing::TraditionalEncryptedKeyPem(SharedPki().server_key.get(), pass),
            0400);
  ASSERT_THAT(testing::ReadFile(m_.key_file), HasSubstr("Proc-Type: 4,ENCRYPTED"));
  plain = LoadPlainPrivateKey(m_.key_file, dir_ / "pass.txt");
  ASSERT_TRUE(plain.ok()) << plain.status();
  key = ParsePrivateKeyPem(plain->str(), std::nullopt);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(EVP_PKEY_eq(key->get(), SharedPki().server_key.get()), 1);

  WriteFile(dir_ / "pass.txt", "wrong\n", 0400);
  StatusOr<SecretString> bad = LoadPlainPrivateKey(m_.key_file, dir_ / "pass.txt");
  EXPECT_THAT(bad.status().message(), HasSubstr("wrong password"));
}

TEST_F(PlaneChecksTest, GarbagePemIsRefusedForEveryRole) {
  WriteFile(m_.cert_file, "this is not a certificate\n");
  ExpectOneError(Run(), m_.cert_file, "does not parse: no PEM \"CERTIFICATE\" block found");
  SetUp();
  WriteFile(m_.cert_file, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  ExpectOneError(Run(), m_.cert_file, "certificate 1 does not decode as X.509 DER");
  SetUp();
  WriteFile(m_.key_file, "-----BEGIN PRIVATE KEY-----\n%%%%\n-----END PRIVATE KEY-----\n");
  ExpectOneError(Run(), m_.key_file, "does not parse as a PEM private key");
  SetUp();
  WriteFile(m_.crl_files[0], "garbage");
  ExpectOneError(Run(), m_.crl_files[0], "no PEM \"X509 CRL\" block found");
  SetUp();
  WriteFile(m_.ca_files[0], testing::ReadFile(m_.cert_file));
  PlaneReport r = Run();
  ASSERT_NE(r.FirstError(), nullptr);
  EXPECT_THAT(r.FirstError()->Line(), HasSubstr("is not a CA certificate"));
}

TEST_F(PlaneChecksTest, DaemonModeAppliesMindieFileRules) {
  options_.apply_file_rules = true;
  ASSERT_EQ(chmod(m_.key_file.c_str(), 0644), 0);
  Status st = CheckPlaneMaterial(m_, options_);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("service plane TLS material: error: " + m_.key_file));
  EXPECT_THAT(st.message(), HasSubstr("mode 0644 is wider than 0600"));
  ASSERT_EQ(chmod(m_.key_file.c_str(), 0400), 0);
  EXPECT_TRUE(CheckPlaneMaterial(m_, options_).ok());
}

TEST_F(PlaneChecksTest, MissingAndTooManyFilesAreNamed) {
  m_.crl_files = {dir_ / "absent_crl.pem"};
  ExpectOneError(Run(), dir_ / "absent_crl.pem", "cannot stat");
  m_.crl_files.clear();
  m_.ca_files = {m_.ca_files[0], m_.ca_files[0], m_.ca_files[0], m_.ca_files[0]};
  ExpectOneError(Run(), "(service CA files)", "4 CA files given (rule: 1 to 3 CA files per plane)");
}

TEST(PlaneNames, RoundTripAndUnknownIsRefused) {
  for (Plane p : kAllPlanes) EXPECT_EQ(*ParsePlane(PlaneName(p)), p);
  EXPECT_THAT(ParsePlane("grpc").status().message(), HasSubstr("unknown plane \"grpc\""));
}

}  // namespace
}  // namespace mies::certs
