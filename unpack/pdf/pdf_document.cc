// PDF inspection with qpdf: see pdf_document.h for the contract. Everything
// qpdf does happens inside try/catch; warnings are counted, never printed.
#include "unpack/pdf/pdf_document.h"

// JSON.hh first: QPDFObjectHandle.hh uses JSON in inline code, and clang
// with C++20 wants the type complete at that point.
#include <qpdf/JSON.hh>
#include <qpdf/Pipeline.hh>
#include <qpdf/QPDF.hh>
#include <qpdf/QPDFExc.hh>
#include <qpdf/QPDFLogger.hh>
#include <qpdf/QPDFObjectHandle.hh>
#include <qpdf/QPDFXRefEntry.hh>

#include <algorithm>
#include <chrono>
#include <climits>
#include <map>
#include <set>

#include "unpack/pdf/pdf_input_source.h"

namespace sandgate {

namespace {

constexpr size_t kMaxListed = 32;                       // evidence entries per feature
constexpr size_t kMaxSnippet = 160;                     // characters of a script shown
constexpr size_t kMaxScriptRead = 16 * 1024;            // bytes of a /JS stream decoded
constexpr uint64_t kMaxObjectStreamBytes = 64ull << 20;  // decoded object stream cap
constexpr int kMaxDepth = 32;                           // nesting of direct objects
constexpr int kMaxArrayItems = 100000;
constexpr int kMaxActionChain = 16;                     // /Next links followed

struct StopPipe {};

// A Pipeline that hands blocks to a sink and stops (by throwing StopPipe,
// which qpdf either propagates or turns into a failed pipeStreamData) once
// the sink refuses or the cap is passed.
class CappedPipeline final : public Pipeline {
 public:
  CappedPipeline(uint64_t cap, std::function<bool(std::string_view)> sink)
      : Pipeline("sandgate-capped", nullptr), cap_(cap), sink_(std::move(sink)) {}
  void write(unsigned char const* data, size_t len) override {
    if (stopped_) throw StopPipe{};
    if (len > cap_ - std::min(cap_, total_)) {
      len = static_cast<size_t>(cap_ - std::min(cap_, total_));
      overflow_ = true;
    }
    total_ += len;
    if (sink_ && len > 0 && !sink_(std::string_view(reinterpret_cast<const char*>(data), len))) {
      stopped_ = true;
      throw StopPipe{};
    }
    if (overflow_) {
      stopped_ = true;
      throw StopPipe{};
    }
  }
  void finish() override {}
  bool overflow() const { return overflow_; }
  bool stopped() const { return stopped_; }
  uint64_t total() const { return total_; }

 private:
  uint64_t cap_;
  uint64_t total_ = 0;
  bool overflow_ = false, stopped_ = false;
  std::function<bool(std::string_view)> sink_;
};

// Pipes a stream's decoded data; returns true when qpdf decoded it all
// (or the sink chose to stop). Never throws.
bool pipe_stream(QPDFObjectHandle stream, CappedPipeline& p, std::string* error) {
  try {
    bool filtered = false;
    bool ok = stream.pipeStreamData(&p, &filtered, 0, qpdf_dl_specialized,
                                    /*suppress_warnings=*/true, /*will_retry=*/false);
    if (p.stopped() && !p.overflow()) return true;
    if (!ok && error) *error = "stream filters could not be decoded";
    return ok && !p.overflow();
  } catch (const StopPipe&) {
    return !p.overflow();
  } catch (const std::exception& e) {
    if (p.stopped() && !p.overflow()) return true;
    if (error) *error = e.what();
    return false;
  } catch (...) {
    if (error) *error = "stream could not be read";
    return false;
  }
}

std::string printable(std::string_view s, size_t cap) {
  std::string out;
  for (char c : s) {
    if (out.size() >= cap) {
      out += "...";
      break;
    }
    unsigned char u = static_cast<unsigned char>(c);
    if (u == '\n' || u == '\r' || u == '\t') out.push_back(' ');
    else if (u < 0x20 || u == 0x7f) out.push_back('.');
    else out.push_back(c);
  }
  return out;
}

void add(std::vector<std::string>& v, std::string s) {
  if (v.size() < kMaxListed) v.push_back(std::move(s));
}

std::string ref(QPDFObjGen og) { return "obj " + std::to_string(og.getObj()); }

class Walker {
 public:
  // hits: where the raw scan saw active-content names; null walks every
  // object. With hits, only the uncompressed objects whose bytes hold one of
  // them are resolved (and every compressed object: the raw scan cannot see
  // inside object streams).
  Walker(QPDF& q, PdfFeatures& f, const PdfInspectOptions& opt, const PdfRawHits* hits)
      : q_(q), f_(f), opt_(opt), hits_(hits), start_(std::chrono::steady_clock::now()) {}

