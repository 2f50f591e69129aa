#include "clients/cli/fetch.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "clients/cli/client_flags.h"
#include "clients/cli/endpoint.h"
#include "common/base/errno_status.h"
#include "common/base/file.h"
#include "common/base/md5.h"
#include "common/base/status_macros.h"
#include "httplib.h"

ABSL_FLAG(std::string, url, latentsearch::cli::kCifar10Url,
          "Where to download the CIFAR-10 binary tarball from (http://, https:// "
          "or file://).");
ABSL_FLAG(std::string, md5, latentsearch::cli::kCifar10Md5,
          "Expected MD5 of the tarball (32 hex digits).");
ABSL_FLAG(std::string, out, "",
          "Output directory: fetch-cifar10: the data set directory to create "
          "(\"\" = ./cifar10); report: the report folder (\"\" = ./report).");

namespace latentsearch::cli {
namespace {

constexpr int kRecordBytes = 3073;  // 1 label byte + 32 × 32 × 3 pixels.

absl::Status Errno(absl::string_view what, const std::string& path) {
  const int err = errno;
  return base::ErrnoToStatus(err, absl::StrCat(what, " ", path));
}

std::string Dirname(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string Basename(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Removes a file or a directory tree; best effort (used for clean-up only).
void RemoveTree(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    if (DIR* d = opendir(path.c_str())) {
      while (struct dirent* e = readdir(d)) {
        const std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        RemoveTree(path + "/" + name);
      }
      closedir(d);
    }
    rmdir(path.c_str());
  } else {
    unlink(path.c_str());
  }
}

// Deletes `path` (file or tree) when it goes out of scope, unless released.
class TempPath {
 public:
  explicit TempPath(std::string path) : path_(std::move(path)) {}
  ~TempPath() {
    if (!path_.empty()) RemoveTree(path_);
  }
  TempPath(const TempPath&) = delete;
  TempPath& operator=(const TempPath&) = delete;
  const std::string& path() const { return path_; }
  void Release() { path_.clear(); }

 private:
  std::string path_;
};

// Writes to a file descriptor, hashing and counting.
class Sink {
 public:
  Sink(int fd, const std::string& path, uint64_t max_bytes)
      : fd_(fd), path_(path), max_bytes_(max_bytes) {}
  bool Write(const char* data, size_t n) {
    if (bytes_ + n > max_bytes_) {
      status_ = absl::ResourceExhaustedError(
          absl::StrCat("the download is larger than the limit of ", max_bytes_, " bytes"));
      return false;
    }
    md5_.Update(data, n);
    bytes_ += n;
    while (n > 0) {
      const ssize_t w = ::write(fd_, data, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        status_ = Errno("cannot write", path_);
        return false;
      }
      data += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }
  uint64_t bytes() const { return bytes_; }
  const absl::Status& status() const { return status_; }
  std::string HexDigest() { return md5_.HexDigest(); }

 private:
  int fd_;
  std::string path_;
  uint64_t max_bytes_;
  uint64_t bytes_ = 0;
  base::Md5 md5_;
  absl::Status status_;
};

absl::StatusCode CodeForHttpStatus(int status) {
  if (status == 404 || status == 410) return absl::StatusCode::kNotFound;
  if (status == 401 || status == 403) return absl::StatusCode::kPermissionDenied;
  return absl::StatusCode::kUnavailable;
}

// What went wrong, in words a user can act on.
std::string Describe(httplib::Error error, const std::string& origin) {
  switch (error) {
    case httplib::Error::Connection:
      return absl::StrCat("cannot connect to ", origin,
                          " (host unknown, unreachable or refusing connections)");
    case httplib::Error::ConnectionTimeout:
      return absl::StrCat("connecting to ", origin, " timed out (see --timeout)");
    case httplib::Error::Read:
      return "the connection broke or timed out while reading (see --timeout)";
    case httplib::Error::ExceedRedirectCount:
      return "too many redirects";
    case httplib::Error::SSLConnection:
      return "the TLS handshake failed";
    case httplib::Error::SSLLoadingCerts:
      return "cannot load the system CA certificates (install ca-certificates)";
    case httplib::Error::SSLServerVerification:
      return "the server's TLS certificate did not verify";
    default:
      return httplib::to_string(error);
  }
}

absl::Status DownloadHttp(const FetchOptions& options, Sink* sink) {
  // scheme://host[:port]/path → "scheme://host[:port]" + "/path".
  const size_t scheme_end = options.url.find("://");
  const size_t path_start = options.url.find('/', scheme_end + 3);
  const std::string origin = options.url.substr(0, path_start);
  const std::string path = path_start == std::string::npos ? "/" : options.url.substr(path_start);
  if (origin.size() <= scheme_end + 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("--url=", options.url, ": no host; expected e.g. ", kCifar10Url));
  }
  httplib::Client client(origin);
  if (!client.is_valid()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--url=", options.url, ": cannot make an HTTP client for '", origin, "'"));
  }
  client.set_follow_location(true);
  const auto secs = absl::ToInt64Seconds(options.timeout);
  client.set_connection_timeout(secs > 0 ? secs : 60, 0);
  client.set_read_timeout(secs > 0 ? secs : 60, 0);
  int http_status = 0;
  std::string reason;
  uint64_t total = 0;
  httplib::Result result = client.Get(
      path,
      [&](const httplib::Response& response) {
        http_status = response.status;
        reason = response.reason;
        if (response.has_header("Content-Length")) {
          (void)absl::SimpleAtoi(response.get_header_value("Content-Length"), &total);
        }
        return response.status == 200;
      },
      [&](const char* data, size_t n) { return sink->Write(data, n); },
      [&](uint64_t received, uint64_t announced) {
        if (options.progress) options.progress(received, announced ? announced : total);
        return true;
      });
  if (!sink->status().ok()) return sink->status();
  if (http_status != 0 && http_status != 200) {
    return absl::Status(CodeForHttpStatus(http_status),
                        absl::StrCat("GET ", options.url, ": HTTP ", http_status,
                                     reason.empty() ? "" : " ", reason));
  }
  if (!result) {
    return absl::UnavailableError(
        absl::StrCat("GET ", options.url, ": ", Describe(result.error(), origin)));
  }
  if (total != 0 && sink->bytes() != total) {
    return absl::DataLossError(
        absl::StrCat("GET ", options.url, ": received ", sink->bytes(), " of ", total, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status CopyLocal(const std::string& path, const FetchOptions& options, Sink* sink) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat(options.url, ": no such file"));
    }
    return Errno("cannot open", path);
  }
  struct stat st;
  const uint64_t total = fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  std::vector<char> buffer(1 << 20);
  absl::Status status;
  for (;;) {
    const ssize_t r = ::read(fd, buffer.data(), buffer.size());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      status = Errno("cannot read", path);
      break;
    }
    if (r == 0) break;
    if (!sink->Write(buffer.data(), static_cast<size_t>(r))) {
      status = sink->status();
      break;
    }
    if (options.progress) options.progress(sink->bytes(), total);
  }
  ::close(fd);
  return status;
}

// A relative path without "." / ".." components, or an error naming it.
absl::StatusOr<std::string> SafeEntryPath(absl::string_view name) {
  if (name.empty() || name[0] == '/') {
    return absl::DataLossError(
        absl::StrCat("archive entry '", name, "' has an absolute or empty name"));
  }
  std::vector<std::string> parts;
  for (absl::string_view p : absl::StrSplit(name, '/', absl::SkipEmpty())) {
    if (p == ".") continue;
    if (p == "..") {
      return absl::DataLossError(
          absl::StrCat("archive entry '", name, "' climbs out of the archive (..)"));
    }
    parts.emplace_back(p);
  }
  if (parts.empty()) return std::string();
  return absl::StrJoin(parts, "/");
}

absl::Status ArchiveError(struct archive* a, const std::string& archive_path,
                          absl::string_view what) {
  const char* e = archive_error_string(a);
  return absl::DataLossError(absl::StrCat("cannot ", what, " the downloaded archive (",
                                          archive_path, "): ", e ? e : "unknown error"));
}

// Extracts regular files and directories of `archive_path` under `dir`.
absl::StatusOr<int> Extract(const std::string& archive_path, const std::string& dir,
                            uint64_t max_bytes) {
  std::unique_ptr<struct archive, int (*)(struct archive*)> a(archive_read_new(),
                                                              &archive_read_free);
  archive_read_support_filter_gzip(a.get());
  archive_read_support_filter_none(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_gnutar(a.get());
  if (archive_read_open_filename(a.get(), archive_path.c_str(), 1 << 16) != ARCHIVE_OK) {
    return ArchiveError(a.get(), archive_path, "open");
  }
  int files = 0;
  uint64_t written = 0;
  std::vector<char> buffer(1 << 16);
  for (;;) {
    struct archive_entry* entry = nullptr;
    const int r = archive_read_next_header(a.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      return ArchiveError(a.get(), archive_path, "read");
    }
    const char* raw_name = archive_entry_pathname(entry);
    LS_ASSIGN_OR_RETURN(std::string rel, SafeEntryPath(raw_name ? raw_name : ""));
    if (rel.empty()) continue;
    const std::string target = dir + "/" + rel;
    const mode_t type = archive_entry_filetype(entry);
    if (type == AE_IFDIR) {
      LS_RETURN_IF_ERROR(base::MakeDirs(target));
      continue;
    }
    if (type != AE_IFREG) continue;  // Links, devices, fifos: never written.
    LS_RETURN_IF_ERROR(base::MakeDirs(Dirname(target)));
    const int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return Errno("cannot create", target);
    absl::Status status;
    for (;;) {
      const la_ssize_t n = archive_read_data(a.get(), buffer.data(), buffer.size());
      if (n < 0) {
        status = ArchiveError(a.get(), archive_path, "decompress");
        break;
      }
      if (n == 0) break;
      written += static_cast<uint64_t>(n);
      if (written > max_bytes) {
        status = absl::ResourceExhaustedError(
            absl::StrCat("the archive unpacks to more than the limit of ", max_bytes, " bytes"));
        break;
      }
      for (la_ssize_t off = 0; off < n;) {
        const ssize_t w = ::write(fd, buffer.data() + off, static_cast<size_t>(n - off));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
          status = Errno("cannot write", target);
          break;
        }
        off += w;
      }
      if (!status.ok()) break;
    }
    if (status.ok() && ::fsync(fd) != 0) status = Errno("cannot fsync", target);
    ::close(fd);
    LS_RETURN_IF_ERROR(status);
    ++files;
  }
  return files;
}

const std::vector<std::string>& RequiredFiles() {
  static const auto* files = new std::vector<std::string>{
      "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
      "data_batch_5.bin", "test_batch.bin",   "batches.meta.txt"};
  return *files;
}

// OK when `dir` holds the binary version (file presence and record sizes).
absl::Status CheckCifar10Dir(const std::string& dir) {
  for (const std::string& f : RequiredFiles()) {
    const std::string path = dir + "/" + f;
    absl::StatusOr<uint64_t> size = base::FileSize(path);
    if (!size.ok()) {
      return absl::DataLossError(absl::StrCat("missing ", f, " (", size.status().message(),
                                              "); expected ",
                                              absl::StrJoin(RequiredFiles(), ", ")));
    }
    if (absl::EndsWith(f, ".bin") && (*size == 0 || *size % kRecordBytes != 0)) {
      return absl::DataLossError(absl::StrCat(path, " has ", *size,
                                              " bytes; expected a positive multiple of ",
                                              kRecordBytes, " (one record per image)"));
    }
  }
  return absl::OkStatus();
}

// The directory under `root` (itself or one level down) holding test_batch.bin.
absl::StatusOr<std::string> FindDataDir(const std::string& root) {
  if (base::FileSize(root + "/test_batch.bin").ok()) return root;
  std::vector<std::string> found;
  if (DIR* d = opendir(root.c_str())) {
    while (struct dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      if (base::FileSize(root + "/" + name + "/test_batch.bin").ok()) {
        found.push_back(root + "/" + name);
      }
    }
    closedir(d);
  }
  if (found.size() != 1) {
    return absl::DataLossError(
        absl::StrCat("the archive holds ", found.size(),
                     " directories with test_batch.bin; expected the CIFAR-10 binary version "
                     "(one directory with data_batch_1..5.bin, test_batch.bin, batches.meta.txt)"));
  }
  return found[0];
}

bool IsEmptyDir(const std::string& path) {
  DIR* d = opendir(path.c_str());
  if (d == nullptr) return false;
  bool empty = true;
  while (struct dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") empty = false;
  }
  closedir(d);
  return empty;
}

absl::Status CheckMd5Flag(const std::string& md5) {
  if (md5.size() != 32 ||
      !std::all_of(md5.begin(), md5.end(), [](char c) { return absl::ascii_isxdigit(c); })) {
    return absl::InvalidArgumentError(absl::StrCat("--md5=", md5, ": expected 32 hex digits"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<FetchResult> FetchCifar10(const FetchOptions& options) {
  if (options.out_dir.empty()) {
    return absl::InvalidArgumentError("--out is empty; expected the directory to create");
  }
  LS_RETURN_IF_ERROR(CheckMd5Flag(options.md5));
  const std::string expected_md5 = absl::AsciiStrToLower(options.md5);
  const bool is_file = absl::StartsWith(options.url, "file://");
  if (!is_file && !absl::StartsWith(options.url, "http://") &&
      !absl::StartsWith(options.url, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--url=", options.url, ": expected an http://, https:// or file:// URL"));
  }
  std::string out_dir = options.out_dir;
  while (out_dir.size() > 1 && out_dir.back() == '/') out_dir.pop_back();
  FetchResult result;
  result.out_dir = out_dir;

  struct stat st;
  if (stat(out_dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat(out_dir, " exists and is not a directory; choose another --out"));
    }
    if (CheckCifar10Dir(out_dir).ok()) {
      result.already_present = true;
      return result;
    }
    if (!IsEmptyDir(out_dir)) {
      return absl::FailedPreconditionError(
          absl::StrCat(out_dir,
                       " exists, is not empty and holds no complete CIFAR-10 data set; "
                       "remove it or choose another --out"));
    }
  }
  const std::string parent = Dirname(out_dir);
  LS_RETURN_IF_ERROR(base::MakeDirs(parent));

  // 1. Download into a temporary file beside the destination.
  std::string pattern = absl::StrCat(parent, "/.", Basename(out_dir), ".download-XXXXXX");
  const int fd = mkstemp(pattern.data());
  if (fd < 0) return Errno("cannot create a temporary file in", parent);
  TempPath archive(pattern);
  Sink sink(fd, archive.path(), options.max_bytes);
  absl::Status downloaded =
      is_file ? CopyLocal(options.url.substr(7), options, &sink) : DownloadHttp(options, &sink);
  if (downloaded.ok() && ::fsync(fd) != 0) downloaded = Errno("cannot fsync", archive.path());
  ::close(fd);
  LS_RETURN_IF_ERROR(downloaded);
  result.archive_bytes = sink.bytes();
  result.md5 = sink.HexDigest();

  // 2. Verify.
  if (result.md5 != expected_md5) {
    return absl::DataLossError(absl::StrCat("MD5 mismatch for ", options.url, ": got ", result.md5,
                                            ", expected ", expected_md5, " (", result.archive_bytes,
                                            " bytes received); the download was deleted"));
  }

  // 3. Extract beside the destination.
  std::string extract_pattern = absl::StrCat(parent, "/.", Basename(out_dir), ".extract-XXXXXX");
  if (mkdtemp(extract_pattern.data()) == nullptr) {
    return Errno("cannot create a temporary directory in", parent);
  }
  TempPath extracted(extract_pattern);
  LS_ASSIGN_OR_RETURN(result.files, Extract(archive.path(), extracted.path(), options.max_bytes));

  // 4. Check, then publish with one rename (onto an absent or empty directory).
  LS_ASSIGN_OR_RETURN(std::string data_dir, FindDataDir(extracted.path()));
  LS_RETURN_IF_ERROR(CheckCifar10Dir(data_dir));
  if (::rename(data_dir.c_str(), out_dir.c_str()) != 0) {
    return Errno(absl::StrCat("cannot rename ", data_dir, " to"), out_dir);
  }
  LS_RETURN_IF_ERROR(base::SyncDir(parent));
  return result;
}

namespace {

int Run(const CommandContext& ctx) {
  if (!ctx.positional.empty()) {
    return ReportError(
        absl::InvalidArgumentError(
            absl::StrCat("unexpected argument '", ctx.positional[0], "'; flags are --name=value")),
        *ctx.err);
  }
  FetchOptions options;
  options.url = absl::GetFlag(FLAGS_url);
  options.md5 = absl::GetFlag(FLAGS_md5);
  options.out_dir = absl::GetFlag(FLAGS_out);
  if (options.out_dir.empty()) options.out_dir = "cifar10";
  absl::StatusOr<absl::Duration> timeout = TimeoutFromFlags();
  if (!timeout.ok()) return ReportError(timeout.status(), *ctx.err);
  options.timeout = *timeout;
  std::ostream& err = *ctx.err;
  int last_decile = -1;
  uint64_t last_mib = 0;
  options.progress = [&](uint64_t received, uint64_t total) {
    if (total > 0) {
      const int decile = static_cast<int>(received * 10 / total);
      if (decile == last_decile) return;
      last_decile = decile;
      err << absl::StrFormat("  %3d%%  %.1f of %.1f MiB\n", decile * 10, received / 1048576.0,
                             total / 1048576.0);
    } else if (received / (16 << 20) != last_mib) {
      last_mib = received / (16 << 20);
      err << absl::StrFormat("  %.1f MiB\n", received / 1048576.0);
    }
  };
  err << "fetch-cifar10: " << options.url << " -> " << options.out_dir << "\n";
  absl::StatusOr<FetchResult> r = FetchCifar10(options);
  if (!r.ok()) return ReportError(r.status(), *ctx.err);
  if (r->already_present) {
    *ctx.out << r->out_dir << " already holds CIFAR-10 (binary version); nothing fetched\n";
  } else {
    *ctx.out << absl::StrFormat("downloaded %d bytes, MD5 %s (ok), %d files extracted\n",
                                r->archive_bytes, r->md5, r->files);
  }
  *ctx.out << "data set: " << r->out_dir << "  (use --dataset=cifar10 --path=" << r->out_dir
           << ")\n";
  return kExitOk;
}

}  // namespace

Command FetchCifar10Command() {
  Command c;
  c.name = "fetch-cifar10";
  c.summary =
      "Download the CIFAR-10 binary tarball, check its MD5, extract it into --out "
      "(atomically).";
  c.usage = "[--out=DIR] [--url=URL] [--md5=HEX] [--timeout=S]";
  c.flags = {"url", "md5", "out", "timeout"};
  c.run = &Run;
  return c;
}

}  // namespace latentsearch::cli
