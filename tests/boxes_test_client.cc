#include "tests/boxes_test_client.h"

#include <unistd.h>

#include <cctype>
#include <iostream>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "docker-svc/engine/docker_client.h"

namespace berth::testing {

void BoxTest::SetUp() {
  // A short prefix from the test's name and this process, so that box ids stay valid (at most
  // 64 characters of [A-Za-z0-9_.-]) and differ from those of other tests and runs.
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name;
  for (char c : std::string(info->name())) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    if (name.size() == 16) break;
  }
  prefix_ = absl::StrCat(name, "-", getpid() % 100000, "-");
  const absl::Status docker = CheckDockerAndTestImage();
  ASSERT_TRUE(docker.ok()) << docker << "\nthese tests need dockerd and " << kTestBoxImage;
}

void BoxTest::TearDown() {
  if (host_ != nullptr && HasFailure()) {
    std::cerr << host_->LogTails() << std::flush;
  }
  // The daemons first, so that nothing recreates or tears down boxes while they are removed.
  if (host_ != nullptr) {
    host_->KillDockerSvc();
    host_->KillAllocator();
    // Boxes the host's docker-svc made on its own (warm pools) carry ids of no prefix.
    absl::StatusOr<std::vector<docker::ContainerSummary>> owned = Docker().ListContainers(
        {absl::StrCat("berth.boxes_dir=", host_->boxes_dir())}, /*all=*/true);
    if (owned.ok()) {
      for (const docker::ContainerSummary& container : *owned) {
        auto id = container.labels.find("berth.box_id");
        if (id != container.labels.end()) Track(id->second);
      }
    }
  }
  const int removed = RemoveBerthContainers([this](const std::string& id) { return Mine(id); });
  if (removed > 0 && !HasFailure()) {
    std::cerr << "cleanup removed " << removed << " container(s) of this test\n";
  }
  host_.reset();
}

BoxHost& BoxTest::NewHost(BoxHostOptions options) {
  host_ = std::make_unique<BoxHost>(std::move(options));
  return *host_;
}

void BoxTest::StartHost(BoxHostOptions options) {
  BoxHost& host = NewHost(std::move(options));
  ASSERT_TRUE(host.ok().ok()) << host.ok();
  absl::Status started = host.Start();
  ASSERT_TRUE(started.ok()) << started;
}

std::string BoxTest::BoxId(absl::string_view name) const { return absl::StrCat(prefix_, name); }

void BoxTest::Track(const std::string& box_id) { tracked_.insert(box_id); }

bool BoxTest::Mine(const std::string& box_id) const {
  return absl::StartsWith(box_id, prefix_) || tracked_.count(box_id) > 0;
}

}  // namespace berth::testing
