// Where tests find things: a private temporary directory, the repository, and
// the real data sets (which may be absent; tests then GTEST_SKIP()).
// Thread-safety: all functions are thread-safe.
#ifndef LATENTSEARCH_COMMON_TESTING_TEST_ENV_H_
#define LATENTSEARCH_COMMON_TESTING_TEST_ENV_H_

#include <optional>
#include <string>

namespace latentsearch::testing {

// A fresh directory under $TEST_TMPDIR or /tmp, removed (recursively) when the
// object is destroyed.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name.
  std::string Join(const std::string& name) const;

 private:
  std::string path_;
};

// The source tree ($LS_SOURCE_DIR, set by ctest; else the compiled-in path).
std::string SourceDir();
// The build tree ($LS_BINARY_DIR, set by ctest; else the compiled-in path).
std::string BinaryDir();

// The CIFAR-10 binary directory: $LS_CIFAR10_DIR, else
// <source>/../shared/data/cifar10; nullopt when it holds no test_batch.bin.
std::optional<std::string> Cifar10Dir();

// Fashion-MNIST IDX directory: $LS_FASHION_MNIST_DIR, else Debian's
// /usr/share/datasets/fashion-mnist; nullopt when absent.
std::optional<std::string> FashionMnistDir();

// Whether the memory mapping that holds `p` lists `flag` among its VmFlags
// in /proc/self/smaps (e.g. "hg": MADV_HUGEPAGE was given); false where
// no mapping holds `p`.
bool MappingHasFlag(const void* p, const std::string& flag);

}  // namespace latentsearch::testing

#endif  // LATENTSEARCH_COMMON_TESTING_TEST_ENV_H_
