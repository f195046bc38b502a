"""Structure-aware mutation of TensorForge engine files (docs/file-format.md).

`parse(data)` walks a well-formed engine file and returns every field it holds: where it starts,
how wide it is and what it means (an integer of some width, a string's length or bytes, a count, a
section's length). `mutate(data, rng, donors)` then damages a file the way a bug, a truncated
download or an attacker would: a field set to a boundary value, a string replaced by invalid UTF-8
or another name from the file, a count or a length made inconsistent, bytes flipped, inserted or
removed inside a section (its length kept consistent), a section spliced from another engine, the
file cut short or extended; the checksum is recomputed most of the time, so that the reader's
parser meets the damage instead of stopping at the checksum.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

MAGIC = b"TFENGINE"
_FMT = {"u8": "<B", "u32": "<I", "i32": "<i", "u64": "<Q", "i64": "<q", "f64": "<d"}


_MASK = 0xFFFFFFFFFFFFFFFF
_FNV_PRIME, _ODD = 0x100000001B3, 0x9E3779B97F4A7C15


def checksum(data: bytes, version: int) -> int:
    """The engine file checksum of `data` for format `version` (src/serialize/engine_writer.cc):
    FNV-1a 64 byte by byte in version 1; from version 2 four 64-bit lanes over 8-byte words, folded
    with the tail bytes and the length."""
    if version <= 1:
        h = 0xCBF29CE484222325
        for b in data:
            h = ((h ^ b) * _FNV_PRIME) & _MASK
        return h
    lanes = [0xCBF29CE484222325, 0x84222325CBF29CE4, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9]
    whole = len(data) // 32 * 32
    words = struct.unpack_from(f"<{whole // 8}Q", data, 0) if whole else ()
    for i in range(0, len(words), 4):
        for lane in range(4):
            lanes[lane] = ((lanes[lane] ^ words[i + lane]) * _ODD) & _MASK

    def rotl(v, r):
        return ((v << r) | (v >> (64 - r))) & _MASK

    h = lanes[0] ^ rotl(lanes[1], 16) ^ rotl(lanes[2], 32) ^ rotl(lanes[3], 48)
    for b in data[whole:]:
        h = ((h ^ b) * _FNV_PRIME) & _MASK
    return ((h ^ len(data)) * _ODD) & _MASK


def with_checksum(body: bytes) -> bytes:
    """`body` (every byte before the checksum) followed by its checksum, for the format version the
    body's header names (1 when it is too short to name one)."""
    version = struct.unpack_from("<I", body, len(MAGIC))[0] if len(body) >= len(MAGIC) + 4 else 1
    return bytes(body) + struct.pack("<Q", checksum(body, version))


@dataclass
class Field:
    offset: int
    kind: str  # u8 u32 i32 u64 i64 f64 | strlen | str | seclen
    size: int
    what: str


@dataclass
class Section:
    tag: bytes
    header: int  # offset of the tag
    start: int   # first byte of the contents
    end: int     # one past the last


class _Walker:
    def __init__(self, data: bytes):
        self.data, self.pos, self.fields = data, 0, []

    def num(self, kind: str, what: str) -> int | float:
        fmt = _FMT[kind]
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ValueError(f"truncated at {what}")
        (v,) = struct.unpack_from(fmt, self.data, self.pos)
        self.fields.append(Field(self.pos, kind, size, what))
        self.pos += size
        return v

    def string(self, what: str) -> bytes:
        n = self.num("u32", what + " length")
        self.fields[-1].kind = "strlen"
        s = self.data[self.pos:self.pos + n]
        self.fields.append(Field(self.pos, "str", n, what))
        self.pos += n
        return s

    def dims(self, what: str) -> None:
        rank = self.num("u8", what + " rank")
        for _ in range(rank):
            self.num("i64", what + " extent")


