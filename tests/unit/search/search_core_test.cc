// SearchCore, the search service's v1 face, without gRPC: search by image
// through a fake EncoderClient (the pinned model version, the encoder's
// errors, asynchronous completion, cancellation), the Upsert stream and the v1
// conversions of ListItems and Snapshot.
#include "services/search/search_core.h"

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::search {
namespace {

using ::latentsearch::testing::IsOk;
using ::latentsearch::testing::StatusIs;
using ::latentsearch::testing::TempDir;
using ::testing::HasSubstr;
using Code = absl::StatusCode;

// Records every Encode call and answers only when the test says so, so the
// tests see that SearchCore never waits for the encoder. A cancelled call
// that is still pending answers CANCELLED at once, as GrpcEncoderClient's
// does.
class FakeEncoderClient final : public EncoderClient {
 public:
  void Encode(const v1::EncodeRequest& request, absl::Time deadline, Cancellation* cancel,
              EncodeDone done) override {
    requests.push_back(request);
    deadlines.push_back(deadline);
    const int id = next_id_++;
    pending.push_back({id, std::move(done)});
    if (cancel != nullptr) cancel->OnCancel([this, id] { Cancelled(id); });
  }

  // Answers the oldest pending call.
  void Answer(absl::StatusOr<v1::EncodeResponse> response) {
    ASSERT_FALSE(pending.empty());
    EncodeDone done = std::move(pending.front().second);
    pending.pop_front();
    done(std::move(response));
  }

  // One embedding per value list.
  static v1::EncodeResponse Embeddings(const std::vector<std::vector<float>>& values) {
    v1::EncodeResponse r;
    for (const auto& v : values) r.add_embeddings()->mutable_values()->Add(v.begin(), v.end());
    return r;
  }

  std::vector<v1::EncodeRequest> requests;
  std::vector<absl::Time> deadlines;
  // (call number, done) of the calls not answered yet, oldest first.
  std::deque<std::pair<int, EncodeDone>> pending;
  // Cancels that found their call still pending.
  int cancelled_calls = 0;

 private:
  void Cancelled(int id) {
    for (auto it = pending.begin(); it != pending.end(); ++it) {
      if (it->first != id) continue;
      EncodeDone done = std::move(it->second);
      pending.erase(it);
      ++cancelled_calls;
      done(absl::CancelledError("the encoder at E: call cancelled"));
      return;
    }
  }

  int next_id_ = 0;
};

class SearchCoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(encoder_); }

  void Start(std::shared_ptr<EncoderClient> encoder) {
    core_.reset();
    SearchCoreOptions options;
    options.collections.data_dir = tmp_.path();
    options.collections.num_threads = 1;
    options.encoder = std::move(encoder);
    ASSERT_OK_AND_ASSIGN(core_, SearchCore::Create(options));
  }

  // Collection `name` of dim 2 pinned to model "m" v`version` (0 and "" =
  // no model), with items idN = (N, N) for N in 0..9.
  void CreateAndFill(const std::string& name, const std::string& model, uint64_t version) {
    v1::CreateCollectionRequest create;
    create.set_name(name);
    create.set_dim(2);
    create.mutable_model()->set_name(model);
    create.mutable_model()->set_version(version);
    ASSERT_OK(core_->CreateCollection(create).status());
    std::unique_ptr<UpsertStream> stream = core_->NewUpsertStream();
    v1::UpsertRequest upsert;
    upsert.set_collection(name);
    for (int n = 0; n < 10; ++n) {
      v1::Item* item = upsert.add_items();
      item->set_id("id" + std::to_string(n));
      item->add_vector(static_cast<float>(n));
      item->add_vector(static_cast<float>(n));
      item->set_label(n % 2);
    }
    ASSERT_OK(stream->Add(upsert));
    ASSERT_OK_AND_ASSIGN(v1::UpsertResponse response, stream->Finish());
    ASSERT_EQ(response.item_count(), 10u);
  }

  static v1::SearchRequest ImageQuery(const std::string& collection) {
    v1::SearchRequest request;
    request.set_collection(collection);
    request.set_k(1);
    v1::RawImage* raw = request.mutable_image()->mutable_raw();
    raw->set_height(1);
    raw->set_width(1);
    raw->set_channels(1);
    raw->set_pixels(std::string(1, '\x07'));
    return request;
  }

  // Runs Search; the status once `done` ran, nullopt while it has not.
  struct Call {
    v1::SearchRequest request;
    v1::SearchResponse response;
    std::optional<absl::Status> status;
    int done_runs = 0;
    Cancellation cancel;
  };
  std::unique_ptr<Call> StartSearch(const v1::SearchRequest& request,
                                    absl::Time deadline = absl::InfiniteFuture(),
                                    bool cancel_first = false) {
    auto call = std::make_unique<Call>();
    call->request = request;
    Call* c = call.get();
    if (cancel_first) c->cancel.Cancel();
    core_->Search(c->request, deadline, &c->cancel, &c->response, [c](const absl::Status& s) {
      c->status = s;
      ++c->done_runs;
    });
    return call;
  }

  TempDir tmp_;
  std::shared_ptr<FakeEncoderClient> encoder_ = std::make_shared<FakeEncoderClient>();
  std::unique_ptr<SearchCore> core_;
};

