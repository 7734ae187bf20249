#ifndef BERTH_DOCKER_SVC_BOXES_TESTING_BOX_MANAGER_FIXTURE_H_
#define BERTH_DOCKER_SVC_BOXES_TESTING_BOX_MANAGER_FIXTURE_H_

// A BoxManager on an in-memory Docker engine and an in-memory allocator, for the unit tests of
// the manager (box_manager_test.cc, box_sessions_test.cc).
#include <unistd.h>

#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "docker-svc/boxes/app_profiles.h"
#include "docker-svc/boxes/box_manager.h"
#include "docker-svc/boxes/box_metrics.h"
#include "docker-svc/boxes/box_spec.h"
#include "docker-svc/engine/testing/fake_docker_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::docker::testing {

namespace av1 = allocator::v1;

// Leases in memory; ports 20000 up, TTYs 10 up. Failures injected per operation.
class FakeLeaseClient final : public LeaseClient {
 public:
  absl::StatusOr<av1::Lease> Reserve(const av1::ReserveRequest& request) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back(absl::StrCat("reserve ", request.box_id()));
    WaitWhileHeld("reserve", request.box_id());
    if (absl::Status injected = Injected("reserve"); !injected.ok()) return injected;
    av1::Lease& lease = leases_[request.box_id()];
    lease.set_box_id(request.box_id());
    lease.set_state(av1::LEASE_STATE_RESERVED);
    lease.set_tty(request.tty() ? next_tty_++ : -1);
    lease.set_gpu_index(-1);
    lease.clear_ports();
    for (const av1::PortRequest& port : request.ports()) {
      av1::PortBinding* binding = lease.add_ports();
      binding->set_container_port(port.container_port());
      binding->set_protocol(port.protocol());
      binding->set_host_port(next_port_++);
    }
    return lease;
  }
  absl::StatusOr<av1::Lease> Bind(const std::string& box_id,
                                  const std::string& container_id) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back(absl::StrCat("bind ", box_id));
    WaitWhileHeld("bind", box_id);
    if (absl::Status injected = Injected("bind"); !injected.ok()) return injected;
    auto it = leases_.find(box_id);
    if (it == leases_.end()) return absl::NotFoundError("no lease");
    it->second.set_state(av1::LEASE_STATE_BOUND);
    it->second.set_container_id(container_id);
    return it->second;
  }
  absl::Status Release(const std::string& box_id) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back(absl::StrCat("release ", box_id));
    WaitWhileHeld("release", box_id);
    if (absl::Status injected = Injected("release"); !injected.ok()) return injected;
    leases_.erase(box_id);
    return absl::OkStatus();
  }
  absl::StatusOr<av1::ReconcileResponse> Reconcile(const av1::ReconcileRequest& request) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back("reconcile");
    if (absl::Status injected = Injected("reconcile"); !injected.ok()) return injected;
    last_reconcile_ = request;
    std::set<std::string> live;
    for (const av1::LiveBox& box : request.live_boxes()) live.insert(box.box_id());
    av1::ReconcileResponse response;
    for (auto it = leases_.begin(); it != leases_.end();) {
      if (live.count(it->first) == 0) {
        response.add_released(it->first);
        it = leases_.erase(it);
      } else {
        ++it;
      }
    }
    return response;
  }

  absl::StatusOr<av1::CapacityResponse> Capacity() override {
    return av1::CapacityResponse();
  }
  absl::StatusOr<av1::ListResponse> List() override {
    absl::MutexLock lock(&mu_);
    av1::ListResponse response;
    for (const auto& [box_id, lease] : leases_) *response.add_leases() = lease;
    return response;
  }

  void FailNext(const std::string& operation, absl::Status status) {
    absl::MutexLock lock(&mu_);
    failures_[operation] = std::move(status);
  }
  // Until Unhold(), calls of `operation` ("reserve", "bind" or "release") for `box_id` (any box
  // when empty) wait, as calls to an allocator slow to answer would.
  void Hold(const std::string& operation, const std::string& box_id = "") {
    absl::MutexLock lock(&mu_);
    holds_[operation] = box_id;
  }
  void Unhold(const std::string& operation) {
    absl::MutexLock lock(&mu_);
    holds_.erase(operation);
  }
  // How many calls of `operation` wait now.
  int held(const std::string& operation) const {
    absl::MutexLock lock(&mu_);
    auto it = held_.find(operation);
    return it == held_.end() ? 0 : it->second;
  }
  // Waits until held(operation) reaches `count`; false after 5 s.
  bool AwaitHeld(const std::string& operation, int count) const {
    absl::MutexLock lock(&mu_);
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      auto it = held_.find(operation);
      return it != held_.end() && it->second >= count;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), absl::Seconds(5));
  }
  std::map<std::string, av1::Lease> leases() const {
    absl::MutexLock lock(&mu_);
    return leases_;
  }
  std::vector<std::string> calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  av1::ReconcileRequest last_reconcile() const {
    absl::MutexLock lock(&mu_);
    return last_reconcile_;
  }

 private:
  void WaitWhileHeld(const std::string& operation, const std::string& box_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto free = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      auto it = holds_.find(operation);
      return it == holds_.end() || (!it->second.empty() && it->second != box_id);
    };
    if (free()) return;
    ++held_[operation];
    mu_.Await(absl::Condition(&free));
    --held_[operation];
  }

  absl::Status Injected(const std::string& operation) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = failures_.find(operation);
    if (it == failures_.end()) return absl::OkStatus();
    absl::Status status = it->second;
    failures_.erase(it);
    return status;
  }

  mutable absl::Mutex mu_;
  std::map<std::string, av1::Lease> leases_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Status> failures_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
  av1::ReconcileRequest last_reconcile_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> holds_ ABSL_GUARDED_BY(mu_);  // operation -> box id or ""
  std::map<std::string, int> held_ ABSL_GUARDED_BY(mu_);
  int32_t next_tty_ ABSL_GUARDED_BY(mu_) = 10;
  uint32_t next_port_ ABSL_GUARDED_BY(mu_) = 20000;
};