def _walk_section(w: _Walker, tag: bytes, end: int) -> None:
    if tag == b"CONF":
        w.num("u8", "config device")
        w.num("i32", "optimization level")
        w.num("u64", "workspace size")
        if w.pos < end:
            w.num("u8", "allow_tf32")
    elif tag == b"WGHT":
        for _ in range(w.num("u32", "weights count")):
            w.num("u8", "weights dtype")
            w.dims("weights shape")
            n = w.num("u64", "weights length")
            w.fields.append(Field(w.pos, "str", n, "weights data"))
            w.pos += n
    elif tag == b"NETW":
        for _ in range(w.num("u32", "tensor count")):
            w.string("tensor name")
            w.num("u8", "tensor dtype")
            w.dims("tensor shape")
            w.num("i32", "producer")
            w.num("i32", "producer output")
        for what in ("inputs", "outputs"):
            for _ in range(w.num("u32", what + " count")):
                w.num("i32", what[:-1] + " id")
        for _ in range(w.num("u32", "layer count")):
            w.string("layer kind")
            w.string("layer name")
            for what in ("layer inputs", "layer outputs"):
                for _ in range(w.num("u32", what + " count")):
                    w.num("i32", what + " id")
            for _ in range(w.num("u32", "attribute count")):
                w.string("attribute name")
                code = w.num("u8", "attribute type")
                if code == 0:
                    w.num("i64", "int attribute")
                elif code == 1:
                    w.num("f64", "float attribute")
                elif code == 2:
                    w.string("string attribute")
                elif code in (3, 4):
                    for _ in range(w.num("u32", "list length")):
                        w.num("i64" if code == 3 else "f64", "list element")
                elif code == 5:
                    w.num("u32", "weights index")
                else:
                    raise ValueError(f"unknown attribute type {code}")
    elif tag == b"TACT":
        for _ in range(w.num("u32", "tactic count")):
            w.string("tactic")
    w.pos = end


def parse(data: bytes) -> tuple[list[Field], list[Section]]:
    """Every field and section of a well-formed engine file; raises ValueError otherwise."""
    if not data.startswith(MAGIC):
        raise ValueError("not an engine file")
    w = _Walker(data)
    w.pos = len(MAGIC)
    w.num("u32", "format version")
    w.string("producer version")
    w.num("u8", "device kind")
    w.num("u32", "compute capability")
    for _ in range(w.num("u32", "library count")):
        w.string("library name")
        w.string("library version")
    sections = []
    for _ in range(w.num("u32", "section count")):
        header = w.pos
        tag = w.data[header:header + 4]
        w.num("u32", "section tag")
        length = w.num("u64", "section length")
        w.fields[-1].kind = "seclen"
        start = w.pos
        sections.append(Section(tag, header, start, start + length))
        _walk_section(w, tag, start + length)
    if w.pos != len(data) - 8:
        raise ValueError("trailing bytes")
    return w.fields, sections


# ---- mutation ---------------------------------------------------------------------------------

_INTS = [0, 1, 2, 3, 7, 8, 255, 256, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 32, 1 << 40,
         (1 << 62), (1 << 63) - 1, 1 << 63, (1 << 64) - 1]
_FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, 1e-300, 1e300, -1e300, float("inf"), float("-inf"), float("nan"),
           2.0**31, 2.0**63, 5e-324, 3.4e38]
_WORDS = [b"convolution", b"matmul", b"elementwise", b"attention", b"constant", b"reshape", b"gather",
          b"scatter", b"topk", b"resize", b"pad", b"cast", b"op", b"axis", b"axes", b"shape", b"value",
          b"cpu.matmul", b"cpu.conv.im2col_gemm", b"alias", b"constant", b"cuda.matmul.cublaslt", b"", b"x",
          b"\xff\xfe", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"a" * 300, b"\x00"]


def _write_int(buf: bytearray, f: Field, v: int) -> None:
    kind = "u64" if f.kind in ("seclen",) else "u32" if f.kind == "strlen" else f.kind
    fmt = _FMT[kind]
    bits = 8 * struct.calcsize(fmt)
    v &= (1 << bits) - 1
    if fmt[-1] in "iq" and v >= 1 << (bits - 1):
        v -= 1 << bits
    struct.pack_into(fmt, buf, f.offset, v)


def _read_int(buf: bytes, f: Field) -> int:
    kind = "u64" if f.kind == "seclen" else "u32" if f.kind == "strlen" else f.kind
    return struct.unpack_from(_FMT[kind], buf, f.offset)[0]


