#!/bin/sh
# Runs libFuzzer targets on their committed seed corpora and prints one line
# per target: target, seconds, executions, result. Exit status 1 when any
# target found a crash, leak or timeout (the reproducer is kept and named).
#
#   fuzz/run.sh TARGET|all SECONDS [BUILD_DIR]
#
# FUZZ_JOBS=N runs N targets at a time (each libFuzzer process uses one core).
#
# BUILD_DIR (default build-fuzz) is a build made with
#   CXX=clang++ meson setup build-fuzz -Dfuzz=true && ninja -C build-fuzz
# Seeds are read from fuzz/corpus/TARGET and never written: new inputs go to a
# temporary directory, so a run leaves the repository unchanged.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
target=${1:?usage: fuzz/run.sh TARGET|all SECONDS [BUILD_DIR]}
seconds=${2:?usage: fuzz/run.sh TARGET|all SECONDS [BUILD_DIR]}
build=${3:-$root/build-fuzz}
[ -d "$build/fuzz" ] || { echo "no fuzz build in $build (see the comment in $0)" >&2; exit 2; }

if [ "$target" = all ]; then
  targets=$(find "$build/fuzz" -maxdepth 2 -type f -name 'fuzz_*' -perm -u+x | sed 's|.*/fuzz_||' | sort -u)
else
  targets=$target
fi
jobs=${FUZZ_JOBS:-1}
if [ "$jobs" -gt 1 ] && [ "$(echo $targets | wc -w)" -gt 1 ]; then
  # One run of this script per target, N at a time; xargs exits non-zero
  # when any of them did.
  [ -n "${FUZZ_NO_HEADER:-}" ] || printf '%-20s %8s %12s  %s\n' target seconds executions result
  echo $targets | tr ' ' '\n' |
    FUZZ_JOBS=1 FUZZ_NO_HEADER=1 xargs -P "$jobs" -I{} "$0" {} "$seconds" "$build"
  exit $?
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/sandgate-fuzz-XXXXXX")
artifacts=${FUZZ_ARTIFACTS:-$work/artifacts}
mkdir -p "$artifacts"
status=0
[ -n "${FUZZ_NO_HEADER:-}" ] || printf '%-20s %8s %12s  %s\n' target seconds executions result
for t in $targets; do
  bin=$build/fuzz/fuzz_$t
  [ -x "$bin" ] || bin=$build/fuzz/$t/fuzz_$t  # targets that define their own executable
  [ -x "$bin" ] || { echo "$t: no binary $bin" >&2; status=1; continue; }
  mkdir -p "$work/$t"
  seeds=$root/fuzz/corpus/$t
  [ -d "$seeds" ] || seeds=
  log=$work/$t.log
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$t-" "$work/$t" $seeds >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  if [ $rc -eq 0 ]; then
    result=ok
  else
    result="FAILED (exit $rc; log $log; reproducer in $artifacts)"
    status=1
  fi
  printf '%-20s %8s %12s  %s\n' "$t" "$seconds" "${execs:-?}" "$result"
done
[ $status -eq 0 ] && rm -rf "$work"
exit $status
