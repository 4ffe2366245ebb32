// safetensors files: a validating parser (every offset and size is checked before any tensor byte is touched,
// so a hostile file yields a Status, never a crash), mmap-backed reading, and the reference writer's layout.
#include "model/safetensors.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <set>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "model/file_io.h"
#include "model/strict_json.h"
#include "nlohmann/json.hpp"

namespace ftd {
namespace {

using json = nlohmann::json;

constexpr char kMetadataKey[] = "__metadata__";

// A JSON integer >= 0 (nlohmann stores those that fit in int64 either way), else nullopt.
std::optional<uint64_t> AsUnsigned(const json& value) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer() && value.get<int64_t>() >= 0) return static_cast<uint64_t>(value.get<int64_t>());
  return std::nullopt;
}

// Elements of `shape` and their bytes as `dtype`, with every product checked (like the reference's
// checked_mul fold: a shape that overflows is rejected even when a later dimension is 0).
absl::Status CheckedSize(const std::vector<int64_t>& shape, DType dtype, uint64_t* bytes) {
  uint64_t numel = 1;
  for (int64_t dim : shape) {
    if (dim < 0)
      return absl::InvalidArgumentError(absl::StrCat("shape ", ShapeString(shape), " has a negative dimension"));
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(dim), &numel) ||
        numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return absl::InvalidArgumentError(absl::StrCat("shape ", ShapeString(shape), " overflows the element count"));
    }
  }
  if (__builtin_mul_overflow(numel, static_cast<uint64_t>(DTypeSize(dtype)), bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("shape ", ShapeString(shape), " x ", DTypeName(dtype), " overflows the byte count"));
  }
  return absl::OkStatus();
}

absl::StatusOr<SafetensorsEntry> ParseEntry(const std::string& name, const json& value) {
  const std::string where = absl::StrCat("tensor ", JsonQuote(name));
  auto fail = [&](auto&&... parts) { return absl::InvalidArgumentError(absl::StrCat(where, ": ", parts...)); };
  if (!value.is_object()) return fail("entry is a JSON ", value.type_name(), ", not an object");
  for (const auto& [key, unused] : value.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets") {
      return fail("unexpected field ", JsonQuote(key), " (an entry holds exactly dtype, shape, data_offsets)");
    }
  }
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    if (!value.contains(field)) return fail("missing field \"", field, "\"");
  }
  SafetensorsEntry entry;
  const json& dtype = value["dtype"];
  if (!dtype.is_string()) return fail("dtype is a JSON ", dtype.type_name(), ", not a string");
  absl::StatusOr<DType> parsed_dtype = ParseDType(dtype.get<std::string>());
  if (!parsed_dtype.ok()) return fail(parsed_dtype.status().message());
  entry.dtype = *parsed_dtype;

  const json& shape = value["shape"];
  if (!shape.is_array()) return fail("shape is a JSON ", shape.type_name(), ", not an array");
  for (const json& dim : shape) {
    if (dim.is_number_integer() && !AsUnsigned(dim)) return fail("shape ", shape.dump(), " has a negative dimension");
    std::optional<uint64_t> d = AsUnsigned(dim);
    if (!d) return fail("shape ", shape.dump(), " holds a non-integer dimension");
    if (*d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return fail("shape ", shape.dump(), " overflows the element count");
    }
    entry.shape.push_back(static_cast<int64_t>(*d));
  }
  uint64_t bytes = 0;
  if (absl::Status s = CheckedSize(entry.shape, entry.dtype, &bytes); !s.ok()) return fail(s.message());

  const json& offsets = value["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !AsUnsigned(offsets[0]) || !AsUnsigned(offsets[1])) {
    return fail("data_offsets ", offsets.dump(), " are not two non-negative integers");
  }
  entry.begin = *AsUnsigned(offsets[0]);
  entry.end = *AsUnsigned(offsets[1]);
  if (entry.begin > entry.end) {
    return fail("data_offsets [", entry.begin, ", ", entry.end, "] are reversed (begin > end)");
  }
  if (entry.end - entry.begin != bytes) {
    return fail("data_offsets [", entry.begin, ", ", entry.end, "] hold ", entry.end - entry.begin, " bytes but shape ",
                ShapeString(entry.shape), " x ", DTypeName(entry.dtype), " needs ", bytes);
  }
  return entry;
}

