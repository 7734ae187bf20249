#ifndef BERTH_COMMON_REFLECTION_SERVICE_H_
#define BERTH_COMMON_REFLECTION_SERVICE_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>
#include <grpcpp/support/sync_stream.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/reflection_answers.h"
#include "common/reflection_plugin.h"
#include "common/status_macros.h"

namespace berth::common {

// The ServerReflection service of gRPC server reflection, for one version of the protocol.
// grpc.reflection.v1 and grpc.reflection.v1alpha have the same messages (only the package
// differs), so one template serves both: `Protocol` names the generated types of one version,
//   struct Protocol {
//     using Service = grpc::reflection::v1::ServerReflection::Service;
//     using Request = grpc::reflection::v1::ServerReflectionRequest;
//     using Response = grpc::reflection::v1::ServerReflectionResponse;
//   };
//
// Every request on a stream gets one response, in order, carrying the request's host (as
// valid_host) and the request itself (original_request), and one of:
//   - file_by_filename, file_containing_symbol, file_containing_extension: the file found in
//     `pool` and all the files it imports, directly or not, each once (see
//     SerializedFileAndImports); every answer carries the whole set, whatever was sent before
//     on the stream;
//   - all_extension_numbers_of_type: the extension numbers of the type;
//   - list_services: the names in `names` (all the services of the server);
//   - an error_response: NOT_FOUND for a file, symbol, type or extension the pool does not
//     know; UNIMPLEMENTED (empty message) for a request that asks nothing.
// The stream ends OK when the client ends its side. These are the answers of gRPC C++'s own
// reflection service (grpc++_reflection), except that its answers to consecutive file requests
// on one stream pile up (each repeats the files of the ones before); here each stands alone.
template <typename Protocol>
class ReflectionService final : public Protocol::Service {
 public:
  using Request = typename Protocol::Request;
  using Response = typename Protocol::Response;

  // `pool` (not owned) must outlive the service; `names` are Set once the server is built
  // (see RegisterAndNameServices).
  ReflectionService(const google::protobuf::DescriptorPool* pool,
                    std::shared_ptr<const ServedServiceNames> names)
      : pool_(pool), names_(std::move(names)) {}

  grpc::Status ServerReflectionInfo(grpc::ServerContext* /*context*/,
                                    grpc::ServerReaderWriter<Response, Request>* stream) override {
    Request request;
    while (stream->Read(&request)) {
      Response response;
      if (absl::Status answered = Answer(request, response); !answered.ok()) {
        response.mutable_error_response()->set_error_code(static_cast<int>(answered.code()));
        response.mutable_error_response()->set_error_message(std::string(answered.message()));
      }
      response.set_valid_host(request.host());
      *response.mutable_original_request() = request;
      if (!stream->Write(response)) break;
    }
    return grpc::Status::OK;
  }

 private:
  // Fills the answer to `request` into `response`, or says why there is none.
  absl::Status Answer(const Request& request, Response& response) const {
    switch (request.message_request_case()) {
      case Request::kFileByFilename:
        return AddFiles(FindFile(*pool_, request.file_by_filename()), response);
      case Request::kFileContainingSymbol:
        return AddFiles(FindFileContainingSymbol(*pool_, request.file_containing_symbol()),
                        response);
      case Request::kFileContainingExtension:
        return AddFiles(FindFileContainingExtension(
                            *pool_, request.file_containing_extension().containing_type(),
                            request.file_containing_extension().extension_number()),
                        response);
      case Request::kAllExtensionNumbersOfType: {
        const std::string& type = request.all_extension_numbers_of_type();
        ASSIGN_OR_RETURN(std::vector<int> numbers, FindExtensionNumbers(*pool_, type));
        auto* extensions = response.mutable_all_extension_numbers_response();
        extensions->set_base_type_name(type);
        for (int number : numbers) extensions->add_extension_number(number);
        return absl::OkStatus();
      }
      case Request::kListServices: {
        ASSIGN_OR_RETURN(std::vector<std::string> names, names_->Get());
        auto* services = response.mutable_list_services_response();
        for (std::string& name : names) services->add_service()->set_name(std::move(name));
        return absl::OkStatus();
      }
      case Request::MESSAGE_REQUEST_NOT_SET:
        break;
    }
    return absl::UnimplementedError("");
  }

  static absl::Status AddFiles(absl::StatusOr<const google::protobuf::FileDescriptor*> file,
                               Response& response) {
    RETURN_IF_ERROR(file.status());
    auto* files = response.mutable_file_descriptor_response();
    for (std::string& bytes : SerializedFileAndImports(**file)) {
      files->add_file_descriptor_proto(std::move(bytes));
    }
    return absl::OkStatus();
  }

  const google::protobuf::DescriptorPool* const pool_;
  const std::shared_ptr<const ServedServiceNames> names_;
};

}  // namespace berth::common

#endif  // BERTH_COMMON_REFLECTION_SERVICE_H_
