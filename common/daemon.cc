#include "common/daemon.h"

#include <malloc.h>
#include <unistd.h>
#include <signal.h>
#include <systemd/sd-daemon.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/support/server_interceptor.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/call_metadata.h"
#include "common/grpc_status.h"
#include "common/server_reflection.h"
#include "common/status_macros.h"
#include "common/unix_socket.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "spdlog/spdlog.h"

namespace berth::common {
namespace {

sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

// The process's stop signal, taken by the thread PrepareDaemonProcess() starts.
struct StopSignal {
  absl::Mutex mu;
  bool serving ABSL_GUARDED_BY(mu) = false;
  int number ABSL_GUARDED_BY(mu) = 0;
};

StopSignal& TheStopSignal() {
  static auto* const stop = new StopSignal;  // never destroyed: the thread may outlive main
  return *stop;
}

void TakeStopSignals() {
  const sigset_t signals = TerminationSignals();
  int number = 0;
  while (sigwait(&signals, &number) != 0) {
  }
  StopSignal& stop = TheStopSignal();
  absl::MutexLock lock(&stop.mu);
  if (!stop.serving) {
    spdlog::info("stopping on signal {} before serving", number);
    spdlog::default_logger()->flush();
    _exit(0);
  }
  stop.number = number;  // later signals stay blocked and pending: one stop is enough
}

void Notify(const std::string& state) {
  // sd_notify is a no-op (returning 0) when NOTIFY_SOCKET is unset.
  int result = sd_notify(0, state.c_str());
  if (result < 0) spdlog::warn("sd_notify({}) failed: {}", state, -result);
}

// Proves the server accepts calls over its socket before READY=1 is sent.
absl::Status CheckServing(const std::string& listen) {
  auto channel = grpc::CreateChannel(listen, grpc::InsecureChannelCredentials());
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  context.set_wait_for_ready(true);
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  RETURN_IF_ERROR(FromGrpcStatus(stub->Check(&context, request, &response)));
  if (response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return absl::UnavailableError("health check over the socket does not report SERVING");
  }
  return absl::OkStatus();
}

// Sends WATCHDOG=1 every `interval` while `liveness` holds, until stopped.
class WatchdogPinger {
 public:
  WatchdogPinger(absl::Duration interval, std::function<absl::Status()> liveness)
      : interval_(interval), liveness_(std::move(liveness)), thread_([this] { Loop(); }) {}
  ~WatchdogPinger() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopped_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

 private:
  void Loop() {
    while (true) {
      absl::Status alive = liveness_ ? liveness_() : absl::OkStatus();
      if (alive.ok()) {
        Notify("WATCHDOG=1");
      } else {
        spdlog::error("not pinging the watchdog: {}", alive.ToString());
      }
      std::unique_lock<std::mutex> lock(mu_);
      if (wake_.wait_for(lock, absl::ToChronoMilliseconds(interval_), [this] { return stopped_; })) {
        return;
      }
    }
  }

  const absl::Duration interval_;
  const std::function<absl::Status()> liveness_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopped_ = false;
  std::thread thread_;
};

// On every call: marks the answer with kAnsweredByMetadata, and counts unary calls in flight
// (from the moment a call is matched to its method until it is finished). Streams are not
// counted: they may be cancelled at any time.
class CallInterceptors final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  CallInterceptors(std::string name, std::shared_ptr<std::atomic<int>> in_flight)
      : name_(std::move(name)), in_flight_(std::move(in_flight)) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    const bool unary = info->type() == grpc::experimental::ServerRpcInfo::Type::UNARY;
    return new Intercepted(name_, unary ? in_flight_.get() : nullptr);
  }

 private:
  class Intercepted final : public grpc::experimental::Interceptor {
   public:
    // `in_flight` (when set) outlives the server's calls.
    Intercepted(const std::string& name, std::atomic<int>* in_flight)
        : name_(name), in_flight_(in_flight) {
      if (in_flight_ != nullptr) in_flight_->fetch_add(1, std::memory_order_relaxed);
    }
    ~Intercepted() override {
      if (in_flight_ != nullptr) in_flight_->fetch_sub(1, std::memory_order_release);
    }
    void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
      if (methods->QueryInterceptionHookPoint(
              grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
        methods->GetSendTrailingMetadata()->emplace(kAnsweredByMetadata, name_);
      }
      methods->Proceed();
    }

