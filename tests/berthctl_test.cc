// berthctl against a real docker-svc: each command's JSON on stdout and exit code 0; docker-svc's
// own errors by their code's name; and, when nothing answers, a line that says so (and, after a
// timeout, that the call may still take effect) instead of a bare gRPC code.
#include <stdio.h>
#include <sys/wait.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/testing/read_file.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/boxes_test_client.h"

namespace berth::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
  absl::Duration took;
};

class BerthctlTest : public BoxTest {
 protected:
  // Runs berthctl with `args` (shell words); its exit code, stdout and stderr.
  Outcome Berthctl(const std::string& args) {
    const std::string err_file = scratch_.File("stderr");
    const std::string command = absl::StrCat(BERTHCTL_BINARY, " ", args, " 2>", err_file);
    Outcome outcome;
    const absl::Time start = absl::Now();
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return outcome;
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) outcome.out.append(buffer, n);
    const int status = pclose(pipe);
    outcome.took = absl::Now() - start;
    outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    outcome.err = ReadFileOrEmpty(err_file);
    return outcome;
  }

  std::string Boxes() { return absl::StrCat("--boxes=", host().boxes_address()); }

  TempDir scratch_;
};

TEST_F(BerthctlTest, DrivesDockerSvcAndNamesItsErrors) {
  ASSERT_NO_FATAL_FAILURE(StartHost());
  Outcome probed = Berthctl(absl::StrCat("probe ", host().boxes_address()));
  EXPECT_EQ(probed.exit_code, 0) << probed.err;
  EXPECT_THAT(probed.out, HasSubstr("health: SERVING\n"));
  EXPECT_THAT(probed.out, HasSubstr("service: berth.box.v1.Boxes\n"));
  EXPECT_THAT(probed.out, HasSubstr("service: grpc.reflection.v1.ServerReflection\n"));
  EXPECT_THAT(probed.out, HasSubstr("service: grpc.reflection.v1alpha.ServerReflection\n"));

  const std::string id = BoxId("ctl");
  Outcome created = Berthctl(absl::StrCat(Boxes(), " create --app=test-box --box_id=", id,
                                          " --user_id=u1 --ttl=90500ms --wait_for_ready"));
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_THAT(created.out, HasSubstr(absl::StrCat("\"box_id\":\"", id, "\"")));
  EXPECT_THAT(created.out, HasSubstr("\"state\":\"BOX_STATE_RUNNING\""));
  EXPECT_THAT(created.out, HasSubstr("\"ttl\":\"90.500s\"")) << "a ttl keeps its fraction";

  Outcome got = Berthctl(absl::StrCat(Boxes(), " get ", id));
  EXPECT_EQ(got.exit_code, 0) << got.err;
  EXPECT_THAT(got.out, HasSubstr(id));
  Outcome listed = Berthctl(absl::StrCat(Boxes(), " list --user_id=u1"));
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, HasSubstr(id));

  // docker-svc's own answer: its code by name and its message, nothing about reachability.
  Outcome missing = Berthctl(absl::StrCat(Boxes(), " get ", BoxId("nobody")));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("berthctl: NOT_FOUND: no box"));
  EXPECT_THAT(missing.err, Not(HasSubstr("answers")));

  Outcome stopped = Berthctl(absl::StrCat(Boxes(), " stop ", id));
  EXPECT_EQ(stopped.exit_code, 0) << stopped.err;
  EXPECT_EQ(Leftovers(host(), id), "");

  Outcome usage = Berthctl(absl::StrCat(Boxes(), " create --app=test-box --ttl=-1s"));
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_THAT(usage.err, HasSubstr("--ttl"));
}

// Nothing listens: the calls wait for docker-svc up to --timeout, then say that nothing
// answered; watch gives up after --timeout too instead of waiting for ever.
TEST_F(BerthctlTest, SaysSoWhenNothingAnswers) {
  const std::string address = absl::StrCat("unix:", scratch_.File("nobody.sock"));
  Outcome listed = Berthctl(absl::StrCat("--boxes=", address, " --timeout=1s list"));
  EXPECT_EQ(listed.exit_code, 1);
  EXPECT_THAT(listed.err, HasSubstr("DEADLINE_EXCEEDED"));
  EXPECT_THAT(listed.err, HasSubstr(absl::StrCat("no answer from ", address)));
  EXPECT_THAT(listed.err, HasSubstr("may still take effect"));

  Outcome watched = Berthctl(absl::StrCat("--boxes=", address, " --timeout=1s watch"));
  EXPECT_EQ(watched.exit_code, 1);
  EXPECT_THAT(watched.err, HasSubstr(absl::StrCat("nothing answers at ", address)));
  EXPECT_LT(watched.took, absl::Seconds(20));

  Outcome probed = Berthctl(absl::StrCat("probe ", address));
  EXPECT_EQ(probed.exit_code, 1);
  EXPECT_THAT(probed.err, HasSubstr(address));
}

}  // namespace
}  // namespace berth::testing
