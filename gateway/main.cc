// sandgate: the entry point. Everything happens in run_cli; nothing escapes as
// an uncaught exception or a stack trace.
#include <malloc.h>

#include <exception>
#include <iostream>

#include "gateway/cli.h"

int main(int argc, char** argv) {
  // std::cout stays synchronised with stdio: libraries flush it from scan
  // threads (qpdf's QPDFLogger flushes std::cout when it is destroyed), and an
  // unsynchronised cout's buffer is not thread-safe (that printed reports twice).
  // Child buffers of up to 1 MiB come and go for every object: keep them on the
  // heap instead of a fresh mmap (and zeroed pages) each time.
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  mallopt(M_TRIM_THRESHOLD, 16 << 20);
  try {
    return sandgate::run_cli(std::vector<std::string>(argv + 1, argv + argc), std::cout,
                             std::cerr);
  } catch (const std::exception& e) {
    std::cerr << "sandgate: internal error: " << e.what() << "\n";
  } catch (...) {
    std::cerr << "sandgate: internal error\n";
  }
  return 2;
}