  void run() {
    xref_ = q_.getXRefTable();
    f_.objects = xref_.size();
    if (hits_) select_objects();
    check_object_streams();
    try {
      visit(q_.getTrailer(), QPDFObjGen(), 0);
    } catch (const std::exception&) {
      ++f_.warnings;
    }
    for (const auto& [og, entry] : xref_) {
      if (out_of_budget()) break;
      if (entry.getType() == 2 && bad_objstm_.count(entry.getObjStreamNumber())) continue;
      if (entry.getType() == 0) continue;
      if (entry.getType() == 1 && hits_ && !selected_.count(og)) continue;
      ++f_.examined;
      in_object_stream_ = entry.getType() == 2;
      try {
        QPDFObjectHandle h = q_.getObject(og);
        visit(h, og, 0);
      } catch (const std::exception&) {
        ++f_.warnings;
        f_.damaged = true;
        // qpdf would decode a failing object stream again for each of its
        // objects; one failure is enough.
        if (entry.getType() == 2) bad_objstm_.insert(entry.getObjStreamNumber());
      }
    }
    finish_embedded();
  }

 private:
  bool out_of_budget() {
    if (f_.examined >= opt_.max_objects) {
      mark_incomplete("more than " + std::to_string(opt_.max_objects) + " objects");
      return true;
    }
    if ((f_.examined & 7) == 0) {
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      if (s > opt_.max_seconds) {
        mark_incomplete("the object walk ran out of time");
        return true;
      }
    }
    return false;
  }

  // Maps each raw hit offset to the uncompressed object whose bytes hold it
  // (the object with the greatest start offset at or before the hit).
  void select_objects() {
    std::vector<std::pair<qpdf_offset_t, QPDFObjGen>> starts;
    for (const auto& [og, entry] : xref_)
      if (entry.getType() == 1) starts.emplace_back(entry.getOffset(), og);
    std::sort(starts.begin(), starts.end());
    for (uint64_t off : hits_->offsets) {
      auto it = std::upper_bound(starts.begin(), starts.end(),
                                 std::make_pair(static_cast<qpdf_offset_t>(off), QPDFObjGen(INT_MAX, INT_MAX)));
      if (it == starts.begin()) continue;  // before the first object: header or garbage
      selected_.insert(std::prev(it)->second);
    }
  }

  void mark_incomplete(std::string why) {
    if (!f_.incomplete) f_.incomplete_reason = std::move(why);
    f_.incomplete = true;
  }

  // qpdf decodes a whole object stream into memory when one of its objects
  // is first used; measure each one through a capped pipe first.
  void check_object_streams() {
    std::set<int> streams;
    for (const auto& [og, entry] : xref_)
      if (entry.getType() == 2) streams.insert(entry.getObjStreamNumber());
    for (int n : streams) {
      // Only a stream too large to expand is skipped: one that fails to
      // decode is still handed to qpdf, which recovers what it can (a
      // deliberately broken stream must not hide the objects before the break).
      bool ok = false, too_big = false;
      try {
        auto it = xref_.find(QPDFObjGen(n, 0));
        if (it != xref_.end() && it->second.getType() == 1) {
          QPDFObjectHandle s = q_.getObject(n, 0);
          if (s.isStream()) {
            CappedPipeline p(kMaxObjectStreamBytes, nullptr);
            ok = pipe_stream(s, p, nullptr);
            too_big = p.overflow();
          }
        }
      } catch (const std::exception&) {
        ok = false;
      }
      if (too_big) {
        mark_incomplete("an object stream decodes to more than 64 MiB");
        bad_objstm_.insert(n);
      }
      if (!ok) {
        f_.damaged = true;
        ++f_.warnings;
      }
    }
  }

  // Returns h, or null when h refers into an object stream we refused.
  QPDFObjectHandle safe(QPDFObjectHandle h) {
    if (!h.isIndirect()) return h;
    auto it = xref_.find(h.getObjGen());
    if (it != xref_.end() && it->second.getType() == 2 &&
        bad_objstm_.count(it->second.getObjStreamNumber()))
      return QPDFObjectHandle::newNull();
    return h;
  }

  static std::string name_of(QPDFObjectHandle h) { return h.isName() ? h.getName() : ""; }

