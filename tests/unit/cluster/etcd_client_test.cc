// EtcdClient (etcd_client.h) against a real single-member etcd started per
// test (EtcdProcess; skipped when etcd is not installed): reads and writes,
// prefix reads in pages, create-if-absent races, compare-and-swap with stale
// revisions, failover past a dead, a silent and an UNAVAILABLE endpoint, and
// etcd's error bodies. Label integration: each case starts etcd.
#include "common/cluster/etcd_client.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/testing/etcd_process.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"

namespace latentsearch::cluster {
namespace {

using ::latentsearch::testing::EtcdProcess;
using ::latentsearch::testing::IsOkAndHolds;
using ::latentsearch::testing::PickUnusedLoopbackPort;
using ::latentsearch::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Optional;

MATCHER_P(HasValue, value, "") { return arg.value == value; }
MATCHER_P(HasKey, key, "") { return arg.key == key; }
MATCHER(Absent, "is absent") { return !arg.has_value(); }

// An endpoint nothing listens on.
std::string DeadEndpoint() { return absl::StrCat("http://127.0.0.1:", PickUnusedLoopbackPort()); }

// A loopback socket that accepts connections into its backlog but never
// answers: a hung etcd.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        ::listen(fd_, 16) == 0 &&
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      endpoint_ = absl::StrCat("http://127.0.0.1:", ntohs(addr.sin_port));
    }
  }
  ~SilentListener() { ::close(fd_); }
  const std::string& endpoint() const { return endpoint_; }

 private:
  int fd_ = -1;
  std::string endpoint_;
};

