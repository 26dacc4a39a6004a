// SHA-256 over OpenSSL's EVP interface, as lowercase hex: the join fingerprint and the digests
// of the model files a slave fetches from the master.
#pragma once

#include <string>
#include <string_view>

typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace mies::cluster {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view bytes);
  // The digest of everything given so far, as 64 lowercase hex digits; call once.
  std::string Final();

 private:
  EVP_MD_CTX* ctx_;
};

std::string Sha256Hex(std::string_view bytes);

}  // namespace mies::cluster
