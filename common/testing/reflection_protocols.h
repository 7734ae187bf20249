#ifndef BERTH_COMMON_TESTING_REFLECTION_PROTOCOLS_H_
#define BERTH_COMMON_TESTING_REFLECTION_PROTOCOLS_H_

// The two versions of gRPC's server reflection protocol as type bundles, so that one typed test
// (reflection_client.h's helpers) speaks either: TYPED_TEST_SUITE(..., Types<ReflectionV1,
// ReflectionV1Alpha>). Link both versions' generated code (berth::reflection_v1_protos and
// berth::reflection_v1alpha_protos).

#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"

namespace berth::testing {

struct ReflectionV1 {
  using ServerReflection = ::grpc::reflection::v1::ServerReflection;
  using Request = ::grpc::reflection::v1::ServerReflectionRequest;
  using Response = ::grpc::reflection::v1::ServerReflectionResponse;
};

struct ReflectionV1Alpha {
  using ServerReflection = ::grpc::reflection::v1alpha::ServerReflection;
  using Request = ::grpc::reflection::v1alpha::ServerReflectionRequest;
  using Response = ::grpc::reflection::v1alpha::ServerReflectionResponse;
};

}  // namespace berth::testing

#endif  // BERTH_COMMON_TESTING_REFLECTION_PROTOCOLS_H_