TEST_F(SearchCoreTest, ImageQueryIsEncodedWithThePinnedModelVersionThenSearched) {
  CreateAndFill("c", "m", 7);
  const absl::Time deadline = absl::FromUnixSeconds(4102444800);
  std::unique_ptr<Call> call = StartSearch(ImageQuery("c"), deadline);
  // The core returned without an answer: the encoder has not answered yet.
  ASSERT_FALSE(call->status.has_value());
  ASSERT_EQ(encoder_->requests.size(), 1u);
  const v1::EncodeRequest& sent = encoder_->requests[0];
  EXPECT_EQ(sent.model().name(), "m");
  EXPECT_EQ(sent.model().version(), 7u);
  ASSERT_EQ(sent.images_size(), 1);
  EXPECT_EQ(sent.images(0).raw().pixels(), std::string(1, '\x07'));
  EXPECT_EQ(encoder_->deadlines[0], deadline);

  encoder_->Answer(FakeEncoderClient::Embeddings({{6.9f, 7.2f}}));
  ASSERT_TRUE(call->status.has_value());
  ASSERT_OK(*call->status);
  ASSERT_EQ(call->response.neighbors_size(), 1);
  EXPECT_EQ(call->response.neighbors(0).id(), "id7");
  EXPECT_EQ(call->response.model().name(), "m");
  EXPECT_EQ(call->response.model().version(), 7u);
  EXPECT_EQ(call->response.metric(), v1::METRIC_L2);
}

TEST_F(SearchCoreTest, CancellingAnImageQueryCancelsItsEncoderCallAndAnswersCancelledOnce) {
  CreateAndFill("c", "m", 7);
  std::unique_ptr<Call> call = StartSearch(ImageQuery("c"));
  ASSERT_FALSE(call->status.has_value());
  ASSERT_EQ(encoder_->pending.size(), 1u);
  call->cancel.Cancel();
  // The cancel reached the encoder call, which ended it.
  EXPECT_EQ(encoder_->cancelled_calls, 1);
  EXPECT_TRUE(encoder_->pending.empty());
  ASSERT_TRUE(call->status.has_value());
  EXPECT_THAT(*call->status, StatusIs(Code::kCancelled, HasSubstr("encoding the query image")));
  EXPECT_EQ(call->done_runs, 1);
  EXPECT_EQ(call->response.neighbors_size(), 0);
  call->cancel.Cancel();  // Again: nothing more happens.
  EXPECT_EQ(call->done_runs, 1);

  // Cancelled before it starts: the encoder call ends as it is made.
  call = StartSearch(ImageQuery("c"), absl::InfiniteFuture(), /*cancel_first=*/true);
  EXPECT_EQ(encoder_->requests.size(), 2u);
  EXPECT_EQ(encoder_->cancelled_calls, 2);
  EXPECT_THAT(*call->status, StatusIs(Code::kCancelled, HasSubstr("cancelled")));
  EXPECT_EQ(call->done_runs, 1);

  // Cancelled after the encoder answered: the answer stands, done ran once.
  call = StartSearch(ImageQuery("c"));
  encoder_->Answer(FakeEncoderClient::Embeddings({{6.9f, 7.2f}}));
  call->cancel.Cancel();
  EXPECT_EQ(encoder_->cancelled_calls, 2);
  ASSERT_OK(*call->status);
  EXPECT_EQ(call->done_runs, 1);
  EXPECT_EQ(call->response.neighbors(0).id(), "id7");
}