  std::string text_of(QPDFObjectHandle h, size_t cap) {
    h = safe(h);
    if (h.isString()) return printable(h.getUTF8Value(), cap);
    if (h.isStream()) {
      std::string text;
      CappedPipeline p(kMaxScriptRead, [&](std::string_view b) {
        text.append(b);
        return true;
      });
      pipe_stream(h, p, nullptr);
      return printable(text, cap);
    }
    return "";
  }

  // Describes the script of a /JS value (string or stream).
  std::string script_of(QPDFObjectHandle js) {
    if (!opt_.collect_snippets) return "";
    std::string s = text_of(js, kMaxSnippet);
    return s.empty() ? "" : ": " + s;
  }

  // True when an action (or its /Next chain) runs JavaScript or starts a program.
  // budget bounds the nodes looked at: /Next arrays can fan out.
  bool runs_script(QPDFObjectHandle a) {
    int budget = 256;
    return runs_script(a, 0, budget);
  }
  bool runs_script(QPDFObjectHandle a, int depth, int& budget) {
    if (depth > kMaxActionChain || --budget < 0) return false;
    a = safe(a);
    if (a.isArray()) {
      int n = std::min(a.getArrayNItems(), 64);
      for (int i = 0; i < n && budget > 0; ++i)
        if (runs_script(a.getArrayItem(i), depth + 1, budget)) return true;
      return false;
    }
    if (!a.isDictionary()) return false;
    std::string s = name_of(a.getKey("/S"));
    if (s == "/JavaScript" || s == "/Launch" || a.hasKey("/JS")) return true;
    if (a.hasKey("/Next")) return runs_script(a.getKey("/Next"), depth + 1, budget);
    return false;
  }

  std::string describe_action(QPDFObjectHandle a) {
    QPDFObjectHandle r = safe(a);
    std::string where = a.isIndirect() ? " (" + ref(a.getObjGen()) + ")" : "";
    if (r.isArray()) return "destination" + where;
    if (r.isDictionary()) {
      std::string s = name_of(r.getKey("/S"));
      return (s.empty() ? std::string("action") : s) + where;
    }
    return "action" + where;
  }

  void visit(QPDFObjectHandle h, QPDFObjGen owner, int depth) {
    if (depth > kMaxDepth) return;
    if (h.isStream()) {
      QPDFObjectHandle d = h.getDict();
      if (name_of(d.getKey("/Type")) == "/EmbeddedFile") {
        int64_t size = -1;
        QPDFObjectHandle params = safe(d.getKey("/Params"));
        if (params.isDictionary()) {
          QPDFObjectHandle sz = safe(params.getKey("/Size"));
          if (sz.isInteger()) size = sz.getIntValue();
        }
        embedded_streams_[owner] = size;
      }
      visit_dict(d, owner, depth + 1);
    } else if (h.isDictionary()) {
      visit_dict(h, owner, depth + 1);
    } else if (h.isArray()) {
      int n = std::min(h.getArrayNItems(), kMaxArrayItems);
      for (int i = 0; i < n; ++i) {
        QPDFObjectHandle item = h.getArrayItem(i);
        if (!item.isIndirect()) visit(item, owner, depth + 1);
      }
    }
  }

