// Little-endian integers and floats in byte buffers, the encoding of every
// latentsearch file format (and of hnswlib's): free Load/Append functions
// and a bounds-checked cursor for parsing untrusted bytes.
//
// The formats were first written by memcpy of host integers on x86-64; these
// helpers produce the same bytes there and stay correct on a big-endian host.
// Thread-safety: the functions are thread-safe; a LittleEndianReader is
// thread-compatible (one thread at a time).
#ifndef LATENTSEARCH_COMMON_BASE_LITTLE_ENDIAN_H_
#define LATENTSEARCH_COMMON_BASE_LITTLE_ENDIAN_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "absl/strings/string_view.h"

namespace latentsearch::base {

namespace le_internal {

template <typename T>
T ByteSwapIfBigEndian(T v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  unsigned char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  for (size_t i = 0; i < sizeof(T) / 2; ++i) {
    unsigned char t = b[i];
    b[i] = b[sizeof(T) - 1 - i];
    b[sizeof(T) - 1 - i] = t;
  }
  std::memcpy(&v, b, sizeof(T));
#endif
  return v;
}

}  // namespace le_internal

// The value of type T (an arithmetic type) stored little-endian at `p`
// (sizeof(T) readable bytes, any alignment).
template <typename T>
T LoadLittleEndian(const void* p) {
  static_assert(std::is_arithmetic_v<T>, "LoadLittleEndian reads integers and floats");
  T v;
  std::memcpy(&v, p, sizeof(T));
  return le_internal::ByteSwapIfBigEndian(v);
}

// Stores `v` little-endian at `p` (sizeof(T) writable bytes).
template <typename T>
void StoreLittleEndian(T v, void* p) {
  static_assert(std::is_arithmetic_v<T>, "StoreLittleEndian writes integers and floats");
  v = le_internal::ByteSwapIfBigEndian(v);
  std::memcpy(p, &v, sizeof(T));
}

// Appends `v` little-endian to `out`.
template <typename T>
void AppendLittleEndian(T v, std::string* out) {
  char b[sizeof(T)];
  StoreLittleEndian(v, b);
  out->append(b, sizeof(T));
}

// A cursor over untrusted bytes: each Read checks that the value fits in
// what is left and returns false (consuming nothing) when it does not.
class LittleEndianReader {
 public:
  explicit LittleEndianReader(absl::string_view bytes) : bytes_(bytes) {}
  LittleEndianReader(const char* p, size_t n) : bytes_(p, n) {}

  template <typename T>
  bool Read(T* v) {
    if (remaining() < sizeof(T)) return false;
    *v = LoadLittleEndian<T>(bytes_.data() + pos_);
    pos_ += sizeof(T);
    return true;
  }
  // The next `n` bytes, not copied.
  bool ReadBytes(size_t n, absl::string_view* out) {
    if (remaining() < n) return false;
    *out = bytes_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool Skip(size_t n) {
    if (remaining() < n) return false;
    pos_ += n;
    return true;
  }

  size_t pos() const { return pos_; }
  size_t remaining() const { return bytes_.size() - pos_; }
  size_t size() const { return bytes_.size(); }

 private:
  absl::string_view bytes_;
  size_t pos_ = 0;
};

}  // namespace latentsearch::base

#endif  // LATENTSEARCH_COMMON_BASE_LITTLE_ENDIAN_H_
