// Thumbnails of collection items for the console, read only under the
// configured image roots (--image_roots), resized and cached:
//   - file:PATH uris: PATH, after resolving symlinks (realpath), must lie
//     under a root (a root itself resolved the same way);
//   - data-set uris KIND:SPLIT:INDEX:DIR: the same for DIR; the split is
//     loaded once (items::ImageResolver) and kept.
// A uri outside every root is PERMISSION_DENIED naming the resolved path,
// including "../" tricks and symlinks pointing out; with no roots every uri
// is refused. The PNG of (uri, size) is kept in an LRU cache bounded in
// bytes.
// Thread-safety: thread-safe (one mutex for the cache, one for the data
// set loader; decoding and resizing run outside both).
#ifndef LATENTSEARCH_SERVICES_GATEWAY_THUMBNAILS_H_
#define LATENTSEARCH_SERVICES_GATEWAY_THUMBNAILS_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/image/image.h"
#include "common/items/image_resolver.h"

namespace latentsearch::gateway {

struct ThumbnailOptions {
  // Directories under which item images may be read; must exist.
  std::vector<std::string> image_roots;
  // Bytes of PNGs kept; 0 = no cache.
  size_t cache_bytes = 64 << 20;
  // Largest edge a caller may ask for, pixels.
  int max_size = 512;
};

class Thumbnailer {
 public:
  // NOT_FOUND naming a root that does not exist or is not a directory.
  static absl::StatusOr<std::unique_ptr<Thumbnailer>> Create(const ThumbnailOptions& options);

  // The item image of `uri` as PNG bytes, scaled so its longer edge is
  // `size` pixels (1..max_size; aspect kept; never enlarged past 8x).
  // INVALID_ARGUMENT for a bad uri or size, PERMISSION_DENIED outside the
  // roots, NOT_FOUND / DATA_LOSS / OUT_OF_RANGE from reading the image.
  absl::StatusOr<std::shared_ptr<const std::string>> Png(const std::string& uri, int size);

  // The image of `uri`, full size, after the same root check.
  absl::StatusOr<image::Image> Load(const std::string& uri);

  // OK when `uri` lies under a root (as Png checks it); the uri with its
  // path resolved in *resolved when not null.
  absl::Status CheckUri(const std::string& uri, std::string* resolved = nullptr) const;

  struct Stats {
    uint64_t hits = 0, misses = 0, refused = 0;
    size_t bytes = 0, entries = 0;
  };
  Stats stats() const;

 private:
  explicit Thumbnailer(ThumbnailOptions options) : options_(std::move(options)) {}
  absl::Status CheckPath(const std::string& path, std::string* real) const;
  std::shared_ptr<const std::string> CacheGet(const std::string& key);
  void CachePut(const std::string& key, std::shared_ptr<const std::string> png);

  const ThumbnailOptions options_;  // roots resolved

  mutable absl::Mutex cache_mu_;
  using Entry = std::pair<std::string, std::shared_ptr<const std::string>>;
  std::list<Entry> lru_ ABSL_GUARDED_BY(cache_mu_);  // most recent first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_ ABSL_GUARDED_BY(cache_mu_);
  size_t bytes_ ABSL_GUARDED_BY(cache_mu_) = 0;
  mutable Stats stats_ ABSL_GUARDED_BY(cache_mu_);

  absl::Mutex resolver_mu_;
  items::ImageResolver resolver_ ABSL_GUARDED_BY(resolver_mu_);
};

}  // namespace latentsearch::gateway

#endif  // LATENTSEARCH_SERVICES_GATEWAY_THUMBNAILS_H_
