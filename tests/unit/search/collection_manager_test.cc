#include "services/search/collection_manager.h"

#include <cmath>
#include <limits>
#include <string>

#include "common/base/file.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::search {
namespace {

using ::latentsearch::testing::IsOk;
using ::latentsearch::testing::StatusIs;
using ::latentsearch::testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;
using Code = absl::StatusCode;

class CollectionManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.data_dir = tmp_.path();
    options_.max_k = 100;
    options_.num_threads = 1;
    ASSERT_OK_AND_ASSIGN(core_, CollectionManager::Create(options_));
    CreateSpec spec;
    spec.name = "c";
    spec.dim = 2;
    spec.model_name = "default";
    spec.model_version = 3;
    spec.metrics = {index::Metric::kL2, index::Metric::kL2};
    spec.hnsw = false;
    ASSERT_OK(core_->CreateCollection(spec).status());
    index::ItemBatch b;
    for (int i = 0; i < 4; ++i) {
      b.metas.push_back({"i" + std::to_string(i), i, ""});
      b.vectors.push_back(static_cast<float>(i));
      b.vectors.push_back(0);
    }
    ASSERT_OK(core_->Upsert("c", b).status());
  }

  TempDir tmp_;
  CollectionManagerOptions options_;
  std::unique_ptr<CollectionManager> core_;
};

TEST_F(CollectionManagerTest, CreateValidatesNameDimAndParameters) {
  CreateSpec spec;
  spec.dim = 4;
  for (const char* bad : {"", ".hidden", "has space", "slash/no"}) {
    spec.name = bad;
    EXPECT_THAT(core_->CreateCollection(spec),
                StatusIs(Code::kInvalidArgument, HasSubstr("collection name")))
        << bad;
  }
  spec.name = std::string(129, 'a');
  EXPECT_THAT(core_->CreateCollection(spec), StatusIs(Code::kInvalidArgument, HasSubstr("1..128")));
  spec.name = "ok";
  spec.dim = 0;
  EXPECT_THAT(core_->CreateCollection(spec),
              StatusIs(Code::kInvalidArgument, HasSubstr("1..4096")));
  spec.dim = 4;
  spec.m = 1;
  EXPECT_THAT(core_->CreateCollection(spec), StatusIs(Code::kInvalidArgument, HasSubstr("hnsw.m")));
  spec.m = 16;
  spec.ef_construction = 8;
  EXPECT_THAT(core_->CreateCollection(spec),
              StatusIs(Code::kInvalidArgument, HasSubstr("ef_construction")));
}

TEST_F(CollectionManagerTest, DuplicateIsAlreadyExistsUnlessIfNotExistsMatches) {
  CreateSpec spec;
  spec.name = "c";
  spec.dim = 2;
  spec.model_name = "default";
  spec.model_version = 3;
  EXPECT_THAT(core_->CreateCollection(spec), StatusIs(Code::kAlreadyExists, HasSubstr("'c'")));
  spec.if_not_exists = true;
  EXPECT_THAT(core_->CreateCollection(spec), IsOk());
  spec.dim = 3;
  EXPECT_THAT(core_->CreateCollection(spec), StatusIs(Code::kAlreadyExists, HasSubstr("dim 2")));
}

TEST_F(CollectionManagerTest, UpsertRejectsBadItemsBeforeWritingAny) {
  index::ItemBatch b;
  b.metas = {{"ok", 0, ""}, {"nan", 0, ""}};
  b.vectors = {1, 1, std::nanf(""), 1};
  EXPECT_THAT(core_->Upsert("c", b),
              StatusIs(Code::kInvalidArgument, AllOf(HasSubstr("item 1"), HasSubstr("NaN"))));
  b.vectors = {1, 1, std::numeric_limits<float>::infinity(), 1};
  EXPECT_THAT(core_->Upsert("c", b), StatusIs(Code::kInvalidArgument, HasSubstr("infinite")));
  b.metas = {{"", 0, ""}};
  b.vectors = {1, 1};
  EXPECT_THAT(core_->Upsert("c", b), StatusIs(Code::kInvalidArgument, HasSubstr("id has 0 bytes")));
  b.metas = {{"x", 0, ""}};
  b.vectors = {1, 1, 1};
  EXPECT_THAT(core_->Upsert("c", b), StatusIs(Code::kInvalidArgument, HasSubstr("dim 2")));
  EXPECT_THAT(core_->Upsert("nope", b), StatusIs(Code::kNotFound, HasSubstr("'nope'")));
  ASSERT_OK_AND_ASSIGN(CollectionInfo info, core_->GetCollection("c"));
  EXPECT_EQ(info.stats.item_count, 4u);  // Nothing of the bad batches landed.
}

