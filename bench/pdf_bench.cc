// pdf_bench: time the PDF path (qpdf walk of every object in the PDF
// analyzer, then the unpacker, which skips a second parse when the analyzer
// found no embedded files) on a ~5 MB PDF built in memory: 300 pages with
// text content streams, 12 image XObjects of ~300 KB, an outline of links.
// Prints the median of the runs. Usage: pdf_bench [runs] [file.pdf]
// (pdf_bench 1 --write FILE writes the generated PDF instead).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "analyzers/analyzer.h"
#include "unpack/type_detect.h"
#include "unpack/unpacker.h"

namespace {

std::string build_pdf() {
  std::vector<std::string> objs;  // index i is object i+1
  const int pages = 300, images = 12;
  // 1 catalog, 2 pages, 3 font, then per page: page + content; then images.
  objs.push_back("<< /Type /Catalog /Pages 2 0 R >>");
  std::string kids;
  int first_page = 4;
  for (int p = 0; p < pages; ++p) kids += std::to_string(first_page + 2 * p) + " 0 R ";
  objs.push_back("<< /Type /Pages /Kids [" + kids + "] /Count " + std::to_string(pages) + " >>");
  objs.push_back("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
  int first_image = first_page + 2 * pages;
  std::mt19937 rng(5);
  for (int p = 0; p < pages; ++p) {
    int img = first_image + p % images;
    objs.push_back("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents " +
                   std::to_string(first_page + 2 * p + 1) +
                   " 0 R /Resources << /Font << /F1 3 0 R >> /XObject << /Im1 " +
                   std::to_string(img) + " 0 R >> >> /Annots [<< /Type /Annot /Subtype /Link "
                   "/Rect [0 0 10 10] /A << /S /URI /URI (https://example.com/p" +
                   std::to_string(p) + ") >> >>] >>");
    std::string content = "BT /F1 10 Tf 72 720 Td\n";
    while (content.size() < 5000)
      content += "(Experience, education and references of the candidate, line " +
                 std::to_string(content.size()) + ") Tj 0 -12 Td\n";
    content += "ET q 100 0 0 100 400 600 cm /Im1 Do Q\n";
    objs.push_back("<< /Length " + std::to_string(content.size()) + " >>\nstream\n" + content +
                   "\nendstream");
  }
  for (int i = 0; i < images; ++i) {
    std::string data(300 * 1024, '\0');
    for (auto& c : data) c = static_cast<char>(rng());
    objs.push_back("<< /Type /XObject /Subtype /Image /Width 400 /Height 400 /ColorSpace "
                   "/DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode /Length " +
                   std::to_string(data.size()) + " >>\nstream\n" + data + "\nendstream");
  }
  std::string out = "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n";
  std::vector<size_t> offs;
  for (size_t i = 0; i < objs.size(); ++i) {
    offs.push_back(out.size());
    out += std::to_string(i + 1) + " 0 obj\n" + objs[i] + "\nendobj\n";
  }
  size_t x = out.size();
  out += "xref\n0 " + std::to_string(objs.size() + 1) + "\n0000000000 65535 f \n";
  char line[32];
  for (size_t o : offs) {
    std::snprintf(line, sizeof line, "%010zu 00000 n \n", o);
    out += line;
  }
  out += "trailer\n<< /Size " + std::to_string(objs.size() + 1) + " /Root 1 0 R >>\nstartxref\n" +
         std::to_string(x) + "\n%%EOF\n";
  return out;
}

class NullContext final : public sandgate::UnpackContext {
 public:
  std::unique_ptr<sandgate::ChildWriter> begin_child(sandgate::ChildInfo) override { return nullptr; }
  bool emit_child(sandgate::ChildInfo, sandgate::ByteSourcePtr) override { return true; }
  void add_finding(sandgate::Finding) override {}
  bool should_stop() const override { return false; }
  const sandgate::Limits& limits() const override { return limits_; }
  bool account_output(uint64_t) override { return true; }

 private:
  sandgate::Limits limits_;
};

}  // namespace

int main(int argc, char** argv) {
  int runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 21;
  sandgate::ByteSourcePtr src;
  if (argc > 3 && std::string(argv[2]) == "--write") {
    std::string pdf = build_pdf();
    FILE* f = std::fopen(argv[3], "wb");
    if (!f || std::fwrite(pdf.data(), 1, pdf.size(), f) != pdf.size()) return 2;
    std::fclose(f);
    return 0;
  }
  if (argc > 2) {
    std::string err;
    src = sandgate::open_file_source(argv[2], &err);
    if (!src) {
      std::fprintf(stderr, "pdf_bench: %s\n", err.c_str());
      return 2;
    }
  } else {
    src = sandgate::memory_source(build_pdf());
  }
  auto analyzers = sandgate::AnalyzerRegistry::instance().create_all();
  // Wall time, and this thread's CPU time: on a shared machine the second
  // is what the PDF path itself costs.
  auto cpu_ms = [] {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
  };
  std::vector<double> ms, cpu;
  size_t findings = 0;
  std::string objects, examined;
  for (int i = 0; i < runs; ++i) {
    sandgate::Object obj;
    obj.bytes = src;
    obj.size = src->size();
    obj.type.label = "pdf";
    obj.type.mime = "application/pdf";
    double c0 = cpu_ms();
    auto t0 = std::chrono::steady_clock::now();
    for (auto& a : analyzers)
      if (a->name() == "pdf") a->analyze(obj);
    NullContext ctx;
    if (auto u = sandgate::UnpackerRegistry::instance().create("pdf")) u->unpack(obj, ctx);
    auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    cpu.push_back(cpu_ms() - c0);
    findings = obj.findings.size();
    objects = obj.facts["pdf.objects"];
    examined = obj.facts["pdf.objects_examined"];
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpu.begin(), cpu.end());
  std::printf("pdf_bench: %.2f MB PDF, %s objects (%s examined), %zu findings, %d runs (PDF analyzer + "
              "unpacker): wall median %.3f ms (min %.3f, max %.3f); CPU median %.3f ms (min %.3f)\n",
              src->size() / 1e6, objects.c_str(), examined.c_str(), findings, runs, ms[ms.size() / 2], ms.front(),
              ms.back(), cpu[cpu.size() / 2], cpu.front());
  return 0;
}
