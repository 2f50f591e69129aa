#include "common/items/image_resolver.h"

#include "absl/strings/str_cat.h"
#include "common/base/file.h"
#include "common/base/status_macros.h"
#include "common/data/load.h"
#include "common/items/item_uri.h"

namespace latentsearch::items {

absl::StatusOr<image::Image> ReadImageFile(const std::string& path) {
  LS_ASSIGN_OR_RETURN(std::string bytes, base::ReadFile(path));
  absl::StatusOr<image::Image> img = image::Decode(bytes);
  if (!img.ok()) {
    return absl::DataLossError(
        absl::StrCat("cannot decode image file ", path, ": ", img.status().message()));
  }
  return img;
}

absl::StatusOr<const data::Dataset*> ImageResolver::DatasetOf(const std::string& uri) {
  LS_ASSIGN_OR_RETURN(ItemUri p, ParseItemUri(uri));
  if (p.file) return absl::NotFoundError(absl::StrCat(uri, " is a file, not a data set"));
  auto it = loaded_.find(p.split_key);
  if (it == loaded_.end()) {
    data::DatasetSpec spec;
    spec.kind = p.kind;
    spec.path = p.path;
    spec.split = p.split;
    LS_ASSIGN_OR_RETURN(data::Dataset d, data::LoadDataset(spec));
    it = loaded_.emplace(p.split_key, std::make_unique<data::Dataset>(std::move(d))).first;
  }
  return it->second.get();
}

absl::StatusOr<image::Image> ImageResolver::Resolve(const std::string& uri) {
  LS_ASSIGN_OR_RETURN(ItemUri p, ParseItemUri(uri));
  if (p.file) return ReadImageFile(p.path);
  LS_ASSIGN_OR_RETURN(const data::Dataset* d, DatasetOf(uri));
  if (p.index >= d->size()) {
    return absl::OutOfRangeError(absl::StrCat("item uri '", uri, "': index ", p.index,
                                              " but the split has ", d->size(), " images"));
  }
  return d->GetImage(p.index);
}

absl::StatusOr<std::vector<std::string>> ImageResolver::ClassNames(const std::string& uri) {
  LS_ASSIGN_OR_RETURN(ItemUri p, ParseItemUri(uri));
  if (p.file) return std::vector<std::string>{};
  LS_ASSIGN_OR_RETURN(const data::Dataset* d, DatasetOf(uri));
  return d->class_names;
}

}  // namespace latentsearch::items