  void visit_dict(QPDFObjectHandle d, QPDFObjGen owner, int depth) {
    const std::string where = owner.getObj() ? ref(owner) : std::string("trailer");
    std::map<std::string, QPDFObjectHandle> keys = d.getDictAsMap();
    auto get = [&](const char* k) {
      auto it = keys.find(k);
      return it == keys.end() ? QPDFObjectHandle::newNull() : it->second;
    };
    const std::string s = name_of(get("/S"));
    if (s == "/JavaScript" || keys.count("/JS")) {
      // Snippets only for the entries listed (each may decode a stream).
      if (f_.javascript.size() < kMaxListed) add(f_.javascript, where + script_of(get("/JS")));
      ++f_.javascript_count;
    }
    if (s == "/Launch") {
      std::string target;
      QPDFObjectHandle file = safe(get("/F"));
      if (file.isString()) target = file.getUTF8Value();
      else if (file.isDictionary()) target = text_of(file.getKey("/F"), 200);
      QPDFObjectHandle win = safe(get("/Win"));
      if (win.isDictionary()) {
        std::string f = text_of(win.getKey("/F"), 200), p = text_of(win.getKey("/P"), 200);
        target += (target.empty() ? "" : " ") + f + (p.empty() ? "" : " " + p);
      }
      add(f_.launch, where + (target.empty() ? "" : ": " + printable(target, 200)));
    }
    if (s == "/SubmitForm") {
      QPDFObjectHandle file = safe(get("/F"));
      std::string url = file.isString() ? file.getUTF8Value()
                        : file.isDictionary() ? text_of(file.getKey("/F"), 200) : "";
      add(f_.submitform, where + (url.empty() ? "" : ": " + printable(url, 200)));
    }
    if (s == "/GoToR" || s == "/GoToE") {
      QPDFObjectHandle file = safe(get("/F"));
      std::string target = file.isString() ? file.getUTF8Value()
                           : file.isDictionary() ? text_of(file.getKey("/F"), 200) : "";
      add(f_.gotor, where + " " + s + (target.empty() ? "" : ": " + printable(target, 200)));
    }
    // With raw hits, URIs of uncompressed objects come from the raw scan.
    if ((s == "/URI" || keys.count("/URI")) && (!hits_ || in_object_stream_)) {
      QPDFObjectHandle uri = safe(get("/URI"));
      if (uri.isString()) {
        ++f_.uri_count;
        add(f_.uris, printable(uri.getUTF8Value(), 300));
      }
    }
    if (keys.count("/JavaScript") && s != "/JavaScript") {
      QPDFObjectHandle tree = safe(get("/JavaScript"));
      if (tree.isDictionary()) add(f_.javascript, where + ": document-level JavaScript name tree");
    }
    if (keys.count("/OpenAction")) {
      QPDFObjectHandle a = get("/OpenAction");
      QPDFObjectHandle r = safe(a);
      if (r.isDictionary()) {  // a destination array only opens a page
        add(f_.openaction, where + ": " + describe_action(a));
        if (runs_script(a)) f_.openaction_runs_script = true;
      }
    }
    if (keys.count("/AA")) {
      QPDFObjectHandle aa = safe(get("/AA"));
      if (aa.isDictionary()) {
        for (auto& [trigger, action] : aa.getDictAsMap()) {
          add(f_.auto_actions, where + " " + trigger + ": " + describe_action(action));
          if (runs_script(action)) f_.auto_action_runs_script = true;
        }
      }
    }
    if (keys.count("/EF")) {
      QPDFObjectHandle ef = safe(get("/EF"));
      std::string name;
      for (const char* k : {"/UF", "/F", "/DOS", "/Unix", "/Mac"}) {
        QPDFObjectHandle n = safe(get(k));
        if (n.isString()) {
          name = n.getUTF8Value();
          if (!name.empty()) break;
        }
      }
      if (ef.isDictionary()) {
        for (auto& [k, v] : ef.getDictAsMap()) {
          if (!v.isIndirect()) continue;
          auto& slot = embedded_names_[v.getObjGen()];
          if (slot.empty()) slot = name;
        }
      }
    }
    if (s == "/RichMediaExecute" || name_of(get("/Subtype")) == "/RichMedia" ||
        keys.count("/RichMediaContent"))
      add(f_.richmedia, where);
    if (keys.count("/XFA")) add(f_.xfa, where);

    for (auto& [k, v] : keys)
      if (!v.isIndirect() && (v.isDictionary() || v.isArray() || v.isStream()))
        visit(v, owner, depth + 1);
  }

  void finish_embedded() {
    std::set<QPDFObjGen> seen;
    auto push = [&](QPDFObjGen og, const std::string& name, int64_t size) {
      if (!seen.insert(og).second) return;
      PdfEmbeddedFile e;
      e.obj = og.getObj();
      e.gen = og.getGen();
      e.name = name;
      e.declared_size = size;
      f_.embedded.push_back(std::move(e));
    };
    for (auto& [og, name] : embedded_names_) {
      auto it = embedded_streams_.find(og);
      // A /EF entry that is not a stream typed /EmbeddedFile still counts when
      // it is a stream at all (the /Type key is optional in practice).
      if (it != embedded_streams_.end()) {
        push(og, name, it->second);
      } else {
        try {
          QPDFObjectHandle h = safe(q_.getObject(og));
          if (h.isStream()) push(og, name, -1);
        } catch (const std::exception&) {
          ++f_.warnings;
        }
      }
    }
    for (auto& [og, size] : embedded_streams_) push(og, "", size);
  }