absl::Status ParseMetadata(const json& value, std::map<std::string, std::string>* metadata) {
  if (value.is_null()) return absl::OkStatus();  // serde reads null as "no metadata".
  if (!value.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"__metadata__\" is a JSON ", value.type_name(), ", not an object"));
  }
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"__metadata__\" value of ", JsonQuote(key), " is a JSON ", item.type_name(), ", not a string"));
    }
    (*metadata)[key] = item.get<std::string>();
  }
  return absl::OkStatus();
}

// Entries sorted by offset must tile [0, buffer_size) exactly: no overlap, no gap, nothing past the end, no
// trailing bytes (the reference's InvalidOffset and MetadataIncompleteBuffer).
absl::Status CheckLayout(const std::map<std::string, SafetensorsEntry>& tensors, uint64_t buffer_size,
                         uint64_t file_size) {
  std::vector<std::pair<const std::string*, const SafetensorsEntry*>> order;
  order.reserve(tensors.size());
  for (const auto& [name, entry] : tensors) order.emplace_back(&name, &entry);
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return std::tie(a.second->begin, a.second->end, *a.first) < std::tie(b.second->begin, b.second->end, *b.first);
  });
  uint64_t cursor = 0;
  const std::string* previous = nullptr;
  for (const auto& [name, entry] : order) {
    const std::string offsets = absl::StrCat("data_offsets [", entry->begin, ", ", entry->end, "]");
    if (entry->end > buffer_size) {
      return absl::DataLossError(absl::StrCat("file is ", file_size, " bytes but tensor ", JsonQuote(*name), " ", offsets,
                                              " ends at byte ", file_size - buffer_size, " + ", entry->end,
                                              " (truncated?)"));
    }
    if (entry->begin < cursor) {
      return absl::InvalidArgumentError(absl::StrCat("tensor ", JsonQuote(*name), ": ", offsets, " overlap tensor ",
                                                     JsonQuote(*previous), " which ends at ", cursor));
    }
    if (entry->begin > cursor) {
      return absl::InvalidArgumentError(absl::StrCat("tensor ", JsonQuote(*name), ": ", offsets, " leave a gap: bytes [",
                                                     cursor, ", ", entry->begin, ") belong to no tensor"));
    }
    cursor = entry->end;
    previous = name;
  }
  if (cursor != buffer_size) {
    return absl::InvalidArgumentError(absl::StrCat("data buffer is ", buffer_size, " bytes but the tensors cover ",
                                                   cursor, " (trailing bytes after the last tensor)"));
  }
  return absl::OkStatus();
}

// The reference writer's dtype order (its Dtype enum, declared by increasing alignment). Writing by descending
// rank keeps every tensor aligned to its element size, given the 8-byte-aligned data start.
int ReferenceDTypeRank(DType dtype) {
  switch (dtype) {
    case DType::kBool:
      return 0;
    case DType::kU8:
      return 1;
    case DType::kI8:
      return 2;
    case DType::kI16:
      return 5;
    case DType::kF16:
      return 7;
    case DType::kBF16:
      return 8;
    case DType::kI32:
      return 9;
    case DType::kF32:
      return 11;
    case DType::kF64:
      return 12;
    case DType::kI64:
      return 13;
  }
  return -1;
}

}  // namespace

