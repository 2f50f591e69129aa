#include "services/gateway/thumbnails.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/base/status_macros.h"
#include "common/items/item_uri.h"

namespace latentsearch::gateway {
namespace {

// realpath(3); errno's meaning as a status naming the path.
absl::StatusOr<std::string> RealPath(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) {
    const int err = errno;
    const std::string what = absl::StrCat("'", path, "': ", std::strerror(err));
    if (err == ENOENT || err == ENOTDIR) return absl::NotFoundError(what);
    if (err == EACCES) return absl::PermissionDeniedError(what);
    return absl::InvalidArgumentError(what);
  }
  return std::string(buf);
}

bool Under(const std::string& path, const std::string& root) {
  if (root == "/") return true;
  return path == root || absl::StartsWith(path, root + "/");
}

}  // namespace

absl::StatusOr<std::unique_ptr<Thumbnailer>> Thumbnailer::Create(const ThumbnailOptions& options) {
  ThumbnailOptions resolved = options;
  resolved.image_roots.clear();
  for (const std::string& root : options.image_roots) {
    if (root.empty()) continue;
    absl::StatusOr<std::string> real = RealPath(root);
    struct stat st;
    if (!real.ok() || ::stat(real->c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return absl::NotFoundError(
          absl::StrCat("--image_roots: '", root, "' is not an existing directory"));
    }
    resolved.image_roots.push_back(*real);
  }
  return std::unique_ptr<Thumbnailer>(new Thumbnailer(std::move(resolved)));
}

absl::Status Thumbnailer::CheckPath(const std::string& path, std::string* real) const {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("the image path '", path, "' is not absolute"));
  }
  absl::StatusOr<std::string> resolved = RealPath(path);
  // A path that does not resolve is judged by its text, so a missing file
  // outside the roots is refused rather than reported missing.
  const std::string& judged = resolved.ok() ? *resolved : path;
  for (const std::string& root : options_.image_roots) {
    if (Under(judged, root) && judged.find("/../") == std::string::npos &&
        !absl::EndsWith(judged, "/..")) {
      if (!resolved.ok()) return resolved.status();
      *real = *resolved;
      return absl::OkStatus();
    }
  }
  if (options_.image_roots.empty()) {
    return absl::PermissionDeniedError(
        "this gateway serves no item images: start it with --image_roots=DIR[,DIR]");
  }
  return absl::PermissionDeniedError(
      absl::StrCat("'", judged,
                   "' is outside the gateway's image roots (--image_roots); images are read only "
                   "under: ",
                   absl::StrJoin(options_.image_roots, ", ")));
}

absl::Status Thumbnailer::CheckUri(const std::string& uri, std::string* resolved) const {
  LS_ASSIGN_OR_RETURN(items::ItemUri parsed, items::ParseItemUri(uri));
  std::string real;
  LS_RETURN_IF_ERROR(CheckPath(parsed.path, &real));
  if (resolved != nullptr) {
    *resolved = parsed.file ? absl::StrCat("file:", real)
                            : items::DatasetUri(parsed.kind, parsed.split, parsed.index, real);
  }
  return absl::OkStatus();
}

absl::StatusOr<image::Image> Thumbnailer::Load(const std::string& uri) {
  std::string resolved;
  absl::Status allowed = CheckUri(uri, &resolved);
  if (!allowed.ok()) {
    absl::MutexLock l(&cache_mu_);
    ++stats_.refused;
    return allowed;
  }
  LS_ASSIGN_OR_RETURN(items::ItemUri parsed, items::ParseItemUri(resolved));
  if (parsed.file) return items::ReadImageFile(parsed.path);
  absl::MutexLock l(&resolver_mu_);
  return resolver_.Resolve(resolved);
}

absl::StatusOr<std::shared_ptr<const std::string>> Thumbnailer::Png(const std::string& uri,
                                                                    int size) {
  if (size < 1 || size > options_.max_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("thumbnail size ", size, " is out of range; allowed 1..", options_.max_size));
  }
  const std::string key = absl::StrCat(size, " ", uri);
  if (std::shared_ptr<const std::string> hit = CacheGet(key)) return hit;
  LS_ASSIGN_OR_RETURN(image::Image img, Load(uri));
  const int longer = std::max(img.height, img.width);
  const int target = std::min(size, longer * 8);
  const int h = std::max(1, img.height * target / longer);
  const int w = std::max(1, img.width * target / longer);
  if (h != img.height || w != img.width) {
    LS_ASSIGN_OR_RETURN(img, image::Resize(img, h, w));
  }
  LS_ASSIGN_OR_RETURN(std::string png, image::EncodePng(img));
  auto shared = std::make_shared<const std::string>(std::move(png));
  CachePut(key, shared);
  return shared;
}

std::shared_ptr<const std::string> Thumbnailer::CacheGet(const std::string& key) {
  absl::MutexLock l(&cache_mu_);
  auto it = index_.find(key);
  if (it == index_.end()) {
    ++stats_.misses;
    return nullptr;
  }
  ++stats_.hits;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

void Thumbnailer::CachePut(const std::string& key, std::shared_ptr<const std::string> png) {
  if (png->size() > options_.cache_bytes) return;
  absl::MutexLock l(&cache_mu_);
  if (index_.count(key) != 0) return;
  bytes_ += png->size();
  lru_.emplace_front(key, std::move(png));
  index_[key] = lru_.begin();
  while (bytes_ > options_.cache_bytes && !lru_.empty()) {
    bytes_ -= lru_.back().second->size();
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

Thumbnailer::Stats Thumbnailer::stats() const {
  absl::MutexLock l(&cache_mu_);
  Stats s = stats_;
  s.bytes = bytes_;
  s.entries = lru_.size();
  return s;
}

}  // namespace latentsearch::gateway