def _enclosing(sections: list[Section], offset: int) -> Section | None:
    for s in sections:
        if s.start <= offset < s.end or (s.start == s.end == offset):
            return s
    return None


def _splice(buf: bytearray, sections: list[Section], at: int, remove: int, insert: bytes) -> None:
    """Replaces buf[at:at+remove] by `insert`, keeping the enclosing section's length consistent."""
    buf[at:at + remove] = insert
    s = _enclosing(sections, at)
    if s is not None:
        (length,) = struct.unpack_from("<Q", buf, s.header + 4)
        struct.pack_into("<Q", buf, s.header + 4, min(max(0, length + len(insert) - remove), (1 << 64) - 1))


def _mutate_field(buf: bytearray, fields: list[Field], sections: list[Section], rng: random.Random,
                  names: list[bytes]) -> bool:
    """Damages one field; True if bytes were inserted or removed (later offsets are stale then)."""
    f = rng.choice(fields)
    if f.kind == "str":
        choice = rng.random()
        if choice < 0.35 and f.size:
            pos = f.offset + rng.randrange(f.size)
            buf[pos] = rng.choice([0x80, 0xC0, 0xFF, 0xED, 0xF4, 0x00, rng.randrange(256)])
            return False
        new = rng.choice(names + _WORDS) if choice < 0.8 else bytes(rng.randrange(256) for _ in range(rng.randrange(8)))
        # the length field sits just before the bytes, except for raw weights (their u64 length)
        _splice(buf, sections, f.offset, f.size, new)
        if f.what != "weights data":
            struct.pack_into("<I", buf, f.offset - 4, len(new))
        return True
    if f.kind == "f64":
        struct.pack_into("<d", buf, f.offset, rng.choice(_FLOATS))
        return False
    old = _read_int(buf, f)
    r = rng.random()
    if r < 0.5:
        v = rng.choice(_INTS)
        v = -v if rng.random() < 0.3 else v
    elif r < 0.8:
        v = old + rng.choice([-2, -1, 1, 2, 8, -8, 64])
    else:
        v = rng.getrandbits(8 * f.size)
    _write_int(buf, f, v)
    return False


def mutate(data: bytes, rng: random.Random, donors: list[bytes] = ()) -> bytes:
    """One damaged copy of the engine file `data` (well-formed; see the module docstring)."""
    try:
        fields, sections = parse(data)
    except ValueError:
        fields, sections = [], []
    buf = bytearray(data[:-8])  # the checksum is recomputed below (or left stale)
    names = [bytes(buf[f.offset:f.offset + f.size]) for f in fields if f.kind == "str" and f.size < 64]
    for _ in range(1 + int(rng.expovariate(1.0))):
        op = rng.random()
        if fields and op < 0.55:
            if _mutate_field(buf, fields, sections, rng, names):
                break
        elif op < 0.7 and buf:
            for _ in range(rng.randint(1, 4)):
                buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        elif op < 0.8 and sections:
            s = rng.choice(sections)
            at = rng.randint(s.start, max(s.start, min(s.end, len(buf))))
            if rng.random() < 0.5:
                _splice(buf, sections, at, 0, bytes(rng.randrange(256) for _ in range(rng.choice([1, 4, 8, 13]))))
            else:
                _splice(buf, sections, at, rng.choice([1, 4, 8, 13]), b"")
            break
        elif op < 0.9 and donors and sections:
            donor = rng.choice(donors)
            try:
                _, dsections = parse(donor)
            except ValueError:
                continue
            s = rng.choice(sections)
            same = [d for d in dsections if d.tag == s.tag] or dsections
            d = rng.choice(same)
            piece = donor[d.header:d.end]
            buf[s.header:s.end] = piece
            break  # offsets changed: stop editing this copy
        elif op < 0.95:
            buf = buf[:rng.randrange(len(buf) + 1)]
            break
        else:
            buf += bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
            break
    if rng.random() < 0.9:
        return with_checksum(buf)
    return bytes(buf) + bytes(rng.randrange(256) for _ in range(8))