absl::StatusOr<SafetensorsHeader> ParseSafetensors(absl::Span<const uint8_t> bytes) {
  const uint64_t size = bytes.size();
  if (size < 8) {
    return absl::DataLossError(absl::StrCat("file is ", size, " bytes, too short for the 8-byte header length"));
  }
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(bytes[i]) << (8 * i);
  if (n > kMaxSafetensorsHeaderBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("header length ", n, " exceeds the limit of ", kMaxSafetensorsHeaderBytes, " bytes"));
  }
  if (n > size - 8) return absl::DataLossError(absl::StrCat("file is ", size, " bytes but the header says 8 + ", n));
  const absl::string_view text(reinterpret_cast<const char*>(bytes.data() + 8), n);
  if (std::optional<size_t> bad = FirstInvalidUtf8(text)) {
    return absl::InvalidArgumentError(absl::StrCat("header is not valid UTF-8 (byte ", 8 + *bad, " of the file)"));
  }
  ASSIGN_OR_RETURN(json root, ParseJsonStrict(text, "header"));
  if (!root.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("header is a JSON ", root.type_name(), ", not an object"));
  }
  SafetensorsHeader header;
  header.data_start = 8 + n;
  for (const auto& [name, value] : root.items()) {
    if (name == kMetadataKey) {
      RETURN_IF_ERROR(ParseMetadata(value, &header.metadata));
      continue;
    }
    ASSIGN_OR_RETURN(SafetensorsEntry entry, ParseEntry(name, value));
    header.tensors.emplace(name, std::move(entry));
  }
  RETURN_IF_ERROR(CheckLayout(header.tensors, size - header.data_start, size));
  return header;
}

SafetensorsFile::SafetensorsFile(std::string path, const uint8_t* base, size_t size, SafetensorsHeader header)
    : path_(std::move(path)), base_(base), size_(size), header_(std::move(header)) {}

SafetensorsFile::~SafetensorsFile() {
  if (base_ != nullptr) ::munmap(const_cast<uint8_t*>(base_), size_);
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot open"));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    absl::Status status = absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot stat"));
    ::close(fd);
    return status;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  const uint8_t* base = nullptr;
  if (size > 0) {  // mmap rejects length 0; an empty file fails the parse below.
    void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapped == MAP_FAILED) {
      absl::Status status = absl::ErrnoToStatus(errno, absl::StrCat(path, ": mmap failed"));
      ::close(fd);
      return status;
    }
    base = static_cast<const uint8_t*>(mapped);
  }
  ::close(fd);  // The mapping keeps the file open.
  absl::StatusOr<SafetensorsHeader> header = ParseSafetensors(absl::MakeConstSpan(base, size));
  if (!header.ok()) {
    if (base != nullptr) ::munmap(const_cast<uint8_t*>(base), size);
    return Annotate(header.status(), path);
  }
  return std::unique_ptr<SafetensorsFile>(new SafetensorsFile(path, base, size, *std::move(header)));
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(header_.tensors.size());
  for (const auto& [name, entry] : header_.tensors) out.push_back(name);
  return out;
}

bool SafetensorsFile::contains(absl::string_view name) const { return header_.tensors.count(std::string(name)) > 0; }

absl::StatusOr<TensorView> SafetensorsFile::Get(absl::string_view name) const {
  auto it = header_.tensors.find(std::string(name));
  if (it == header_.tensors.end()) {
    return absl::NotFoundError(absl::StrCat(path_, ": no tensor ", JsonQuote(name)));
  }
  const SafetensorsEntry& e = it->second;
  // Zero-size tensors in an empty buffer have no byte to point at.
  const uint8_t* data = base_ == nullptr ? nullptr : base_ + header_.data_start + e.begin;
  return TensorView{e.dtype, e.shape, absl::MakeConstSpan(data, e.end - e.begin)};
}