TEST_F(SearchCoreTest, EncoderWithoutTheModelVersionIsFailedPreconditionNamingIt) {
  CreateAndFill("c", "m", 7);
  std::unique_ptr<Call> call = StartSearch(ImageQuery("c"));
  encoder_->Answer(absl::NotFoundError("the encoder at E: model m v7 is not loaded"));
  ASSERT_TRUE(call->status.has_value());
  EXPECT_THAT(*call->status, StatusIs(Code::kFailedPrecondition,
                                      HasSubstr("no longer holds model m v7 that collection 'c'")));
}

TEST_F(SearchCoreTest, EncoderErrorsKeepTheirCodeAndMessage) {
  CreateAndFill("c", "m", 7);
  for (const absl::Status& error :
       {absl::UnavailableError("the encoder at 127.0.0.1:1 is unavailable: refused"),
        absl::DeadlineExceededError("the encoder at E: deadline"),
        absl::InvalidArgumentError("the encoder at E: image 0 is not a PNG")}) {
    std::unique_ptr<Call> call = StartSearch(ImageQuery("c"));
    encoder_->Answer(error);
    ASSERT_TRUE(call->status.has_value());
    EXPECT_THAT(*call->status, StatusIs(error.code(), HasSubstr(std::string(error.message()))));
  }
}

TEST_F(SearchCoreTest, WrongEmbeddingCountOrDimensionIsRefused) {
  CreateAndFill("c", "m", 7);
  std::unique_ptr<Call> call = StartSearch(ImageQuery("c"));
  encoder_->Answer(FakeEncoderClient::Embeddings({{1, 1}, {2, 2}}));
  EXPECT_THAT(*call->status, StatusIs(Code::kInternal, HasSubstr("2 embeddings for one image")));
  // A model whose embedding does not fit the collection.
  call = StartSearch(ImageQuery("c"));
  encoder_->Answer(FakeEncoderClient::Embeddings({{1, 1, 1}}));
  EXPECT_THAT(*call->status, StatusIs(Code::kInvalidArgument, HasSubstr("has dim 2")));
}

TEST_F(SearchCoreTest, ImageQueriesThatCannotBeEncodedFailWithoutCallingTheEncoder) {
  CreateAndFill("c", "m", 7);
  CreateAndFill("no_model", "", 0);
  std::unique_ptr<Call> call = StartSearch(ImageQuery("no_model"));
  EXPECT_THAT(*call->status, StatusIs(Code::kFailedPrecondition, HasSubstr("without a model")));
  call = StartSearch(ImageQuery("missing"));
  EXPECT_THAT(*call->status, StatusIs(Code::kNotFound, HasSubstr("missing")));
  v1::SearchRequest bad_metric = ImageQuery("c");
  bad_metric.set_metric(static_cast<v1::Metric>(99));
  call = StartSearch(bad_metric);
  EXPECT_THAT(*call->status, StatusIs(Code::kInvalidArgument, HasSubstr("metric")));
  EXPECT_TRUE(encoder_->requests.empty());
}

TEST_F(SearchCoreTest, NoEncoderClientMeansUnavailableWithAHint) {
  Start(nullptr);
  CreateAndFill("c", "m", 7);
  std::unique_ptr<Call> call = StartSearch(ImageQuery("c"));
  EXPECT_THAT(*call->status, StatusIs(Code::kUnavailable, HasSubstr("--encoder")));
}

