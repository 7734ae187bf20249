#ifndef BERTH_TESTS_BOXES_TEST_CLIENT_H_
#define BERTH_TESTS_BOXES_TEST_CLIENT_H_

#include <memory>
#include <set>
#include <string>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "testing_support/box_host.h"

namespace berth::testing {

// The fixture of every box test (the host, clients and helpers it uses are in
// testing_support/box_host.h). Checks in SetUp that dockerd and the test image are there (the
// test fails, never skips, when they are not). Each test's box ids start with a prefix of its
// own (BoxId()); TearDown prints the daemons' logs when the test failed, stops the daemons and
// force-removes every container of this test's boxes, so that a failing test leaves nothing
// behind.
class BoxTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Makes host_ (not started) with `options`.
  BoxHost& NewHost(BoxHostOptions options = {});
  // Makes host_ and starts both daemons; fails the test when they do not serve (call it under
  // ASSERT_NO_FATAL_FAILURE).
  void StartHost(BoxHostOptions options = {});

  // This test's box id for `name`: "<prefix><name>".
  std::string BoxId(absl::string_view name) const;
  // Marks a box id that lacks the prefix (a generated one) as this test's, for the cleanup.
  void Track(const std::string& box_id);
  // Whether `box_id` belongs to this test.
  bool Mine(const std::string& box_id) const;

  BoxHost& host() { return *host_; }
  BoxesClient& boxes() { return host_->boxes(); }

  std::unique_ptr<BoxHost> host_;
  std::string prefix_;
  std::set<std::string> tracked_;
};

}  // namespace berth::testing

#endif  // BERTH_TESTS_BOXES_TEST_CLIENT_H_
