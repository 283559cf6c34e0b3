// `sandgate policy check FILE...`: validates policy files, printing every
// error as FILE:LINE:COL: message (exit 0 valid, 1 invalid, 2 usage).
// `sandgate policy explain --policy FILE [--profile NAME] INPUT...`: scans each
// input with the policy and prints, per object, every rule tried, what it
// matched on and which rule decided, so a change can be tested before it is
// deployed (exit 0, 1 invalid policy, 2 usage or I/O error).
#include "gateway/policy_command.h"

#include <filesystem>
#include <iomanip>
#include <ostream>

#include "gateway/engine.h"
#include "policies/language/policy_loader.h"
#include "policies/language/yaml_policy.h"

namespace sandgate {

namespace {

using policy_lang::Explanation;
using policy_lang::LoadResult;
using policy_lang::YamlPolicy;

constexpr const char* kUsage =
    "usage: sandgate policy check FILE...\n"
    "       sandgate policy explain --policy FILE [--profile NAME] [--channel mail|upload]\n"
    "                               [--sender ADDR] [--recipient ADDR]... [--client IP] INPUT...\n";

void print_diagnostics(const LoadResult& r, std::ostream& err) {
  for (const auto& d : r.diagnostics) err << d.format() << "\n";
}

int check(const std::vector<std::string>& files, std::ostream& out, std::ostream& err) {
  if (files.empty()) {
    err << kUsage;
    return 2;
  }
  int rc = 0;
  for (const auto& f : files) {
    LoadResult r = policy_lang::load_policy_file(f);
    print_diagnostics(r, err);
    if (!r.ok()) {
      err << f << ": " << r.error_count() << " error(s)\n";
      rc = 1;
      continue;
    }
    const auto& p = *r.policy;
    out << f << ": ok: policy '" << p.name << "', profiles";
    for (const auto& prof : p.profiles)
      out << " " << prof.name << " (" << prof.rules.size() << " rules)";
    out << ", sha256 " << p.sha256 << "\n";
  }
  return rc;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void print_explanation(const Explanation& e, const Report& report, std::ostream& out) {
  const auto& objects = report.objects;
  for (size_t i = 0; i < e.objects.size() && i < objects.size(); ++i) {
    const auto& ot = e.objects[i];
    const Object& o = objects[i];
    out << "[" << o.index << "] " << o.path << "\n"
        << "    type " << o.type.label << " (" << o.type.mime << "), " << o.size << " bytes, depth "
        << o.depth << (o.encrypted ? ", encrypted" : "") << "\n";
    if (o.findings.empty()) {
      out << "    findings: none\n";
    } else {
      for (const auto& f : o.findings)
        out << "    finding " << f.id << " (" << severity_name(f.severity) << ")"
            << (f.message.empty() ? "" : ": " + f.message) << "\n";
    }
    for (size_t r = 0; r < ot.rules.size(); ++r) {
      const auto& rt = ot.rules[r];
      out << "    rule '" << rt.rule->name << "' (line " << rt.rule->line << "): ";
      if (rt.matched) {
        out << "MATCH on " << rt.witness << " -> " << action_name(rt.rule->action)
            << (static_cast<int>(r) == ot.deciding_rule ? "  [decides]" : "") << "\n";
      } else {
        out << "no match\n";
      }
    }
    if (ot.deciding_rule < 0)
      out << "    no rule matched: profile default -> " << action_name(ot.rule_action) << "\n";
    if (!ot.on_error_finding.empty())
      out << "    on_error (" << ot.on_error_finding << ") applies\n";
    if (!ot.on_limit_finding.empty())
      out << "    on_limit (" << ot.on_limit_finding << ") applies\n";
    out << "    => " << action_name(ot.action) << "\n";
  }
  out << "decision: " << action_name(e.decision.action) << " (verdict "
      << (e.decision.verdict_pass() ? "pass" : "quarantine") << ")\n";
  for (const auto& r : e.decision.reasons)
    out << "  reason: rule '" << r.rule << "', object '" << r.object << "', matched '" << r.finding
        << "'\n";
}

int explain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string policy_file, profile, channel, sender, client;
  std::vector<std::string> recipients, inputs;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* dst) {
      if (i + 1 >= args.size()) return false;
      *dst = args[++i];
      return true;
    };
    bool ok = true;
    if (a == "--policy") {
      ok = value(&policy_file);
    } else if (a == "--profile") {
      ok = value(&profile);
    } else if (a == "--channel") {
      ok = value(&channel);
    } else if (a == "--sender") {
      ok = value(&sender);
    } else if (a == "--client") {
      ok = value(&client);
    } else if (a == "--recipient") {
      std::string r;
      ok = value(&r);
      recipients.push_back(r);
    } else if (a.size() > 1 && a[0] == '-') {
      err << "sandgate policy explain: unknown option " << a << "\n" << kUsage;
      return 2;
    } else {
      inputs.push_back(a);
    }
    if (!ok) {
      err << "sandgate policy explain: " << a << " needs a value\n" << kUsage;
      return 2;
    }
  }
  if (policy_file.empty() || inputs.empty()) {
    err << kUsage;
    return 2;
  }
  if (!channel.empty() && channel != "mail" && channel != "upload") {
    err << "sandgate policy explain: --channel is mail or upload\n";
    return 2;
  }
  LoadResult r = policy_lang::load_policy_file(policy_file);
  print_diagnostics(r, err);
  if (!r.ok()) return 1;
  auto policy = std::make_shared<const YamlPolicy>(r.policy);
  if (!profile.empty() && !policy->compiled().find_profile(profile)) {
    err << "sandgate policy explain: policy '" << r.policy->name << "' has no profile '" << profile
        << "'\n";
    return 2;
  }
  out << "policy '" << r.policy->name << "' (" << policy_file << ", sha256 " << r.policy->sha256
      << ")\n";
  int rc = 0;
  for (const auto& input : inputs) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(input, ec)) {
      err << "sandgate policy explain: " << input << ": not a readable file\n";
      rc = 2;
      continue;
    }
    Submission sub;
    sub.spool_path = input;
    sub.name = std::filesystem::path(input).filename().string();
    // As `sandgate scan`: a .eml is a mail message, anything else an upload.
    sub.facts.channel = !channel.empty() ? channel : (ends_with(input, ".eml") ? "mail" : "upload");
    sub.facts.profile = profile;
    sub.facts.sender = sender;
    sub.facts.recipients = recipients;
    sub.facts.client_address = client;
    sub.facts.file_name = sub.name;
    Report report = scan_submission(sub, *policy);
    Explanation e = policy->explain(report.objects, sub.facts);
    out << "\ninput " << input << " (channel " << sub.facts.channel << ", profile " << e.profile
        << ")\n";
    if (!e.profile_found) out << "  profile '" << e.profile << "' is not in this policy\n";
    print_explanation(e, report, out);
  }
  return rc;
}

}  // namespace

int run_policy_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    err << kUsage;
    return 2;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "check") return check(rest, out, err);
  if (args[0] == "explain") return explain(rest, out, err);
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    out << kUsage;
    return 0;
  }
  err << "sandgate policy: unknown command '" << args[0] << "'\n" << kUsage;
  return 2;
}

std::shared_ptr<const Policy> load_policy_for_cli(const std::string& path, std::ostream& err) {
  LoadResult r = policy_lang::load_policy_file(path);
  print_diagnostics(r, err);
  if (!r.ok()) return nullptr;
  return std::make_shared<const YamlPolicy>(r.policy);
}

}  // namespace sandgate
