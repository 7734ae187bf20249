#ifndef BERTH_DOCKER_SVC_BOXES_BOX_SPEC_H_
#define BERTH_DOCKER_SVC_BOXES_BOX_SPEC_H_

#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "berth/allocator/v1/allocator.pb.h"
#include "berth/box/v1/app_profile.pb.h"
#include "berth/box/v1/box.pb.h"
#include "docker-svc/boxes/box_record.pb.h"
#include "docker-svc/engine/docker_client.h"

// How a box becomes a container and back: pure functions of the profile, the request and the
// lease, so that creating a box and recognising it after a restart agree.
namespace berth::docker {

// Labels on every box's container; Docker keeps them across any crash (README, Restart).
inline constexpr char kBoxIdLabel[] = "berth.box_id";
inline constexpr char kAppLabel[] = "berth.app";
inline constexpr char kUserIdLabel[] = "berth.user_id";
inline constexpr char kSessionIdLabel[] = "berth.session_id";
// What an end user's box is held to, kept where a restart that lost the box's record still
// finds it: "true" on a box an end user created; its TTL in seconds when it has one.
inline constexpr char kCreatedByUserLabel[] = "berth.created_by_user";
inline constexpr char kTtlLabel[] = "berth.ttl_seconds";
// The --boxes_dir of the docker-svc that owns the box: it scopes every list and event stream,
// so that two docker-svc instances on one engine (a test beside a production one, say) never
// touch each other's boxes.
inline constexpr char kBoxesDirLabel[] = "berth.boxes_dir";

// The label filter ("key=value") matching the boxes of the docker-svc using `boxes_dir`.
std::string OwnerLabelFilter(const std::string& boxes_dir);

// The environment variable carrying the box id into every box.
inline constexpr char kBoxIdEnv[] = "BERTH_BOX_ID";

// "berth-<box_id>".
std::string ContainerName(const std::string& box_id);

// Checks a create request against its app's profile (`profile` nullptr: no such app, and
// `known_apps` is named in the error). INVALID_ARGUMENT says which field is wrong and why; an
// empty box id is fine (one is generated).
// user_id and session_id end up in labels and files: printable ASCII without spaces, at most
// 256 characters. INVALID_ARGUMENT names `field`.
absl::Status ValidateIdentity(absl::string_view field, absl::string_view value);

absl::Status ValidateCreateRequest(const box::v1::CreateRequest& request,
                                   const box::v1::AppProfile* profile,
                                   const std::string& known_apps);

// True when `retry` asks for the same box as `original` (wait_for_ready aside), so that a
// create may be answered with the existing box.
bool SameBoxRequest(const box::v1::CreateRequest& original, const box::v1::CreateRequest& retry);

// What the allocator is asked for: the profile's ports in order, a TTY and a GPU slot when the
// profile wants them.
allocator::v1::ReserveRequest ReserveRequestFor(const box::v1::AppProfile& profile,
                                                const std::string& box_id);

// The volume that becomes the mapping directory of box `box_id` (see MappingDir), owned by the
// docker-svc using `boxes_dir`: a tmpfs of the profile's mapping_dir_bytes
// (kDefaultMappingDirBytes when unset), mode 0777 so that a box running as any user can write
// its markers, at the profile's mappings_dir, labelled with the box id and the owner.
TmpfsVolume MappingVolume(const box::v1::AppProfile& profile, const std::string& box_id,
                          const std::string& boxes_dir);

// The container's mount at `mappings_dir`: its mapping directory (a volume, or, for a box made
// before mapping directories were volumes, a bind), whose source is its host path.
std::optional<MountPoint> MappingMountOf(const ContainerInfo& info,
                                         const std::string& mappings_dir);
// MappingMountOf()'s host path.
std::optional<std::string> MappingDirOf(const ContainerInfo& info,
                                        const std::string& mappings_dir);

// The container of the box `record` describes (its lease's resources filled in), owned by the
// docker-svc using `boxes_dir`, with its MappingVolume(). Only the profile grants privileges;
// the request contributes overridable env entries, labels and nothing else.
ContainerSpec ContainerSpecFor(const box::v1::AppProfile& profile,
                               const internal::BoxRecord& record, const std::string& boxes_dir);

// The resources a container holds, as Docker shows them: its published ports, /dev/tty<N> and
// NVIDIA_VISIBLE_DEVICES. Used to adopt a box whose record is lost.
allocator::v1::LiveBox LiveBoxOf(const std::string& box_id, const ContainerInfo& info);

// The box id a container's labels name, if any.
std::optional<std::string> BoxIdOf(const std::map<std::string, std::string>& labels);

// A random version 4 UUID, e.g. "2f1c7a3e-9b4d-4e8a-a1c2-5d6e7f809a1b".
std::string NewBoxId();

// A random 128-bit AES key as 32 lowercase hex digits.
std::string NewAesKey();

}  // namespace berth::docker

#endif  // BERTH_DOCKER_SVC_BOXES_BOX_SPEC_H_
