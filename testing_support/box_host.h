#ifndef BERTH_TESTING_SUPPORT_BOX_HOST_H_
#define BERTH_TESTING_SUPPORT_BOX_HOST_H_

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "berth/box/v1/box.grpc.pb.h"
#include "common/testing/temp_dir.h"
#include "docker-svc/engine/docker_client.h"
#include "testing_support/allocator_client.h"
#include "testing_support/daemon_process.h"

namespace berth::testing {

// The test box image (scripts/build-box-image.sh) and its app (deploy/apps/test-box.textproto).
inline constexpr char kTestBoxImage[] = "berth/test-box:latest";
inline constexpr char kTestBoxApp[] = "test-box";
// What the test-box profile sets.
inline constexpr char kTestBoxMarker[] = "done_sleeping_until_X_clients";
inline constexpr char kTestBoxAesKeyEnv[] = "BERTH_AES_KEY";
// Where the test boxes' profiles mount their mapping directories.
inline constexpr char kTestBoxMappingsDir[] = "/whist/resourceMappings";

// The source tree (for deploy/apps and scripts/).
std::string SourceDir();

// The shipped test-box profile (deploy/apps/test-box.textproto) as the app `name`.
std::string TestBoxProfileAs(const std::string& name);

// ---------------------------------------------------------------------------------------------
// gRPC clients of docker-svc.

// A blocking client of a real docker-svc: every call has a deadline (and no wait_for_ready, so
// a daemon that is down fails the call at once) and answers an absl status.
class BoxesClient {
 public:
  explicit BoxesClient(const std::string& address, absl::Duration timeout = absl::Seconds(90));

  absl::StatusOr<box::v1::CreateResponse> Create(const box::v1::CreateRequest& request);
  absl::StatusOr<box::v1::Box> Get(const std::string& box_id);
  absl::StatusOr<std::vector<box::v1::Box>> List(const box::v1::ListRequest& request = {});
  // `reason` empty: docker-svc records "stopped".
  absl::StatusOr<box::v1::StopResponse> Stop(const std::string& box_id,
                                             const std::string& reason = "");

  box::v1::Boxes::Stub& stub() { return *stub_; }

 private:
  const absl::Duration timeout_;
  std::unique_ptr<box::v1::Boxes::Stub> stub_;
};

// A create request for `app`; the other fields are left for the caller.
box::v1::CreateRequest CreateRequest(const std::string& app, const std::string& box_id,
                                     const std::string& user_id = "");

// One event of a Watch stream and when this process received it.
struct ReceivedEvent {
  box::v1::BoxEvent event;
  absl::Time received;
};

// Reads one Watch stream on a background thread and keeps every event, so that tests can wait
// for a condition instead of sleeping. Thread-safe.
class BoxWatcher {
 public:
  // Opens a Watch on `address` and returns once the stream's SNAPSHOT_DONE has arrived, so that
  // every change after this call is seen. Fails when the stream ends or stalls before that.
  static absl::StatusOr<std::unique_ptr<BoxWatcher>> Start(
      const std::string& address, absl::Duration timeout = absl::Seconds(20));
  // Cancels the stream and joins the reader.
  ~BoxWatcher();
  BoxWatcher(const BoxWatcher&) = delete;
  BoxWatcher& operator=(const BoxWatcher&) = delete;

  // Every event received so far, in stream order.
  std::vector<ReceivedEvent> events() const;
  // The events about `box_id`, in stream order.
  std::vector<box::v1::BoxEvent> EventsOf(const std::string& box_id) const;

  // The first event (from the start of the stream) that satisfies `predicate`, waiting at most
  // `timeout` for it. DEADLINE_EXCEEDED lists what did arrive; FAILED_PRECONDITION when the
  // stream ended without one.
  absl::StatusOr<ReceivedEvent> WaitFor(
      const std::function<bool(const box::v1::BoxEvent&)>& predicate, absl::Duration timeout) const;
  // The KIND_GONE event of `box_id`.
  absl::StatusOr<ReceivedEvent> WaitForGone(const std::string& box_id,
                                            absl::Duration timeout) const;

  // The stream's final status once it ended; nullopt while it runs.
  std::optional<absl::Status> ended() const;
  // The events as one line each, for failure messages.
  std::string Describe() const;

 private:
  BoxWatcher() = default;
  void Read();

  std::unique_ptr<box::v1::Boxes::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<box::v1::BoxEvent>> reader_;
  std::thread thread_;
  mutable absl::Mutex mu_;
  std::vector<ReceivedEvent> events_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> ended_ ABSL_GUARDED_BY(mu_);
};

// One line per event: "GONE box-1 state=... reason=died exit=137 oom=0".
std::string DescribeEvent(const box::v1::BoxEvent& event);

// ---------------------------------------------------------------------------------------------
// A full host: allocator-svc and docker-svc in a temp dir, against the real dockerd.

struct BoxHostOptions {
  // Size of the host port range handed to the allocator (found free on this host).
  int port_count = 120;
  // Where the search for that range starts; 0: a place that differs between processes. Hosts
  // of one test give the next host the end of the last one's range, so that they never share
  // ports (a range is free until boxes bind it).
  uint16_t port_search_from = 0;
  std::string tty_range = "10-60";
  // 0: the allocator's default.
  int max_boxes = 0;
  // Further allocator-svc flags, "--name=value".
  std::vector<std::string> allocator_flags;
  absl::Duration resync_interval = absl::Seconds(2);
  // Further docker-svc flags.
  std::vector<std::string> docker_svc_flags;
  // Extra app profiles, name -> text, written as apps/<name>.textproto next to a copy of
  // deploy/apps/test-box.textproto.
  std::map<std::string, std::string> profiles;
};

// The layout of one host in a fresh temp dir:
//   allocator.sock, allocator.db, allocator.log   allocator-svc
//   boxes.sock, docker-svc.log                     docker-svc
//   apps/                                          --apps_dir
//   boxes/                                         --boxes_dir
// The destructor SIGKILLs both daemons and removes the directory; containers are the caller's.
class BoxHost {
 public:
  // Lays out the directory and writes the profiles. Check ok() before use.
  explicit BoxHost(BoxHostOptions options = {});
  ~BoxHost();
  BoxHost(const BoxHost&) = delete;
  BoxHost& operator=(const BoxHost&) = delete;