TEST_F(SearchCoreTest, VectorQueriesAnswerInlineWithoutTheEncoder) {
  CreateAndFill("c", "m", 7);
  v1::SearchRequest request;
  request.set_collection("c");
  request.set_k(2);
  request.mutable_vector()->add_values(3);
  request.mutable_vector()->add_values(3);
  std::unique_ptr<Call> call = StartSearch(request);
  ASSERT_TRUE(call->status.has_value());
  ASSERT_OK(*call->status);
  ASSERT_EQ(call->response.neighbors_size(), 2);
  EXPECT_EQ(call->response.neighbors(0).id(), "id3");
  EXPECT_TRUE(encoder_->requests.empty());
}

TEST_F(SearchCoreTest, UpsertStreamChecksTheCollectionAndEachItemsDimension) {
  CreateAndFill("c", "m", 7);
  EXPECT_THAT(core_->NewUpsertStream()->Finish(),
              StatusIs(Code::kInvalidArgument, HasSubstr("empty Upsert stream")));
  std::unique_ptr<UpsertStream> stream = core_->NewUpsertStream();
  v1::UpsertRequest first;
  EXPECT_THAT(stream->Add(first), StatusIs(Code::kInvalidArgument, HasSubstr("must name")));
  first.set_collection("c");
  v1::Item* item = first.add_items();
  item->set_id("new");
  item->add_vector(1);
  item->add_vector(2);
  ASSERT_OK(stream->Add(first));
  v1::UpsertRequest other;
  other.set_collection("d");
  EXPECT_THAT(stream->Add(other), StatusIs(Code::kInvalidArgument, HasSubstr("upserts into 'c'")));
  v1::UpsertRequest short_item;
  short_item.add_items()->set_id("short");
  short_item.mutable_items(0)->add_vector(1);
  EXPECT_THAT(stream->Add(short_item),
              StatusIs(Code::kInvalidArgument, HasSubstr("item 0 (id 'short') has 1 values")));
  ASSERT_OK_AND_ASSIGN(v1::UpsertResponse response, stream->Finish());
  EXPECT_EQ(response.upserted(), 1u);
  EXPECT_EQ(response.inserted(), 1u);
  EXPECT_EQ(response.item_count(), 11u);
}

TEST_F(SearchCoreTest, UpsertErrorNamesALongIdByItsFirst64Bytes) {
  CreateAndFill("c", "m", 7);
  std::unique_ptr<UpsertStream> stream = core_->NewUpsertStream();
  v1::UpsertRequest request;
  request.set_collection("c");
  v1::Item* item = request.add_items();
  item->set_id(std::string(64, 'a') + std::string(10000, 'b'));
  item->add_vector(1);
  const absl::Status s = stream->Add(request);
  EXPECT_THAT(s, StatusIs(Code::kInvalidArgument,
                          HasSubstr("(id '" + std::string(64, 'a') + "') has 1 values")));
  EXPECT_THAT(std::string(s.message()), ::testing::Not(HasSubstr("ab")));
}

TEST_F(SearchCoreTest, ListItemsAndSnapshotAnswerV1Messages) {
  CreateAndFill("c", "m", 7);
  v1::ListItemsRequest list;
  list.set_collection("c");
  list.set_page_size(3);
  list.set_include_vectors(true);
  ASSERT_OK_AND_ASSIGN(v1::ListItemsResponse page, core_->ListItems(list));
  ASSERT_EQ(page.items_size(), 3);
  EXPECT_EQ(page.items(1).id(), "id1");
  EXPECT_EQ(page.items(1).label(), 1);
  EXPECT_THAT(page.items(2).vector(), ::testing::ElementsAre(2.f, 2.f));
  EXPECT_EQ(page.next_page_token(), "id2");
  EXPECT_EQ(page.item_count(), 10u);

  v1::SnapshotRequest snapshot;
  snapshot.set_collection("c");
  ASSERT_OK_AND_ASSIGN(v1::SnapshotResponse written, core_->Snapshot(snapshot));
  ASSERT_EQ(written.snapshots_size(), 1);
  EXPECT_EQ(written.snapshots(0).collection(), "c");
  EXPECT_EQ(written.snapshots(0).items(), 10u);
  EXPECT_GT(written.snapshots(0).bytes(), 0u);
  EXPECT_GT(written.snapshots(0).written_at().seconds(), 0);
}

}  // namespace
}  // namespace latentsearch::search
