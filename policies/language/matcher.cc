// Matcher implementation: glob compilation and matching, list lookups, CIDR
// parsing and the evaluation of compiled conditions (see matcher.h).
#include "policies/language/matcher.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace sandgate::policy_lang {

namespace {

void set_bit(std::array<uint64_t, 4>& set, unsigned char c) { set[c >> 6] |= 1ull << (c & 63); }

const std::string* fact_value(const Object& obj, const char* key) {
  auto it = obj.facts.find(key);
  return it == obj.facts.end() ? nullptr : &it->second;
}

bool truthy(const std::string& v) {
  return ascii_iequals(v, "true") || v == "1" || ascii_iequals(v, "yes");
}

}  // namespace

std::string_view object_name(const Object& obj) {
  if (!obj.name.empty()) return obj.name;
  std::string_view p = obj.path;
  auto slash = p.rfind('/');
  return slash == std::string_view::npos ? p : p.substr(slash + 1);
}

// ---- Glob ----

std::optional<Glob> Glob::compile(std::string_view pattern, bool case_insensitive,
                                  std::string* error) {
  Glob g;
  g.pattern_ = std::string(pattern);
  g.icase_ = case_insensitive;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    Token t{};
    if (c == '*') {
      g.literal_ = false;
      // Consecutive stars are one star.
      if (!g.tokens_.empty() && g.tokens_.back().kind == Token::any_run) continue;
      t.kind = Token::any_run;
    } else if (c == '?') {
      g.literal_ = false;
      t.kind = Token::any_one;
    } else if (c == '\\') {
      if (i + 1 >= pattern.size()) {
        if (error) *error = "trailing backslash in glob '" + g.pattern_ + "'";
        return std::nullopt;
      }
      t.kind = Token::literal;
      t.ch = case_insensitive ? ascii_lower(pattern[++i]) : pattern[++i];
    } else if (c == '[') {
      g.literal_ = false;
      t.kind = Token::klass;
      size_t j = i + 1;
      if (j < pattern.size() && (pattern[j] == '!' || pattern[j] == '^')) {
        t.negated = true;
        ++j;
      }
      bool any = false;
      bool closed = false;
      // A ']' right after '[' or '[!' is a member, as in fnmatch(3).
      for (bool first = true; j < pattern.size(); ++j, first = false) {
        unsigned char a = static_cast<unsigned char>(pattern[j]);
        if (a == ']' && !first) {
          closed = true;
          break;
        }
        if (j + 2 < pattern.size() && pattern[j + 1] == '-' && pattern[j + 2] != ']') {
          unsigned char b = static_cast<unsigned char>(pattern[j + 2]);
          if (b < a) {
            if (error) *error = "bad range in glob '" + g.pattern_ + "'";
            return std::nullopt;
          }
          for (unsigned v = a; v <= b; ++v) {
            set_bit(t.set, static_cast<unsigned char>(v));
            if (case_insensitive)
              set_bit(t.set, static_cast<unsigned char>(ascii_lower(static_cast<char>(v))));
          }
          j += 2;
        } else {
          set_bit(t.set, a);
          if (case_insensitive)
            set_bit(t.set, static_cast<unsigned char>(ascii_lower(static_cast<char>(a))));
        }
        any = true;
      }
      if (!closed || !any) {
        if (error) *error = "unclosed or empty '[' class in glob '" + g.pattern_ + "'";
        return std::nullopt;
      }
      i = j;
    } else {
      t.kind = Token::literal;
      t.ch = case_insensitive ? ascii_lower(c) : c;
    }
    g.tokens_.push_back(t);
  }
  return g;
}

bool Glob::token_matches(const Token& t, unsigned char c) const {
  switch (t.kind) {
    case Token::literal:
      return (icase_ ? ascii_lower(static_cast<char>(c)) : static_cast<char>(c)) == t.ch;
    case Token::any_one:
      return true;
    case Token::klass: {
      unsigned char k = icase_ ? static_cast<unsigned char>(ascii_lower(static_cast<char>(c))) : c;
      bool in = (t.set[k >> 6] >> (k & 63)) & 1;
      return in != t.negated;
    }
    case Token::any_run:
      return false;
  }
  return false;
}

