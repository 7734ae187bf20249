#ifndef BERTH_COMMON_GRPC_CHANNEL_H_
#define BERTH_COMMON_GRPC_CHANNEL_H_

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

namespace berth::common {

// A channel to another Berth daemon's socket ("unix:/run/berth/boxes.sock"). A daemon that
// restarts is reached again within a second: gRPC's default reconnect backoff grows to two
// minutes, during which calls that do not wait for the daemon would keep failing.
inline std::shared_ptr<grpc::Channel> NewDaemonChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

}  // namespace berth::common

#endif  // BERTH_COMMON_GRPC_CHANNEL_H_