  // Why the layout could not be made (no free port range, an unwritable temp dir).
  const absl::Status& ok() const { return layout_; }

  // Both daemons, each serving before the call returns.
  absl::Status Start();
  // allocator-svc on its state file; waits until it serves.
  absl::Status StartAllocator();
  // docker-svc; waits (at most `timeout`) until it serves, i.e. after its startup reconcile.
  absl::Status StartDockerSvc(absl::Duration timeout = absl::Seconds(60));
  // Starts docker-svc without waiting for it (for starts that must fail).
  absl::Status LaunchDockerSvc();
  void KillDockerSvc();
  void KillAllocator();
  DaemonProcess* docker_svc() { return docker_svc_.get(); }
  DaemonProcess* allocator() { return allocator_.get(); }

  BoxesClient& boxes() { return *boxes_; }
  AllocatorClient& leases() { return *leases_; }
  std::string boxes_address() const;
  std::string allocator_address() const;

  const std::string& dir() const { return dir_.path(); }
  std::string apps_dir() const { return dir_.File("apps"); }
  std::string boxes_dir() const { return dir_.File("boxes"); }
  // The host path of the box's mapping directory: the source of its container's mount at
  // kTestBoxMappingsDir, the mountpoint of its tmpfs volume ("" when it has no container).
  std::string BoxDir(const std::string& box_id) const;
  // The box ids that have a mapping directory of this host's docker-svc, sorted: every volume
  // labelled with its boxes_dir (in use or not), and any directory in boxes_dir whose name does
  // not start with '.' (there should be none: the records are in .records/).
  std::vector<std::string> MappingDirs() const;
  std::string docker_svc_log() const { return dir_.File("docker-svc.log"); }
  std::string allocator_log() const { return dir_.File("allocator.log"); }
  // The host port range [first, end) of the allocator.
  uint16_t port_begin() const { return port_begin_; }
  uint16_t port_end() const { return port_end_; }
  const BoxHostOptions& options() const { return options_; }

  // The last `lines` lines of both daemons' logs, for failure messages.
  std::string LogTails(int lines = 80) const;

 private:
  const BoxHostOptions options_;
  TempDir dir_;
  absl::Status layout_;
  uint16_t port_begin_ = 0;
  uint16_t port_end_ = 0;
  AllocatorFlags allocator_flags_;
  std::unique_ptr<DaemonProcess> allocator_;
  std::unique_ptr<DaemonProcess> docker_svc_;
  std::unique_ptr<BoxesClient> boxes_;
  std::unique_ptr<AllocatorClient> leases_;
};

// What is left of `box_id` on `host`: its container, its mapping directory, its lease, as text
// ("" when nothing). Errors other than "not found" count as left (and say so).
std::string Leftovers(BoxHost& host, const std::string& box_id);

// Where Docker, the allocator, docker-svc and the mapping directories disagree about the boxes
// whose id satisfies `wanted`, as text ("" when they agree): every such container is running,
// has a BOUND lease naming it, is listed by docker-svc and has its mapping directory; every
// such lease, listed box and directory has its container.
std::string HostDisagreement(BoxHost& host,
                             const std::function<bool(const std::string& box_id)>& wanted);

// ---------------------------------------------------------------------------------------------
// Docker and the host, as the tests see them.

// A process-wide client of the real engine on /var/run/docker.sock.
docker::DockerClient& Docker();

// OK when dockerd answers and the test box image exists (a container can be made from it).
absl::Status CheckDockerAndTestImage();

// Whether a container with this name or id exists (in any state).
absl::StatusOr<bool> ContainerExists(const std::string& name_or_id);

// Berth containers (label berth.box_id) whose box id satisfies `wanted`: box id -> container.
absl::StatusOr<std::map<std::string, docker::ContainerSummary>> BerthContainers(
    const std::function<bool(const std::string& box_id)>& wanted);

// Force-removes every Berth container whose box id satisfies `wanted`; returns how many.
int RemoveBerthContainers(const std::function<bool(const std::string& box_id)>& wanted);

// What a TCP server on 127.0.0.1:`port` sends first ("" when it cannot connect or says nothing
// within a second).
std::string ReadGreeting(uint16_t port);
// Polls until the server on `port` greets with `expected`; false after `timeout`.
bool WaitForGreeting(uint16_t port, const std::string& expected, absl::Duration timeout);

// Polls `condition` every 20 ms until it holds; false when it still does not after `timeout`.
bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout);

// Runs a shell command; its stdout, or an error naming the command and its exit status.
absl::StatusOr<std::string> RunCommand(const std::string& command);

// Whether process `pid` exists and is not a zombie.
bool ProcessIsAlive(pid_t pid);

// The file names in `dir` (not "." and ".."), sorted; empty when it cannot be read.
std::vector<std::string> ListDir(const std::string& dir);

// The container's host PID (docker inspect's State.Pid; 0 when it is not running).
absl::StatusOr<pid_t> ContainerPid(const std::string& name_or_id);

}  // namespace berth::testing

#endif  // BERTH_TESTING_SUPPORT_BOX_HOST_H_