bool Glob::match(std::string_view text) const {
  // Greedy matching with a single backtrack point at the last star: linear in
  // practice, O(tokens * text) at worst, no recursion.
  size_t ti = 0, si = 0;
  size_t star_t = std::string::npos, star_s = 0;
  while (si < text.size()) {
    if (ti < tokens_.size() && tokens_[ti].kind == Token::any_run) {
      star_t = ti++;
      star_s = si;
    } else if (ti < tokens_.size() &&
               token_matches(tokens_[ti], static_cast<unsigned char>(text[si]))) {
      ++ti;
      ++si;
    } else if (star_t != std::string::npos) {
      ti = star_t + 1;
      si = ++star_s;
    } else {
      return false;
    }
  }
  while (ti < tokens_.size() && tokens_[ti].kind == Token::any_run) ++ti;
  return ti == tokens_.size();
}

// ---- sets ----

bool StringSet::contains_lower(std::string_view lowered) const {
  return values.find(lowered) != values.end();
}

bool StringSet::contains(std::string_view v) const {
  if (values.empty()) return false;
  char buf[160];
  if (v.size() > sizeof buf) return contains_lower(ascii_lower(v));
  for (size_t i = 0; i < v.size(); ++i) buf[i] = ascii_lower(v[i]);
  return contains_lower(std::string_view(buf, v.size()));
}

bool AddressSet::matches(std::string_view address) const {
  if (addresses.empty() && domains.empty()) return false;
  std::string a = ascii_lower(address);
  // Envelope senders may come as <user@host>.
  if (a.size() >= 2 && a.front() == '<' && a.back() == '>') a = a.substr(1, a.size() - 2);
  if (addresses.count(a)) return true;
  auto at = a.rfind('@');
  std::string_view domain =
      at == std::string::npos ? std::string_view(a) : std::string_view(a).substr(at + 1);
  // The domain itself, then each parent domain.
  while (!domain.empty()) {
    if (domains.find(domain) != domains.end()) return true;
    auto dot = domain.find('.');
    if (dot == std::string_view::npos) break;
    domain.remove_prefix(dot + 1);
  }
  return false;
}

std::optional<std::array<uint8_t, 16>> parse_ip(std::string_view text) {
  std::array<uint8_t, 16> out{};
  std::string s(text);
  // Strip a zone id (fe80::1%eth0) and brackets.
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  if (auto pct = s.find('%'); pct != std::string::npos) s.resize(pct);
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    out[10] = 0xff;
    out[11] = 0xff;
    std::memcpy(out.data() + 12, &v4, 4);
    return out;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::memcpy(out.data(), &v6, 16);
    return out;
  }
  return std::nullopt;
}

std::optional<Cidr> parse_cidr(std::string_view text) {
  Cidr c;
  std::string_view addr = text;
  int prefix = -1;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    addr = text.substr(0, slash);
    std::string_view p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3) return std::nullopt;
    prefix = 0;
    for (char ch : p) {
      if (ch < '0' || ch > '9') return std::nullopt;
      prefix = prefix * 10 + (ch - '0');
    }
  }
  auto ip = parse_ip(addr);
  if (!ip) return std::nullopt;
  bool v4 = addr.find(':') == std::string_view::npos;
  int max = v4 ? 32 : 128;
  if (prefix < 0) prefix = max;
  if (prefix > max) return std::nullopt;
  c.addr = *ip;
  c.prefix = v4 ? prefix + 96 : prefix;
  // Clear host bits so comparison is a plain prefix test.
  for (int bit = c.prefix; bit < 128; ++bit)
    c.addr[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  return c;
}

bool NetworkSet::contains(std::string_view ip) const {
  auto a = parse_ip(ip);
  if (!a) return false;
  for (const auto& n : networks) {
    int full = n.prefix / 8, rest = n.prefix % 8;
    if (std::memcmp(a->data(), n.addr.data(), static_cast<size_t>(full)) != 0) continue;
    if (rest) {
      uint8_t mask = static_cast<uint8_t>(0xff00u >> rest);
      if (((*a)[full] & mask) != n.addr[full]) continue;
    }
    return true;
  }
  return false;
}

