#ifndef BERTH_COMMON_REFLECTION_ANSWERS_H_
#define BERTH_COMMON_REFLECTION_ANSWERS_H_

#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>

#include "absl/status/statusor.h"

namespace berth::common {

// What gRPC server reflection answers, looked up in a descriptor pool, whatever the version of
// the reflection protocol that asked. Each lookup fails with NOT_FOUND (and the message the
// stock gRPC C++ reflection service gives) when the pool has no such thing.

// The file named `name` ("File not found.").
absl::StatusOr<const google::protobuf::FileDescriptor*> FindFile(
    const google::protobuf::DescriptorPool& pool, const std::string& name);

// The file that defines `symbol`: a fully qualified message, enum, service, method, field or
// extension name ("Symbol not found.").
absl::StatusOr<const google::protobuf::FileDescriptor*> FindFileContainingSymbol(
    const google::protobuf::DescriptorPool& pool, const std::string& symbol);

// The file that defines extension `number` of the message `containing_type` ("Type not found."
// when there is no such message, "Extension not found." when it has no such extension).
absl::StatusOr<const google::protobuf::FileDescriptor*> FindFileContainingExtension(
    const google::protobuf::DescriptorPool& pool, const std::string& containing_type, int number);

// The numbers of the extensions of the message `type` known to the pool, in the pool's order
// ("Type not found.").
absl::StatusOr<std::vector<int>> FindExtensionNumbers(const google::protobuf::DescriptorPool& pool,
                                                      const std::string& type);

// `file` and every file it imports, directly or not, each serialized once as a
// google.protobuf.FileDescriptorProto: `file` first, then each import followed by its own
// imports (depth first, in import order), a file met a second time left out.
std::vector<std::string> SerializedFileAndImports(const google::protobuf::FileDescriptor& file);

}  // namespace berth::common

#endif  // BERTH_COMMON_REFLECTION_ANSWERS_H_
