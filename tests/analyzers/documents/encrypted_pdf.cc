// See encrypted_pdf.h.
#include "tests/analyzers/documents/encrypted_pdf.h"

#include <qpdf/Buffer.hh>
#include <qpdf/QPDF.hh>
#include <qpdf/QPDFWriter.hh>

namespace sandgate::testing {

std::string encrypted_pdf(const std::string& pdf, const char* user) {
  QPDF q;
  q.processMemoryFile("fixture.pdf", pdf.data(), pdf.size());
  QPDFWriter w(q);
  w.setOutputMemory();
  w.setR6EncryptionParameters(user, "owner-password", true, true, true, true, true, true,
                              qpdf_r3p_full, true);
  w.write();
  auto buf = w.getBufferSharedPointer();
  return std::string(reinterpret_cast<const char*>(buf->getBuffer()), buf->getSize());
}

}  // namespace sandgate::testing
