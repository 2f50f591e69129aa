// Reads arbitrary bytes as an IDX images file and an IDX labels file (plain
// or gzip). The input is split in two at a position given by its first two
// bytes. The files live in memory (memfd) and are opened through
// /proc/self/fd like any path. Nothing may crash; errors are fine.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/data/idx.h"

namespace {

// An in-memory file holding `data`; closed when the object goes away.
class MemFile {
 public:
  MemFile(const char* name, const uint8_t* data, size_t size)
      : fd_(memfd_create(name, MFD_CLOEXEC)) {
    size_t done = 0;
    while (fd_ >= 0 && done < size) {
      const ssize_t n = write(fd_, data + done, size - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
  }
  ~MemFile() {
    if (fd_ >= 0) close(fd_);
  }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  std::string path() const {
    return fd_ >= 0 ? "/proc/self/fd/" + std::to_string(fd_) : "/nonexistent";
  }

 private:
  int fd_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t* body = data + 2;
  const size_t body_size = size - 2;
  const size_t split = (static_cast<size_t>(data[0]) << 8 | data[1]) % (body_size + 1);
  MemFile images("images", body, split);
  MemFile labels("labels", body + split, body_size - split);
  latentsearch::data::IdxOptions options;
  options.max_bytes = 16 << 20;  // Keep gzip bombs inside libFuzzer's RSS limit.
  options.num_threads = 1;
  (void)latentsearch::data::ReadIdx(images.path(), labels.path(), options);
  return 0;
}
