#include "docker-svc/boxes/box_store.h"

#include <sys/stat.h>

#include <fstream>

#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gtest/gtest.h"

namespace berth::docker {
namespace {

using ::berth::testing::IsOk;
using ::berth::testing::TempDir;

internal::BoxRecord Record(const std::string& box_id, box::v1::BoxState state) {
  internal::BoxRecord record;
  record.mutable_box()->set_box_id(box_id);
  record.mutable_box()->set_state(state);
  record.set_aes_key("k");
  return record;
}

TEST(BoxStoreTest, RecordsSurviveAReopenAndDeletesAreIdempotent) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(BoxStore store, BoxStore::Open(dir.path()));
    ASSERT_THAT(store.Put(Record("a", box::v1::BOX_STATE_WAITING)), IsOk());
    ASSERT_THAT(store.Put(Record("b", box::v1::BOX_STATE_UNSPECIFIED)), IsOk());
    ASSERT_THAT(store.Put(Record("a", box::v1::BOX_STATE_RUNNING)), IsOk());
    ASSERT_THAT(store.Delete("b"), IsOk());
    ASSERT_THAT(store.Delete("b"), IsOk());
    ASSERT_THAT(store.Put(Record("c", box::v1::BOX_STATE_ALLOCATED)), IsOk());
  }
  ASSERT_OK_AND_ASSIGN(BoxStore store, BoxStore::Open(dir.path()));
  ASSERT_OK_AND_ASSIGN(auto records, store.LoadAll());
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records.at("a").box().state(), box::v1::BOX_STATE_RUNNING);
  EXPECT_EQ(records.at("a").aes_key(), "k");
  EXPECT_EQ(records.at("c").box().state(), box::v1::BOX_STATE_ALLOCATED);
  // The records hold AES keys: only docker-svc's user may read them.
  struct stat st {};
  ASSERT_EQ(stat((dir.path() + "/.records/a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((dir.path() + "/.records").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST(BoxStoreTest, AnUnreadableRecordStillNamesItsBoxAndTempFilesAreIgnored) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(BoxStore store, BoxStore::Open(dir.path()));
  std::ofstream(dir.path() + "/.records/broken") << "\xff\xff not a record";
  std::ofstream(dir.path() + "/.records/.a.tmp") << "half written";
  ASSERT_OK_AND_ASSIGN(auto records, store.LoadAll());
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records.at("broken").box().box_id(), "broken");
  EXPECT_EQ(records.at("broken").box().state(), box::v1::BOX_STATE_UNSPECIFIED);
}

}  // namespace
}  // namespace berth::docker
