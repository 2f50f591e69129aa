// MD5 over OpenSSL EVP (see md5.h).
#include "common/base/md5.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/str_format.h"
#include "common/base/errno_status.h"

namespace latentsearch::base {

struct Md5::Ctx {
  EVP_MD_CTX* ctx = nullptr;
  // OpenSSL allocation failures leave ctx null or uninitialised; the digest
  // of such an object is "" rather than a crash.
  bool ok = false;
};

Md5::Md5() : ctx_(std::make_unique<Ctx>()) {
  ctx_->ctx = EVP_MD_CTX_new();
  ctx_->ok = ctx_->ctx != nullptr && EVP_DigestInit_ex(ctx_->ctx, EVP_md5(), nullptr) == 1;
}

Md5::~Md5() { EVP_MD_CTX_free(ctx_->ctx); }

void Md5::Update(const void* data, size_t n) {
  if (ctx_->ok && n > 0) ctx_->ok = EVP_DigestUpdate(ctx_->ctx, data, n) == 1;
}

std::string Md5::HexDigest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!ctx_->ok || EVP_DigestFinal_ex(ctx_->ctx, digest, &len) != 1) return "";
  ctx_->ok = false;  // finalised
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) absl::StrAppendFormat(&hex, "%02x", digest[i]);
  return hex;
}

std::string Md5Hex(absl::string_view data) {
  Md5 md5;
  md5.Update(data);
  return md5.HexDigest();
}

absl::StatusOr<std::string> Md5FileHex(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open", path, errno);
  Md5 md5;
  std::vector<char> buf(1 << 20);
  absl::Status status;
  while (true) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      status = ErrnoError("read", path, errno);
      break;
    }
    if (n == 0) break;
    md5.Update(buf.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  if (!status.ok()) return status;
  std::string hex = md5.HexDigest();
  if (hex.empty()) return absl::InternalError("OpenSSL: MD5 digest failed");
  return hex;
}

}  // namespace latentsearch::base
