// Policy loader: parses the YAML policy format (see policies/schema.json and
// policies/default.yaml for the format in full), validates it and compiles it
// into a CompiledPolicy. Validation collects every error with its position.
#include "policies/language/policy_loader.h"
#include "unpack/hex.h"

#include <glob.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "unpack/type_detect.h"

namespace sandgate::policy_lang {

namespace {

constexpr std::string_view kActionNames[] = {"pass",     "tag",        "strip",
                                             "tempfail", "quarantine", "reject"};
constexpr std::string_view kSeverityNames[] = {"info", "low", "medium", "high", "critical"};
constexpr std::string_view kChannels[] = {"mail", "upload"};
constexpr std::string_view kListKinds[] = {"sha256", "thumbprint", "subject", "address", "network"};
constexpr std::string_view kTopKeys[] = {"name", "description", "limits",   "lists",
                                         "yara", "codesign",    "profiles", "archive_passwords"};
// Every password is a probe of every encrypted archive: a short list.
constexpr size_t kMaxArchivePasswords = 32;
constexpr size_t kMaxArchivePasswordBytes = 128;
constexpr std::string_view kCodesignKeys[] = {"system_bundle", "anchors"};
// A trust anchor file is a few certificates, not a bundle of megabytes.
constexpr uint64_t kMaxAnchorCertificates = 1000;
constexpr std::string_view kLimitKeys[] = {"depth", "objects",     "total_bytes", "object_bytes",
                                           "ratio", "ratio_slack", "seconds"};
constexpr std::string_view kListKeys[] = {"kind", "file", "files", "entries", "description"};
constexpr std::string_view kProfileKeys[] = {"description", "on_error", "on_limit",
                                             "default",     "limits",   "rules"};
constexpr std::string_view kRuleKeys[] = {"name", "description", "when", "action"};
constexpr std::string_view kConditionKeys[] = {
    "all",    "any",     "not",     "type",    "mime",      "extension", "name",
    "size",   "depth",   "inside",  "finding", "fact",      "encrypted", "sha256",
    "signer", "channel", "profile", "sender",  "recipient", "client"};
constexpr std::string_view kFindingKeys[] = {"id", "severity"};
constexpr std::string_view kFactKeys[] = {"key", "value"};
constexpr std::string_view kSignerKeys[] = {"subject", "thumbprint", "valid", "present"};

// Hard bounds so a hand-written (or hostile) policy cannot make the loader
// recurse or read without bound.
constexpr int kMaxConditionDepth = 32;
constexpr uint64_t kMaxIncludedFileBytes = 64ull << 20;
constexpr int kMaxErrorsPerListFile = 20;


std::string sha256_hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  return hex_lower(md, len);
}

bool is_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

bool has_glob_chars(std::string_view s) { return s.find_first_of("*?[\\") != std::string::npos; }

// Reads a whole file up to kMaxIncludedFileBytes.
bool read_file(const std::string& path, std::string* out, std::string* error) {
  std::error_code ec;
  auto st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::is_regular_file(st)) {
    *error = ec ? ec.message() : std::string("not a regular file");
    if (!ec && !std::filesystem::exists(st)) *error = "No such file or directory";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot open";
    return false;
  }
  std::string data;
  char buf[65536];
  while (in) {
    in.read(buf, sizeof buf);
    data.append(buf, static_cast<size_t>(in.gcount()));
    if (data.size() > kMaxIncludedFileBytes) {
      *error = "larger than 64 MiB";
      return false;
    }
  }
  if (in.bad()) {
    *error = "read error";
    return false;
  }
  *out = std::move(data);
  return true;
}

std::string render(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      return n.Scalar();
    case YAML::NodeType::Sequence: {
      std::string s = "[";
      for (size_t i = 0; i < n.size(); ++i) {
        if (i) s += ", ";
        s += render(n[i]);
      }
      return s + "]";
    }
    case YAML::NodeType::Map: {
      std::string s = "{";
      bool first = true;
      for (auto it = n.begin(); it != n.end(); ++it) {
        if (!first) s += ", ";
        first = false;
        s += render(it->first) + ": " + render(it->second);
      }
      return s + "}";
    }
    default:
      return "null";
  }
}

class Loader {
 public:
  Loader(std::string file, std::string base_dir)
      : file_(std::move(file)), base_dir_(std::move(base_dir)) {
    for (const auto& spec : FindingCatalog::instance().all()) finding_ids_.push_back(spec.id);
    for (auto l : known_type_labels()) labels_.push_back(l);
  }

  LoadResult run(std::string_view text) {
    LoadResult result;
    result.files.push_back(file_);
    policy_ = std::make_shared<CompiledPolicy>();
    policy_->source_path = file_;
    manifest_ = sha256_hex(text) + "  " + file_ + "\n";
    plain_sha_ = sha256_hex(text);

    YAML::Node root;
    try {
      root = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
      add(file_, e.mark.line, e.mark.column, "YAML syntax error: " + e.msg, false);
      return finish(std::move(result));
    }
    if (!root.IsMap()) {
      error(root, "a policy file must be a mapping with 'name' and 'profiles'");
      return finish(std::move(result));
    }
    // Keys are handled in a fixed order (lists before profiles, which refer
    // to them) whatever order the file has them in.
    // (Node assignment rebinds trees, and a default Node counts as defined:
    // optionals say which keys were present.)
    std::optional<YAML::Node> limits, lists, yara, codesign, profiles, passwords;
    bool has_name = false;
    for_each_key(root, kTopKeys, "policy",
                 [&](const std::string& key, const YAML::Node& k, const YAML::Node& v) {
                   (void)k;
                   if (key == "name") {
                     if (auto s = scalar(v, "name")) {
                       has_name = true;
                       policy_->name = *s;
                       if (s->empty()) error(v, "'name' must not be empty");
                     }
                   } else if (key == "description") {
                     scalar(v, "description");
                   } else if (key == "limits") {
                     limits.emplace(v);
                   } else if (key == "lists") {
                     lists.emplace(v);
                   } else if (key == "yara") {
                     yara.emplace(v);
                   } else if (key == "codesign") {
                     codesign.emplace(v);
                   } else if (key == "profiles") {
                     profiles.emplace(v);
                   } else if (key == "archive_passwords") {
                     passwords.emplace(v);
                   }
                 });
    if (!has_name) error(root, "missing required key 'name'");
    if (limits) compile_limits(*limits, policy_->limits);
    if (passwords) compile_archive_passwords(*passwords, policy_->limits.archive_passwords);
    if (lists) compile_lists(*lists);
    if (yara) compile_yara(*yara);
    if (codesign) compile_codesign(*codesign);
    if (profiles) {
      compile_profiles(*profiles);
    } else {
      error(root, "missing required key 'profiles'");
    }
    // Profile names used in conditions must exist.
    for (const auto& [name, mark] : profile_refs_) {
      if (!policy_->find_profile(name)) {
        std::vector<std::string_view> names;
        for (const auto& p : policy_->profiles) names.push_back(p.name);
        add(file_, mark.line, mark.column, "unknown profile '" + name + "'" + hint(name, names),
            false);
      }
    }
    return finish(std::move(result));
  }

