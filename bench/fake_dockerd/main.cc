// fake_dockerd: a stand-in for the Docker engine that runs no containers, so that a benchmark can
// run many hosts (allocator-svc + docker-svc each) on one machine. It serves the part of the
// Engine API 1.41 that docker-svc calls on a unix socket (see fake_engine.h) and keeps its
// containers in memory; each container's anonymous volumes are directories under
// --volumes_dir, which must be on a tmpfs (docker-svc writes a box's files only into a
// mapping directory that is one). SIGTERM or SIGINT ends it: every container goes and so do the
// volumes' directories and the socket.
#include <linux/magic.h>
#include <sys/vfs.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "bench/fake_dockerd/engine_server.h"
#include "bench/fake_dockerd/engine_wire.h"
#include "bench/fake_dockerd/fake_engine.h"
#include "common/logging.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, socket, "", "the unix socket to serve the Engine API on (required)");
ABSL_FLAG(std::string, volumes_dir, "",
          "where containers' anonymous volumes go, one directory each; must be on a tmpfs "
          "(e.g. a directory in /dev/shm) and empty (required)");
ABSL_FLAG(absl::Duration, start_delay, absl::ZeroDuration(),
          "how long each container start takes before it answers");
ABSL_FLAG(std::string, log_level, "info",
          "trace, debug (every request), info, warn, error, critical or off");

namespace {

namespace fs = std::filesystem;

// The canonical path of the volumes directory, made when missing; FAILED_PRECONDITION when it
// is not on a tmpfs or not empty.
absl::StatusOr<std::string> PrepareVolumesDir(const std::string& flag) {
  if (flag.empty()) return absl::InvalidArgumentError("--volumes_dir is required");
  std::error_code error;
  fs::create_directories(flag, error);
  if (error) return absl::InternalError(absl::StrCat("make ", flag, ": ", error.message()));
  const std::string path = fs::canonical(flag, error).string();
  if (error) return absl::InternalError(absl::StrCat("resolve ", flag, ": ", error.message()));
  struct statfs filesystem {};
  if (statfs(path.c_str(), &filesystem) != 0 || filesystem.f_type != TMPFS_MAGIC) {
    return absl::FailedPreconditionError(
        absl::StrCat("--volumes_dir ", path,
                     " is not on a tmpfs; docker-svc writes only into mapping "
                     "directories that are (use a directory in /dev/shm)"));
  }
  if (!fs::is_empty(path, error) || error) {
    return absl::FailedPreconditionError(
        absl::StrCat("--volumes_dir ", path,
                     " is not empty (what a killed fake_dockerd left?); every "
                     "volume must start empty"));
  }
  return path;
}

absl::Status Run() {
  const std::string socket = absl::GetFlag(FLAGS_socket);
  if (socket.empty()) return absl::InvalidArgumentError("--socket is required");
  absl::StatusOr<std::string> volumes_dir = PrepareVolumesDir(absl::GetFlag(FLAGS_volumes_dir));
  if (!volumes_dir.ok()) return volumes_dir.status();
  std::error_code ignored;
  fs::create_directories(fs::path(socket).parent_path(), ignored);
  std::signal(SIGPIPE, SIG_IGN);

  berth::fake_dockerd::FakeEngineOptions options;
  options.volumes_dir = *volumes_dir;
  options.start_delay = absl::GetFlag(FLAGS_start_delay);
  // Declared before the io_context: its handlers may reach the engine until they are gone.
  berth::fake_dockerd::FakeEngine engine(options);
  boost::asio::io_context io(1);
  absl::StatusOr<std::unique_ptr<berth::fake_dockerd::EngineServer>> server =
      berth::fake_dockerd::EngineServer::Start(io, socket, &engine);
  if (!server.ok()) return server.status();
  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code& error, int signal) {
    if (error) return;
    spdlog::info("signal {}: stopping", signal);
    (*server)->Stop();
    io.stop();
  });
  spdlog::info("serving the Docker Engine API {} on {}; volumes in {}; start delay {}",
               berth::fake_dockerd::kApiVersion, socket, *volumes_dir,
               absl::FormatDuration(options.start_delay));
  io.run();
  server->reset();
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "fake_dockerd --socket=PATH --volumes_dir=DIR: a Docker engine without containers");
  absl::ParseCommandLine(argc, argv);
  if (absl::Status status =
          berth::common::InitLogging("fake_dockerd", absl::GetFlag(FLAGS_log_level));
      !status.ok()) {
    std::fprintf(stderr, "fake_dockerd: %s\n", status.ToString().c_str());
    return EXIT_FAILURE;
  }
  if (absl::Status status = Run(); !status.ok()) {
    spdlog::error("fake_dockerd: {}", status.ToString());
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