bool Comparison::test(uint64_t v) const {
  switch (op) {
    case CmpOp::lt:
      return v < value;
    case CmpOp::le:
      return v <= value;
    case CmpOp::gt:
      return v > value;
    case CmpOp::ge:
      return v >= value;
    case CmpOp::eq:
      return v == value;
    case CmpOp::ne:
      return v != value;
  }
  return false;
}

// ---- evaluation ----

namespace {

bool label_in(const std::vector<std::string>& labels, std::string_view v) {
  for (const auto& l : labels)
    if (l == v) return true;
  return false;
}

const Glob* first_glob_match(const std::vector<Glob>& globs, std::string_view v) {
  for (const auto& g : globs)
    if (g.match(v)) return &g;
  return nullptr;
}

void set_witness(std::string* w, std::string_view key, std::string_view value) {
  if (!w) return;
  w->assign(key);
  if (!value.empty()) {
    w->push_back('=');
    w->append(value);
  }
}

}  // namespace

bool evaluate(const Condition& c, const EvalContext& ctx, std::string* witness) {
  const Object& o = ctx.object;
  using K = Condition::Kind;
  switch (c.kind) {
    case K::always:
      set_witness(witness, "always", {});
      return true;
    case K::all: {
      // The witness of an `all` is the most telling part: a finding if one
      // of the parts matched on a finding, else the first part's fact.
      std::string best, tmp;
      bool best_is_finding = false;
      for (const auto& ch : c.children) {
        if (!evaluate(ch, ctx, witness ? &tmp : nullptr)) return false;
        if (witness && (best.empty() || (!best_is_finding && ch.kind == K::finding))) {
          best = tmp;
          best_is_finding = ch.kind == K::finding;
        }
      }
      if (witness) *witness = best.empty() ? std::string("all") : best;
      return true;
    }
    case K::any:
      for (const auto& ch : c.children)
        if (evaluate(ch, ctx, witness)) return true;
      return false;
    case K::not_:
      if (c.children.empty() || evaluate(c.children[0], ctx, nullptr)) return false;
      if (witness) *witness = "not(" + c.children[0].text + ")";
      return true;
    case K::type:
      if (!label_in(c.labels, o.type.label)) return false;
      set_witness(witness, "type", o.type.label);
      return true;
    case K::mime:
      if (!first_glob_match(c.globs, o.type.mime)) return false;
      set_witness(witness, "mime", o.type.mime);
      return true;
    case K::extension: {
      std::string_view n = object_name(o);
      for (const auto& ext : c.labels) {
        if (n.size() > ext.size() && n[n.size() - ext.size() - 1] == '.' &&
            ascii_iends_with(n, ext)) {
          set_witness(witness, "extension", ext);
          return true;
        }
      }
      return false;
    }
    case K::name: {
      std::string_view n = object_name(o);
      if (!first_glob_match(c.globs, n)) return false;
      set_witness(witness, "name", n);
      return true;
    }
    case K::size:
      if (!c.cmp.test(o.size)) return false;
      set_witness(witness, "size", std::to_string(o.size));
      return true;
    case K::depth:
      if (o.depth < 0 || !c.cmp.test(static_cast<uint64_t>(o.depth))) return false;
      set_witness(witness, "depth", std::to_string(o.depth));
      return true;
    case K::inside: {
      // Walk the container chain; parents precede children in pre-order, so
      // a well-formed chain strictly decreases and the bound stops a loop.
      int p = o.parent;
      for (size_t steps = 0;
           p >= 0 && static_cast<size_t>(p) < ctx.objects.size() && steps <= ctx.objects.size();
           ++steps) {
        const Object& anc = ctx.objects[static_cast<size_t>(p)];
        if (label_in(c.labels, anc.type.label)) {
          set_witness(witness, "inside", anc.type.label);
          return true;
        }
        if (anc.parent >= p) break;
        p = anc.parent;
      }
      return false;
    }
    case K::finding:
      for (const auto& f : o.findings) {
        if (f.severity < c.min_severity) continue;
        if (first_glob_match(c.globs, f.id)) {
          if (witness) *witness = f.id;
          return true;
        }
      }
      return false;
    case K::fact: {
      auto it = o.facts.find(c.key);
      if (it == o.facts.end()) return false;
      if (!c.globs.empty() && !first_glob_match(c.globs, it->second)) return false;
      set_witness(witness, c.key, it->second);
      return true;
    }
    case K::encrypted:
      if (o.encrypted != c.flag) return false;
      set_witness(witness, c.flag ? "encrypted" : "not encrypted", {});
      return true;
    case K::sha256:
      if (o.sha256.empty() || !c.strings || !c.strings->contains(o.sha256)) return false;
      set_witness(witness, "sha256", o.sha256);
      return true;
    case K::signer_subject: {
      const std::string* v = fact_value(o, "signer.subject");
      if (!v) return false;
      bool hit = first_glob_match(c.globs, *v) != nullptr || (c.strings && c.strings->contains(*v));
      if (!hit) return false;
      set_witness(witness, "signer.subject", *v);
      return true;
    }
    case K::signer_thumbprint: {
      if (!c.strings) return false;
      // Lists take SHA-256 or SHA-1 thumbprints (policy_loader.cc); the
      // analyzers publish both, as signer.thumbprint and
      // signer.thumbprint_sha1. Compared as bare lowercase hex (colons and
      // spaces ignored).
      for (const char* key : {"signer.thumbprint", "signer.thumbprint_sha1"}) {
        const std::string* v = fact_value(o, key);
        if (!v) continue;
        std::string t;
        for (char ch : *v)
          if (ch != ':' && ch != ' ') t.push_back(ascii_lower(ch));
        if (!c.strings->contains_lower(t)) continue;
        set_witness(witness, "signer.thumbprint", t);
        return true;
      }
      return false;
    }
    case K::signer_valid: {
      const std::string* v = fact_value(o, "signer.valid");
      if (!v || truthy(*v) != c.flag) return false;
      set_witness(witness, "signer.valid", *v);
      return true;
    }
    case K::signed_: {
      bool has = fact_value(o, "signer.subject") || fact_value(o, "signer.thumbprint");
      if (has != c.flag) return false;
      set_witness(witness, c.flag ? "signed" : "unsigned", {});
      return true;
    }
    case K::channel:
      if (!label_in(c.labels, ctx.facts.channel)) return false;
      set_witness(witness, "channel", ctx.facts.channel);
      return true;
    case K::profile:
      if (!label_in(c.labels, ctx.profile)) return false;
      set_witness(witness, "profile", ctx.profile);
      return true;
    case K::sender:
      if (ctx.facts.sender.empty() || !c.addresses || !c.addresses->matches(ctx.facts.sender))
        return false;
      set_witness(witness, "sender", ctx.facts.sender);
      return true;
    case K::recipient:
      if (!c.addresses) return false;
      for (const auto& r : ctx.facts.recipients) {
        if (c.addresses->matches(r)) {
          set_witness(witness, "recipient", r);
          return true;
        }
      }
      return false;
    case K::client:
      if (ctx.facts.client_address.empty() || !c.networks ||
          !c.networks->contains(ctx.facts.client_address))
        return false;
      set_witness(witness, "client", ctx.facts.client_address);
      return true;
  }
  return false;
}

void matched_findings(const Condition& c, const EvalContext& ctx, std::vector<std::string>* ids) {
  using K = Condition::Kind;
  switch (c.kind) {
    case K::all:
      for (const auto& ch : c.children) matched_findings(ch, ctx, ids);
      return;
    case K::any:
      for (const auto& ch : c.children)
        if (evaluate(ch, ctx, nullptr)) matched_findings(ch, ctx, ids);
      return;
    case K::finding:
      for (const auto& f : ctx.object.findings) {
        if (f.severity < c.min_severity || !first_glob_match(c.globs, f.id)) continue;
        if (std::find(ids->begin(), ids->end(), f.id) == ids->end()) ids->push_back(f.id);
      }
      return;
    default:
      return;
  }
}

}  // namespace sandgate::policy_lang
