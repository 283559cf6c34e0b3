// TokenMatcher: finds which of a fixed set of tokens occur in a text, in one
// pass (Aho-Corasick automaton compiled to a DFA over the byte classes the
// tokens use). Script detection asks about ~130 tokens per object; searching
// them one by one costs ~100 us per KiB, this costs ~2 ns per byte.
// Built once, then read-only: safe to share between threads.
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace sandgate::type_detail {

class TokenMatcher {
 public:
  static constexpr size_t kMaxTokens = 192;
  using Hits = std::bitset<kMaxTokens>;

  // At most kMaxTokens tokens. With ascii_fold, tokens must be lowercase and
  // match text in any ASCII case (folding costs nothing: 'A' and 'a' share a
  // byte class).
  explicit TokenMatcher(std::vector<std::string_view> tokens, bool ascii_fold = false);

  // Bit i is set when token i occurs somewhere in text.
  Hits scan(std::string_view text) const;
  // Index of a token (for reading Hits); -1 if it is not one of ours.
  int index_of(std::string_view token) const;

 private:
  std::vector<std::string_view> tokens_;
  uint8_t byte_class_[256] = {};
  size_t classes_ = 1;  // class 0: bytes no token uses
  // Transition table, one row of classes_ entries per state. An entry holds
  // the target row's offset (state * classes_), with kOutputBit set when the
  // target state ends a token, so the scan loop does one load per byte.
  static constexpr uint32_t kOutputBit = 0x80000000u;
  std::vector<uint32_t> next_;
  std::vector<Hits> output_;  // tokens ending at each state
};

}  // namespace sandgate::type_detail