inline constexpr char kProfile[] = R"pb(
name: "test-box"
image: "berth/test-box:latest"
ports { port: 32261 protocol: PROTOCOL_TCP }
ports { port: 32263 protocol: PROTOCOL_UDP }
readiness_marker: "ready"
tty: true
aes_key_env: "BERTH_AES_KEY"
stop_grace_seconds: 1
)pb";

// A second app whose timeouts are short: readiness 1 s, client config 1 s; and whose writable
// layer may hold 5 MiB.
inline constexpr char kQuickProfile[] = R"pb(
name: "quick-box"
image: "berth/test-box:latest"
ports { port: 32262 protocol: PROTOCOL_TCP }
disk_limit_bytes: 5242880
readiness_marker: "ready"
readiness_timeout_seconds: 1
config_timeout_seconds: 1
aes_key_env: "BERTH_AES_KEY"
stop_grace_seconds: 1
)pb";

// A third app that is slow to become ready (readiness 1 s) but may wait long for its client's
// config (60 s), so that its readiness timeout is what ends it.
inline constexpr char kUnreadyProfile[] = R"pb(
name: "unready-box"
image: "berth/test-box:latest"
ports { port: 32262 protocol: PROTOCOL_TCP }
readiness_marker: "ready"
readiness_timeout_seconds: 1
config_timeout_seconds: 60
stop_grace_seconds: 1
)pb";

// How many times `docker` has been called for `operation` (FakeDockerClient::calls() names).
inline int CallsTo(const FakeDockerClient& docker, const std::string& operation) {
  int count = 0;
  for (const std::string& call : docker.calls()) {
    if (call == operation || absl::StartsWith(call, operation + " ")) ++count;
  }
  return count;
}

// Waits until `docker` has been called for `operation` at least `count` times; false after
// `timeout`.
inline bool AwaitCalls(const FakeDockerClient& docker, const std::string& operation, int count,
                       absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (CallsTo(docker, operation) < count) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

inline bool AwaitCall(const FakeDockerClient& docker, const std::string& operation,
                      absl::Duration timeout) {
  return AwaitCalls(docker, operation, 1, timeout);
}

class BoxManagerFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(apps_.File("test-box.textproto")) << kProfile;
    std::ofstream(apps_.File("quick-box.textproto")) << kQuickProfile;
    std::ofstream(apps_.File("unready-box.textproto")) << kUnreadyProfile;
    ASSERT_OK_AND_ASSIGN(catalog_, LoadAppProfiles(apps_.path()));
    docker_.AddImage("berth/test-box:latest");
    BoxManagerOptions options;
    options.boxes_dir = boxes_.path();
    options.readiness_poll_interval = absl::Milliseconds(5);
    options.tick_interval = absl::Milliseconds(20);
    options.disk_check_interval = absl::Milliseconds(20);
    options.user_limits.max_boxes_per_user = 2;
    options.user_limits.default_ttl = absl::Minutes(30);
    options.user_limits.max_ttl = absl::Hours(2);
    options.metrics = &box_metrics_;
    ASSERT_OK_AND_ASSIGN(manager_,
                         BoxManager::Create(options, &catalog_, &docker_, &leases_, &clock_));
  }

  box::v1::CreateRequest Request(const std::string& box_id, const std::string& user = "u1") {
    box::v1::CreateRequest request;
    request.set_app("test-box");
    request.set_box_id(box_id);
    request.set_user_id(user);
    return request;
  }

  bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

  // The host path of the mapping directory (the container's volume) of `box_id`; empty when it
  // has no container.
  std::string MappingDirOf(const std::string& box_id) {
    absl::StatusOr<ContainerInfo> info = docker_.InspectContainer(ContainerName(box_id));
    if (!info.ok()) return "";
    return docker::MappingDirOf(*info, "/whist/resourceMappings").value_or("");
  }
  // A file in that directory (a path that does not exist when there is none).
  std::string MappingFile(const std::string& box_id, const std::string& name) {
    const std::string dir = MappingDirOf(box_id);
    return absl::StrCat(dir.empty() ? "/nonexistent-mapping-dir" : dir, "/", name);
  }

  // Nothing of `box_id` remains: container, lease, mapping directory (a volume), record.
  void ExpectNothingLeft(const std::string& box_id) {
    EXPECT_EQ(docker_.container_count(), 0u) << box_id;
    EXPECT_THAT(docker_.volumes(), ::testing::IsEmpty()) << box_id;
    EXPECT_EQ(leases_.leases().count(box_id), 0u) << box_id;
    EXPECT_FALSE(Exists(boxes_.File(box_id))) << box_id;
    EXPECT_FALSE(Exists(boxes_.File(".records/" + box_id))) << box_id;
  }

  berth::testing::TempDir apps_;
  berth::testing::TempDir boxes_;
  AppCatalog catalog_;
  FakeDockerClient docker_;
  FakeLeaseClient leases_;
  common::SystemClock clock_;
  // The manager's metrics; metrics_.Serialize() shows them (after SetCensus for the gauges of
  // the box table).
  common::Metrics metrics_;
  BoxMetrics box_metrics_{metrics_.registry()};
  std::unique_ptr<BoxManager> manager_;
};

}  // namespace berth::docker::testing

#endif  // BERTH_DOCKER_SVC_BOXES_TESTING_BOX_MANAGER_FIXTURE_H_
