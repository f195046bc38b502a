// UTF-8 checks for text that comes from untrusted bytes (engine files): names must be valid UTF-8
// to reach Python, and error messages quote invalid bytes escaped, never raw.
#pragma once

#include <string>

namespace tensorforge {

/// True if `s` is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool is_valid_utf8(const std::string& s);

/// `s` with every byte that is not printable ASCII written as \xNN, cut to `max_bytes` bytes of
/// input (then "..."): safe to quote in any message.
std::string escape_bytes(const std::string& s, size_t max_bytes = 64);

}  // namespace tensorforge
