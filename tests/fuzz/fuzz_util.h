// Helpers shared by the libFuzzer targets: in-memory files, a private
// scratch directory, and a reader that carves a fuzz input into parts.
// The input layouts each target uses are documented in the target and
// produced for the seed corpora by seed_gen.cc (tests/fuzz/make_corpus.sh).
// Thread-safety: none needed (libFuzzer runs one input at a time).
#ifndef LATENTSEARCH_TESTS_FUZZ_FUZZ_UTIL_H_
#define LATENTSEARCH_TESTS_FUZZ_FUZZ_UTIL_H_

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

namespace latentsearch::fuzz {

// An in-memory file holding `bytes`; closed when the object goes away. Its
// path() opens it like any file (/proc/self/fd/N).
class MemFile {
 public:
  MemFile(const char* name, const void* data, size_t size) : fd_(memfd_create(name, MFD_CLOEXEC)) {
    const char* p = static_cast<const char*>(data);
    size_t done = 0;
    while (fd_ >= 0 && done < size) {
      const ssize_t n = write(fd_, p + done, size - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
  }
  explicit MemFile(const char* name, const std::string& bytes)
      : MemFile(name, bytes.data(), bytes.size()) {}
  ~MemFile() {
    if (fd_ >= 0) close(fd_);
  }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  std::string path() const {
    return fd_ >= 0 ? "/proc/self/fd/" + std::to_string(fd_) : "/nonexistent";
  }

 private:
  int fd_;
};

// A directory of this process's own under /dev/shm (tmpfs: fsync is cheap),
// created on first use and reused by every input. Callers clean what they
// put there.
inline const std::string& ScratchDir() {
  static const std::string* dir = [] {
    std::string tmpl =
        access("/dev/shm", W_OK) == 0 ? "/dev/shm/ls-fuzz-XXXXXX" : "/tmp/ls-fuzz-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    return new std::string(tmpl);
  }();
  return *dir;
}

// Writes `bytes` to `path` (replacing it). Aborts on failure: the scratch
// directory is ours, so a failure is a harness bug.
inline void WriteScratchFile(const std::string& path, const std::string& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr ||
      (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size())) {
    std::perror(path.c_str());
    std::abort();
  }
  std::fclose(f);
}

// Carves an input front to back; reading past the end yields zeros / short
// strings, never an error (every input is valid for the harness).
class Input {
 public:
  Input(const uint8_t* data, size_t size) : p_(data), n_(size) {}

  uint8_t U8() { return pos_ < n_ ? p_[pos_++] : 0; }
  uint32_t U32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(U8()) << (8 * i);
    return v;
  }
  // Up to `len` bytes (fewer at the end).
  std::string Bytes(size_t len) {
    len = len < n_ - pos_ ? len : n_ - pos_;
    std::string s(reinterpret_cast<const char*>(p_ + pos_), len);
    pos_ += len;
    return s;
  }
  // A u32 length prefix, then that many bytes.
  std::string LengthPrefixed() { return Bytes(U32()); }
  std::string Rest() { return Bytes(n_ - pos_); }
  bool empty() const { return pos_ >= n_; }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
};

// The inverse of Input, for seed_gen.cc.
inline void AppendU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline void AppendLengthPrefixed(std::string* out, const std::string& bytes) {
  AppendU32(out, static_cast<uint32_t>(bytes.size()));
  out->append(bytes);
}

// Crashes with `what` on stderr: for properties a harness checks beyond
// "does not crash" (e.g. a client's bad input must not be INTERNAL).
[[noreturn]] inline void Violation(const std::string& what) {
  std::fprintf(stderr, "fuzz property violated: %s\n", what.c_str());
  std::abort();
}

}  // namespace latentsearch::fuzz

#endif  // LATENTSEARCH_TESTS_FUZZ_FUZZ_UTIL_H_
