#include "common/data/image_folder.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/base/file.h"
#include "common/data/parallel.h"
#include "common/image/image.h"

namespace latentsearch::data {
namespace {

namespace fs = std::filesystem;

bool IsImageName(const std::string& name) {
  const std::string lower = absl::AsciiStrToLower(name);
  return absl::EndsWith(lower, ".png") || absl::EndsWith(lower, ".jpg") ||
         absl::EndsWith(lower, ".jpeg");
}

absl::Status CheckFolder(const std::string& dir) {
  std::error_code ec;
  const fs::file_status st = fs::status(dir, ec);
  if (ec || !fs::exists(st)) {
    if (ec && ec != std::errc::no_such_file_or_directory) {
      return absl::UnknownError(absl::StrCat("stat '", dir, "': ", ec.message()));
    }
    return absl::NotFoundError(absl::StrCat("image folder '", dir, "' does not exist"));
  }
  if (!fs::is_directory(st)) {
    return absl::FailedPreconditionError(
        absl::StrCat("'", dir, "' is not a folder; expected a folder of images"));
  }
  return absl::OkStatus();
}

// Sorted names of the entries of `dir` that are folders (want_dirs) or image
// files (!want_dirs), hidden entries skipped.
absl::StatusOr<std::vector<std::string>> List(const std::string& dir, bool want_dirs) {
  std::vector<std::string> names;
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    std::error_code type_ec;
    const bool is_dir = it->is_directory(type_ec);  // Follows symlinks.
    if (type_ec) continue;                          // A dangling link: not an image, not a class.
    if (want_dirs ? is_dir : (!is_dir && IsImageName(name))) names.push_back(name);
  }
  if (ec) {
    return absl::UnknownError(absl::StrCat("list '", dir, "': ", ec.message()));
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Lists the files of a labelled folder (one sub-folder per class, classes
// numbered in name order) into d.uris / d.labels / d.class_names.
absl::Status ListLabelled(const std::string& dir, Dataset& d) {
  absl::StatusOr<std::vector<std::string>> classes = List(dir, true);
  if (!classes.ok()) return classes.status();
  if (classes->empty()) {
    return absl::NotFoundError(
        absl::StrCat("image folder '", dir,
                     "' has no class sub-folders; expected one "
                     "sub-folder of PNG/JPEG files per class (or read it unlabelled)"));
  }
  for (size_t c = 0; c < classes->size(); ++c) {
    const std::string class_dir = base::JoinPath(dir, (*classes)[c]);
    absl::StatusOr<std::vector<std::string>> files = List(class_dir, false);
    if (!files.ok()) return files.status();
    if (files->empty()) {
      return absl::NotFoundError(
          absl::StrCat("class folder '", class_dir,
                       "' holds no PNG or JPEG files; expected at least one image per class"));
    }
    for (const std::string& f : *files) {
      d.uris.push_back(base::JoinPath(class_dir, f));
      d.labels.push_back(static_cast<int32_t>(c));
    }
  }
  d.class_names = *std::move(classes);
  return absl::OkStatus();
}

// Lists the image files directly in `dir`, unlabelled.
absl::Status ListUnlabelled(const std::string& dir, Dataset& d) {
  absl::StatusOr<std::vector<std::string>> files = List(dir, false);
  if (!files.ok()) return files.status();
  if (files->empty()) {
    return absl::NotFoundError(
        absl::StrCat("image folder '", dir, "' holds no PNG or JPEG files (.png, .jpg, .jpeg)"));
  }
  for (const std::string& f : *files) {
    d.uris.push_back(base::JoinPath(dir, f));
    d.labels.push_back(kNoLabel);
  }
  return absl::OkStatus();
}

// Reads, decodes and resizes image `i` of `d` (d.uris[i]) into its pixel slot.
absl::Status LoadImageInto(Dataset& d, size_t i) {
  const size_t image_bytes = d.image_bytes();
  const std::string& path = d.uris[i];
  absl::StatusOr<std::string> bytes = base::ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<image::Image> img = image::Decode(*bytes, d.channels);
  if (!img.ok()) {
    // Bytes that do not decode are a corrupt file here; an image over the
    // size limit keeps its RESOURCE_EXHAUSTED.
    const absl::StatusCode code =
        absl::IsInvalidArgument(img.status()) ? absl::StatusCode::kDataLoss : img.status().code();
    return absl::Status(code, absl::StrCat("'", path, "': ", img.status().message()));
  }
  absl::StatusOr<image::Image> sized = image::Resize(*img, d.height, d.width);
  if (!sized.ok()) {
    return absl::Status(sized.status().code(),
                        absl::StrCat("'", path, "': ", sized.status().message()));
  }
  std::memcpy(d.pixels.data() + i * image_bytes, sized->pixels.data(), image_bytes);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Dataset> ReadImageFolder(const std::string& dir, const ImageFolderOptions& options) {
  if (options.height < 1 || options.height > 4096 || options.width < 1 || options.width > 4096 ||
      (options.channels != 1 && options.channels != 3)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "image folder options ", options.height, "x", options.width, "x", options.channels,
        " are out of range; expected height and width in "
        "[1, 4096] and 1 or 3 channels"));
  }
  if (absl::Status s = CheckFolder(dir); !s.ok()) return s;

  Dataset d;
  d.source = absl::StrCat("folder:", dir);
  d.height = options.height;
  d.width = options.width;
  d.channels = options.channels;
  absl::Status listed = options.labelled ? ListLabelled(dir, d) : ListUnlabelled(dir, d);
  if (!listed.ok()) return listed;

  d.pixels.resize(d.size() * d.image_bytes());
  absl::Status s = internal::ParallelFor(d.size(), options.num_threads,
                                         [&](size_t i) { return LoadImageInto(d, i); });
  if (!s.ok()) return s;
  return d;
}

}  // namespace latentsearch::data