  QPDF& q_;
  PdfFeatures& f_;
  const PdfInspectOptions& opt_;
  const PdfRawHits* hits_;
  std::set<QPDFObjGen> selected_;
  bool in_object_stream_ = false;
  std::chrono::steady_clock::time_point start_;
  std::map<QPDFObjGen, QPDFXRefEntry> xref_;
  std::set<int> bad_objstm_;
  std::map<QPDFObjGen, std::string> embedded_names_;
  std::map<QPDFObjGen, int64_t> embedded_streams_;
};

// Opens src with qpdf: quiet, recovering, never printing.
std::unique_ptr<QPDF> open_qpdf(ByteSourcePtr src, PdfFeatures& f) {
  auto q = std::make_unique<QPDF>();
  try {
    auto logger = QPDFLogger::create();
    logger->setInfo(logger->discard());
    logger->setWarn(logger->discard());
    logger->setError(logger->discard());
    q->setLogger(logger);
    q->setSuppressWarnings(true);
    q->setAttemptRecovery(true);
    q->processInputSource(std::make_shared<ByteSourceInput>(std::move(src), "pdf"));
    f.parsed = true;
    f.encrypted = q->isEncrypted();
    return q;
  } catch (const QPDFExc& e) {
    f.parse_error = e.what();
    if (e.getErrorCode() == qpdf_e_password) f.needs_password = f.encrypted = true;
  } catch (const std::exception& e) {
    f.parse_error = e.what();
  } catch (...) {
    f.parse_error = "qpdf failed";
  }
  return nullptr;
}

void merge_raw(PdfFeatures& raw, PdfFeatures& f) {
  f.raw_scanned = true;
  auto fill = [](std::vector<std::string>& dst, std::vector<std::string>& from) {
    if (dst.empty()) dst = std::move(from);
  };
  fill(f.javascript, raw.javascript);
  fill(f.launch, raw.launch);
  if (f.openaction.empty()) {
    f.openaction = std::move(raw.openaction);
    f.openaction_runs_script |= raw.openaction_runs_script;
  }
  if (f.auto_actions.empty()) {
    f.auto_actions = std::move(raw.auto_actions);
    f.auto_action_runs_script |= raw.auto_action_runs_script;
  }
  if (f.embedded.empty()) f.embedded = std::move(raw.embedded);
  fill(f.richmedia, raw.richmedia);
  fill(f.xfa, raw.xfa);
  fill(f.submitform, raw.submitform);
  fill(f.gotor, raw.gotor);
  if (f.uris.empty()) {
    f.uris = std::move(raw.uris);
    f.uri_count = std::max(f.uri_count, raw.uri_count);
  }
  f.encrypted |= raw.encrypted;
}

void finish_warnings(QPDF& q, PdfFeatures& f) {
  try {
    f.warnings += q.numWarnings();
  } catch (...) {
  }
  if (f.warnings > 0) f.damaged = true;
}

}  // namespace

PdfFeatures inspect_pdf(ByteSourcePtr src, const PdfInspectOptions& opt) {
  PdfFeatures f;
  if (!src) return f;
  PdfFeatures raw;
  PdfRawHits hits;
  raw_scan_pdf(*src, raw, &hits);
  auto q = open_qpdf(src, f);
  if (q) {
    // Only a clean open lets offsets be trusted; a repaired file is walked whole.
    bool trust = !hits.overflow && q->numWarnings() == 0;
    if (trust) {  // URIs of uncompressed objects: see Walker::visit_dict
      f.uris = raw.uris;
      f.uri_count = raw.uri_count;
    }
    try {
      Walker(*q, f, opt, trust ? &hits : nullptr).run();
    } catch (const std::exception& e) {
      f.damaged = true;
      ++f.warnings;
    } catch (...) {
      f.damaged = true;
      ++f.warnings;
    }
    finish_warnings(*q, f);
  }
  if (!f.parsed || f.damaged) merge_raw(raw, f);
  return f;
}

PdfFeatures extract_pdf_embedded(ByteSourcePtr src, const PdfInspectOptions& opt,
                                 const PdfEmbeddedVisitor& visitor) {
  PdfFeatures f;
  if (!src) return f;
  PdfInspectOptions o = opt;
  o.collect_snippets = false;
  auto q = open_qpdf(src, f);
  if (!q) return f;
  try {
    Walker(*q, f, o, nullptr).run();
  } catch (...) {
    f.damaged = true;
  }
  for (const PdfEmbeddedFile& e : f.embedded) {
    if (e.obj <= 0) continue;
    if (visitor.begin && !visitor.begin(e)) break;
    std::string error;
    bool ok = false;
    try {
      QPDFObjectHandle h = q->getObject(e.obj, e.gen);
      if (h.isStream()) {
        CappedPipeline p(UINT64_MAX, visitor.sink);
        ok = pipe_stream(h, p, &error);
      } else {
        error = "not a stream";
      }
    } catch (const std::exception& ex) {
      error = ex.what();
    } catch (...) {
      error = "stream could not be read";
    }
    if (visitor.end) visitor.end(e, ok, error);
  }
  finish_warnings(*q, f);
  return f;
}

}  // namespace sandgate
