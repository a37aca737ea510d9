//===- ValuesFile.cpp - Named arrays in binary (.npz) or JSON -------------===//
//
// Part of qat-mlir. A reader of NumPy's .npz archives (zip, stored entries,
// zip64 included) and .npy headers, and of JSON value files, with one
// conversion of either to MLIR constants.
//
//===----------------------------------------------------------------------===//

#include "qat/Utils/ValuesFile.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CRC.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <cmath>
#include <cstdio>
#include <cstring>

using namespace mlir;
using namespace mlir::qat;

namespace {

uint16_t read16(const char *p) { return llvm::support::endian::read16le(p); }
uint32_t read32(const char *p) { return llvm::support::endian::read32le(p); }
uint64_t read64(const char *p) { return llvm::support::endian::read64le(p); }

llvm::Error fail(StringRef file, const Twine &message) {
  return llvm::createStringError("'" + file + "': " + message);
}

/// The element kind and width of a NumPy dtype string ("<f4", "|u1", ...).
std::optional<std::pair<ValueArray::Kind, unsigned>>
parseDtype(StringRef descr) {
  if (descr.size() < 3 || (descr[0] != '<' && descr[0] != '|'))
    return std::nullopt;
  unsigned bytes;
  if (descr.drop_front(2).getAsInteger(10, bytes))
    return std::nullopt;
  switch (descr[1]) {
  case 'f':
    if (bytes == 2 || bytes == 4 || bytes == 8)
      return std::make_pair(ValueArray::Kind::Float, bytes);
    return std::nullopt;
  case 'i':
  case 'u':
    if (bytes == 1 || bytes == 2 || bytes == 4 || bytes == 8)
      return std::make_pair(descr[1] == 'i' ? ValueArray::Kind::Signed
                                            : ValueArray::Kind::Unsigned,
                            bytes);
    return std::nullopt;
  case 'b':
    if (bytes == 1)
      return std::make_pair(ValueArray::Kind::Bool, bytes);
    return std::nullopt;
  default:
    return std::nullopt;
  }
}

/// The value of `key` in the .npy header dictionary text: a quoted string,
/// a tuple or a bare word.
std::optional<StringRef> headerField(StringRef header, StringRef key) {
  for (char quote : {'\'', '"'}) {
    std::string pattern = (Twine(quote) + key + Twine(quote)).str();
    size_t at = header.find(pattern);
    if (at == StringRef::npos)
      continue;
    StringRef rest = header.drop_front(at + pattern.size()).ltrim();
    if (!rest.consume_front(":"))
      return std::nullopt;
    rest = rest.ltrim();
    if (rest.starts_with("'") || rest.starts_with("\"")) {
      char q = rest.front();
      size_t end = rest.find(q, 1);
      if (end == StringRef::npos)
        return std::nullopt;
      return rest.substr(1, end - 1);
    }
    if (rest.starts_with("(")) {
      size_t end = rest.find(')');
      if (end == StringRef::npos)
        return std::nullopt;
      return rest.substr(0, end + 1);
    }
    return rest.take_until([](char c) { return c == ',' || c == '}'; }).trim();
  }
  return std::nullopt;
}

/// Parses one .npy file held in `data` into `array` (a view into `data`).
llvm::Error parseNpy(StringRef file, StringRef entry, ArrayRef<char> data,
                     ValueArray &array) {
  auto bad = [&](const Twine &message) {
    return fail(file, "entry '" + entry + "': " + message);
  };
  static constexpr char magic[] = "\x93NUMPY";
  if (data.size() < 10 || std::memcmp(data.data(), magic, 6) != 0)
    return bad("not a .npy array (no \\x93NUMPY signature)");
  unsigned major = static_cast<unsigned char>(data[6]);
  size_t headerLength, headerStart;
  if (major == 1) {
    headerLength = read16(data.data() + 8);
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (data.size() < 12)
      return bad("truncated .npy header");
    headerLength = read32(data.data() + 8);
    headerStart = 12;
  } else {
    return bad("unsupported .npy version " + Twine(major));
  }
  if (headerStart + headerLength > data.size())
    return bad("truncated .npy header");
  StringRef header(data.data() + headerStart, headerLength);

  std::optional<StringRef> descr = headerField(header, "descr");
  if (!descr)
    return bad("the .npy header has no 'descr'");
  std::optional<std::pair<ValueArray::Kind, unsigned>> dtype =
      parseDtype(*descr);
  if (!dtype)
    return bad("expected a little-endian float, integer or bool dtype, "
               "found '" +
               *descr + "'");
  std::optional<StringRef> fortran = headerField(header, "fortran_order");
  if (fortran && *fortran != "False")
    return bad("expected a C-order array, found fortran_order " + *fortran +
               " (save numpy.ascontiguousarray(a))");
  std::optional<StringRef> shapeText = headerField(header, "shape");
  if (!shapeText || !shapeText->starts_with("("))
    return bad("the .npy header has no shape tuple");
  SmallVector<int64_t> shape;
  SmallVector<StringRef> parts;
  shapeText->drop_front().drop_back().split(parts, ',');
  int64_t count = 1;
  for (StringRef part : parts) {
    part = part.trim();
    if (part.empty())
      continue;
    int64_t dim;
    if (part.getAsInteger(10, dim) || dim < 0)
      return bad("bad dimension '" + part + "' in shape " + *shapeText);
    shape.push_back(dim);
    count *= dim;
  }
  array.kind = dtype->first;
  array.elementBytes = dtype->second;
  array.shape = shape;
  array.numElements = count;
  size_t payload = headerStart + headerLength;
  uint64_t needed = static_cast<uint64_t>(count) * array.elementBytes;
  if (data.size() - payload < needed)
    return bad(llvm::formatv("expected {0} bytes of data for {1}, found {2}",
                             needed, array.describe(), data.size() - payload)
                   .str());
  array.bytes = data.slice(payload, needed);
  return llvm::Error::success();
}

} // namespace

