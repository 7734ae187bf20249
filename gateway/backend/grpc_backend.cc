#include "gateway/backend/grpc_backend.h"

#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/grpc_channel.h"
#include "common/call_metadata.h"
#include "common/grpc_status.h"
#include "grpc/health/v1/health.pb.h"
#include "spdlog/spdlog.h"

namespace berth::gateway {

// A call that can be cancelled from any thread while it runs.
class CancelableCall {
 public:
  virtual ~CancelableCall() = default;
  virtual void Cancel() = 0;
};

class GrpcBackend::CallSet {
 public:
  // Registers a call until Remove(id); returns its id.
  uint64_t Add(std::shared_ptr<CancelableCall> call, bool stream) {
    absl::MutexLock lock(&mu_);
    const uint64_t id = next_id_++;
    calls_.emplace(id, Entry{std::move(call), stream});
    return id;
  }
  // After the call's last callback has returned.
  void Remove(uint64_t id) {
    absl::MutexLock lock(&mu_);
    calls_.erase(id);
  }
  void Cancel(bool streams_only) {
    std::vector<std::shared_ptr<CancelableCall>> chosen;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [id, entry] : calls_) {
        if (entry.stream || !streams_only) chosen.push_back(entry.call);
      }
    }
    // Outside the lock: a cancel may run the call's callbacks, which Remove() it.
    for (const std::shared_ptr<CancelableCall>& call : chosen) call->Cancel();
  }
  bool WaitEmpty(absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    auto empty = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return calls_.empty(); };
    return mu_.AwaitWithDeadline(absl::Condition(&empty), deadline);
  }

 private:
  struct Entry {
    std::shared_ptr<CancelableCall> call;
    bool stream;
  };
  absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint64_t, Entry> calls_ ABSL_GUARDED_BY(mu_);
};

namespace {

grpc::ByteBuffer ToBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string FromBuffer(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (!buffer.Dump(&slices).ok()) return bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return bytes;
}

void AddMetadata(grpc::ClientContext& context, const CallMetadata& metadata) {
  for (const auto& [key, value] : metadata) context.AddMetadata(key, value);
}

// A failed call's status as the gateway's callers may see it. The backend's own errors (its
// answer carries kAnsweredByMetadata) are kept; those gRPC made up on this side speak of
// sockets and transports, and are replaced by what they mean to a caller (the original is
// logged at debug level).
grpc::Status ForCallers(grpc::Status status, const grpc::ClientContext& context,
                        const std::string& backend) {
  if (status.ok() ||
      context.GetServerTrailingMetadata().count(common::kAnsweredByMetadata) > 0) {
    return status;
  }
  spdlog::debug("call to {} failed: {} {}", backend, status.error_code(), status.error_message());
  std::string message;
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      message = absl::StrCat(backend, " is unavailable; try again");
      break;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      message = absl::StrCat(backend, " did not answer in time");
      break;
    case grpc::StatusCode::CANCELLED:
      message = absl::StrCat("the call to ", backend, " was cancelled");
      break;
    default:
      message = absl::StrCat(
          backend, " could not be called (",
          absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())), ")");
  }
  return grpc::Status(status.error_code(), message);
}

// One unary call's state, alive until its completion callback has returned.
struct UnaryCall final : CancelableCall {
  void Cancel() override { context.TryCancel(); }
  grpc::ClientContext context;
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
};

