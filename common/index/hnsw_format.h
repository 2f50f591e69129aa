// hnswlib 0.6.2's on-disk graph format, read and checked without hnswlib
// (hnsw.cc, the one file that includes hnswlib, installs a checked file into
// its graph; the checks can be read, tested and fuzzed on their own).
//
// Layout (all integers little-endian, as hnswlib writes them on x86-64):
//   header (kHeaderBytes, see Header's fields in order)
//   count × level-0 element: u32 link count (low 16 bits used) |
//       max_m0 × u32 neighbour ids | dim × f32 vector | u64 label
//   (graphs over a collection's vectors, HnswIndex::BuildOver, hold 16
//   zero bytes in place of the vector: the label names the vector's slot)
//   count × (u32 bytes | that many bytes of upper-level link lists, one
//       list of u32 count + max_m × u32 ids per level above 0)
//
// Thread-safety: thread-safe (pure functions).
#ifndef LATENTSEARCH_COMMON_INDEX_HNSW_FORMAT_H_
#define LATENTSEARCH_COMMON_INDEX_HNSW_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace latentsearch::index::hnsw_format {

// hnswlib's tableint (internal element id), linklistsizeint (the word in
// front of a link list) and labeltype (the external label, our slot);
// hnsw.cc asserts they match.
using Id = uint32_t;
using LinkCount = uint32_t;
using Label = size_t;
// No element (hnswlib's largest id; never a valid id or label).
inline constexpr Id kNoId = std::numeric_limits<Id>::max();

// hnswlib's header fields, in file order.
struct Header {
  size_t offset_level0 = 0;
  size_t max_elements = 0;
  size_t count = 0;  // elements in the file
  size_t size_per_element = 0;
  size_t label_offset = 0;
  size_t offset_data = 0;
  int max_level = 0;
  Id entry = 0;
  size_t max_m = 0;
  size_t max_m0 = 0;
  size_t m = 0;
  double mult = 0;
  size_t ef_construction = 0;
};
inline constexpr size_t kHeaderBytes = 6 * 8 + 4 + 4 + 3 * 8 + 8 + 8;

// Appends `h` in file order.
void AppendHeader(const Header& h, std::string* out);

// A file that passed every check: its header and where its parts are.
struct Layout {
  Header header;
  size_t level0_pos = 0;         // offset of count × size_per_element bytes
  size_t links0 = 0;             // bytes of a level-0 link list
  size_t links_per_element = 0;  // bytes of one upper-level link list
  std::vector<int> levels;       // top level of each element
  std::vector<size_t> link_pos;  // offset of each element's upper lists
};

// Parses and checks a whole file for vectors of `dim` floats: every size
// within the file, the element layout, and every link pointing at an
// element that exists on that level (so a search never reads outside the
// graph). DATA_LOSS naming `path` and what is wrong otherwise.
// With ref_bytes != 0 each element holds a reference of that many bytes
// instead of the vector (HnswIndex::BuildOver).
absl::StatusOr<Layout> Parse(const std::string& path, absl::string_view bytes, size_t dim,
                             size_t ref_bytes = 0);

}  // namespace latentsearch::index::hnsw_format

#endif  // LATENTSEARCH_COMMON_INDEX_HNSW_FORMAT_H_