std::string ValueArray::describe() const {
  std::string text;
  switch (kind) {
  case Kind::Float:
    text = "float" + std::to_string(8 * elementBytes);
    break;
  case Kind::Signed:
    text = "int" + std::to_string(8 * elementBytes);
    break;
  case Kind::Unsigned:
    text = "uint" + std::to_string(8 * elementBytes);
    break;
  case Kind::Bool:
    text = "bool";
    break;
  }
  if (shape) {
    text += " [";
    text += llvm::join(
        llvm::map_range(*shape, [](int64_t d) { return std::to_string(d); }),
        ", ");
    text += "]";
  } else {
    text += " (" + std::to_string(numElements) + " values)";
  }
  return text;
}

llvm::Expected<ValuesFile> ValuesFile::read(StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    return fail(path, "cannot read: " + buffer.getError().message());
  return parse(std::move(*buffer), path);
}

llvm::Expected<ValuesFile>
ValuesFile::parse(std::unique_ptr<llvm::MemoryBuffer> buffer, StringRef name) {
  ValuesFile file;
  file.buffer = std::move(buffer);
  StringRef bytes = file.buffer->getBuffer();
  llvm::Error error = bytes.starts_with(StringRef("PK\x03\x04", 4)) ||
                              bytes.starts_with(StringRef("PK\x05\x06", 4))
                          ? file.parseNpz(name)
                          : file.parseJson(name);
  if (error)
    return std::move(error);
  return std::move(file);
}