 private:
  using KeyFn = std::function<void(const std::string&, const YAML::Node&, const YAML::Node&)>;

  LoadResult finish(LoadResult result) {
    for (const auto& f : included_) result.files.push_back(f);
    // The policy file's diagnostics first, in position order, then each
    // included file's.
    std::stable_sort(diags_.begin(), diags_.end(),
                     [this](const Diagnostic& a, const Diagnostic& b) {
                       bool a_main = a.file == file_, b_main = b.file == file_;
                       if (a_main != b_main) return a_main;
                       if (a.file != b.file) return a.file < b.file;
                       return a.line != b.line ? a.line < b.line : a.column < b.column;
                     });
    result.diagnostics = std::move(diags_);
    if (errors_ == 0) {
      policy_->included_files = included_;
      policy_->sha256 = included_.empty() ? plain_sha_ : sha256_hex(manifest_);
      result.policy = std::move(policy_);
    }
    return result;
  }

  void add(const std::string& file, int line0, int col0, std::string msg, bool warning) {
    Diagnostic d;
    d.file = file;
    d.line = line0 >= 0 ? line0 + 1 : 1;
    d.column = col0 >= 0 ? col0 + 1 : 1;
    d.message = std::move(msg);
    d.warning = warning;
    if (!warning) ++errors_;
    diags_.push_back(std::move(d));
  }
  void error(const YAML::Node& n, std::string msg) {
    YAML::Mark m = n.Mark();
    add(file_, m.line, m.column, std::move(msg), false);
  }

  static std::string hint(std::string_view word, std::span<const std::string_view> candidates) {
    std::string best = closest_match(word, candidates);
    return best.empty() ? std::string() : "; did you mean '" + best + "'?";
  }

  static const char* type_name(const YAML::Node& n) {
    switch (n.Type()) {
      case YAML::NodeType::Map:
        return "a mapping";
      case YAML::NodeType::Sequence:
        return "a list";
      case YAML::NodeType::Scalar:
        return "a scalar";
      default:
        return "nothing";
    }
  }

