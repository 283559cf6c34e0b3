#!/usr/bin/env bash
# Sandgate setup: installs what a fresh Debian 12 machine lacks, builds, and
# then either runs the gateway on its embedded defaults or runs every test.
#
#   deploy/setup.sh run     install + build + run `sandgate serve` on its embedded
#                           defaults (HTTP on 127.0.0.1:8025, policies/default.yaml,
#                           data under ./var); prints a curl example first
#   deploy/setup.sh demo    install + build + scan two demo files with `sandgate scan`
#   deploy/setup.sh test    install + build + run the whole test suite
#   deploy/setup.sh deps    install the packages only
#   deploy/setup.sh build   install + build only
#
# Environment: BUILD_DIR (default build), SANITIZE=1 to also build with clang
# under AddressSanitizer + UndefinedBehaviorSanitizer with the libFuzzer
# targets (BUILD_DIR-asan), run the test suite there and run every fuzz target
# for FUZZ_SECONDS (default 15) on its seed corpus: CI does.
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}

# Build and runtime dependencies, then the real tools the tests build fixtures with.
PACKAGES=(
  g++ meson ninja-build pkg-config cmake
  libpoco-dev libarchive-dev libmagic-dev libmagic-mgc libssl-dev doctest-dev
  libyaml-cpp-dev libyara-dev libqpdf-dev libseccomp-dev libpq-dev
  libvhdi-dev libfsntfs-dev libfshfs-dev libfsapfs-dev
  python3 file zip unzip 7zip genisoimage xorriso cpio gcab lhasa arj
  gzip bzip2 xz-utils zstd lz4 lzip
  gcc-mingw-w64-x86-64-win32 osslsigncode openssl curl
  clang libclang-rt-14-dev lld
  swaks libnet-ssleay-perl postfix postgresql
  mtools qemu-utils ntfs-3g gdisk fdisk dmg2img
)

install_deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "setup: installing ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  # Postfix is only a test peer (tests/e2e/test_postfix.py runs private
  # instances with `postfix -c DIR`): answer its debconf question with "No
  # configuration" so the install neither prompts nor sets up and starts a
  # system MTA on port 25.
  if [[ " ${missing[*]} " == *" postfix "* ]]; then
    printf '%s\n' 'postfix postfix/main_mailer_type select No configuration' \
      'postfix postfix/mailname string localhost' | "${sudo[@]}" debconf-set-selections
  fi
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() {
  if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    meson setup "$BUILD_DIR" . >/dev/null
  fi
  ninja -C "$BUILD_DIR"
}

# Prints the closing line CI reads ("N passed, N failed") from meson's log.
summarise() {
  python3 - "$@" <<'PY'
import json, sys
passed = failed = skipped = 0
for log in sys.argv[1:]:
    for line in open(log):
        r = json.loads(line)
        res = r.get("result")
        if res in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif res == "SKIP":
            skipped += 1
        else:
            failed += 1
            print("FAILED:", r.get("name"), res)
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
}

run_tests() {
  local logs=() status=0 fuzz_failed=0
  meson test -C "$BUILD_DIR" --print-errorlogs --num-processes 2 || status=1
  logs+=("$BUILD_DIR/meson-logs/testlog.json")
  if [ "${SANITIZE:-0}" = 1 ]; then
    local asan="${BUILD_DIR}-asan"
    # clang, so that the same instrumented build also links the libFuzzer
    # targets (fuzz/): one sanitizer build serves the suite and the fuzz smoke.
    # lld links its 59 instrumented binaries in a fifth of GNU ld's time.
    if [ ! -f "$asan/build.ninja" ]; then
      CC=clang CXX=clang++ CC_LD=lld CXX_LD=lld meson setup "$asan" . -Db_sanitize=address,undefined \
        -Db_lundef=false -Dbuildtype=debug -Dfuzz=true -Dbench=false >/dev/null
    fi
    ninja -C "$asan"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    LSAN_OPTIONS=suppressions="$PWD/tests/lsan.supp":print_suppressions=0 \
      meson test -C "$asan" --print-errorlogs --num-processes 2 --suite unpack --suite analyzers \
      --suite policies --suite gateway --suite e2e || status=1
    logs+=("$asan/meson-logs/testlog.json")
    # Fuzz smoke: every target on its seed corpus, two at a time; a crash,
    # leak or timeout fails the run (the reproducer's path is printed).
    FUZZ_JOBS=2 fuzz/run.sh all "${FUZZ_SECONDS:-15}" "$asan" || { status=1; fuzz_failed=1; }
  fi
  summarise "${logs[@]}"
  [ "${fuzz_failed:-0}" = 1 ] && echo "FAILED: fuzz smoke (see the table above)"
  return $status
}

demo() {
  # A demo input: an offer letter and a disguised executable in a zip.
  local dir=var/demo
  mkdir -p "$dir"
  printf 'Dear candidate,\nplease find our offer attached.\n' > "$dir/letter.txt"
  python3 - "$dir/Job_offer.pdf.exe" <<'PY'
import struct, sys
pe = bytearray(1024)
pe[0:2] = b"MZ"; struct.pack_into("<I", pe, 0x3c, 0x80)
pe[0x80:0x84] = b"PE\0\0"
struct.pack_into("<HHIIIHH", pe, 0x84, 0x8664, 1, 0, 0, 0, 0xF0, 0x22)
struct.pack_into("<H", pe, 0x98, 0x20B)
open(sys.argv[1], "wb").write(pe)
PY
  rm -f "$dir/offer.zip"
  (cd "$dir" && zip -q offer.zip letter.txt Job_offer.pdf.exe)
  echo "setup: scanning $dir/letter.txt and $dir/offer.zip with the built-in policy" >&2
  "$BUILD_DIR/gateway/sandgate" scan "$dir/letter.txt" "$dir/offer.zip" || true
}

# The service on its embedded defaults, in the foreground (Ctrl-C or SIGTERM
# stops it gracefully; SIGHUP reloads the policy).
serve() {
  mkdir -p var/demo
  printf 'Dear candidate,\nplease find our offer attached.\n' > var/demo/letter.txt
  cat >&2 <<'EOF'
setup: starting `sandgate serve` on http://127.0.0.1:8025 (policy policies/default.yaml, data in ./var).
setup: in another terminal, scan a file with:

  curl -sS --data-binary @var/demo/letter.txt -H 'Content-Type: application/octet-stream' \
       'http://127.0.0.1:8025/v1/scan?filename=letter.txt&profile=upload'

setup: health: curl -sS http://127.0.0.1:8025/readyz   metrics: curl -sS http://127.0.0.1:8025/metrics
EOF
  exec "$BUILD_DIR/gateway/sandgate" serve --http 127.0.0.1:8025 --data-dir var --policy policies/default.yaml
}

case "${1:-}" in
  deps) install_deps ;;
  build) install_deps; build ;;
  run) install_deps; build; serve ;;
  demo) install_deps; build; demo ;;
  test) install_deps; build; run_tests ;;
  *) echo "usage: $0 run|test|demo|deps|build" >&2; exit 2 ;;
esac
