#ifndef BERTH_DOCKER_SVC_BOXES_CLIENT_CONFIG_H_
#define BERTH_DOCKER_SVC_BOXES_CLIENT_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace berth::docker {

// The largest config.json a client may send, decoded.
inline constexpr size_t kMaxClientConfigBytes = 1 << 20;

// The config.json that a client's `json_data` carries (Whist's json_transport): standard base64
// of gzip-compressed JSON, or, as Whist's fallback, the JSON itself. INVALID_ARGUMENT, saying
// why, when it is neither, when the decoded text is not one valid JSON value, or when it
// inflates beyond kMaxClientConfigBytes.
absl::StatusOr<std::string> DecodeClientConfig(absl::string_view json_data);

// SHA-256 of `bytes` as 64 lowercase hex digits.
std::string Sha256Hex(absl::string_view bytes);

}  // namespace berth::docker

#endif  // BERTH_DOCKER_SVC_BOXES_CLIENT_CONFIG_H_