llvm::Error ValuesFile::parseNpz(StringRef name) {
  StringRef data = buffer->getBuffer();
  const char *base = data.data();
  size_t size = data.size();
  // The end of central directory record: 22 bytes, then a comment of at
  // most 64 KiB, at the end of the archive; searched backwards.
  size_t eocd = StringRef::npos;
  if (size >= 22) {
    size_t last = size - 22, first = last > 0xFFFF ? last - 0xFFFF : 0;
    for (size_t i = last + 1; eocd == StringRef::npos && i-- > first;)
      if (read32(base + i) == 0x06054b50)
        eocd = i;
  }
  if (eocd == StringRef::npos)
    return fail(name, "not a valid .npz archive (no zip directory)");
  uint64_t count = read16(base + eocd + 10);
  uint64_t directory = read32(base + eocd + 16);
  // Zip64: the locator sits just before the record.
  if ((count == 0xFFFF || directory == 0xFFFFFFFF) && eocd >= 20 &&
      read32(base + eocd - 20) == 0x07064b50) {
    uint64_t record = read64(base + eocd - 20 + 8);
    if (record + 56 > size || read32(base + record) != 0x06064b50)
      return fail(name, "broken zip64 directory record");
    count = read64(base + record + 32);
    directory = read64(base + record + 48);
  }
  uint64_t at = directory;
  for (uint64_t i = 0; i < count; ++i) {
    if (at + 46 > size || read32(base + at) != 0x02014b50)
      return fail(name, "broken zip directory entry " + Twine(i));
    uint16_t method = read16(base + at + 10);
    uint64_t compressed = read32(base + at + 20);
    uint64_t uncompressed = read32(base + at + 24);
    uint16_t nameLength = read16(base + at + 28);
    uint16_t extraLength = read16(base + at + 30);
    uint16_t commentLength = read16(base + at + 32);
    uint64_t local = read32(base + at + 42);
    if (at + 46 + nameLength + extraLength > size)
      return fail(name, "broken zip directory entry " + Twine(i));
    StringRef entry(base + at + 46, nameLength);
    // Zip64 sizes and offset, in the order of the fields that overflowed.
    for (const char *extra = base + at + 46 + nameLength,
                    *end = extra + extraLength;
         extra + 4 <= end;) {
      uint16_t id = read16(extra), length = read16(extra + 2);
      const char *field = extra + 4, *fieldEnd = field + length;
      if (fieldEnd > end)
        break;
      if (id == 0x0001) {
        for (uint64_t *value : {&uncompressed, &compressed, &local})
          if (*value == 0xFFFFFFFF && field + 8 <= fieldEnd) {
            *value = read64(field);
            field += 8;
          }
      }
      extra = fieldEnd;
    }
    at += 46 + nameLength + extraLength + commentLength;

    if (!entry.ends_with(".npy"))
      return fail(name, "entry '" + entry + "' is not a .npy array");
    if (method != 0)
      return fail(name, "entry '" + entry +
                            "' is compressed (numpy.savez_compressed); "
                            "expected stored arrays: save with numpy.savez");
    if (local + 30 > size || read32(base + local) != 0x04034b50)
      return fail(name, "broken local header of entry '" + entry + "'");
    uint64_t start =
        local + 30 + read16(base + local + 26) + read16(base + local + 28);
    if (start + uncompressed > size)
      return fail(name, "entry '" + entry + "' is truncated");
    ValueArray array;
    if (llvm::Error error = parseNpy(
            name, entry, ArrayRef<char>(base + start, uncompressed), array))
      return error;
    entries.emplace_back(entry.drop_back(4).str(), array);
  }
  return llvm::Error::success();
}

/// Appends the numbers of `value` (a number or nested lists) to `out`.
static bool flatten(const llvm::json::Value &value, std::vector<double> &out) {
  if (std::optional<double> number = value.getAsNumber()) {
    out.push_back(*number);
    return true;
  }
  const llvm::json::Array *array = value.getAsArray();
  if (!array)
    return false;
  for (const llvm::json::Value &element : *array)
    if (!flatten(element, out))
      return false;
  return true;
}

