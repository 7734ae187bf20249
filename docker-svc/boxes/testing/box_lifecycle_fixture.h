#ifndef BERTH_DOCKER_SVC_BOXES_TESTING_BOX_LIFECYCLE_FIXTURE_H_
#define BERTH_DOCKER_SVC_BOXES_TESTING_BOX_LIFECYCLE_FIXTURE_H_

#include <optional>
#include <string>
#include <utility>

#include "common/proto_time.h"
#include "common/testing/status_matchers.h"
#include "docker-svc/boxes/box_lifecycle.h"
#include "gtest/gtest.h"

namespace berth::docker::testing {

// BoxLifecycle's tests: a profile (stop grace 7 s, config timeout 60 s, readiness 30 s), box
// records and machines in each stage, all at kCreated.
inline const absl::Time kCreated = absl::FromUnixSeconds(1'800'000'000);

inline BoxEffect Publish() {
  return BoxEffect{BoxEffect::Kind::kPublishChanged, "", std::nullopt, {}};
}
inline BoxEffect Persist() { return BoxEffect{BoxEffect::Kind::kPersist, "", std::nullopt, {}}; }
inline BoxEffect TeardownOf(std::string reason, std::optional<absl::Duration> grace) {
  return BoxEffect{BoxEffect::Kind::kScheduleTeardown, std::move(reason), grace, {}};
}

class BoxLifecycleTest : public ::testing::Test {
 protected:
  BoxLifecycleTest() {
    profile_.set_stop_grace_seconds(7);
    profile_.set_config_timeout_seconds(60);
    profile_.set_readiness_timeout_seconds(30);
  }

  internal::BoxRecord NewRecord(const std::string& user = "") const {
    internal::BoxRecord record;
    record.mutable_box()->set_box_id("b1");
    record.mutable_box()->set_app("desktop");
    record.mutable_box()->set_user_id(user);
    *record.mutable_box()->mutable_created_at() = common::ToTimestamp(kCreated);
    return record;
  }

  // The record the create steps end with: container c1, WAITING (or ALLOCATED with a user).
  internal::BoxRecord Made(internal::BoxRecord record) const {
    record.mutable_box()->set_container_id("c1");
    record.mutable_box()->set_state(record.box().user_id().empty()
                                        ? box::v1::BOX_STATE_WAITING
                                        : box::v1::BOX_STATE_ALLOCATED);
    *record.mutable_state_since() = common::ToTimestamp(kCreated);
    return record;
  }

  BoxLifecycle Live(const std::string& user = "") const {
    BoxLifecycle life(NewRecord(user), &profile_);
    life.SetContainerId("c1");
    life.OnCreated(Made(NewRecord(user)), /*draining=*/false);
    return life;
  }

  // A live box assigned to u1 (session s1) at kCreated.
  BoxLifecycle Assigned() const {
    BoxLifecycle life = Live();
    EXPECT_OK(life.BeginClaim());
    absl::StatusOr<internal::BoxRecord> next = life.FinishClaim(Request(), kCreated);
    EXPECT_OK(next.status());
    life.Commit(*next, kCreated);
    return life;
  }

  static box::v1::AssignRequest Request() {
    box::v1::AssignRequest request;
    request.set_app("desktop");
    request.set_user_id("u1");
    request.set_session_id("s1");
    return request;
  }

  box::v1::AppProfile profile_;
};

}  // namespace berth::docker::testing

#endif  // BERTH_DOCKER_SVC_BOXES_TESTING_BOX_LIFECYCLE_FIXTURE_H_