// An HTTP server answering every POST with `status` and `body` (a gateway
// error), on a loopback port.
class FakeGateway {
 public:
  FakeGateway(int status, std::string body) {
    server_.Post(".*", [status, body](const httplib::Request&, httplib::Response& res) {
      res.status = status;
      res.set_content(body, "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~FakeGateway() {
    server_.stop();
    thread_.join();
  }
  std::string endpoint() const { return absl::StrCat("http://127.0.0.1:", port_); }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

class EtcdClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!EtcdProcess::Available()) GTEST_SKIP() << EtcdProcess::kNotInstalled;
    ASSERT_OK_AND_ASSIGN(etcd_, EtcdProcess::Start());
    ASSERT_OK_AND_ASSIGN(client_, Client({etcd_->endpoint()}));
  }

  static absl::StatusOr<std::unique_ptr<EtcdClient>> Client(
      std::vector<std::string> endpoints, absl::Duration timeout = absl::Seconds(5),
      int64_t page = 1000) {
    EtcdClient::Options options;
    options.endpoints = std::move(endpoints);
    options.timeout = timeout;
    options.range_page_size = page;
    return EtcdClient::Create(options);
  }

  std::unique_ptr<EtcdProcess> etcd_;
  std::unique_ptr<EtcdClient> client_;
};

TEST_F(EtcdClientTest, PutGetDelete) {
  EXPECT_THAT(client_->Get("/ls/missing"), IsOkAndHolds(Absent()));
  ASSERT_OK(client_->Put("/ls/a", "one"));
  ASSERT_OK_AND_ASSIGN(std::optional<KeyValue> kv, client_->Get("/ls/a"));
  ASSERT_TRUE(kv.has_value());
  EXPECT_EQ(kv->key, "/ls/a");
  EXPECT_EQ(kv->value, "one");
  EXPECT_GT(kv->create_revision, 0);
  EXPECT_EQ(kv->mod_revision, kv->create_revision);
  ASSERT_OK(client_->Put("/ls/a", "two"));
  ASSERT_OK_AND_ASSIGN(kv, client_->Get("/ls/a"));
  EXPECT_EQ(kv->value, "two");
  EXPECT_GT(kv->mod_revision, kv->create_revision);
  ASSERT_OK(client_->Delete("/ls/a"));
  EXPECT_THAT(client_->Get("/ls/a"), IsOkAndHolds(Absent()));
  EXPECT_OK(client_->Delete("/ls/a"));  // Absent: fine.
}

TEST_F(EtcdClientTest, BinaryKeysAndValuesAndEmptyValues) {
  const std::string key("/ls/\0\xff\x80", 7);
  const std::string value("\0\x01\xfe{\"json\":1}", 13);
  ASSERT_OK(client_->Put(key, value));
  ASSERT_OK(client_->Put("/ls/empty", ""));
  EXPECT_THAT(client_->Get(key), IsOkAndHolds(Optional(HasValue(value))));
  EXPECT_THAT(client_->Get("/ls/empty"), IsOkAndHolds(Optional(HasValue(""))));
}

TEST_F(EtcdClientTest, GetPrefixReadsExactlyThePrefixInPages) {
  for (int i = 9; i >= 0; --i) ASSERT_OK(client_->Put(absl::StrCat("/ls/nodes/n", i), "x"));
  ASSERT_OK(client_->Put("/ls/nodes", "not under the prefix"));
  ASSERT_OK(client_->Put("/ls/nodes0", "not under the prefix"));
  ASSERT_OK(client_->Put("/ls/collections/c", "y"));
  ASSERT_OK_AND_ASSIGN(auto paged, Client({etcd_->endpoint()}, absl::Seconds(5), /*page=*/3));
  for (EtcdClient* c : {client_.get(), paged.get()}) {
    ASSERT_OK_AND_ASSIGN(std::vector<KeyValue> kvs, c->GetPrefix("/ls/nodes/"));
    ASSERT_EQ(kvs.size(), 10u);
    for (int i = 0; i < 10; ++i) EXPECT_EQ(kvs[i].key, absl::StrCat("/ls/nodes/n", i));
    EXPECT_THAT(c->GetPrefix("/ls/collections/"),
                IsOkAndHolds(ElementsAre(AllOf(HasKey("/ls/collections/c"), HasValue("y")))));
    EXPECT_THAT(c->GetPrefix("/nothing/"), IsOkAndHolds(ElementsAre()));
    ASSERT_OK_AND_ASSIGN(kvs, c->GetPrefix(""));
    EXPECT_EQ(kvs.size(), 13u);
  }
}

TEST(PrefixRangeEndTest, IncrementsTheLastByteBelow0xff) {
  EXPECT_EQ(PrefixRangeEnd("/a/"), "/a0");
  EXPECT_EQ(PrefixRangeEnd("ab"), "ac");
  EXPECT_EQ(PrefixRangeEnd(std::string("a\xff\xff", 3)), "b");
  EXPECT_EQ(PrefixRangeEnd(std::string("\xff", 1)), std::string(1, '\0'));
  EXPECT_EQ(PrefixRangeEnd(""), std::string(1, '\0'));
}

TEST_F(EtcdClientTest, CreateIfAbsent) {
  KeyValue existing;
  EXPECT_THAT(client_->CreateIfAbsent("/ls/c", "first", &existing), IsOkAndHolds(true));
  EXPECT_THAT(client_->CreateIfAbsent("/ls/c", "second", &existing), IsOkAndHolds(false));
  EXPECT_EQ(existing.key, "/ls/c");
  EXPECT_EQ(existing.value, "first");
  EXPECT_GT(existing.mod_revision, 0);
  EXPECT_THAT(client_->CreateIfAbsent("/ls/c", "third", nullptr), IsOkAndHolds(false));
  EXPECT_THAT(client_->Get("/ls/c"), IsOkAndHolds(Optional(HasValue("first"))));
}

TEST_F(EtcdClientTest, CreateIfAbsentRaceHasExactlyOneWinner) {
  constexpr int kThreads = 4;
  for (int round = 0; round < 10; ++round) {
    const std::string key = absl::StrCat("/ls/race/", round);
    std::atomic<int> ready{0};
    std::vector<absl::StatusOr<bool>> won(kThreads, false);
    std::vector<KeyValue> seen(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        ready.fetch_add(1);
        while (ready.load() < kThreads) std::this_thread::yield();  // Start together.
        won[t] = client_->CreateIfAbsent(key, absl::StrCat("writer-", t), &seen[t]);
      });
    }
    for (std::thread& th : threads) th.join();
    int winners = 0;
    std::string winner;
    for (int t = 0; t < kThreads; ++t) {
      ASSERT_OK(won[t].status());
      if (*won[t]) {
        ++winners;
        winner = absl::StrCat("writer-", t);
      }
    }
    ASSERT_EQ(winners, 1) << "round " << round;
    for (int t = 0; t < kThreads; ++t) {
      if (!*won[t]) {
        EXPECT_EQ(seen[t].value, winner) << "round " << round;
      }
    }
    EXPECT_THAT(client_->Get(key), IsOkAndHolds(Optional(HasValue(winner))));
  }
}

TEST_F(EtcdClientTest, CompareAndSwapWithAStaleRevisionFails) {
  ASSERT_OK(client_->Put("/ls/p", "v1"));
  ASSERT_OK_AND_ASSIGN(std::optional<KeyValue> kv, client_->Get("/ls/p"));
  ASSERT_TRUE(kv.has_value());
  const int64_t rev = kv->mod_revision;
  EXPECT_THAT(client_->CompareAndSwap("/ls/p", "v2", rev), IsOkAndHolds(true));
  EXPECT_THAT(client_->CompareAndSwap("/ls/p", "v3", rev), IsOkAndHolds(false));  // Stale.
  ASSERT_OK_AND_ASSIGN(kv, client_->Get("/ls/p"));
  EXPECT_EQ(kv->value, "v2");
  EXPECT_GT(kv->mod_revision, rev);
  // 0 = only if absent.
  EXPECT_THAT(client_->CompareAndSwap("/ls/p", "v4", 0), IsOkAndHolds(false));
  EXPECT_THAT(client_->CompareAndSwap("/ls/new", "n", 0), IsOkAndHolds(true));
}