llvm::Error ValuesFile::parseJson(StringRef name) {
  llvm::Expected<llvm::json::Value> json =
      llvm::json::parse(buffer->getBuffer());
  if (!json)
    return fail(name, "invalid JSON: " + llvm::toString(json.takeError()) +
                          " (expected an .npz archive or a JSON object)");
  const llvm::json::Object *object = json->getAsObject();
  if (!object)
    return fail(name, "expected a JSON object");
  // llvm::json::Object is unordered; sort the keys for a stable order.
  SmallVector<StringRef> keys;
  for (const auto &member : *object)
    keys.push_back(member.first);
  llvm::sort(keys);
  for (StringRef key : keys) {
    auto numbers = std::make_unique<std::vector<double>>();
    if (!flatten(*object->get(key), *numbers))
      return llvm::createStringError("'" + key +
                                     "': expected a number or a list of "
                                     "numbers");
    ValueArray array;
    array.kind = ValueArray::Kind::Float;
    array.elementBytes = 8;
    array.numElements = numbers->size();
    array.bytes =
        ArrayRef<char>(reinterpret_cast<const char *>(numbers->data()),
                       numbers->size() * sizeof(double));
    owned.push_back(std::move(numbers));
    entries.emplace_back(key.str(), array);
  }
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// Conversion to constants
//===----------------------------------------------------------------------===//

namespace {

/// Element `i` of `array` as a double (floats, bools) or an integer.
double getDouble(const ValueArray &array, int64_t i) {
  const char *p = array.bytes.data() + i * array.elementBytes;
  switch (array.kind) {
  case ValueArray::Kind::Float:
    if (array.elementBytes == 8) {
      double d;
      std::memcpy(&d, p, 8);
      return d;
    }
    if (array.elementBytes == 4) {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    return llvm::APFloat(llvm::APFloat::IEEEhalf(), llvm::APInt(16, read16(p)))
        .convertToDouble();
  case ValueArray::Kind::Signed:
    switch (array.elementBytes) {
    case 1:
      return static_cast<int8_t>(*p);
    case 2:
      return static_cast<int16_t>(read16(p));
    case 4:
      return static_cast<int32_t>(read32(p));
    default:
      return static_cast<double>(static_cast<int64_t>(read64(p)));
    }
  case ValueArray::Kind::Unsigned:
    switch (array.elementBytes) {
    case 1:
      return static_cast<uint8_t>(*p);
    case 2:
      return read16(p);
    case 4:
      return read32(p);
    default:
      return static_cast<double>(read64(p));
    }
  case ValueArray::Kind::Bool:
    return *p ? 1.0 : 0.0;
  }
  llvm_unreachable("element kind");
}

/// Element `i` as an exact integer, if it is one within int64.
std::optional<int64_t> getInteger(const ValueArray &array, int64_t i) {
  const char *p = array.bytes.data() + i * array.elementBytes;
  if (array.kind == ValueArray::Kind::Signed && array.elementBytes == 8)
    return static_cast<int64_t>(read64(p));
  if (array.kind == ValueArray::Kind::Unsigned && array.elementBytes == 8) {
    uint64_t u = read64(p);
    if (u > static_cast<uint64_t>(INT64_MAX))
      return std::nullopt;
    return static_cast<int64_t>(u);
  }
  double d = getDouble(array, i);
  if (!std::isfinite(d) || d != std::trunc(d) || std::fabs(d) > 0x1p62)
    return std::nullopt;
  return static_cast<int64_t>(d);
}

template <typename T>
DenseElementsAttr integers(RankedTensorType type, const ValueArray &array,
                           unsigned width, std::string &message) {
  std::vector<T> values(array.numElements);
  for (int64_t i = 0; i < array.numElements; ++i) {
    std::optional<int64_t> v = getInteger(array, i);
    // Signed and unsigned readings of the width are both accepted.
    bool fits = v && (width >= 64 || (*v >= -(int64_t(1) << (width - 1)) &&
                                      *v < (int64_t(1) << width)));
    if (!fits) {
      char text[32];
      snprintf(text, sizeof(text), "%g", getDouble(array, i));
      message =
          (array.numElements == 1 ? Twine(text)
                                  : "element " + Twine(i) + " (" + text + ")")
              .str() +
          " is not an integer of " + std::to_string(width) + " bits";
      return {};
    }
    values[i] = static_cast<T>(*v);
  }
  return DenseElementsAttr::get(type, ArrayRef<T>(values));
}

} // namespace

FailureOr<DenseElementsAttr> mlir::qat::toElementsAttr(const ValueArray &array,
                                                       RankedTensorType type,
                                                       std::string &message) {
  if (!type.hasStaticShape()) {
    message = "the argument is not a statically shaped tensor";
    return failure();
  }
  if (array.shape && ArrayRef<int64_t>(*array.shape) != type.getShape()) {
    message = llvm::formatv(
        "expected shape [{0}] ({1}), found {2}",
        llvm::join(llvm::map_range(type.getShape(),
                                   [](int64_t d) { return std::to_string(d); }),
                   ", "),
        type, array.describe());
    return failure();
  }
  if (array.numElements != type.getNumElements()) {
    message = llvm::formatv("{0} values for {1} ({2} elements)",
                            array.numElements, type, type.getNumElements());
    return failure();
  }
  Type element = type.getElementType();
  if (auto floatType = dyn_cast<FloatType>(element)) {
    if (array.kind == ValueArray::Kind::Float && array.elementBytes == 4 &&
        floatType.isF32())
      return DenseElementsAttr::getFromRawBuffer(type, array.bytes);
    if (floatType.isF32()) {
      std::vector<float> values(array.numElements);
      for (int64_t i = 0; i < array.numElements; ++i)
        values[i] = static_cast<float>(getDouble(array, i));
      return DenseElementsAttr::get(type, ArrayRef<float>(values));
    }
    SmallVector<APFloat> values;
    values.reserve(array.numElements);
    for (int64_t i = 0; i < array.numElements; ++i) {
      APFloat f(getDouble(array, i));
      bool lost;
      f.convert(floatType.getFloatSemantics(), APFloat::rmNearestTiesToEven,
                &lost);
      values.push_back(f);
    }
    return DenseElementsAttr::get(type, values);
  }
  if (auto intType = dyn_cast<IntegerType>(element)) {
    unsigned width = intType.getWidth();
    DenseElementsAttr attr;
    if (width == 8)
      attr = integers<int8_t>(type, array, width, message);
    else if (width == 16)
      attr = integers<int16_t>(type, array, width, message);
    else if (width == 32)
      attr = integers<int32_t>(type, array, width, message);
    else if (width == 64)
      attr = integers<int64_t>(type, array, width, message);
    else
      message =
          "unsupported element type " + std::to_string(width) + "-bit integer";
    if (!attr)
      return failure();
    return attr;
  }
  message = "unsupported element type";
  return failure();
}

//===----------------------------------------------------------------------===//
// Writing .npz
//===----------------------------------------------------------------------===//

namespace {
void put16(std::string &out, uint16_t v) {
  out += static_cast<char>(v & 0xFF);
  out += static_cast<char>(v >> 8);
}
void put32(std::string &out, uint32_t v) {
  put16(out, static_cast<uint16_t>(v & 0xFFFF));
  put16(out, static_cast<uint16_t>(v >> 16));
}

/// The .npy header of a little-endian float32 array of `shape`.
std::string npyHeader(ArrayRef<int64_t> shape) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (int64_t d : shape)
    dict += std::to_string(d) + (shape.size() == 1 ? "," : ", ");
  if (shape.size() > 1)
    dict.resize(dict.size() - 2);
  dict += "), }";
  // Magic (6), version (2), header length (2), then the dictionary padded
  // with spaces and a newline to a multiple of 64 bytes.
  size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  std::string header("\x93NUMPY\x01\x00", 8);
  put16(header, static_cast<uint16_t>(dict.size()));
  return header + dict;
}
} // namespace

llvm::Error mlir::qat::writeNpz(llvm::raw_ostream &os,
                                ArrayRef<NamedFloatArray> arrays) {
  std::string directory;
  uint64_t offset = 0;
  for (const NamedFloatArray &array : arrays) {
    std::string entry = array.name + ".npy";
    std::string header = npyHeader(array.shape);
    StringRef data(reinterpret_cast<const char *>(array.values.data()),
                   array.values.size() * sizeof(float));
    uint64_t size = header.size() + data.size();
    if (size >= 0xFFFFFFFFull || offset >= 0xFFFFFFFFull ||
        entry.size() > 0xFFFF)
      return llvm::createStringError(
          llvm::inconvertibleErrorCode(),
          "array '" + array.name + "' does not fit a zip archive (4 GiB)");
    uint32_t crc = llvm::crc32(llvm::arrayRefFromStringRef(header));
    crc = llvm::crc32(crc, llvm::arrayRefFromStringRef(data));
    std::string local;
    put32(local, 0x04034b50);
    put16(local, 20);     // version needed
    put16(local, 0);      // flags
    put16(local, 0);      // stored
    put16(local, 0);      // time
    put16(local, 0x21);   // date: 1980-01-01
    put32(local, crc);
    put32(local, static_cast<uint32_t>(size));
    put32(local, static_cast<uint32_t>(size));
    put16(local, static_cast<uint16_t>(entry.size()));
    put16(local, 0);
    local += entry;
    put32(directory, 0x02014b50);
    put16(directory, 20); // version made by
    directory.append(local, 4, 26);
    put16(directory, 0);  // comment length
    put16(directory, 0);  // disk
    put16(directory, 0);  // internal attributes
    put32(directory, 0);  // external attributes
    put32(directory, static_cast<uint32_t>(offset));
    directory += entry;
    os << local << header << data;
    offset += local.size() + size;
  }
  if (offset >= 0xFFFFFFFFull || arrays.size() >= 0xFFFF)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "the archive is past zip's limits");
  std::string end;
  put32(end, 0x06054b50);
  put16(end, 0);
  put16(end, 0);
  put16(end, static_cast<uint16_t>(arrays.size()));
  put16(end, static_cast<uint16_t>(arrays.size()));
  put32(end, static_cast<uint32_t>(directory.size()));
  put32(end, static_cast<uint32_t>(offset));
  put16(end, 0);
  os << directory << end;
  return llvm::Error::success();
}
