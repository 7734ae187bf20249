#ifndef BERTH_COMMON_TESTING_STATUS_MATCHERS_H_
#define BERTH_COMMON_TESTING_STATUS_MATCHERS_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::testing {

inline const absl::Status& GetStatus(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

// Matches an OK absl::Status or absl::StatusOr<T>.
MATCHER(IsOk, "is OK") {
  const absl::Status& status = GetStatus(arg);
  if (!status.ok()) *result_listener << "status is " << status.ToString();
  return status.ok();
}

// Matches a status with `code` whose message matches `message_matcher`.
MATCHER_P2(StatusIs, code, message_matcher,
           absl::StrCat(negation ? "is not" : "is", " a status with code ",
                        absl::StatusCodeToString(code), " and a message that ",
                        ::testing::DescribeMatcher<std::string>(message_matcher))) {
  const absl::Status& status = GetStatus(arg);
  *result_listener << "status is " << status.ToString();
  return status.code() == code &&
         ::testing::Matches(message_matcher)(std::string(status.message()));
}

}  // namespace berth::testing

#define BERTH_TESTING_CONCAT_INNER_(a, b) a##b
#define BERTH_TESTING_CONCAT_(a, b) BERTH_TESTING_CONCAT_INNER_(a, b)

// ASSERT_OK_AND_ASSIGN(lhs, expr): fails the test when `expr` (a StatusOr) is not OK,
// otherwise moves its value into `lhs`.
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  BERTH_ASSERT_OK_AND_ASSIGN_IMPL_(BERTH_TESTING_CONCAT_(berth_or_, __LINE__), lhs, expr)
#define BERTH_ASSERT_OK_AND_ASSIGN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                     \
  ASSERT_TRUE(statusor.ok()) << statusor.status().ToString(); \
  lhs = std::move(statusor).value()

#define EXPECT_OK(expr) EXPECT_THAT((expr), ::berth::testing::IsOk())
#define ASSERT_OK(expr) ASSERT_THAT((expr), ::berth::testing::IsOk())

#endif  // BERTH_COMMON_TESTING_STATUS_MATCHERS_H_
