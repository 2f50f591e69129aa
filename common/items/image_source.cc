#include "common/items/image_source.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/base/file.h"
#include "common/base/status_macros.h"
#include "common/items/item_uri.h"

namespace latentsearch::items {
namespace {

namespace fs = std::filesystem;

bool IsImageFile(const fs::path& p) {
  const std::string name = p.filename().string();
  if (name.empty() || name[0] == '.') return false;
  const std::string ext = absl::AsciiStrToLower(p.extension().string());
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

// Sorted image files directly in `dir` (recursive: also below it).
absl::StatusOr<std::vector<fs::path>> ListImages(const fs::path& dir, bool recursive) {
  std::error_code ec;
  std::vector<fs::path> out;
  if (recursive) {
    for (auto it = fs::recursive_directory_iterator(dir, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->path().filename().string().rfind('.', 0) == 0 && it->is_directory()) {
        it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file() && IsImageFile(it->path())) out.push_back(it->path());
    }
  } else {
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
      if (it->is_regular_file() && IsImageFile(it->path())) out.push_back(it->path());
    }
  }
  if (ec) {
    return absl::NotFoundError(absl::StrCat("cannot list ", dir.string(), ": ", ec.message()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A source whose items are files read on demand as encoded bytes.
ImageSource FileItems(const std::vector<fs::path>& files, const fs::path& root,
                      std::vector<int32_t> labels, std::vector<std::string> class_names) {
  ImageSource s;
  auto paths = std::make_shared<std::vector<std::string>>();
  for (const fs::path& f : files) {
    const fs::path abs = fs::absolute(f).lexically_normal();
    paths->push_back(abs.string());
    std::string rel = f.lexically_relative(root).generic_string();
    if (rel.empty() || rel == ".") rel = f.filename().string();
    s.ids.push_back(rel);
    s.uris.push_back("file:" + abs.string());
  }
  s.labels =
      labels.empty() ? std::vector<int32_t>(files.size(), data::kNoLabel) : std::move(labels);
  s.class_names = std::move(class_names);
  s.image = [paths](size_t i) -> absl::StatusOr<v1::Image> {
    LS_ASSIGN_OR_RETURN(std::string bytes, base::ReadFile((*paths)[i]));
    v1::Image img;
    img.set_encoded(std::move(bytes));
    return img;
  };
  s.keep_alive = paths;
  return s;
}

// Appends the items of one loaded split.
void AppendSplit(std::shared_ptr<const data::Dataset> d, data::DatasetKind kind, data::Split split,
                 const std::string& dir, ImageSource* s,
                 std::vector<std::pair<std::shared_ptr<const data::Dataset>, size_t>>* where) {
  for (size_t i = 0; i < d->size(); ++i) {
    s->ids.push_back(absl::StrCat(data::SplitName(split), "-", i));
    s->labels.push_back(d->labels[i]);
    s->uris.push_back(DatasetUri(kind, split, i, dir));
    where->emplace_back(d, i);
  }
  if (s->class_names.empty()) s->class_names = d->class_names;
}

}  // namespace

absl::StatusOr<ImageSource> FilesSource(const std::string& path) {
  std::error_code ec;
  const fs::path p(path);
  if (fs::is_regular_file(p, ec)) {
    return FileItems({p}, p.parent_path(), {}, {});
  }
  if (!fs::is_directory(p, ec)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file or folder"));
  }
  LS_ASSIGN_OR_RETURN(std::vector<fs::path> files, ListImages(p, /*recursive=*/true));
  if (files.empty()) {
    return absl::NotFoundError(absl::StrCat(path, " holds no .png, .jpg or .jpeg files"));
  }
  return FileItems(files, p, {}, {});
}

namespace {

// A folder of class sub-folders (or, unlabelled, of loose files).
absl::StatusOr<ImageSource> FolderSource(const data::DatasetSpec& spec) {
  if (!spec.folder.labelled) return FilesSource(spec.path);
  const fs::path root(spec.path);
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return absl::NotFoundError(absl::StrCat(spec.path, ": no such folder"));
  }
  std::vector<fs::path> classes;
  for (auto it = fs::directory_iterator(root, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    if (it->is_directory() && it->path().filename().string()[0] != '.') {
      classes.push_back(it->path());
    }
  }
  std::sort(classes.begin(), classes.end());
  if (classes.empty()) {
    return absl::NotFoundError(
        absl::StrCat(spec.path, " has no class sub-folders; use --nolabelled for a flat folder"));
  }
  std::vector<fs::path> files;
  std::vector<int32_t> labels;
  std::vector<std::string> names;
  for (size_t c = 0; c < classes.size(); ++c) {
    names.push_back(classes[c].filename().string());
    LS_ASSIGN_OR_RETURN(std::vector<fs::path> in, ListImages(classes[c], false));
    if (in.empty()) {
      return absl::NotFoundError(absl::StrCat("class folder ", classes[c].string(),
                                              " holds no .png, .jpg or .jpeg files"));
    }
    for (fs::path& f : in) {
      files.push_back(std::move(f));
      labels.push_back(static_cast<int32_t>(c));
    }
  }
  return FileItems(files, root, std::move(labels), std::move(names));
}

}  // namespace

absl::StatusOr<ImageSource> LoadImageSource(const data::DatasetSpec& spec) {
  if (spec.kind == data::DatasetKind::kFolder) return FolderSource(spec);
  ImageSource s;
  auto where =
      std::make_shared<std::vector<std::pair<std::shared_ptr<const data::Dataset>, size_t>>>();
  std::vector<data::Split> splits = {spec.split};
  if (spec.split == data::Split::kAll) splits = {data::Split::kTrain, data::Split::kTest};
  for (data::Split split : splits) {
    data::DatasetSpec one = spec;
    one.split = split;
    LS_ASSIGN_OR_RETURN(data::Dataset d, data::LoadDataset(one));
    AppendSplit(std::make_shared<const data::Dataset>(std::move(d)), spec.kind, split, spec.path,
                &s, where.get());
  }
  s.image = [where](size_t i) -> absl::StatusOr<v1::Image> {
    const auto& [d, j] = (*where)[i];
    v1::Image img;
    v1::RawImage* raw = img.mutable_raw();
    raw->set_height(d->height);
    raw->set_width(d->width);
    raw->set_channels(d->channels);
    raw->set_pixels(d->image_data(j), d->image_bytes());
    return img;
  };
  s.keep_alive = where;
  return s;
}

}  // namespace latentsearch::items
