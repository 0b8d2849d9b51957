"""Hostile bundle files for the runtime tests: truncations, foreign bytes, flips with and
without the CRC-32s fixed, a size or version from elsewhere; each with the text its error must
contain."""

from __future__ import annotations

import struct
import zlib


def fix_crcs(buf: bytearray) -> None:
    """Recompute the data section's and then the FlatBuffer's CRC-32 (export/FORMAT.md)."""
    from unified.export._fbs import bundle_generated as fbs

    section = fbs.Bundle.GetRootAs(buf, 64).Data()
    crc_at = section._tab.Pos + section._tab.Offset(8)
    struct.pack_into("<I", buf, crc_at, zlib.crc32(bytes(buf[section.Offset():])))
    fb_size = struct.unpack_from("<Q", buf, 8)[0]
    struct.pack_into("<I", buf, 16, zlib.crc32(bytes(buf[64:64 + fb_size])))


def hostile_files(data: bytes) -> dict[str, tuple[bytes, str]]:
    """name -> (file bytes, text the error must contain)."""
    fb_size = struct.unpack_from("<Q", data, 8)[0]
    flipped = bytearray(data)
    flipped[64 + 100] ^= 0x10

    def crc_fixed(edit):
        buf = bytearray(data)
        edit(buf)
        struct.pack_into("<I", buf, 16, zlib.crc32(bytes(buf[64:64 + fb_size])))
        return bytes(buf)

    def rename_kernel(buf):  # every string "linear" (plan.kernels, steps) becomes "lineaX"
        at = buf.find(b"\x06\x00\x00\x00linear\x00", 64)
        while 0 <= at < 64 + fb_size:
            buf[at + 9] = ord("X")
            at = buf.find(b"\x06\x00\x00\x00linear\x00", at + 1)

    huge = bytearray(data)
    struct.pack_into("<Q", huge, 8, 2**62)
    return {
        "empty": (b"", "the file has 0 bytes"),
        "zip": (b"PK\x03\x04" + bytes(200), "(magic) are not \"UFB1\""),
        "preamble_only": (data[:64], "(flatbuffer size)"),
        "half": (data[:len(data) // 2], "bundle: "),
        "last_byte_cut": (data[:-1], "bundle: "),
        "flatbuffer_flip": (bytes(flipped), "have CRC-32"),
        "identifier_crc_fixed": (crc_fixed(lambda b: b.__setitem__(68, ord("X"))),
                                 "(flatbuffer identifier) are not \"UFB1\""),
        "unknown_kernel_crc_fixed": (crc_fixed(rename_kernel), "needs kernel 'lineaX'"),
        "huge_size": (bytes(huge), "(flatbuffer size)"),
        "newer_version": (data[:4] + struct.pack("<I", 3) + data[8:], "upgrade"),
    }


HOSTILE = ["empty", "zip", "preamble_only", "half", "last_byte_cut", "flatbuffer_flip",
           "identifier_crc_fixed", "unknown_kernel_crc_fixed", "huge_size", "newer_version"]