TEST_F(EtcdClientTest, CompareAndDelete) {
  ASSERT_OK(client_->Put("/ls/d", "v1"));
  ASSERT_OK_AND_ASSIGN(std::optional<KeyValue> kv, client_->Get("/ls/d"));
  ASSERT_TRUE(kv.has_value());
  ASSERT_OK(client_->Put("/ls/d", "v2"));
  EXPECT_THAT(client_->CompareAndDelete("/ls/d", kv->mod_revision), IsOkAndHolds(false));
  ASSERT_OK_AND_ASSIGN(kv, client_->Get("/ls/d"));
  EXPECT_THAT(client_->CompareAndDelete("/ls/d", kv->mod_revision), IsOkAndHolds(true));
  EXPECT_THAT(client_->Get("/ls/d"), IsOkAndHolds(Absent()));
  EXPECT_THAT(client_->CompareAndDelete("/ls/d", kv->mod_revision), IsOkAndHolds(false));
  EXPECT_THAT(client_->CompareAndDelete("/ls/d", 0), IsOkAndHolds(false));
}

TEST_F(EtcdClientTest, FailsOverPastADeadFirstEndpoint) {
  ASSERT_OK_AND_ASSIGN(auto client, Client({DeadEndpoint(), etcd_->endpoint()}));
  ASSERT_OK(client->Put("/ls/f", "v"));
  EXPECT_THAT(client->Get("/ls/f"), IsOkAndHolds(Optional(HasValue("v"))));
  KeyValue existing;
  EXPECT_THAT(client->CreateIfAbsent("/ls/f", "w", &existing), IsOkAndHolds(false));
}

TEST_F(EtcdClientTest, FailsOverPastASilentEndpointAfterTheTimeout) {
  SilentListener silent;
  ASSERT_FALSE(silent.endpoint().empty());
  ASSERT_OK_AND_ASSIGN(auto client,
                       Client({silent.endpoint(), etcd_->endpoint()}, absl::Milliseconds(300)));
  ASSERT_OK(client->Put("/ls/s", "v"));
  EXPECT_THAT(client->Get("/ls/s"), IsOkAndHolds(Optional(HasValue("v"))));
}

TEST_F(EtcdClientTest, FailsOverPastAnUnavailableEtcd) {
  FakeGateway no_leader(
      503, R"({"error":"etcdserver: no leader","message":"etcdserver: no leader","code":14})");
  ASSERT_OK_AND_ASSIGN(auto client, Client({no_leader.endpoint(), etcd_->endpoint()}));
  ASSERT_OK(client->Put("/ls/u", "v"));
  EXPECT_THAT(client->Get("/ls/u"), IsOkAndHolds(Optional(HasValue("v"))));
}

TEST(EtcdClientErrorsTest, AllEndpointsDeadIsUnavailableNamingThem) {
  const std::string a = DeadEndpoint();
  SilentListener silent;
  EtcdClient::Options options;
  options.endpoints = {a, silent.endpoint()};
  options.timeout = absl::Milliseconds(200);
  ASSERT_OK_AND_ASSIGN(auto client, EtcdClient::Create(options));
  const absl::Time start = absl::Now();
  EXPECT_THAT(client->Get("/ls/x"),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("no etcd endpoint answered /v3/kv/range"), HasSubstr(a),
                             HasSubstr(silent.endpoint()))));
  // One refused connection and one 200 ms timeout; generous for a loaded
  // machine, far below the default 2 s per endpoint.
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST(EtcdClientErrorsTest, GatewayErrorBodyIsInternalWithEtcdsMessage) {
  FakeGateway refusing(400,
                       R"({"error":"etcdserver: duplicate key given in txn request",)"
                       R"("message":"etcdserver: duplicate key given in txn request","code":3})");
  EtcdClient::Options options;
  options.endpoints = {refusing.endpoint(), DeadEndpoint()};
  ASSERT_OK_AND_ASSIGN(auto client, EtcdClient::Create(options));
  EXPECT_THAT(client->Put("/ls/k", "v"),
              StatusIs(absl::StatusCode::kInternal,
                       AllOf(HasSubstr("etcdserver: duplicate key given in txn request"),
                             HasSubstr(refusing.endpoint()))));
  FakeGateway garbage(200, "<html>not etcd</html>");
  options.endpoints = {garbage.endpoint()};
  ASSERT_OK_AND_ASSIGN(client, EtcdClient::Create(options));
  EXPECT_THAT(client->Get("/ls/k"),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("not readable JSON")));
}

TEST(EtcdClientErrorsTest, CreateChecksEndpoints) {
  EtcdClient::Options options;
  EXPECT_THAT(EtcdClient::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no etcd endpoint")));
  for (const char* bad :
       {"127.0.0.1", "http://", "http://host:port", "ftp://h:1", "h:70000", "http://h:1/path"}) {
    options.endpoints = {"http://127.0.0.1:2379", bad};
    EXPECT_THAT(EtcdClient::Create(options),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(bad)))
        << bad;
  }
  for (const char* good : {"127.0.0.1:2379", "http://etcd-0.etcd:2379/", "https://[::1]:2379"}) {
    options.endpoints = {good};
    EXPECT_OK(EtcdClient::Create(options).status()) << good;
  }
}

}  // namespace
}  // namespace latentsearch::cluster