TEST_F(CollectionManagerTest, DimOfAnswersTheConfiguredDimOrNotFound) {
  EXPECT_THAT(core_->DimOf("c"), ::latentsearch::testing::IsOkAndHolds(2u));
  EXPECT_THAT(core_->DimOf("nope"), StatusIs(Code::kNotFound, HasSubstr("'nope'")));
}

TEST_F(CollectionManagerTest, SearchValidation) {
  QueryOptions o;
  Query q;
  EXPECT_THAT(core_->Search("c", q, o), StatusIs(Code::kInvalidArgument, HasSubstr("empty query")));
  q.vector = {1, 2, 3};
  EXPECT_THAT(core_->Search("c", q, o), StatusIs(Code::kInvalidArgument, HasSubstr("has dim 2")));
  q.vector = {1, std::nanf("")};
  EXPECT_THAT(core_->Search("c", q, o), StatusIs(Code::kInvalidArgument, HasSubstr("NaN")));
  q.vector = {1, 0};
  o.k = 101;
  EXPECT_THAT(core_->Search("c", q, o), StatusIs(Code::kInvalidArgument, HasSubstr("1..100")));
  o.k = 10;
  o.ef = 5;
  EXPECT_THAT(core_->Search("c", q, o), StatusIs(Code::kInvalidArgument, HasSubstr("ef 5")));
  o.ef = 0;
  o.metric = index::Metric::kCosine;
  EXPECT_THAT(core_->Search("c", q, o),
              StatusIs(Code::kFailedPrecondition, AllOf(HasSubstr("cosine"), HasSubstr("l2"))));
  o.metric = index::Metric::kL2;
  o.hnsw = true;
  EXPECT_THAT(core_->Search("c", q, o), StatusIs(Code::kFailedPrecondition, HasSubstr("no HNSW")));
  o.hnsw = false;
  q = Query{};
  q.item_id = "ghost";
  EXPECT_THAT(core_->Search("c", q, o), StatusIs(Code::kNotFound, HasSubstr("ghost")));
  EXPECT_THAT(core_->Search("missing", q, o), StatusIs(Code::kNotFound, HasSubstr("missing")));
}

TEST_F(CollectionManagerTest, SearchByItemExcludesSelfAndKLargerThanCollection) {
  Query q;
  q.item_id = "i1";
  QueryOptions o;
  o.k = 50;
  ASSERT_OK_AND_ASSIGN(SearchAnswer a, core_->Search("c", q, o));
  ASSERT_EQ(a.result.hits.size(), 4u);
  EXPECT_EQ(a.result.hits[0].id, "i1");
  EXPECT_EQ(a.model_version, 3u);
  q.exclude_self = true;
  ASSERT_OK_AND_ASSIGN(a, core_->Search("c", q, o));
  ASSERT_EQ(a.result.hits.size(), 3u);
  // i0 and i2 are both at distance 1: ties resolve by slot (insertion) order.
  EXPECT_EQ(a.result.hits[0].id, "i0");
  EXPECT_EQ(a.result.hits[1].id, "i2");
  EXPECT_FLOAT_EQ(a.result.hits[0].distance, 1.0f);
}

