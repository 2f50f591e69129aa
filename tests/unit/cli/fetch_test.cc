// fetch-cifar10 against a loopback HTTP server (cpp-httplib) serving small
// tarballs that the test builds with libarchive: a fake CIFAR-10 binary
// directory with tiny batches. Checks success (and that the data set loads),
// an MD5 mismatch and a 404 (clear errors, nothing left behind), hostile
// archive entries, and the real binary's exit codes.
#include "clients/cli/fetch.h"

#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/base/file.h"
#include "common/base/md5.h"
#include "common/data/load.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"

namespace latentsearch::cli {
namespace {

using ::latentsearch::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr int kRecord = 3073;

// Entries of a directory, sorted ("." and ".." left out).
std::vector<std::string> List(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (struct dirent* e = readdir(d)) {
      const std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// `records` CIFAR-10 records whose label is i % 10 and pixels a pattern.
std::string Batch(int records, int seed) {
  std::string b;
  for (int i = 0; i < records; ++i) {
    b.push_back(static_cast<char>((i + seed) % 10));
    for (int p = 0; p < kRecord - 1; ++p) b.push_back(static_cast<char>((p * 7 + i + seed) & 0xff));
  }
  return b;
}

// A gzipped tar of `files` (name → contents; a name ending in '/' is a
// directory), built in memory with libarchive.
std::string Tarball(const std::vector<std::pair<std::string, std::string>>& files) {
  std::string out;
  struct archive* a = archive_write_new();
  archive_write_add_filter_gzip(a);
  archive_write_set_format_gnutar(a);
  archive_write_open(
      a, &out, nullptr,
      [](struct archive*, void* client, const void* buffer, size_t n) -> la_ssize_t {
        static_cast<std::string*>(client)->append(static_cast<const char*>(buffer), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  for (const auto& [name, contents] : files) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    const bool dir = !name.empty() && name.back() == '/';
    archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(e, dir ? 0755 : 0644);
    archive_entry_set_size(e, dir ? 0 : static_cast<la_int64_t>(contents.size()));
    archive_write_header(a, e);
    if (!dir) archive_write_data(a, contents.data(), contents.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

// The fake data set: 5 training batches of 2 images, 3 test images.
std::vector<std::pair<std::string, std::string>> FakeCifar(const std::string& top) {
  std::vector<std::pair<std::string, std::string>> files = {{top + "/", ""}};
  for (int i = 1; i <= 5; ++i) {
    files.emplace_back(absl::StrCat(top, "/data_batch_", i, ".bin"), Batch(2, i));
  }
  files.emplace_back(top + "/test_batch.bin", Batch(3, 0));
  files.emplace_back(top + "/batches.meta.txt",
                     "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n");
  files.emplace_back(top + "/readme.html", "<html></html>");
  return files;
}

// An HTTP server on 127.0.0.1 (port chosen by the kernel) serving `routes`.
class LoopbackServer {
 public:
  explicit LoopbackServer(std::map<std::string, std::string> routes) : routes_(std::move(routes)) {
    for (const auto& [path, body] : routes_) {
      server_.Get(path, [body = body](const httplib::Request&, httplib::Response& res) {
        res.set_content(body, "application/gzip");
      });
    }
    // Listening starts in bind_to_any_port, so clients can connect at once;
    // but stop() is a no-op until the accept loop runs, so wait for it
    // (polling the condition, with a deadline) before handing out the server.
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (!server_.is_running() && absl::Now() < deadline) std::this_thread::yield();
  }
  ~LoopbackServer() {
    server_.stop();
    thread_.join();
  }
  std::string Url(const std::string& path) const {
    return absl::StrCat("http://127.0.0.1:", port_, path);
  }
  int port() const { return port_; }
  bool running() const { return server_.is_running(); }

 private:
  std::map<std::string, std::string> routes_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

class FetchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GT(server_.port(), 0);
    ASSERT_TRUE(server_.running());
  }

  FetchOptions Options(const std::string& path, const std::string& md5) {
    FetchOptions o;
    o.url = server_.Url(path);
    o.md5 = md5;
    o.out_dir = tmp_.Join("data/cifar10");
    o.timeout = absl::Seconds(30);
    return o;
  }

  const std::string good_ = Tarball(FakeCifar("cifar-10-batches-bin"));
  const std::string evil_ = Tarball({{"../escaped.bin", Batch(1, 0)}});
  LoopbackServer server_{{{"/cifar.tar.gz", good_}, {"/evil.tar.gz", evil_}}};
  TempDir tmp_;
};

TEST_F(FetchTest, DownloadsVerifiesExtractsAndLoads) {
  FetchOptions o = Options("/cifar.tar.gz", base::Md5Hex(good_));
  uint64_t last_progress = 0;
  o.progress = [&](uint64_t received, uint64_t) { last_progress = received; };
  absl::StatusOr<FetchResult> r = FetchCifar10(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->already_present);
  EXPECT_EQ(r->archive_bytes, good_.size());
  EXPECT_EQ(r->md5, base::Md5Hex(good_));
  EXPECT_EQ(r->files, 8);
  EXPECT_EQ(last_progress, good_.size());
  // Only the data set directory is left: no temporary download or extract.
  EXPECT_THAT(List(tmp_.Join("data")), ElementsAre("cifar10"));
  EXPECT_THAT(
      List(o.out_dir),
      ElementsAre("batches.meta.txt", "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                  "data_batch_4.bin", "data_batch_5.bin", "readme.html", "test_batch.bin"));
  absl::StatusOr<std::string> test_batch = base::ReadFile(o.out_dir + "/test_batch.bin");
  ASSERT_TRUE(test_batch.ok());
  EXPECT_EQ(*test_batch, Batch(3, 0));

  // The project's CIFAR-10 reader accepts what was fetched.
  data::DatasetSpec spec;
  spec.kind = data::DatasetKind::kCifar10;
  spec.path = o.out_dir;
  spec.split = data::Split::kAll;
  absl::StatusOr<data::Dataset> d = data::LoadDataset(spec);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->size(), 13u);
  EXPECT_EQ(d->class_names[9], "truck");

  // A second run finds the complete data set and downloads nothing.
  o.url = server_.Url("/absent.tar.gz");
  absl::StatusOr<FetchResult> again = FetchCifar10(o);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->already_present);
}

TEST_F(FetchTest, Md5MismatchLeavesNothingBehind) {
  FetchOptions o = Options("/cifar.tar.gz", std::string(32, '0'));
  absl::StatusOr<FetchResult> r = FetchCifar10(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(r.status().message(), HasSubstr("MD5 mismatch"));
  EXPECT_THAT(r.status().message(), HasSubstr(base::Md5Hex(good_)));
  EXPECT_THAT(r.status().message(), HasSubstr(std::string(32, '0')));
  EXPECT_THAT(List(tmp_.Join("data")), IsEmpty());
}

TEST_F(FetchTest, NotFoundIsAClearError) {
  absl::StatusOr<FetchResult> r = FetchCifar10(Options("/nope.tar.gz", base::Md5Hex(good_)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("HTTP 404"));
  EXPECT_THAT(r.status().message(), HasSubstr("/nope.tar.gz"));
  EXPECT_THAT(List(tmp_.Join("data")), IsEmpty());
}

TEST_F(FetchTest, RefusesEntriesOutsideTheArchive) {
  absl::StatusOr<FetchResult> r = FetchCifar10(Options("/evil.tar.gz", base::Md5Hex(evil_)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(r.status().message(), HasSubstr(".."));
  EXPECT_THAT(List(tmp_.Join("data")), IsEmpty());
  EXPECT_FALSE(base::FileSize(tmp_.Join("escaped.bin")).ok());
}

TEST_F(FetchTest, ArchiveWithoutCifarIsDataLoss) {
  const std::string other = Tarball({{"photos/", ""}, {"photos/a.bin", "x"}});
  LoopbackServer server({{"/other.tar.gz", other}});
  FetchOptions o = Options("/other.tar.gz", base::Md5Hex(other));
  o.url = server.Url("/other.tar.gz");
  absl::StatusOr<FetchResult> r = FetchCifar10(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(r.status().message(), HasSubstr("test_batch.bin"));
  EXPECT_THAT(List(tmp_.Join("data")), IsEmpty());
}

TEST_F(FetchTest, ConnectionRefusedIsUnavailable) {
  // A port that was just free: bind (without listening), remember, close.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);
  close(fd);
  FetchOptions o = Options("/", base::Md5Hex(good_));
  o.url = absl::StrCat("http://127.0.0.1:", port, "/cifar.tar.gz");
  absl::StatusOr<FetchResult> r = FetchCifar10(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(List(tmp_.Join("data")), IsEmpty());
}

TEST_F(FetchTest, BadArgumentsAreInvalidArgument) {
  FetchOptions o = Options("/cifar.tar.gz", "xyz");
  EXPECT_EQ(FetchCifar10(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = Options("/cifar.tar.gz", base::Md5Hex(good_));
  o.url = "ftp://example.org/cifar.tar.gz";
  EXPECT_EQ(FetchCifar10(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.url = server_.Url("/cifar.tar.gz");
  o.out_dir = "";
  EXPECT_EQ(FetchCifar10(o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(FetchTest, NonEmptyDestinationIsRefused) {
  FetchOptions o = Options("/cifar.tar.gz", base::Md5Hex(good_));
  ASSERT_TRUE(base::MakeDirs(o.out_dir).ok());
  ASSERT_TRUE(base::WriteFileAtomically(o.out_dir + "/mine.txt", "keep me").ok());
  absl::StatusOr<FetchResult> r = FetchCifar10(o);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(List(o.out_dir), ElementsAre("mine.txt"));
}

TEST_F(FetchTest, FileUrl) {
  ASSERT_TRUE(base::WriteFileAtomically(tmp_.Join("copy.tar.gz"), good_).ok());
  FetchOptions o = Options("/", base::Md5Hex(good_));
  o.url = "file://" + tmp_.Join("copy.tar.gz");
  absl::StatusOr<FetchResult> r = FetchCifar10(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->files, 8);
}

// The real binary: one error line and the exit code reach the shell.
TEST_F(FetchTest, BinaryExitCodes) {
  const std::string bin = base::JoinPath(::latentsearch::testing::BinaryDir(), "bin/latentsearch");
  if (!base::FileSize(bin).ok()) GTEST_SKIP() << bin << " not built";
  const std::string err = tmp_.Join("stderr.txt");
  auto run = [&](const std::string& args) {
    const int status =
        std::system(absl::StrCat(bin, " fetch-cifar10 ", args, " >/dev/null 2>", err).c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  const std::string out = " --out=" + tmp_.Join("data/c");
  EXPECT_EQ(run(absl::StrCat("--url=", server_.Url("/cifar.tar.gz"),
                             " --md5=0123456789abcdef0123456789abcdef", out)),
            1);
  EXPECT_THAT(base::ReadFile(err).value_or(""), HasSubstr("error: DATA_LOSS: MD5 mismatch"));
  EXPECT_EQ(run(absl::StrCat("--url=", server_.Url("/nope"), out)), 1);
  EXPECT_THAT(base::ReadFile(err).value_or(""), HasSubstr("error: NOT_FOUND: GET "));
  EXPECT_EQ(run("--md5=short" + out), 2);
  EXPECT_EQ(run("--bogus"), 2);
  EXPECT_THAT(List(tmp_.Join("data")), IsEmpty());
  EXPECT_EQ(run(absl::StrCat("--url=", server_.Url("/cifar.tar.gz"), " --md5=", base::Md5Hex(good_),
                             out)),
            0);
  EXPECT_TRUE(base::FileSize(tmp_.Join("data/c/test_batch.bin")).ok());
}

}  // namespace
}  // namespace latentsearch::cli
