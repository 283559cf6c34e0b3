// Aho-Corasick (Aho & Corasick, CACM 1975) compiled into a full transition
// table, so scanning is one table read per input byte with no failure-link
// walks. Sizes are bounded by the token set, which is fixed at compile time.
#include "unpack/type/token_matcher.h"

#include <deque>
#include <stdexcept>
#include <utility>

namespace sandgate::type_detail {

TokenMatcher::TokenMatcher(std::vector<std::string_view> tokens, bool ascii_fold)
    : tokens_(std::move(tokens)) {
  if (tokens_.size() > kMaxTokens) throw std::logic_error("TokenMatcher: too many tokens");
  for (std::string_view t : tokens_)
    for (char c : t) {
      uint8_t b = static_cast<uint8_t>(c);
      if (ascii_fold && b >= 'A' && b <= 'Z')
        throw std::logic_error("TokenMatcher: fold needs lowercase");
      if (byte_class_[b] == 0) byte_class_[b] = static_cast<uint8_t>(classes_++);
    }
  if (ascii_fold)
    for (int b = 'A'; b <= 'Z'; ++b) byte_class_[b] = byte_class_[b + 32];
  // Trie (goto function); 0 is the root and "no edge" while building.
  std::vector<std::vector<uint16_t>> go(1, std::vector<uint16_t>(classes_, 0));
  output_.assign(1, Hits());
  for (size_t i = 0; i < tokens_.size(); ++i) {
    size_t s = 0;
    for (char c : tokens_[i]) {
      uint8_t k = byte_class_[static_cast<uint8_t>(c)];
      if (go[s][k] == 0) {
        go[s][k] = static_cast<uint16_t>(go.size());
        go.emplace_back(classes_, 0);
        output_.emplace_back();
      }
      s = go[s][k];
    }
    output_[s].set(i);
  }
  // Breadth-first: failure links, merged outputs, and the DFA transitions.
  const size_t states = go.size();
  std::vector<uint16_t> fail(states, 0);
  std::vector<uint16_t> delta(states * classes_, 0);
  std::deque<uint16_t> queue;
  for (size_t k = 0; k < classes_; ++k) {
    uint16_t t = go[0][k];
    delta[k] = t;
    if (t != 0) queue.push_back(t);
  }
  while (!queue.empty()) {
    uint16_t s = queue.front();
    queue.pop_front();
    output_[s] |= output_[fail[s]];
    for (size_t k = 0; k < classes_; ++k) {
      uint16_t t = go[s][k];
      if (t != 0) {
        fail[t] = delta[fail[s] * classes_ + k];
        delta[s * classes_ + k] = t;
        queue.push_back(t);
      } else {
        delta[s * classes_ + k] = delta[fail[s] * classes_ + k];
      }
    }
  }
  next_.resize(delta.size());
  for (size_t i = 0; i < delta.size(); ++i) {
    uint16_t t = delta[i];
    next_[i] = static_cast<uint32_t>(t * classes_) | (output_[t].any() ? kOutputBit : 0);
  }
}

TokenMatcher::Hits TokenMatcher::scan(std::string_view text) const {
  Hits hits;
  const uint32_t* table = next_.data();
  uint32_t row = 0;
  for (char c : text) {
    uint32_t e = table[row + byte_class_[static_cast<uint8_t>(c)]];
    row = e & ~kOutputBit;
    if (e & kOutputBit) hits |= output_[row / classes_];
  }
  return hits;
}

int TokenMatcher::index_of(std::string_view token) const {
  for (size_t i = 0; i < tokens_.size(); ++i)
    if (tokens_[i] == token) return static_cast<int>(i);
  return -1;
}

}  // namespace sandgate::type_detail