   private:
    const std::string& name_;
    std::atomic<int>* const in_flight_;
  };

  const std::string name_;
  std::shared_ptr<std::atomic<int>> in_flight_;
};

// Lets unary calls in flight finish (new ones are still served meanwhile), for at most
// `grace`, then stops the server at once. gRPC's own Shutdown(deadline) would also wait for
// idle client connections to go away, which an idle client notices only seconds later.
void StopServer(grpc::Server& server, const std::atomic<int>& in_flight, absl::Duration grace,
                const std::function<void()>& abandon_work) {
  const absl::Time deadline = absl::Now() + grace;
  while (in_flight.load(std::memory_order_acquire) > 0 && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const int cancelled = in_flight.load(std::memory_order_acquire);
  if (cancelled > 0) spdlog::warn("cancelling {} calls still running after the grace", cancelled);
  // Handlers blocked in the service's own retries (a backend that is down) must end too, or
  // Wait() below never returns.
  if (abandon_work) abandon_work();
  server.Shutdown(std::chrono::system_clock::now());
  server.Wait();
}

// Idle threads a sync-API service keeps waiting for calls (see ServeUntilSignalled).
constexpr int kSyncServerMaxPollers = 64;

// See PrepareDaemonProcess.
constexpr int kMallocTrimThreshold = 4 << 20;
constexpr int kMallocMmapThreshold = 1 << 20;

}  // namespace

void PrepareDaemonProcess() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // glibc gives each busy thread an arena and, by default, hands a freed arena top back to the
  // kernel once it passes 128 KiB (madvise, then a TLB shoot-down on every core); gRPC's and
  // the HTTP server's threads then grow and trim their arenas on nearly every request. Keeping
  // up to kMallocTrimThreshold free per arena stops that churn for a few MiB at most.
  mallopt(M_TRIM_THRESHOLD, kMallocTrimThreshold);
  mallopt(M_MMAP_THRESHOLD, kMallocMmapThreshold);
  sigset_t set = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  std::thread(TakeStopSignals).detach();
}

void BeginServing() {
  StopSignal& stop = TheStopSignal();
  absl::MutexLock lock(&stop.mu);
  stop.serving = true;
}

int WaitForStopSignal(absl::Duration timeout) {
  StopSignal& stop = TheStopSignal();
  absl::MutexLock lock(&stop.mu);
  auto came = [&stop]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(stop.mu) { return stop.number != 0; };
  stop.mu.AwaitWithTimeout(absl::Condition(&came), timeout);
  return stop.number;
}

absl::Status ServeUntilSignalled(const ServeOptions& options, const UnixSocketClaim& claim) {
  const std::string listen = absl::StrCat("unix:", claim.path());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  AddServerReflection(builder);
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials());
  // A sync-API service's threads exit when more than MAX_POLLERS of them wait for work (default
  // 2), so a burst of concurrent calls made gRPC start and end a thread per call.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                              kSyncServerMaxPollers);
  auto in_flight = std::make_shared<std::atomic<int>>(0);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<CallInterceptors>(options.name, in_flight));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  for (grpc::Service* service : options.services) builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen));
  }
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  for (const std::string& name : options.service_names) health->SetServingStatus(name, true);

  absl::Status ready = claim.RestrictMode(options.socket_group);
  if (ready.ok()) ready = CheckServing(listen);
  if (!ready.ok()) {
    server->Shutdown();
    return ready;
  }
  BeginServing();
  Notify(absl::StrCat("READY=1\nSTATUS=serving on ", listen));
  spdlog::info("{} serving on {}", options.name, listen);

  std::unique_ptr<WatchdogPinger> watchdog;
  uint64_t watchdog_usec = 0;
  if (sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0) {
    watchdog = std::make_unique<WatchdogPinger>(
        absl::Microseconds(static_cast<int64_t>(watchdog_usec / 2)), options.liveness);
  }

  int signal_number = 0;
  while (signal_number == 0) signal_number = WaitForStopSignal(absl::InfiniteDuration());

  spdlog::info("{} stopping on signal {}", options.name, signal_number);
  Notify("STOPPING=1\nSTATUS=stopping");
  health->Shutdown();
  StopServer(*server, *in_flight, options.shutdown_grace, options.abandon_work);
  watchdog.reset();
  spdlog::info("{} stopped", options.name);
  return absl::OkStatus();
}

}  // namespace berth::common
