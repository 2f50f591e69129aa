// ingest --json (IngestResultJson, ReindexResultJson): the same bytes as
// the earlier StrFormat form for ordinary names (the golden test pins the
// command's output, with "seconds" normalised), and valid, escaped JSON for
// names and paths with quotes and backslashes.
// Thread-safety: single-threaded tests.
#include <string>

#include "absl/strings/str_format.h"
#include "clients/cli/ingest.h"
#include "gtest/gtest.h"

namespace latentsearch::cli {
namespace {

IngestResult Result(const std::string& collection, const std::string& model) {
  IngestResult r;
  r.collection = collection;
  r.model.set_name(model);
  r.model.set_version(7);
  r.created = true;
  r.total = 10;
  r.skipped = 2;
  r.upserted = 8;
  r.item_count = 10;
  r.seconds = 1.23456;
  return r;
}

TEST(IngestJsonTest, OrdinaryNamesGiveTheEarlierBytes) {
  const IngestResult r = Result("golden", "fake");
  EXPECT_EQ(IngestResultJson(r),
            absl::StrFormat(
                "{\"collection\":\"%s\",\"model\":{\"name\":\"%s\",\"version\":%d},\"created\":%s,"
                "\"total\":%d,\"skipped\":%d,\"upserted\":%d,\"item_count\":%d,\"seconds\":%.3f}",
                r.collection, r.model.name(), r.model.version(), "true", r.total, r.skipped,
                r.upserted, r.item_count, r.seconds));
  ReindexResult x;
  x.from = "golden";
  x.from_model = r.model;
  x.to = r;
  x.up_to_date = false;
  EXPECT_EQ(ReindexResultJson(x),
            "{\"from\":\"golden\",\"from_model\":{\"name\":\"fake\",\"version\":7},\"to\":"
            "\"golden\",\"to_model\":{\"name\":\"fake\",\"version\":7},\"up_to_date\":false,"
            "\"upserted\":8,\"skipped\":2,\"item_count\":10}");
}

TEST(IngestJsonTest, QuotesAndBackslashesAreEscaped) {
  const IngestResult r = Result("my \"best\" set", "C:\\models\\m");
  EXPECT_EQ(IngestResultJson(r),
            "{\"collection\":\"my \\\"best\\\" set\",\"model\":{\"name\":\"C:\\\\models\\\\m\","
            "\"version\":7},\"created\":true,\"total\":10,\"skipped\":2,\"upserted\":8,"
            "\"item_count\":10,\"seconds\":1.235}");
  ReindexResult x;
  x.from = "a\"b\\c";
  x.from_model = r.model;
  x.to = Result("a\"b\\c-v8", "x\ny");
  EXPECT_EQ(ReindexResultJson(x),
            "{\"from\":\"a\\\"b\\\\c\",\"from_model\":{\"name\":\"C:\\\\models\\\\m\",\"version\":"
            "7},\"to\":\"a\\\"b\\\\c-v8\",\"to_model\":{\"name\":\"x\\ny\",\"version\":7},"
            "\"up_to_date\":false,\"upserted\":8,\"skipped\":2,\"item_count\":10}");
}

}  // namespace
}  // namespace latentsearch::cli
