// Reads arbitrary bytes as an IDX images file and an IDX labels file (plain
// or gzip). The input is split in two at a position given by its first two
// bytes. The files live in memory (memfd) and are opened through
// /proc/self/fd like any path. Nothing may crash; errors are fine.
#include <cstddef>
#include <cstdint>

#include "common/data/idx.h"
#include "tests/fuzz/fuzz_util.h"

using latentsearch::fuzz::MemFile;

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
