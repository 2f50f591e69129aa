// hnswlib 0.6.2's graph format: parsing and checks (see hnsw_format.h).
#include "common/index/hnsw_format.h"

#include <cmath>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/base/little_endian.h"

namespace latentsearch::index::hnsw_format {
namespace {

using base::LittleEndianReader;
using base::LoadLittleEndian;

absl::Status Corrupt(const std::string& path, absl::string_view what) {
  return absl::DataLossError(absl::StrCat("HNSW index ", path, ": ", what));
}

bool ReadHeader(LittleEndianReader* r, Header* h) {
  return r->Read(&h->offset_level0) && r->Read(&h->max_elements) && r->Read(&h->count) &&
         r->Read(&h->size_per_element) && r->Read(&h->label_offset) && r->Read(&h->offset_data) &&
         r->Read(&h->max_level) && r->Read(&h->entry) && r->Read(&h->max_m) &&
         r->Read(&h->max_m0) && r->Read(&h->m) && r->Read(&h->mult) && r->Read(&h->ef_construction);
}

// The header's own consistency, and that `remaining` bytes can hold the
// level-0 elements.
absl::Status CheckHeader(const std::string& path, const Header& h, size_t dim, size_t ref_bytes,
                         size_t file_bytes, size_t remaining) {
  if (h.offset_level0 != 0) return Corrupt(path, "unsupported layout (offsetLevel0 != 0)");
  if (h.m < 1 || h.m > 10000 || h.max_m != h.m || h.max_m0 < h.m || h.max_m0 > 65535) {
    return Corrupt(
        path, absl::StrCat("implausible degrees M=", h.m, " maxM=", h.max_m, " maxM0=", h.max_m0));
  }
  const size_t links0 = h.max_m0 * sizeof(Id) + sizeof(LinkCount);
  if (h.offset_data != links0 || h.label_offset < h.offset_data ||
      h.size_per_element != h.label_offset + sizeof(Label)) {
    return Corrupt(path, "inconsistent element layout");
  }
  const size_t data_bytes = h.label_offset - h.offset_data;
  if (ref_bytes != 0 && data_bytes != ref_bytes) {
    return Corrupt(path,
                   absl::StrCat("element data of ", data_bytes, " bytes, expected ", ref_bytes,
                                " (a reference to the collection's vector); a graph "
                                "holding its own vectors is from an older version"));
  }
  if (ref_bytes == 0 && data_bytes != dim * sizeof(float)) {
    if (data_bytes % sizeof(float) != 0) return Corrupt(path, "inconsistent element layout");
    return Corrupt(path, absl::StrCat("dimension mismatch: the file holds vectors of ",
                                      data_bytes / sizeof(float), " floats, expected ", dim));
  }
  if (h.count >= kNoId || h.count > h.max_elements) {
    return Corrupt(path, absl::StrCat("implausible element count ", h.count));
  }
  if (!(h.mult > 0) || !std::isfinite(h.mult)) return Corrupt(path, "implausible level multiplier");
  if (h.count > 0 && (h.entry >= h.count || h.max_level < 0 || h.max_level > 255)) {
    return Corrupt(path, "entry point or top level out of range");
  }
  if (remaining / h.size_per_element < h.count) {
    return Corrupt(path, absl::StrCat("truncated: ", file_bytes, " bytes cannot hold ", h.count,
                                      " elements of ", h.size_per_element, " bytes"));
  }
  return absl::OkStatus();
}

// The upper-level link list sizes after the level-0 block: each element's
// level and where its lists start; the file must end after the last.
absl::Status ReadLevels(const std::string& path, LittleEndianReader* r, Layout* layout) {
  const Header& h = layout->header;
  layout->levels.assign(h.count, 0);
  layout->link_pos.assign(h.count, 0);
  for (size_t i = 0; i < h.count; ++i) {
    uint32_t link_bytes = 0;
    if (!r->Read(&link_bytes)) return Corrupt(path, absl::StrCat("truncated at element ", i));
    if (link_bytes % layout->links_per_element != 0 ||
        link_bytes / layout->links_per_element > static_cast<size_t>(h.max_level)) {
      return Corrupt(path, absl::StrCat("bad link list size at element ", i));
    }
    layout->link_pos[i] = r->pos();
    if (!r->Skip(link_bytes)) return Corrupt(path, absl::StrCat("truncated at element ", i));
    layout->levels[i] = static_cast<int>(link_bytes / layout->links_per_element);
  }
  if (r->remaining() != 0) {
    return Corrupt(path, absl::StrCat(r->remaining(), " unexpected trailing bytes"));
  }
  if (h.count > 0 && layout->levels[h.entry] != h.max_level) {
    return Corrupt(path, "entry point is not on the top level");
  }
  return absl::OkStatus();
}

// A link list (hnswlib reads its count as an unsigned short) holds at most
// `cap` ids, each of an element present on `level`.
bool ListOk(const char* list, size_t cap, int level, const std::vector<int>& levels) {
  const uint16_t n = LoadLittleEndian<uint16_t>(list);
  if (n > cap) return false;
  for (size_t j = 0; j < n; ++j) {
    const Id id = LoadLittleEndian<Id>(list + sizeof(LinkCount) + j * sizeof(Id));
    if (id >= levels.size() || levels[id] < level) return false;
  }
  return true;
}

absl::Status CheckLinks(const std::string& path, absl::string_view bytes, const Layout& layout) {
  const Header& h = layout.header;
  for (size_t i = 0; i < h.count; ++i) {
    const char* element = bytes.data() + layout.level0_pos + i * h.size_per_element;
    if (!ListOk(element, h.max_m0, 0, layout.levels)) {
      return Corrupt(path, absl::StrCat("bad level-0 links at element ", i));
    }
    if (LoadLittleEndian<Label>(element + h.label_offset) >= kNoId) {
      return Corrupt(path, absl::StrCat("bad label at element ", i));
    }
    for (int l = 1; l <= layout.levels[i]; ++l) {
      const char* list = bytes.data() + layout.link_pos[i] + (l - 1) * layout.links_per_element;
      if (!ListOk(list, h.max_m, l, layout.levels)) {
        return Corrupt(path, absl::StrCat("bad level-", l, " links at element ", i));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

void AppendHeader(const Header& h, std::string* out) {
  using base::AppendLittleEndian;
  AppendLittleEndian(h.offset_level0, out);
  AppendLittleEndian(h.max_elements, out);
  AppendLittleEndian(h.count, out);
  AppendLittleEndian(h.size_per_element, out);
  AppendLittleEndian(h.label_offset, out);
  AppendLittleEndian(h.offset_data, out);
  AppendLittleEndian(h.max_level, out);
  AppendLittleEndian(h.entry, out);
  AppendLittleEndian(h.max_m, out);
  AppendLittleEndian(h.max_m0, out);
  AppendLittleEndian(h.m, out);
  AppendLittleEndian(h.mult, out);
  AppendLittleEndian(h.ef_construction, out);
}

absl::StatusOr<Layout> Parse(const std::string& path, absl::string_view bytes, size_t dim,
                             size_t ref_bytes) {
  LittleEndianReader r(bytes);
  Layout layout;
  Header& h = layout.header;
  if (!ReadHeader(&r, &h)) {
    return Corrupt(path, absl::StrCat("truncated header (", bytes.size(), " bytes)"));
  }
  absl::Status s = CheckHeader(path, h, dim, ref_bytes, bytes.size(), r.remaining());
  if (!s.ok()) return s;
  layout.level0_pos = r.pos();
  r.Skip(h.count * h.size_per_element);  // fits: CheckHeader
  layout.links0 = h.max_m0 * sizeof(Id) + sizeof(LinkCount);
  layout.links_per_element = h.max_m * sizeof(Id) + sizeof(LinkCount);
  s = ReadLevels(path, &r, &layout);
  if (!s.ok()) return s;
  s = CheckLinks(path, bytes, layout);
  if (!s.ok()) return s;
  return layout;
}

}  // namespace latentsearch::index::hnsw_format