// A server-streaming call made as a bidi stream of one request (the generic stub's only
// streaming form); deletes itself once done and no handle is left.
class StreamCall final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
                         public StreamHandle,
                         public CancelableCall {
 public:
  StreamCall(std::string backend, std::string method, std::string request,
             const CallMetadata& metadata, absl::Time deadline, Backend::StreamMessage on_message,
             Backend::StreamDone on_done)
      : backend_(std::move(backend)),
        method_(std::move(method)),
        request_(ToBuffer(request)),
        on_message_(std::move(on_message)),
        on_done_(std::move(on_done)) {
    AddMetadata(context_, metadata);
    if (deadline != absl::InfiniteFuture()) context_.set_deadline(absl::ToChronoTime(deadline));
  }

  void Start(grpc::GenericStub& stub) {
    stub.PrepareBidiStreamingCall(&context_, method_, grpc::StubOptions(), this);
    StartWriteLast(&request_, grpc::WriteOptions());
    StartRead(&response_);
    StartCall();
  }

  void Cancel() override { context_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream ends; OnDone follows
    on_message_(FromBuffer(response_));
    StartRead(&response_);
  }
  void OnWriteDone(bool) override {}
  void OnDone(const grpc::Status& status) override {
    // The callbacks hold the HTTP exchange, which holds the cancel callback that holds this
    // call: let go of them before the last one runs, so that the cycle breaks.
    Backend::StreamDone done = std::move(on_done_);
    on_done_ = nullptr;
    on_message_ = nullptr;
    done(common::FromGrpcStatus(ForCallers(status, context_, backend_)));
    done = nullptr;
    std::shared_ptr<GrpcBackend::CallSet> calls = std::move(calls_);
    calls->Remove(id_);
    self_.reset();  // may delete this
  }

  // Keeps the call alive until OnDone, however long the caller keeps its handle, and lists it
  // in `calls` until then.
  void Register(std::shared_ptr<StreamCall> self, std::shared_ptr<GrpcBackend::CallSet> calls) {
    self_ = self;
    id_ = calls->Add(std::move(self), /*stream=*/true);
    calls_ = std::move(calls);
  }

 private:
  const std::string backend_;
  const std::string method_;
  grpc::ClientContext context_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  Backend::StreamMessage on_message_;
  Backend::StreamDone on_done_;
  std::shared_ptr<StreamCall> self_;
  std::shared_ptr<GrpcBackend::CallSet> calls_;
  uint64_t id_ = 0;
};

}  // namespace

GrpcBackend::GrpcBackend(std::string name, const std::string& address)
    : name_(std::move(name)),
      channel_(common::NewDaemonChannel(address)),
      stub_(std::make_unique<grpc::GenericStub>(channel_)),
      calls_(std::make_shared<CallSet>()) {}

void GrpcBackend::Unary(const std::string& method, std::string request, absl::Duration timeout,
                    const CallMetadata& metadata, UnaryDone done) {
  auto call = std::make_shared<UnaryCall>();
  call->request = ToBuffer(request);
  call->context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  AddMetadata(call->context, metadata);
  const uint64_t id = calls_->Add(call, /*stream=*/false);
  stub_->UnaryCall(&call->context, method, grpc::StubOptions(), &call->request, &call->response,
                   [backend = name_, call, calls = calls_, id,
                    done = std::move(done)](grpc::Status status) mutable {
                     std::string response = status.ok() ? FromBuffer(call->response) : "";
                     status = ForCallers(std::move(status), call->context, backend);
                     // Whatever `done` holds is let go before the call counts as finished.
                     UnaryDone finish = std::move(done);
                     done = nullptr;
                     finish(common::FromGrpcStatus(status), std::move(response));
                     finish = nullptr;
                     calls->Remove(id);
                   });
}

std::shared_ptr<StreamHandle> GrpcBackend::ServerStream(const std::string& method,
                                                    std::string request,
                                                    const CallMetadata& metadata,
                                                    absl::Time deadline,
                                                    StreamMessage on_message,
                                                    StreamDone on_done) {
  auto call = std::make_shared<StreamCall>(name_, method, std::move(request), metadata, deadline,
                                           std::move(on_message), std::move(on_done));
  call->Register(call, calls_);
  call->Start(*stub_);
  return call;
}

void GrpcBackend::CancelCalls(bool streams_only) { calls_->Cancel(streams_only); }

bool GrpcBackend::WaitIdle(absl::Time deadline) { return calls_->WaitEmpty(deadline); }

void GrpcBackend::CheckHealth(absl::Duration timeout, std::function<void(bool serving)> done) {
  grpc::health::v1::HealthCheckRequest request;
  Unary("/grpc.health.v1.Health/Check", request.SerializeAsString(), timeout, {},
        [done = std::move(done)](const absl::Status& status, std::string response) {
          grpc::health::v1::HealthCheckResponse answer;
          done(status.ok() && answer.ParseFromString(response) &&
               answer.status() == grpc::health::v1::HealthCheckResponse::SERVING);
        });
}

}  // namespace berth::gateway
