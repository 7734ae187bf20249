#ifndef BERTH_COMMON_SERVER_REFLECTION_H_
#define BERTH_COMMON_SERVER_REFLECTION_H_

#include <grpcpp/server_builder.h>

namespace berth::common {

// Makes the server `builder` builds serve gRPC server reflection in both versions of the
// protocol, grpc.reflection.v1.ServerReflection (what current tools such as grpcurl ask first)
// and grpc.reflection.v1alpha.ServerReflection (what older ones ask), with the same answers
// (see ReflectionService): the services of the server (these two, the health service and every
// service given to the builder) and every file of the process's generated descriptor pool.
// Call it before BuildAndStart(). Replaces grpc++_reflection's plugin, which serves v1alpha
// only: a binary must not link both (they define the same v1alpha messages).
void AddServerReflection(grpc::ServerBuilder& builder);

}  // namespace berth::common

#endif  // BERTH_COMMON_SERVER_REFLECTION_H_