  // Iterates a mapping's keys, rejecting unknown and duplicate ones.
  bool for_each_key(const YAML::Node& map, std::span<const std::string_view> allowed,
                    const char* what, const KeyFn& fn) {
    if (!map.IsMap()) {
      error(map, std::string(what) + " must be a mapping, not " + type_name(map));
      return false;
    }
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const YAML::Node k = it->first;  // a copy: it-> yields a temporary proxy
      if (!k.IsScalar()) {
        error(k, std::string("keys of ") + what + " must be plain names");
        continue;
      }
      const std::string& key = k.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        error(k, "unknown key '" + key + "' in " + what + hint(key, allowed));
        continue;
      }
      if (!seen.insert(key).second) {
        error(k, "duplicate key '" + key + "' in " + what);
        continue;
      }
      fn(key, k, it->second);
    }
    return true;
  }

  std::optional<std::string> scalar(const YAML::Node& n, const std::string& what) {
    if (!n.IsScalar()) {
      error(n, "'" + what + "' must be a string, not " + type_name(n));
      return std::nullopt;
    }
    return n.Scalar();
  }

  // A scalar or a list of scalars.
  std::vector<std::pair<std::string, YAML::Node>> scalars(const YAML::Node& n,
                                                          const std::string& what) {
    std::vector<std::pair<std::string, YAML::Node>> out;
    if (n.IsScalar()) {
      out.emplace_back(n.Scalar(), n);
    } else if (n.IsSequence()) {
      if (n.size() == 0) error(n, "'" + what + "' must not be an empty list");
      for (const auto& item : n) {
        if (item.IsScalar()) {
          out.emplace_back(item.Scalar(), item);
        } else {
          error(item, "items of '" + what + "' must be strings, not " + type_name(item));
        }
      }
    } else {
      error(n, "'" + what + "' must be a string or a list of strings, not " + type_name(n));
    }
    return out;
  }

  std::optional<bool> boolean(const YAML::Node& n, const std::string& what) {
    if (n.IsScalar()) {
      std::string v = ascii_lower(n.Scalar());
      if (v == "true" || v == "yes") return true;
      if (v == "false" || v == "no") return false;
    }
    error(n, "'" + what + "' must be true or false");
    return std::nullopt;
  }

  std::optional<uint64_t> integer(const YAML::Node& n, const std::string& what, uint64_t min,
                                  uint64_t max) {
    if (n.IsScalar()) {
      const std::string& s = n.Scalar();
      uint64_t v = 0;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec == std::errc() && p == s.data() + s.size() && !s.empty()) {
        if (v < min || v > max) {
          error(n, "'" + what + "' must be between " + std::to_string(min) + " and " +
                       std::to_string(max));
          return std::nullopt;
        }
        return v;
      }
    }
    error(n, "'" + what + "' must be a whole number");
    return std::nullopt;
  }

  std::optional<double> number(const YAML::Node& n, const std::string& what, double min,
                               double max) {
    if (n.IsScalar()) {
      const std::string& s = n.Scalar();
      double v = 0;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec == std::errc() && p == s.data() + s.size() && !s.empty() && std::isfinite(v)) {
        if (v < min || v > max) {
          std::ostringstream m;
          m << "'" << what << "' must be between " << min << " and " << max;
          error(n, m.str());
          return std::nullopt;
        }
        return v;
      }
    }
    error(n, "'" + what + "' must be a number");
    return std::nullopt;
  }

  std::optional<uint64_t> size_value(const YAML::Node& n, const std::string& what) {
    if (!n.IsScalar()) {
      error(n, "'" + what + "' must be a size such as 512MiB");
      return std::nullopt;
    }
    std::string err;
    auto v = parse_size(n.Scalar(), &err);
    if (!v) error(n, "'" + what + "': " + err);
    return v;
  }

  std::optional<Action> action(const YAML::Node& n, const std::string& what) {
    auto s = scalar(n, what);
    if (!s) return std::nullopt;
    for (size_t i = 0; i < std::size(kActionNames); ++i)
      if (*s == kActionNames[i]) return static_cast<Action>(i);
    error(n, "unknown action '" + *s + "'" + hint(*s, kActionNames) +
                 " (actions: pass, tag, strip, tempfail, quarantine, reject)");
    return std::nullopt;
  }

  // ---- limits ----

  void compile_limits(const YAML::Node& n, Limits& l) {
    for_each_key(n, kLimitKeys, "limits",
                 [&](const std::string& key, const YAML::Node&, const YAML::Node& v) {
                   if (key == "depth") {
                     if (auto x = integer(v, "depth", 0, 1000)) l.max_depth = static_cast<int>(*x);
                   } else if (key == "objects") {
                     if (auto x = integer(v, "objects", 1, 100000000)) l.max_objects = *x;
                   } else if (key == "total_bytes") {
                     if (auto x = size_value(v, "total_bytes")) l.max_total_bytes = *x;
                   } else if (key == "object_bytes") {
                     if (auto x = size_value(v, "object_bytes")) l.max_object_bytes = *x;
                   } else if (key == "ratio") {
                     if (auto x = number(v, "ratio", 1, 1e9)) l.max_ratio = *x;
                   } else if (key == "ratio_slack") {
                     if (auto x = size_value(v, "ratio_slack")) l.ratio_slack_bytes = *x;
                   } else if (key == "seconds") {
                     if (auto x = number(v, "seconds", 0.001, 86400)) l.max_seconds = *x;
                   }
                 });
  }

  // The list replaces the engine's default one; [] tries only the
  // candidates found in the message.
  void compile_archive_passwords(const YAML::Node& n, std::vector<std::string>& out) {
    out.clear();
    if (!n.IsSequence()) {
      error(n, std::string("'archive_passwords' must be a list of strings, not ") + type_name(n));
      return;
    }
    if (n.size() > kMaxArchivePasswords) {
      error(n, "'archive_passwords' holds " + std::to_string(n.size()) + " passwords; at most " +
                   std::to_string(kMaxArchivePasswords) + " (each one is tried on every encrypted archive)");
      return;
    }
    for (const auto& item : n) {
      auto p = scalar(item, "archive_passwords entry");
      if (!p) continue;
      if (p->empty() || p->size() > kMaxArchivePasswordBytes) {
        error(item, "an archive password must be 1 to " + std::to_string(kMaxArchivePasswordBytes) + " bytes");
      } else if (std::find(out.begin(), out.end(), *p) != out.end()) {
        error(item, "archive password '" + *p + "' is listed twice");
      } else {
        out.push_back(*p);
      }
    }
  }

  // ---- lists ----

  std::string resolve(const std::string& rel) const {
    std::filesystem::path p(rel);
    if (p.is_absolute() || base_dir_.empty()) return p.lexically_normal().string();
    return (std::filesystem::path(base_dir_) / p).lexically_normal().string();
  }

  // Validates and adds one list entry; returns an error message or "".
  static std::string add_entry(ListKind kind, std::string_view raw, NamedList& list,
                               StringSet* strings, AddressSet* addrs, NetworkSet* nets) {
    (void)list;
    std::string v(raw);
    switch (kind) {
      case ListKind::sha256: {
        if (v.size() != 64 || !is_hex(v)) return "'" + v + "' is not a SHA-256 (64 hex digits)";
        strings->values.insert(ascii_lower(v));
        return {};
      }
      case ListKind::thumbprint: {
        std::string t;
        for (char c : v)
          if (c != ':' && c != ' ') t.push_back(c);
        if ((t.size() != 40 && t.size() != 64) || !is_hex(t))
          return "'" + v + "' is not a certificate thumbprint (SHA-1 or SHA-256 hex)";
        strings->values.insert(ascii_lower(t));
        return {};
      }
      case ListKind::subject:
        if (v.empty()) return "empty subject";
        strings->values.insert(ascii_lower(v));
        return {};
      case ListKind::address: {
        std::string a = ascii_lower(v);
        auto at = a.find('@');
        if (a.empty() || a.find_first_of(" \t<>,;") != std::string::npos ||
            (at != std::string::npos &&
             (at + 1 >= a.size() || a.find('@', at + 1) != std::string::npos)))
          return "'" + v + "' is not a mail address or domain";
        if (at == std::string::npos) {
          if (a.front() == '.') a.erase(0, 1);  // ".example.com" means the same
          if (a.empty()) return "'" + v + "' is not a mail address or domain";
          addrs->domains.insert(a);
        } else if (at == 0) {
          addrs->domains.insert(a.substr(1));  // "@example.com": the domain
        } else {
          addrs->addresses.insert(a);
        }
        return {};
      }
      case ListKind::network: {
        auto c = parse_cidr(v);
        if (!c)
          return "'" + v + "' is not an IP network in CIDR notation (10.0.0.0/8, 2001:db8::/32)";
        nets->networks.push_back(*c);
        return {};
      }
    }
    return "unknown list kind";
  }

  void read_list_file(const YAML::Node& where, const std::string& rel, ListKind kind,
                      NamedList& list, StringSet* strings, AddressSet* addrs, NetworkSet* nets) {
    std::string path = resolve(rel);
    include(path);
    std::string data, err;
    if (!read_file(path, &data, &err)) {
      error(where, "cannot read list file '" + rel + "': " + err);
      return;
    }
    int errors = 0;
    size_t pos = 0;
    for (int line = 0; pos < data.size(); ++line) {
      size_t end = data.find('\n', pos);
      if (end == std::string::npos) end = data.size();
      std::string_view l(data.data() + pos, end - pos);
      size_t line_start = pos;
      pos = end + 1;
      if (auto hash = l.find('#'); hash != std::string_view::npos) l = l.substr(0, hash);
      size_t b = l.find_first_not_of(" \t\r");
      if (b == std::string_view::npos) continue;
      size_t e = l.find_last_not_of(" \t\r");
      std::string_view entry = l.substr(b, e - b + 1);
      // sha256sum output ("HEX  name") is accepted: the first word is the hash.
      if (kind == ListKind::sha256 || kind == ListKind::network || kind == ListKind::address) {
        auto sp = entry.find_first_of(" \t");
        if (sp != std::string_view::npos) entry = entry.substr(0, sp);
      }
      std::string msg = add_entry(kind, entry, list, strings, addrs, nets);
      if (!msg.empty()) {
        if (++errors > kMaxErrorsPerListFile) {
          add(path, line, 0, "too many errors in this list file; the rest are not shown", false);
          return;
        }
        (void)line_start;
        add(path, line, static_cast<int>(b), msg, false);
      }
    }
  }

  void compile_lists(const YAML::Node& n) {
    if (!n.IsMap()) {
      error(n, "'lists' must be a mapping of list names to lists");
      return;
    }
    for (auto it = n.begin(); it != n.end(); ++it) {
      const YAML::Node k = it->first;  // a copy: it-> yields a temporary proxy
      const YAML::Node v = it->second;
      if (!k.IsScalar() || k.Scalar().empty()) {
        error(k, "list names must be non-empty strings");
        continue;
      }
      const std::string name = k.Scalar();
      if (policy_->lists.count(name)) {
        error(k, "duplicate list '" + name + "'");
        continue;
      }
      NamedList list;
      list.name = name;
      bool kind_ok = false;
      std::optional<YAML::Node> file, files, entries;
      for_each_key(v, kListKeys, ("list '" + name + "'").c_str(),
                   [&](const std::string& key, const YAML::Node&, const YAML::Node& val) {
                     if (key == "kind") {
                       if (auto s = scalar(val, "kind")) {
                         auto f = std::find(std::begin(kListKinds), std::end(kListKinds), *s);
                         if (f == std::end(kListKinds)) {
                           error(val,
                                 "unknown list kind '" + *s + "'" + hint(*s, kListKinds) +
                                     " (kinds: sha256, thumbprint, subject, address, network)");
                         } else {
                           list.kind = static_cast<ListKind>(f - std::begin(kListKinds));
                           kind_ok = true;
                         }
                       }
                     } else if (key == "file") {
                       file.emplace(val);
                     } else if (key == "files") {
                       files.emplace(val);
                     } else if (key == "entries") {
                       entries.emplace(val);
                     } else {
                       scalar(val, key);
                     }
                   });
      if (!v.IsMap()) continue;
      if (!kind_ok) {
        if (!has_key(v, "kind")) error(k, "list '" + name + "' needs a 'kind'");
        // Still registered so conditions naming it give no second error.
        policy_->lists[name] = list;
        bad_lists_.insert(name);
        continue;
      }
      auto strings = std::make_shared<StringSet>();
      auto addrs = std::make_shared<AddressSet>();
      auto nets = std::make_shared<NetworkSet>();
      if (file) {
        if (auto s = scalar(*file, "file"))
          read_list_file(*file, *s, list.kind, list, strings.get(), addrs.get(), nets.get());
      }
      if (files) {
        for (auto& [s, node] : scalars(*files, "files"))
          read_list_file(node, s, list.kind, list, strings.get(), addrs.get(), nets.get());
      }
      if (entries) {
        if (entries->IsSequence() && entries->size() == 0) {
          // An empty inline list is fine: entries get added later.
        } else {
          for (auto& [s, node] : scalars(*entries, "entries")) {
            std::string msg = add_entry(list.kind, s, list, strings.get(), addrs.get(), nets.get());
            if (!msg.empty()) error(node, msg);
          }
        }
      }
      if (!file && !files && !entries)
        error(k, "list '" + name + "' needs 'file', 'files' or 'entries'");
      list.strings = strings;
      list.addresses = addrs;
      list.networks = nets;
      policy_->lists[name] = std::move(list);
    }
  }

  static bool has_key(const YAML::Node& map, std::string_view key) {
    if (!map.IsMap()) return false;
    for (auto it = map.begin(); it != map.end(); ++it)
      if (it->first.IsScalar() && it->first.Scalar() == key) return true;
    return false;
  }

  void include(const std::string& path) {
    if (std::find(included_.begin(), included_.end(), path) != included_.end()) return;
    included_.push_back(path);
    std::string data, err;
    if (read_file(path, &data, &err)) manifest_ += sha256_hex(data) + "  " + path + "\n";
  }

  // ---- yara ----

  void compile_yara(const YAML::Node& n) {
    const int errors_before = errors_;
    for (auto& [pattern, node] : scalars(n, "yara")) {
      if (pattern.empty()) {
        error(node, "empty YARA path");
        continue;
      }
      std::string full = resolve(pattern);
      glob_t g{};
      int rc = ::glob(full.c_str(), GLOB_ERR, nullptr, &g);
      std::vector<std::string> found;
      if (rc == 0)
        for (size_t i = 0; i < g.gl_pathc; ++i) found.emplace_back(g.gl_pathv[i]);
      globfree(&g);
      if (rc == GLOB_NOMATCH || found.empty()) {
        // Remember the literal path so fixing it triggers a reload.
        if (!has_glob_chars(pattern)) included_.push_back(full);
        error(node, "YARA rule path '" + pattern + "' matches no file");
        continue;
      }
      if (rc != 0) {
        error(node, "cannot expand YARA rule path '" + pattern + "'");
        continue;
      }
      for (const auto& f : found) {
        std::string data, err;
        if (!read_file(f, &data, &err)) {
          error(node, "cannot read YARA rule file '" + f + "': " + err);
          continue;
        }
        include(f);
        if (std::find(policy_->yara_files.begin(), policy_->yara_files.end(), f) ==
            policy_->yara_files.end())
          policy_->yara_files.push_back(f);
      }
    }
    if (policy_->yara_files.empty() || errors_ > errors_before) return;
    // Compiled once per load; a rule file that does not compile is an error
    // of the policy at that file and line.
    std::vector<YaraDiagnostic> diags;
    policy_->yara_rules = YaraRules::compile(policy_->yara_files, &diags);
    for (const auto& d : diags)
      add(d.file, d.line - 1, -1, (d.warning ? "YARA: " : "YARA rule error: ") + d.message,
          d.warning);
    if (!policy_->yara_rules) {
      if (std::none_of(diags.begin(), diags.end(),
                       [](const YaraDiagnostic& d) { return !d.warning; }))
        error(n, "the YARA rule files do not compile");
      return;
    }
    // `finding: yara.RULE` names a rule of these files: a known finding id.
    for (const auto& rule : policy_->yara_rules->rule_names()) {
      yara_ids_.push_back("yara." + rule);
      finding_ids_.push_back(yara_ids_.back());
    }
  }

  // ---- codesign ----

  // Counts the PEM certificates in text; 0 when there is none or a
  // CERTIFICATE block does not parse (a key or a CSR is no anchor).
  static uint64_t pem_certificates(const std::string& text, std::string* error) {
    BIO* b = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
    if (!b) return 0;
    uint64_t n = 0;
    while (n <= kMaxAnchorCertificates) {
      X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
      if (!x) break;
      X509_free(x);
      ++n;
    }
    // The loop ends at the end of the text (PEM_R_NO_START_LINE) or at a
    // block it cannot read; only the first is clean.
    unsigned long e = ERR_peek_last_error();
    bool clean_end = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
    ERR_clear_error();
    BIO_free(b);
    if (n > kMaxAnchorCertificates) {
      *error = "holds more than " + std::to_string(kMaxAnchorCertificates) + " certificates";
      return 0;
    }
    if (n == 0) {
      *error = "is not a PEM certificate file (no '-----BEGIN CERTIFICATE-----' block)";
      return 0;
    }
    if (!clean_end) {
      *error = "holds a certificate block that does not parse after " + std::to_string(n) +
               " good one(s)";
      return 0;
    }
    return n;
  }

  void compile_codesign(const YAML::Node& n) {
    CodesignTrustConfig cfg;
    for_each_key(n, kCodesignKeys, "codesign",
                 [&](const std::string& key, const YAML::Node&, const YAML::Node& v) {
                   if (key == "system_bundle") {
                     if (auto b = boolean(v, "system_bundle")) cfg.system_bundle = *b;
                     return;
                   }
                   // anchors: one path or a list of paths (an empty list is
                   // fine: only the system bundle, or nothing, is trusted).
                   if (v.IsSequence() && v.size() == 0) return;
                   for (auto& [rel, node] : scalars(v, "anchors")) {
                     if (rel.empty()) {
                       error(node, "empty anchor path");
                       continue;
                     }
                     std::string path = resolve(rel);
                     include(path);  // watched, and part of the policy's identity
                     std::string data, err;
                     if (!read_file(path, &data, &err)) {
                       error(node, "cannot read trust anchor '" + rel + "': " + err);
                       continue;
                     }
                     if (pem_certificates(data, &err) == 0) {
                       error(node, "trust anchor '" + rel + "' " + err);
                       continue;
                     }
                     cfg.anchor_files.push_back(path);
                     cfg.anchor_pems.push_back(std::move(data));
                   }
                 });
    policy_->codesign = std::move(cfg);
  }

  // ---- profiles and rules ----

  void compile_profiles(const YAML::Node& n) {
    if (!n.IsMap()) {
      error(n, "'profiles' must be a mapping of profile names to profiles");
      return;
    }
    if (n.size() == 0) error(n, "'profiles' must name at least one profile");
    for (auto it = n.begin(); it != n.end(); ++it) {
      const YAML::Node k = it->first;  // a copy: it-> yields a temporary proxy
      if (!k.IsScalar() || k.Scalar().empty()) {
        error(k, "profile names must be non-empty strings");
        continue;
      }
      if (policy_->find_profile(k.Scalar())) {
        error(k, "duplicate profile '" + k.Scalar() + "'");
        continue;
      }
      Profile p;
      p.name = k.Scalar();
      p.limits = policy_->limits;
      const std::string what = "profile '" + p.name + "'";
      for_each_key(it->second, kProfileKeys, what.c_str(),
                   [&](const std::string& key, const YAML::Node&, const YAML::Node& v) {
                     if (key == "description") {
                       scalar(v, key);
                     } else if (key == "on_error") {
                       if (auto a = action(v, key)) p.on_error = *a;
                     } else if (key == "on_limit") {
                       if (auto a = action(v, key)) p.on_limit = *a;
                     } else if (key == "default") {
                       if (auto a = action(v, key)) p.default_action = *a;
                     } else if (key == "limits") {
                       compile_limits(v, p.limits);
                     } else if (key == "rules") {
                       compile_rules(v, p);
                     }
                   });
      policy_->profiles.push_back(std::move(p));
    }
  }

  void compile_rules(const YAML::Node& n, Profile& p) {
    if (!n.IsSequence()) {
      error(n, "'rules' must be a list of rules, not " + std::string(type_name(n)));
      return;
    }
    std::set<std::string> names;
    for (const auto& r : n) {
      Rule rule;
      rule.line = r.Mark().line + 1;
      bool has_name = false, has_action = false;
      for_each_key(r, kRuleKeys, "rule",
                   [&](const std::string& key, const YAML::Node&, const YAML::Node& v) {
                     if (key == "name") {
                       if (auto s = scalar(v, "name")) {
                         has_name = true;
                         rule.name = *s;
                         if (s->empty())
                           error(v, "rule 'name' must not be empty");
                         else if (!names.insert(*s).second)
                           error(v, "duplicate rule name '" + *s + "' in profile '" + p.name + "'");
                       }
                     } else if (key == "description") {
                       scalar(v, key);
                     } else if (key == "when") {
                       compile_condition(v, rule.when, 0);
                     } else if (key == "action") {
                       has_action = true;
                       if (auto a = action(v, "action")) rule.action = *a;
                     }
                   });
      if (!r.IsMap()) continue;
      if (!has_name) error(r, "rule needs a 'name'");
      if (!has_action) error(r, "rule needs an 'action'");
      p.rules.push_back(std::move(rule));
    }
  }

  // A condition mapping: one key is that condition, several keys all hold.
  void compile_condition(const YAML::Node& n, Condition& out, int depth) {
    if (depth > kMaxConditionDepth) {
      error(n, "conditions nested too deeply (more than 32 levels)");
      return;
    }
    if (!n.IsMap() || n.size() == 0) {
      error(n, std::string("a condition must be a mapping such as {type: pe}, not ") +
                   (n.IsMap() ? "an empty mapping" : type_name(n)));
      return;
    }
    std::vector<Condition> parts;
    for_each_key(n, kConditionKeys, "condition",
                 [&](const std::string& key, const YAML::Node&, const YAML::Node& v) {
                   Condition c;
                   compile_leaf(key, v, c, depth);
                   c.text = key + ": " + render(v);
                   parts.push_back(std::move(c));
                 });
    if (parts.size() == 1) {
      out = std::move(parts[0]);
    } else {
      out.kind = Condition::Kind::all;
      out.text = render(n);
      out.children = std::move(parts);
    }
  }

  // `{list: NAME}` as the value of a condition: the named list, of kind `want`.
  bool list_ref(const YAML::Node& v, ListKind want, const std::string& key, NamedList* out) {
    if (!v.IsMap()) return false;
    bool found = false;
    for_each_key(v, std::array<std::string_view, 1>{"list"}, key.c_str(),
                 [&](const std::string&, const YAML::Node&, const YAML::Node& val) {
                   auto s = scalar(val, "list");
                   if (!s) return;
                   auto it = policy_->lists.find(*s);
                   if (it == policy_->lists.end()) {
                     std::vector<std::string_view> names;
                     for (const auto& [nm, l] : policy_->lists) names.push_back(nm);
                     error(val, "unknown list '" + *s + "'" + hint(*s, names));
                     return;
                   }
                   if (bad_lists_.count(*s)) return;
                   if (it->second.kind != want) {
                     error(val, "list '" + *s + "' is of kind '" +
                                    std::string(kListKinds[static_cast<int>(it->second.kind)]) +
                                    "' but '" + key + "' needs a list of kind '" +
                                    std::string(kListKinds[static_cast<int>(want)]) + "'");
                     return;
                   }
                   *out = it->second;
                   found = true;
                 });
    if (!found && !has_key(v, "list")) error(v, "'" + key + "' takes values or {list: NAME}");
    return true;
  }

  // Inline values or a list reference, for set-valued conditions.
  void value_set(const YAML::Node& v, ListKind kind, const std::string& key, Condition& c) {
    NamedList ref;
    if (list_ref(v, kind, key, &ref)) {
      c.strings = ref.strings;
      c.addresses = ref.addresses;
      c.networks = ref.networks;
      return;
    }
    NamedList inline_list;
    auto strings = std::make_shared<StringSet>();
    auto addrs = std::make_shared<AddressSet>();
    auto nets = std::make_shared<NetworkSet>();
    for (auto& [s, node] : scalars(v, key)) {
      std::string msg = add_entry(kind, s, inline_list, strings.get(), addrs.get(), nets.get());
      if (!msg.empty()) error(node, msg);
    }
    c.strings = strings;
    c.addresses = addrs;
    c.networks = nets;
  }

  void globs(const YAML::Node& v, const std::string& key, bool icase, Condition& c) {
    for (auto& [s, node] : scalars(v, key)) {
      std::string err;
      if (s.empty()) {
        error(node, "empty pattern in '" + key + "'");
        continue;
      }
      auto g = Glob::compile(s, icase, &err);
      if (!g) {
        error(node, err);
        continue;
      }
      c.globs.push_back(std::move(*g));
    }
  }

  void labels(const YAML::Node& v, const std::string& key, Condition& c) {
    for (auto& [s, node] : scalars(v, key)) {
      if (!is_known_type_label(s)) {
        error(node, "unknown type label '" + s + "'" + hint(s, labels_));
        continue;
      }
      c.labels.push_back(s);
    }
  }

  void comparison(const YAML::Node& v, const std::string& key, bool sizes, Condition& c) {
    if (!v.IsScalar()) {
      error(v, "'" + key + "' must be a comparison such as '> 10MiB'");
      return;
    }
    std::string_view s = v.Scalar();
    auto trim = [](std::string_view x) {
      while (!x.empty() && (x.front() == ' ' || x.front() == '\t')) x.remove_prefix(1);
      return x;
    };
    s = trim(s);
    static const std::pair<std::string_view, CmpOp> ops[] = {
        {"<=", CmpOp::le}, {">=", CmpOp::ge}, {"==", CmpOp::eq}, {"!=", CmpOp::ne},
        {"<", CmpOp::lt},  {">", CmpOp::gt},  {"=", CmpOp::eq}};
    c.cmp.op = CmpOp::eq;
    for (const auto& [tok, op] : ops) {
      if (s.substr(0, tok.size()) == tok) {
        c.cmp.op = op;
        s = trim(s.substr(tok.size()));
        break;
      }
    }
    if (sizes) {
      std::string err;
      auto x = parse_size(s, &err);
      if (!x) {
        error(v, "'" + key + "': " + err);
        return;
      }
      c.cmp.value = *x;
    } else {
      uint64_t x = 0;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
      if (s.empty() || ec != std::errc() || p != s.data() + s.size()) {
        error(v, "'" + key + "' must be a comparison such as '>= 2'");
        return;
      }
      c.cmp.value = x;
    }
  }

  void finding_ids(const YAML::Node& v, Condition& c) {
    globs(v, "finding", false, c);
    for (const auto& g : c.globs) {
      bool any = false;
      for (auto id : finding_ids_)
        if (g.match(id)) {
          any = true;
          break;
        }
      if (any) continue;
      // Locate the node of this pattern for the message.
      // (YAML::Node assignment would rebind the tree, so remember the mark.)
      YAML::Mark where = v.Mark();
      if (v.IsSequence())
        for (size_t i = 0; i < v.size(); ++i)
          if (v[i].IsScalar() && v[i].Scalar() == g.pattern()) where = v[i].Mark();
      if (g.is_literal()) {
        add(file_, where.line, where.column,
            "unknown finding id '" + g.pattern() + "'" + hint(g.pattern(), finding_ids_), false);
      } else {
        // A glob may name findings of analyzers that are not linked yet
        // (e.g. office.vba.*): a warning, so the policy still loads.
        add(file_, where.line, where.column,
            "finding pattern '" + g.pattern() + "' matches no finding id known to this build",
            true);
      }
    }
  }

  void compile_leaf(const std::string& key, const YAML::Node& v, Condition& c, int depth) {
    using K = Condition::Kind;
    if (key == "all" || key == "any") {
      c.kind = key == "all" ? K::all : K::any;
      if (!v.IsSequence() || v.size() == 0) {
        error(v, "'" + key + "' must be a non-empty list of conditions");
        return;
      }
      for (const auto& item : v) {
        Condition ch;
        compile_condition(item, ch, depth + 1);
        c.children.push_back(std::move(ch));
      }
    } else if (key == "not") {
      c.kind = K::not_;
      Condition ch;
      compile_condition(v, ch, depth + 1);
      if (ch.text.empty()) ch.text = render(v);
      c.children.push_back(std::move(ch));
    } else if (key == "type" || key == "inside") {
      c.kind = key == "type" ? K::type : K::inside;
      labels(v, key, c);
    } else if (key == "mime") {
      c.kind = K::mime;
      globs(v, key, true, c);
    } else if (key == "extension") {
      c.kind = K::extension;
      for (auto& [s, node] : scalars(v, key)) {
        std::string e = ascii_lower(s);
        if (!e.empty() && e.front() == '.') e.erase(0, 1);
        if (e.empty() || e.find_first_of("/*?[ ") != std::string::npos) {
          error(node, "'" + s + "' is not a file name extension (write 'exe', not '*.exe')");
          continue;
        }
        c.labels.push_back(e);
      }
    } else if (key == "name") {
      c.kind = K::name;
      globs(v, key, true, c);
    } else if (key == "size") {
      c.kind = K::size;
      comparison(v, key, true, c);
    } else if (key == "depth") {
      c.kind = K::depth;
      comparison(v, key, false, c);
    } else if (key == "finding") {
      c.kind = K::finding;
      if (v.IsMap()) {
        bool has_id = false;
        for_each_key(v, kFindingKeys, "finding",
                     [&](const std::string& k, const YAML::Node&, const YAML::Node& val) {
                       if (k == "id") {
                         has_id = true;
                         finding_ids(val, c);
                       } else {
                         auto s = scalar(val, "severity");
                         if (!s) return;
                         auto sev = parse_severity(*s);
                         if (!sev) {
                           error(val, "unknown severity '" + *s + "'" + hint(*s, kSeverityNames) +
                                          " (info, low, medium, high, critical)");
                         } else {
                           c.min_severity = *sev;
                         }
                       }
                     });
        if (!has_id) {
          // {severity: high} alone: any finding at least that severe.
          std::string err;
          c.globs.push_back(*Glob::compile("*", false, &err));
        }
      } else {
        finding_ids(v, c);
      }
    } else if (key == "fact") {
      c.kind = K::fact;
      bool has_key_ = false;
      for_each_key(v, kFactKeys, "fact",
                   [&](const std::string& k, const YAML::Node&, const YAML::Node& val) {
                     if (k == "key") {
                       if (auto s = scalar(val, "key")) {
                         has_key_ = !s->empty();
                         c.key = *s;
                       }
                     } else {
                       globs(val, "value", false, c);
                     }
                   });
      if (v.IsMap() && !has_key_) error(v, "'fact' needs a non-empty 'key'");
    } else if (key == "encrypted") {
      c.kind = K::encrypted;
      if (auto b = boolean(v, key)) c.flag = *b;
    } else if (key == "sha256") {
      c.kind = K::sha256;
      value_set(v, ListKind::sha256, key, c);
    } else if (key == "signer") {
      c.kind = K::all;
      for_each_key(v, kSignerKeys, "signer",
                   [&](const std::string& k, const YAML::Node&, const YAML::Node& val) {
                     Condition s;
                     s.text = "signer." + k + ": " + render(val);
                     if (k == "subject") {
                       s.kind = K::signer_subject;
                       NamedList ref;
                       if (list_ref(val, ListKind::subject, "signer.subject", &ref)) {
                         s.strings = ref.strings;
                       } else {
                         globs(val, "signer.subject", true, s);
                       }
                     } else if (k == "thumbprint") {
                       s.kind = K::signer_thumbprint;
                       value_set(val, ListKind::thumbprint, "signer.thumbprint", s);
                     } else if (k == "valid") {
                       s.kind = K::signer_valid;
                       if (auto b = boolean(val, "signer.valid")) s.flag = *b;
                     } else {
                       s.kind = K::signed_;
                       if (auto b = boolean(val, "signer.present")) s.flag = *b;
                     }
                     c.children.push_back(std::move(s));
                   });
      if (v.IsMap() && v.size() == 0)
        error(v, "'signer' needs subject, thumbprint, valid or present");
    } else if (key == "channel") {
      c.kind = K::channel;
      for (auto& [s, node] : scalars(v, key)) {
        if (std::find(std::begin(kChannels), std::end(kChannels), s) == std::end(kChannels)) {
          error(node, "unknown channel '" + s + "'" + hint(s, kChannels) + " (mail, upload)");
          continue;
        }
        c.labels.push_back(s);
      }
    } else if (key == "profile") {
      c.kind = K::profile;
      for (auto& [s, node] : scalars(v, key)) {
        profile_refs_.emplace_back(s, node.Mark());
        c.labels.push_back(s);
      }
    } else if (key == "sender" || key == "recipient") {
      c.kind = key == "sender" ? K::sender : K::recipient;
      value_set(v, ListKind::address, key, c);
    } else if (key == "client") {
      c.kind = K::client;
      value_set(v, ListKind::network, key, c);
    }
  }

  std::string file_;
  std::string base_dir_;
  std::shared_ptr<CompiledPolicy> policy_;
  std::vector<Diagnostic> diags_;
  int errors_ = 0;
  std::vector<std::string> included_;
  std::string manifest_;
  std::string plain_sha_;
  std::vector<std::string_view> finding_ids_;
  std::deque<std::string> yara_ids_;  // owns the yara.RULE ids in finding_ids_
  std::vector<std::string_view> labels_;
  std::set<std::string> bad_lists_;
  std::vector<std::pair<std::string, YAML::Mark>> profile_refs_;
};

}  // namespace

