#include "common/reflection_answers.h"

#include <unordered_set>

#include <google/protobuf/descriptor.pb.h>

#include "absl/status/status.h"
#include "common/status_macros.h"

namespace berth::common {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::DescriptorPool;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::FileDescriptor;

absl::StatusOr<const Descriptor*> FindMessage(const DescriptorPool& pool, const std::string& type) {
  const Descriptor* message = pool.FindMessageTypeByName(type);
  if (message == nullptr) return absl::NotFoundError("Type not found.");
  return message;
}

void AppendFileAndImports(const FileDescriptor& file, std::unordered_set<std::string>& seen,
                          std::vector<std::string>& out) {
  if (!seen.insert(file.name()).second) return;
  google::protobuf::FileDescriptorProto proto;
  file.CopyTo(&proto);
  out.push_back(proto.SerializeAsString());
  for (int i = 0; i < file.dependency_count(); ++i) {
    AppendFileAndImports(*file.dependency(i), seen, out);
  }
}

}  // namespace

absl::StatusOr<const FileDescriptor*> FindFile(const DescriptorPool& pool,
                                               const std::string& name) {
  const FileDescriptor* file = pool.FindFileByName(name);
  if (file == nullptr) return absl::NotFoundError("File not found.");
  return file;
}

absl::StatusOr<const FileDescriptor*> FindFileContainingSymbol(const DescriptorPool& pool,
                                                               const std::string& symbol) {
  const FileDescriptor* file = pool.FindFileContainingSymbol(symbol);
  if (file == nullptr) return absl::NotFoundError("Symbol not found.");
  return file;
}

absl::StatusOr<const FileDescriptor*> FindFileContainingExtension(
    const DescriptorPool& pool, const std::string& containing_type, int number) {
  ASSIGN_OR_RETURN(const Descriptor* message, FindMessage(pool, containing_type));
  const FieldDescriptor* extension = pool.FindExtensionByNumber(message, number);
  if (extension == nullptr) return absl::NotFoundError("Extension not found.");
  return extension->file();
}

absl::StatusOr<std::vector<int>> FindExtensionNumbers(const DescriptorPool& pool,
                                                      const std::string& type) {
  ASSIGN_OR_RETURN(const Descriptor* message, FindMessage(pool, type));
  std::vector<const FieldDescriptor*> extensions;
  pool.FindAllExtensions(message, &extensions);
  std::vector<int> numbers;
  numbers.reserve(extensions.size());
  for (const FieldDescriptor* extension : extensions) numbers.push_back(extension->number());
  return numbers;
}

std::vector<std::string> SerializedFileAndImports(const FileDescriptor& file) {
  std::unordered_set<std::string> seen;
  std::vector<std::string> out;
  AppendFileAndImports(file, seen, out);
  return out;
}

}  // namespace berth::common
