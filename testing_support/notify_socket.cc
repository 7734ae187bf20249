#include "testing_support/notify_socket.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_split.h"

namespace berth::testing {

NotifySocket::NotifySocket(const std::string& path) : path_(path) {
  fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  unlink(path.c_str());
  if (fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd_);
    fd_ = -1;
  }
  if (fd_ >= 0) reader_ = std::thread([this] { Read(); });
}

NotifySocket::~NotifySocket() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (reader_.joinable()) reader_.join();
  if (fd_ >= 0) close(fd_);
  unlink(path_.c_str());
}

std::optional<absl::Time> NotifySocket::WaitFor(const std::string& line, absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  while (true) {
    for (; next_ < lines_.size(); ++next_) {
      if (lines_[next_].text == line) return lines_[next_++].at;
    }
    auto more = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return lines_.size() > next_; };
    if (!mu_.AwaitWithDeadline(absl::Condition(&more), deadline)) return std::nullopt;
  }
}

void NotifySocket::SkipReceived() {
  absl::MutexLock lock(&mu_);
  next_ = lines_.size();
}

std::vector<std::string> NotifySocket::Lines() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> texts;
  for (const Line& line : lines_) texts.push_back(line.text);
  return texts;
}

void NotifySocket::Read() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    pollfd poll_fd{fd_, POLLIN, 0};
    if (poll(&poll_fd, 1, 20) <= 0) continue;
    char buffer[4096];
    ssize_t size = recv(fd_, buffer, sizeof(buffer), 0);
    if (size < 0) continue;
    const absl::Time at = absl::Now();
    absl::MutexLock lock(&mu_);
    for (absl::string_view part : absl::StrSplit(absl::string_view(buffer, size), '\n',
                                                 absl::SkipEmpty())) {
      lines_.push_back({std::string(part), at});
    }
  }
}

}  // namespace berth::testing