namespace {

// What WriteSafetensors and SerializeSafetensors write: the 8-byte length and the header, then the tensors' bytes in
// `order`. `path` names the file (or the image) in errors.
struct SafetensorsLayout {
  std::string prefix;
  std::vector<const std::pair<std::string, TensorView>*> order;
};

absl::StatusOr<SafetensorsLayout> LayOut(const std::string& path,
                                         const std::vector<std::pair<std::string, TensorView>>& tensors,
                                         const std::map<std::string, std::string>& metadata) {
  std::set<absl::string_view> seen;
  for (const auto& [name, view] : tensors) {
    const std::string where = absl::StrCat(path, ": tensor ", JsonQuote(name));
    if (name == kMetadataKey) return absl::InvalidArgumentError(absl::StrCat(where, ": the name is reserved"));
    if (!seen.insert(name).second) return absl::InvalidArgumentError(absl::StrCat(where, ": duplicate name"));
    if (FirstInvalidUtf8(name)) return absl::InvalidArgumentError(absl::StrCat(where, ": name is not valid UTF-8"));
    uint64_t bytes = 0;
    RETURN_IF_ERROR(Annotate(CheckedSize(view.shape, view.dtype, &bytes), where));
    if (bytes != view.data.size()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": shape ", ShapeString(view.shape), " x ",
                                                     DTypeName(view.dtype), " needs ", bytes,
                                                     " bytes but the view has ", view.data.size()));
    }
  }
  for (const auto& [key, value] : metadata) {
    if (FirstInvalidUtf8(key) || FirstInvalidUtf8(value)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": metadata ", JsonQuote(key), " is not valid UTF-8"));
    }
  }
  std::vector<const std::pair<std::string, TensorView>*> order;
  for (const auto& tensor : tensors) order.push_back(&tensor);
  std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    const int ra = ReferenceDTypeRank(a->second.dtype), rb = ReferenceDTypeRank(b->second.dtype);
    return ra != rb ? ra > rb : a->first < b->first;
  });
  // The reference's compact serde_json: "__metadata__" first, then entries in data order, fields in the order
  // dtype, shape, data_offsets. nlohmann and serde_json escape strings alike.
  std::string header = "{";
  if (!metadata.empty()) absl::StrAppend(&header, "\"", kMetadataKey, "\":", json(metadata).dump());
  uint64_t offset = 0;
  for (const auto* tensor : order) {
    const TensorView& view = tensor->second;
    if (header.size() > 1) header += ",";
    absl::StrAppend(&header, JsonQuote(tensor->first), ":{\"dtype\":\"", DTypeName(view.dtype),
                    "\",\"shape\":", json(view.shape).dump(), ",\"data_offsets\":[", offset, ",",
                    offset + view.data.size(), "]}");
    offset += view.data.size();
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  if (header.size() > kMaxSafetensorsHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": header of ", header.size(), " bytes exceeds the limit"));
  }
  SafetensorsLayout layout;
  for (int i = 0; i < 8; ++i) layout.prefix.push_back(static_cast<char>(static_cast<uint64_t>(header.size()) >> (8 * i)));
  layout.prefix += header;
  layout.order = std::move(order);
  return layout;
}

}  // namespace

absl::Status WriteSafetensors(const std::string& path, const std::vector<std::pair<std::string, TensorView>>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  ASSIGN_OR_RETURN(const SafetensorsLayout layout, LayOut(path, tensors, metadata));
  std::vector<absl::Span<const uint8_t>> pieces = {AsBytes(layout.prefix)};
  for (const auto* tensor : layout.order) pieces.push_back(tensor->second.data);
  return WriteFileAtomically(path, pieces);
}

absl::StatusOr<std::string> SerializeSafetensors(const std::vector<std::pair<std::string, TensorView>>& tensors,
                                                 const std::map<std::string, std::string>& metadata) {
  ASSIGN_OR_RETURN(const SafetensorsLayout layout, LayOut("safetensors image", tensors, metadata));
  std::string bytes = layout.prefix;
  for (const auto* tensor : layout.order) {
    bytes.append(reinterpret_cast<const char*>(tensor->second.data.data()), tensor->second.data.size());
  }
  return bytes;
}

}  // namespace ftd
