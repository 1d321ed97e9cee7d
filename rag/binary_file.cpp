#include "rag/binary_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "rag/text.hpp"

namespace bookmcp::rag {

std::uint64_t file_checksum(std::string_view data) noexcept {
  std::uint64_t hash = 0x9E3779B97F4A7C15ULL ^ data.size();
  std::size_t i = 0;
  for (; i + 8 <= data.size(); i += 8) {
    std::uint64_t word;
    std::memcpy(&word, data.data() + i, 8);
    hash = (hash ^ word) * 0xff51afd7ed558ccdULL;
    hash ^= hash >> 32;
  }
  return stable_hash(data.substr(i), hash);
}

std::string read_whole_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + file.string());
  std::ostringstream content;
  content << in.rdbuf();
  if (!in && !in.eof()) throw std::runtime_error("cannot read " + file.string());
  return std::move(content).str();
}

void write_file_atomically(const std::filesystem::path& file, std::string_view content) {
  std::filesystem::path temporary = file;
  temporary += ".tmp." + std::to_string(::getpid());
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw std::runtime_error("cannot create " + temporary.string() + ": " + std::strerror(errno));
  }
  auto fail = [&](const char* what) {
    int error = errno;
    ::close(fd);
    ::unlink(temporary.c_str());
    throw std::runtime_error(std::string(what) + " " + temporary.string() + ": " +
                             std::strerror(error));
  };
  const char* data = content.data();
  std::size_t remaining = content.size();
  while (remaining > 0) {
    ssize_t written = ::write(fd, data, remaining);
    if (written < 0) {
      if (errno == EINTR) continue;
      fail("cannot write");
    }
    data += written;
    remaining -= static_cast<std::size_t>(written);
  }
  if (::fsync(fd) != 0) fail("cannot fsync");
  if (::close(fd) != 0) {
    ::unlink(temporary.c_str());
    throw std::runtime_error("cannot close " + temporary.string());
  }
  if (::rename(temporary.c_str(), file.c_str()) != 0) {
    int error = errno;
    ::unlink(temporary.c_str());
    throw std::runtime_error("cannot rename to " + file.string() + ": " + std::strerror(error));
  }
  // Make the rename itself durable.
  std::filesystem::path folder = file.parent_path().empty() ? "." : file.parent_path();
  int folder_fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (folder_fd >= 0) {
    ::fsync(folder_fd);
    ::close(folder_fd);
  }
}

}  // namespace bookmcp::rag
