// A fixed-size set of slot numbers, used as "allowed slots" filters
// (label filters combined with deletions).
// Thread-safety: const methods are safe concurrently; mutation needs
// exclusive access.
#ifndef LATENTSEARCH_COMMON_INDEX_BITSET_H_
#define LATENTSEARCH_COMMON_INDEX_BITSET_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace latentsearch::index {

class Bitset {
 public:
  Bitset() = default;
  explicit Bitset(size_t size, bool value = false);

  size_t size() const { return size_; }
  bool Test(size_t i) const { return (words_[i >> 6] >> (i & 63)) & 1; }
  void Set(size_t i) { words_[i >> 6] |= uint64_t{1} << (i & 63); }
  void Reset(size_t i) { words_[i >> 6] &= ~(uint64_t{1} << (i & 63)); }
  // Grows (new bits = value) or shrinks.
  void Resize(size_t size, bool value = false);
  size_t Count() const;
  // this &= other / this |= other / this &= ~other (sizes must match).
  void And(const Bitset& other);
  void Or(const Bitset& other);
  void AndNot(const Bitset& other);
  const std::vector<uint64_t>& words() const { return words_; }

 private:
  size_t size_ = 0;
  std::vector<uint64_t> words_;
};

}  // namespace latentsearch::index

#endif  // LATENTSEARCH_COMMON_INDEX_BITSET_H_
