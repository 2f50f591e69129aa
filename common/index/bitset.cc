#include "common/index/bitset.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace latentsearch::index {
namespace {

size_t WordsFor(size_t bits) { return (bits + 63) / 64; }

}  // namespace

// Invariant: bits at positions >= size_ in the last word are zero, so Count()
// and the word-wise operations never see stale bits.
Bitset::Bitset(size_t size, bool value)
    : size_(size), words_(WordsFor(size), value ? ~uint64_t{0} : 0) {
  if (value && (size & 63) != 0) words_.back() &= (uint64_t{1} << (size & 63)) - 1;
}

void Bitset::Resize(size_t size, bool value) {
  const size_t old_size = size_;
  words_.resize(WordsFor(size), value ? ~uint64_t{0} : 0);
  size_ = size;
  if (value && size > old_size && (old_size & 63) != 0) {
    // Fill the rest of the old last word.
    words_[old_size >> 6] |= ~uint64_t{0} << (old_size & 63);
  }
  if ((size & 63) != 0 && !words_.empty()) {
    words_.back() &= (uint64_t{1} << (size & 63)) - 1;
  }
}

size_t Bitset::Count() const {
  size_t n = 0;
  for (uint64_t w : words_) n += static_cast<size_t>(__builtin_popcountll(w));
  return n;
}

// Sizes must match (the contract); a shorter `other` is treated as
// zero-extended rather than read out of bounds.
void Bitset::And(const Bitset& other) {
  const size_t common = std::min(words_.size(), other.words_.size());
  for (size_t i = 0; i < common; ++i) words_[i] &= other.words_[i];
  for (size_t i = common; i < words_.size(); ++i) words_[i] = 0;
}

void Bitset::Or(const Bitset& other) {
  const size_t common = std::min(words_.size(), other.words_.size());
  for (size_t i = 0; i < common; ++i) words_[i] |= other.words_[i];
  if ((size_ & 63) != 0 && common == words_.size() && !words_.empty()) {
    words_.back() &= (uint64_t{1} << (size_ & 63)) - 1;
  }
}

void Bitset::AndNot(const Bitset& other) {
  const size_t common = std::min(words_.size(), other.words_.size());
  for (size_t i = 0; i < common; ++i) words_[i] &= ~other.words_[i];
}

}  // namespace latentsearch::index
