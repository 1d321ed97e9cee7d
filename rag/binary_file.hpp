#pragma once
// The binary files rag/ persists in the data directory (the BM25 snapshot, the dense index):
// a little-endian record writer and a bounds-checked reader, a fast checksum, and an atomic
// replace (temporary file, fsync, rename, fsync of the folder), so that a crash leaves either
// the old file or the new one.

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

namespace bookmcp::rag {

// 8 bytes per step (stable_hash goes byte by byte, too slow for hundreds of megabytes).
std::uint64_t file_checksum(std::string_view data) noexcept;

// Writes `content` to `file` atomically. Throws std::runtime_error on I/O failure (the old file
// is then untouched).
void write_file_atomically(const std::filesystem::path& file, std::string_view content);

// The whole file, or throws std::runtime_error.
std::string read_whole_file(const std::filesystem::path& file);

class binary_writer {
 public:
  void bytes(const void* data, std::size_t size) {
    buffer_.append(static_cast<const char*>(data), size);
  }
  template <typename T>
  void value(T v) {
    bytes(&v, sizeof v);
  }
  void string(std::string_view s) {
    value(static_cast<std::uint32_t>(s.size()));
    bytes(s.data(), s.size());
  }
  std::string& buffer() { return buffer_; }

 private:
  std::string buffer_;
};

// Throws std::runtime_error("truncated ...") when a read runs past the end.
class binary_reader {
 public:
  explicit binary_reader(std::string_view data) : data_(data) {}
  template <typename T>
  T value() {
    T v{};
    need(sizeof v);
    std::memcpy(&v, data_.data() + offset_, sizeof v);
    offset_ += sizeof v;
    return v;
  }
  std::string string() {
    auto size = value<std::uint32_t>();
    need(size);
    std::string s(data_.substr(offset_, size));
    offset_ += size;
    return s;
  }
  void bytes(void* out, std::size_t size) {
    need(size);
    std::memcpy(out, data_.data() + offset_, size);
    offset_ += size;
  }
  std::string_view take(std::size_t size) {
    need(size);
    auto out = data_.substr(offset_, size);
    offset_ += size;
    return out;
  }
  bool at_end() const { return offset_ == data_.size(); }

 private:
  void need(std::size_t size) const {
    if (data_.size() - offset_ < size) throw std::runtime_error("truncated index file");
  }
  std::string_view data_;
  std::size_t offset_ = 0;
};

}  // namespace bookmcp::rag
