#ifndef BERTH_COMMON_CALL_METADATA_H_
#define BERTH_COMMON_CALL_METADATA_H_

// The gRPC metadata keys Berth's daemons and clients agree on.

namespace berth::common {

// Every answer of a Berth daemon carries this trailing metadata, whose value is the daemon's
// name: a client tells by it the service's own errors (meant for callers) from those its gRPC
// library made up (a missing socket, a dropped connection, its own deadline).
inline constexpr char kAnsweredByMetadata[] = "berth-answered-by";

// A call carrying this metadata acts for the end user whose id is its value: the gateway adds
// it to the calls it makes for an end user's token, and docker-svc limits such a call to that
// user's boxes (docker-svc/service/boxes_service.h).
inline constexpr char kCallerUserMetadata[] = "berth-user";

}  // namespace berth::common

#endif  // BERTH_COMMON_CALL_METADATA_H_
