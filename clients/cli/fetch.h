// `latentsearch fetch-cifar10`: downloads the official CIFAR-10 binary
// tarball, checks its MD5, extracts it and publishes the data set directory
// atomically.
//
//   1. The tarball is streamed (cpp-httplib; https through Debian's OpenSSL
//      build of it, server certificates checked against the system CA store;
//      file:// for a copy on disk) into a temporary file next to the
//      destination, hashing as it goes.
//   2. A wrong MD5 deletes the temporary file: DATA_LOSS naming both sums.
//   3. libarchive extracts it into a temporary directory next to the
//      destination. Only regular files and directories are written; absolute
//      names and ".." components are refused (DATA_LOSS), and the total size
//      is capped (RESOURCE_EXHAUSTED).
//   4. The directory holding test_batch.bin must hold the whole binary
//      version (data_batch_1..5.bin, test_batch.bin, batches.meta.txt, record
//      files a positive multiple of 3,073 bytes); it is then renamed to the
//      destination in one step.
// Any failure removes the temporary file and directory; the destination is
// either absent/untouched or complete. A destination that already holds a
// complete data set is left alone (nothing is downloaded).
//
// Why libarchive rather than a `tar` child process or a tar reader of our
// own: the archive comes from the network, so parsing is the risky part;
// libarchive is a widely fuzzed parser of every tar dialect (ustar, GNU long
// names, pax) and of gzip, runs in-process with errors we can name (no PATH
// lookup, no stderr scraping), and lets us decide entry by entry what is
// written to disk.
#ifndef LATENTSEARCH_CLIENTS_CLI_FETCH_H_
#define LATENTSEARCH_CLIENTS_CLI_FETCH_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/cli/command.h"

namespace latentsearch::cli {

inline constexpr char kCifar10Url[] = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
inline constexpr char kCifar10Md5[] = "c32a1d4ab5d03f1284b67883e8d87530";

// What FetchCifar10 does. A value type.
struct FetchOptions {
  // http://, https:// or file:// URL of the tarball.
  std::string url = kCifar10Url;
  // Expected MD5 of the tarball, 32 hex digits (case-insensitive).
  std::string md5 = kCifar10Md5;
  // The data set directory to create (its parent is created if missing).
  std::string out_dir;
  // Connect and per-read timeout of the HTTP client.
  absl::Duration timeout = absl::Seconds(60);
  // Refuse downloads and extracted contents larger than this.
  uint64_t max_bytes = uint64_t{1} << 30;
  // Called now and then with bytes received and the announced total (0 when
  // unknown). May be empty.
  std::function<void(uint64_t received, uint64_t total)> progress;
};

// What FetchCifar10 did.
struct FetchResult {
  std::string out_dir;           // The data set directory.
  bool already_present = false;  // Nothing was downloaded.
  uint64_t archive_bytes = 0;    // Size of the verified tarball.
  std::string md5;               // Its MD5 (lower-case hex).
  int files = 0;                 // Regular files extracted.
};

// Downloads, verifies, extracts and publishes (see the file comment).
// INVALID_ARGUMENT: a malformed URL or MD5, an empty out_dir.
// NOT_FOUND / PERMISSION_DENIED / UNAVAILABLE ...: the server's answer (HTTP
//   404 → NOT_FOUND, 401/403 → PERMISSION_DENIED, other statuses and
//   connection failures → UNAVAILABLE), each naming the URL.
// DATA_LOSS: MD5 mismatch, a broken archive, or an archive that does not
//   hold the CIFAR-10 binary version.
// FAILED_PRECONDITION: out_dir exists, is not empty and is not a complete
//   data set.
// Thread-safety: thread-safe for distinct out_dir values.
absl::StatusOr<FetchResult> FetchCifar10(const FetchOptions& options);

// The subcommand.
Command FetchCifar10Command();

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_FETCH_H_
