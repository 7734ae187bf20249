#ifndef BERTH_COMMON_TESTING_REFLECTION_CLIENT_H_
#define BERTH_COMMON_TESTING_REFLECTION_CLIENT_H_

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/support/sync_stream.h>

namespace berth::testing {

// A gRPC server reflection client for tests, for either version of the protocol: `Protocol`
// names one version's generated types, e.g.
//   struct ReflectionV1 {
//     using ServerReflection = grpc::reflection::v1::ServerReflection;
//     using Request = grpc::reflection::v1::ServerReflectionRequest;
//     using Response = grpc::reflection::v1::ServerReflectionResponse;
//   };

template <typename Protocol>
struct ReflectionAnswers {
  std::vector<typename Protocol::Response> responses;
  grpc::Status status;  // The stream's.
};

// Sends `requests` on one ServerReflectionInfo stream over `channel`, each after the answer to
// the one before, and returns the answers and the stream's status (the stream has a deadline
// of 10 seconds). `service` is the reflection service called, by default Protocol's own; the
// other version's works too, its messages being the same on the wire.
template <typename Protocol>
ReflectionAnswers<Protocol> AskReflection(
    const std::shared_ptr<grpc::Channel>& channel,
    const std::vector<typename Protocol::Request>& requests,
    const std::string& service = Protocol::ServerReflection::service_full_name()) {
  using Request = typename Protocol::Request;
  using Response = typename Protocol::Response;
  const std::string path = "/" + service + "/ServerReflectionInfo";
  const grpc::internal::RpcMethod method(path.c_str(), grpc::internal::RpcMethod::BIDI_STREAMING);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  std::unique_ptr<grpc::ClientReaderWriter<Request, Response>> stream(
      grpc::internal::ClientReaderWriterFactory<Request, Response>::Create(channel.get(), method,
                                                                           &context));
  ReflectionAnswers<Protocol> answers;
  for (const Request& request : requests) {
    if (!stream->Write(request)) break;
    Response response;
    if (!stream->Read(&response)) break;
    answers.responses.push_back(std::move(response));
  }
  stream->WritesDone();
  answers.status = stream->Finish();
  return answers;
}

// One request on a stream of its own; its answer (a default Response when none came, or when
// the stream failed).
template <typename Protocol>
typename Protocol::Response AskReflectionOnce(
    const std::shared_ptr<grpc::Channel>& channel, const typename Protocol::Request& request,
    const std::string& service = Protocol::ServerReflection::service_full_name()) {
  ReflectionAnswers<Protocol> answers = AskReflection<Protocol>(channel, {request}, service);
  if (!answers.status.ok() || answers.responses.size() != 1) return {};
  return answers.responses[0];
}

// The requests, one per kind.
template <typename Protocol>
typename Protocol::Request ListServicesRequest() {
  typename Protocol::Request request;
  request.set_list_services("");
  return request;
}
template <typename Protocol>
typename Protocol::Request SymbolRequest(const std::string& symbol) {
  typename Protocol::Request request;
  request.set_file_containing_symbol(symbol);
  return request;
}
template <typename Protocol>
typename Protocol::Request FileRequest(const std::string& name) {
  typename Protocol::Request request;
  request.set_file_by_filename(name);
  return request;
}
template <typename Protocol>
typename Protocol::Request ExtensionRequest(const std::string& type, int number) {
  typename Protocol::Request request;
  request.mutable_file_containing_extension()->set_containing_type(type);
  request.mutable_file_containing_extension()->set_extension_number(number);
  return request;
}
template <typename Protocol>
typename Protocol::Request ExtensionNumbersRequest(const std::string& type) {
  typename Protocol::Request request;
  request.set_all_extension_numbers_of_type(type);
  return request;
}

// The service names of a list_services answer, in its order.
template <typename Response>
std::vector<std::string> ListedServices(const Response& response) {
  std::vector<std::string> names;
  for (const auto& service : response.list_services_response().service()) {
    names.push_back(service.name());
  }
  return names;
}

// The files of a file_descriptor_response, parsed, in its order; a file that does not parse
// is left out.
template <typename Response>
std::vector<google::protobuf::FileDescriptorProto> AnsweredFiles(const Response& response) {
  std::vector<google::protobuf::FileDescriptorProto> files;
  for (const std::string& bytes : response.file_descriptor_response().file_descriptor_proto()) {
    google::protobuf::FileDescriptorProto file;
    if (file.ParseFromString(bytes)) files.push_back(std::move(file));
  }
  return files;
}

// The names of `files`, in order.
inline std::vector<std::string> FileNames(
    const std::vector<google::protobuf::FileDescriptorProto>& files) {
  std::vector<std::string> names;
  for (const google::protobuf::FileDescriptorProto& file : files) names.push_back(file.name());
  return names;
}

// Builds `files` into `pool`, each after the files it imports, as a client such as grpcurl
// does; false when one cannot be built (an import that is neither in `files` nor in `pool`).
inline bool BuildFiles(const std::vector<google::protobuf::FileDescriptorProto>& files,
                       google::protobuf::DescriptorPool& pool) {
  std::vector<const google::protobuf::FileDescriptorProto*> left;
  for (const google::protobuf::FileDescriptorProto& file : files) left.push_back(&file);
  while (!left.empty()) {
    std::vector<const google::protobuf::FileDescriptorProto*> waiting;
    for (const google::protobuf::FileDescriptorProto* file : left) {
      bool imports_built = true;
      for (const std::string& import : file->dependency()) {
        imports_built = imports_built && pool.FindFileByName(import) != nullptr;
      }
      if (!imports_built) {
        waiting.push_back(file);
      } else if (pool.BuildFile(*file) == nullptr) {
        return false;
      }
    }
    if (waiting.size() == left.size()) return false;
    left = std::move(waiting);
  }
  return true;
}

}  // namespace berth::testing

#endif  // BERTH_COMMON_TESTING_REFLECTION_CLIENT_H_