std::string Diagnostic::format() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " +
         (warning ? "warning: " : "") + message;
}

size_t LoadResult::error_count() const {
  return static_cast<size_t>(std::count_if(diagnostics.begin(), diagnostics.end(),
                                           [](const Diagnostic& d) { return !d.warning; }));
}

LoadResult load_policy_text(std::string_view text, const std::string& display_path,
                            const std::string& base_dir) {
  try {
    Loader loader(display_path, base_dir);
    return loader.run(text);
  } catch (const std::exception& e) {
    // yaml-cpp throws for a few malformed node accesses; never let one escape.
    LoadResult r;
    r.files.push_back(display_path);
    r.diagnostics.push_back({display_path, 1, 1, std::string("cannot load policy: ") + e.what()});
    return r;
  }
}

LoadResult load_policy_file(const std::string& path) {
  std::string data, err;
  if (!read_file(path, &data, &err)) {
    LoadResult r;
    r.files.push_back(path);
    r.diagnostics.push_back({path, 1, 1, "cannot read policy file: " + err});
    return r;
  }
  std::string base = std::filesystem::path(path).parent_path().string();
  return load_policy_text(data, path, base);
}

std::optional<uint64_t> parse_size(std::string_view text, std::string* error) {
  auto fail = [&](std::string msg) -> std::optional<uint64_t> {
    if (error) *error = std::move(msg);
    return std::nullopt;
  };
  std::string_view s = text;
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  size_t i = 0;
  while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
  std::string_view num = s.substr(0, i);
  std::string unit = ascii_lower(s.substr(i));
  while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  if (num.empty()) return fail("'" + std::string(text) + "' is not a size such as 512MiB or 1GB");
  double value = 0;
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), value);
  if (ec != std::errc() || p != num.data() + num.size())
    return fail("'" + std::string(text) + "' is not a size such as 512MiB or 1GB");
  static const std::pair<std::string_view, double> units[] = {{"", 1},
                                                              {"b", 1},
                                                              {"k", 1e3},
                                                              {"kb", 1e3},
                                                              {"m", 1e6},
                                                              {"mb", 1e6},
                                                              {"g", 1e9},
                                                              {"gb", 1e9},
                                                              {"t", 1e12},
                                                              {"tb", 1e12},
                                                              {"kib", 1024.0},
                                                              {"mib", 1048576.0},
                                                              {"gib", 1073741824.0},
                                                              {"tib", 1099511627776.0}};
  for (const auto& [u, mult] : units) {
    if (unit == u) {
      double bytes = value * mult;
      if (!(bytes < 1.8e19)) return fail("size '" + std::string(text) + "' is too large");
      if (bytes != std::floor(bytes))
        return fail("size '" + std::string(text) + "' is not a whole number of bytes");
      return static_cast<uint64_t>(bytes);
    }
  }
  std::string_view names[] = {"B", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB"};
  std::string_view shown = s.substr(i);
  while (!shown.empty() && shown.front() == ' ') shown.remove_prefix(1);
  // Two-letter units are all one typo apart: a hint would be a guess.
  std::string h = shown.size() > 2 ? closest_match(shown, names) : std::string();
  return fail("unknown size unit '" + std::string(shown) + "'" +
              (h.empty() ? std::string() : "; did you mean '" + h + "'?") +
              " (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)");
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string closest_match(std::string_view word, std::span<const std::string_view> candidates) {
  std::string w = ascii_lower(word);
  size_t best = std::string::npos;
  std::string_view best_c;
  for (auto c : candidates) {
    size_t d = edit_distance(w, ascii_lower(c));
    if (d < best) {
      best = d;
      best_c = c;
    }
  }
  // Close enough to be a typo: a third of the word, at least 1, at most 3.
  size_t allowed = std::clamp<size_t>(w.size() / 3, 1, 3);
  if (best == std::string::npos || best == 0 || best > allowed) return {};
  return std::string(best_c);
}

}  // namespace sandgate::policy_lang