TEST_F(CollectionManagerTest, BatchNamesTheBadQuery) {
  std::vector<Query> qs(2);
  qs[0].vector = {0, 0};
  qs[1].vector = {0};
  EXPECT_THAT(core_->SearchBatch("c", qs, std::vector<QueryOptions>(2)),
              StatusIs(Code::kInvalidArgument, HasSubstr("query 1")));
}

TEST_F(CollectionManagerTest, DropRemovesFilesAndRestartKeepsTheRest) {
  CreateSpec spec;
  spec.name = "other";
  spec.dim = 2;
  ASSERT_OK(core_->CreateCollection(spec).status());
  ASSERT_OK(core_->DropCollection("other"));
  EXPECT_THAT(core_->DropCollection("other"), StatusIs(Code::kNotFound, HasSubstr("other")));
  EXPECT_FALSE(base::FileSize(tmp_.Join("collections/other/snapshot.lss")).ok());
  core_.reset();
  ASSERT_OK_AND_ASSIGN(core_, CollectionManager::Create(options_));
  ASSERT_EQ(core_->ListCollections().size(), 1u);
  EXPECT_EQ(core_->ListCollections()[0].stats.item_count, 4u);
}

TEST_F(CollectionManagerTest, CorruptCollectionIsReportedAndOthersStillLoad) {
  CreateSpec spec;
  spec.name = "broken";
  spec.dim = 2;
  ASSERT_OK(core_->CreateCollection(spec).status());
  core_.reset();
  ASSERT_OK_AND_ASSIGN(std::string snap,
                       base::ReadFile(tmp_.Join("collections/broken/snapshot.lss")));
  ASSERT_OK(base::WriteFileAtomically(tmp_.Join("collections/broken/snapshot.lss"),
                                      snap.substr(0, snap.size() - 3)));
  ASSERT_OK_AND_ASSIGN(core_, CollectionManager::Create(options_));
  ASSERT_EQ(core_->FailedCollections().size(), 1u);
  EXPECT_EQ(core_->FailedCollections()[0].name, "broken");
  EXPECT_THAT(core_->FailedCollections()[0].error,
              StatusIs(Code::kDataLoss, AllOf(HasSubstr("snapshot.lss"), HasSubstr("truncated"))));
  EXPECT_THAT(core_->GetCollection("broken"),
              StatusIs(Code::kDataLoss, HasSubstr("failed to load")));
  ASSERT_OK_AND_ASSIGN(CollectionInfo c, core_->GetCollection("c"));
  EXPECT_EQ(c.stats.item_count, 4u);
  // Dropping the broken one clears it.
  ASSERT_OK(core_->DropCollection("broken"));
  EXPECT_TRUE(core_->FailedCollections().empty());
}

TEST_F(CollectionManagerTest, ListItemsPagesInIdOrder) {
  ASSERT_OK(core_->Delete("c", {"i1"}).status());
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    ASSERT_OK_AND_ASSIGN(ItemPage page, core_->ListItems("c", 2, token, true));
    EXPECT_EQ(page.item_count, 3u);
    ASSERT_EQ(page.vectors.size(), page.metas.size() * 2);
    for (size_t i = 0; i < page.metas.size(); ++i) {
      seen.push_back(page.metas[i].id);
      EXPECT_EQ(page.vectors[i * 2], static_cast<float>(page.metas[i].label));
    }
    token = page.next_page_token;
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(seen, (std::vector<std::string>{"i0", "i2", "i3"}));
  EXPECT_EQ(pages, 2);
  ASSERT_OK_AND_ASSIGN(ItemPage all, core_->ListItems("c", 0, "", false));
  EXPECT_EQ(all.metas.size(), 3u);
  EXPECT_TRUE(all.vectors.empty());
  EXPECT_TRUE(all.next_page_token.empty());
  EXPECT_THAT(core_->ListItems("nope", 0, "", false), StatusIs(Code::kNotFound, HasSubstr("nope")));
  EXPECT_THAT(core_->ListItems("c", 10001, "", false),
              StatusIs(Code::kInvalidArgument, HasSubstr("page_size")));
}

}  // namespace
}  // namespace latentsearch::search
