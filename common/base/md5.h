// MD5 (RFC 1321) through OpenSSL's EVP interface, for checking downloads and
// data sets against published sums (not for security).
// Thread-safety: an Md5 object is thread-compatible (one thread at a time);
// the free functions are thread-safe.
#ifndef LATENTSEARCH_COMMON_BASE_MD5_H_
#define LATENTSEARCH_COMMON_BASE_MD5_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace latentsearch::base {

// Streaming MD5: Update any number of times, then HexDigest once.
class Md5 {
 public:
  Md5();
  ~Md5();
  Md5(const Md5&) = delete;
  Md5& operator=(const Md5&) = delete;

  void Update(const void* data, size_t n);
  void Update(absl::string_view data) { Update(data.data(), data.size()); }
  // 32 lower-case hex digits of everything passed to Update.
  std::string HexDigest();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// Lower-case hex MD5 of `data`.
std::string Md5Hex(absl::string_view data);

// Lower-case hex MD5 of the file's contents, streamed in 1 MiB chunks.
// NOT_FOUND / PERMISSION_DENIED / UNKNOWN from open or read (errno_status.h).
absl::StatusOr<std::string> Md5FileHex(const std::string& path);

}  // namespace latentsearch::base

#endif  // LATENTSEARCH_COMMON_BASE_MD5_H_
