// CRC-32 (the zlib/PNG polynomial 0xEDB88320, reflected), as Python's zlib.crc32 computes it:
// the bundle format's checksum of its FlatBuffer and data section (export/FORMAT.md).
#pragma once
#include <cstddef>
#include <cstdint>

namespace unified {

// The CRC of `size` bytes at `data`, continuing from `crc` (0 to start), like zlib.crc32.
uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc = 0);

}  // namespace unified
