// Damaged copies of a weights archive for the archive-check tests
// (weights_archive_test on hand-built zips, model_test on real LibTorch
// archives): a damaged archive with the words its DATA_LOSS message must
// hold, the two cuts every archive check names, and byte patches.
//
// Thread-safety: plain functions without shared state.
#ifndef LATENTSEARCH_TESTS_UNIT_MODEL_ARCHIVE_DAMAGE_H_
#define LATENTSEARCH_TESTS_UNIT_MODEL_ARCHIVE_DAMAGE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace latentsearch::model::archive_damage {

// A damaged archive and the words its DATA_LOSS message must hold.
struct Case {
  std::string bytes;
  std::string message;
};

// `archive` with `patch` written over its bytes from `pos`.
inline std::string Patched(std::string archive, size_t pos, absl::string_view patch) {
  archive.replace(pos, patch.size(), patch.data(), patch.size());
  return archive;
}

// Writes `v` little-endian in `width` bytes of `*archive` from `pos`.
inline void SetLe(std::string* archive, size_t pos, uint64_t v, int width) {
  for (int i = 0; i < width; ++i) (*archive)[pos + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

// `archive` with `v` written little-endian in `width` bytes from `pos`.
inline std::string PatchedLe(std::string archive, size_t pos, uint64_t v, int width) {
  SetLe(&archive, pos, v, width);
  return archive;
}

// `archive` cut to 10 bytes and cut just before its end record (which
// starts at `end_record`), the damage every archive check names, followed
// by the `more` cases.
inline std::vector<Case> CutsAnd(const std::string& archive, size_t end_record,
                                 std::vector<Case> more) {
  std::vector<Case> cases = {{archive.substr(0, 10), "shorter than a zip end record"},
                             {archive.substr(0, end_record), "no end-of-central-directory record"}};
  for (Case& c : more) cases.push_back(std::move(c));
  return cases;
}

}  // namespace latentsearch::model::archive_damage

#endif  // LATENTSEARCH_TESTS_UNIT_MODEL_ARCHIVE_DAMAGE_H_
