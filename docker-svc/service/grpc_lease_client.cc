#include "docker-svc/service/grpc_lease_client.h"

#include <algorithm>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "berth/allocator/v1/allocator.grpc.pb.h"
#include "common/grpc_channel.h"
#include "common/grpc_status.h"

namespace berth::docker {
namespace {

namespace v1 = allocator::v1;

constexpr absl::Duration kReportTimeout = absl::Seconds(2);

class GrpcLeaseClient final : public LeaseClient {
 public:
  GrpcLeaseClient(const std::string& address, absl::Duration timeout)
      : timeout_(timeout), stub_(v1::Allocator::NewStub(common::NewDaemonChannel(address))) {}

  absl::StatusOr<v1::Lease> Reserve(const v1::ReserveRequest& request) override {
    v1::ReserveResponse response;
    return Call("Reserve", &v1::Allocator::Stub::Reserve, request, &response,
                [&] { return response.lease(); });
  }

  absl::StatusOr<v1::Lease> Bind(const std::string& box_id,
                                 const std::string& container_id) override {
    v1::BindRequest request;
    request.set_box_id(box_id);
    request.set_container_id(container_id);
    v1::BindResponse response;
    return Call("Bind", &v1::Allocator::Stub::Bind, request, &response,
                [&] { return response.lease(); });
  }

  absl::Status Release(const std::string& box_id) override {
    v1::ReleaseRequest request;
    request.set_box_id(box_id);
    v1::ReleaseResponse response;
    return Call("Release", &v1::Allocator::Stub::Release, request, &response, [] { return 0; })
        .status();
  }

  absl::StatusOr<v1::ReconcileResponse> Reconcile(const v1::ReconcileRequest& request) override {
    v1::ReconcileResponse response;
    return Call("Reconcile", &v1::Allocator::Stub::Reconcile, request, &response,
                [&] { return response; });
  }

  absl::StatusOr<v1::CapacityResponse> Capacity() override {
    v1::CapacityResponse response;
    return Call("Capacity", &v1::Allocator::Stub::Capacity, v1::CapacityRequest(), &response,
                [&] { return response; }, CallKind::kReport);
  }

  absl::StatusOr<v1::ListResponse> List() override {
    v1::ListResponse response;
    return Call("List", &v1::Allocator::Stub::List, v1::ListRequest(), &response,
                [&] { return response; }, CallKind::kReport);
  }

 private:
  // A lease operation waits for an allocator that is restarting; a report does not.
  enum class CallKind { kOperation, kReport };

  // One unary call with a deadline; `result` extracts the answer.
  template <typename Request, typename Response, typename Result>
  auto Call(const char* name,
            grpc::Status (v1::Allocator::Stub::*method)(grpc::ClientContext*, const Request&,
                                                         Response*),
            const Request& request, Response* response, Result result,
            CallKind kind = CallKind::kOperation) -> absl::StatusOr<decltype(result())> {
    grpc::ClientContext context;
    const bool report = kind == CallKind::kReport;
    context.set_wait_for_ready(!report);
    context.set_deadline(
        absl::ToChronoTime(absl::Now() + (report ? std::min(timeout_, kReportTimeout) : timeout_)));
    absl::Status status = common::FromGrpcStatus(((*stub_).*method)(&context, request, response));
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat("allocator ", name, ": ", status.message()));
    }
    return result();
  }

  const absl::Duration timeout_;
  std::unique_ptr<v1::Allocator::Stub> stub_;
};

}  // namespace

std::unique_ptr<LeaseClient> MakeGrpcLeaseClient(const std::string& address,
                                                 absl::Duration timeout) {
  return std::make_unique<GrpcLeaseClient>(address, timeout);
}

}  // namespace berth::docker
