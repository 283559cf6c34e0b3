// libFuzzer target for the compound file reader, the VBA project reader, the
// OLE2 unpacker and the Office analyzers (compound-file and part analyzers):
// any bytes must parse without crashing, hanging or allocating without bound.
// The first input byte picks the part name the part analyzer sees.
#include <cstddef>
#include <cstdint>
#include <string>

#include "analyzers/analyzer.h"
#include "fuzz/ole2/fuzz_context.h"
#include "unpack/ole2/cfb.h"
#include "unpack/ole2/vba_project.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sandgate;
  std::string bytes(reinterpret_cast<const char*>(data), size);
  auto src = memory_source(bytes);
  std::string error;
  if (auto f = cfb::CompoundFile::open(src, &error)) {
    for (const auto& e : f->entries()) f->read_stream(e, 1 << 20);
    ovba::read_projects(*f);
  }
  fuzzing::run_unpacker("ole2", src);

  static auto analyzers = AnalyzerRegistry::instance().create_all();
  static const char* kNames[] = {"word/vbaProject.bin", "word/_rels/settings.xml.rels",
                                 "word/document.xml", "xl/worksheets/sheet1.xml",
                                 "xl/externalLinks/externalLink1.xml", "[Content_Types].xml",
                                 "Basic/Standard/Module1.xml", "content.xml"};
  Object obj;
  obj.depth = 1;
  obj.name = kNames[size ? data[0] % 8 : 0];
  obj.type.label = "ole2";
  obj.size = size;
  obj.bytes = src;
  for (auto& a : analyzers)
    if (a->name().starts_with("office.")) a->analyze(obj);
  return 0;
}
