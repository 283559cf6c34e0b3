#!/bin/sh
# Issue 9 item 5: image bytes walked per second for a 1 GB FAT32 image
# holding 1,000 files (target: at least 300 MB/s on the 2-core build machine).
# Prints the median of RUNS runs for (a) the image readers alone
# (image_walk_bench: FAT walk + reading every file) and (b) `sandgate scan`
# end to end (which adds three digests, type detection and the analyzers on
# every file), plus the same image wrapped in a dynamic VHDX.
#
# usage: bench/image_walk.sh [BUILD_DIR] [RUNS]   (default build-img, 3)
set -eu
BUILD=${1:-build-img}
RUNS=${2:-3}
WALK="$BUILD/tests/unpack/image/image_walk_bench"
SANDGATE="$BUILD/gateway/sandgate"
for t in mformat mcopy qemu-img; do
  command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 2; }
done
[ -x "$WALK" ] || ninja -C "$BUILD" tests/unpack/image/image_walk_bench
[ -x "$SANDGATE" ] || ninja -C "$BUILD" gateway/sandgate

DIR=$(mktemp -d /tmp/sandgate-image-bench-XXXXXX)
trap 'rm -rf "$DIR"' EXIT INT TERM
# 1,000 files of 900 KiB (about 880 MiB of file data, under the default
# 1 GiB total-bytes limit) in 10 directories of a 1 GiB FAT32 volume.
mkdir -p "$DIR/files"
head -c $((900 * 1024)) /dev/urandom >"$DIR/seed"
i=0
while [ $i -lt 1000 ]; do
  d="$DIR/files/dir$((i % 10))"
  mkdir -p "$d"
  # A distinct first block per file so no two are identical.
  { printf 'file %06d ' $i; tail -c +12 "$DIR/seed"; } >"$d/file$i.bin"
  i=$((i + 1))
done
truncate -s 1G "$DIR/fat.img"
mformat -i "$DIR/fat.img" -F -c 8 ::
mcopy -s -i "$DIR/fat.img" "$DIR/files/"* ::/
qemu-img convert -f raw -O vhdx "$DIR/fat.img" "$DIR/fat.vhdx"
rm -rf "$DIR/files"
SIZE=$(stat -c %s "$DIR/fat.img")
cat "$DIR/fat.img" >/dev/null  # page cache warm, as a spool file would be

echo "== readers only (FAT32 image, $SIZE bytes)"
"$WALK" "$DIR/fat.img" "$RUNS" | tail -1
echo "== readers only (the same volume in a VHDX)"
"$WALK" "$DIR/fat.vhdx" "$RUNS" | tail -1

echo "== sandgate scan end to end (FAT32 image)"
rates=""
r=0
while [ $r -lt "$RUNS" ]; do
  start=$(date +%s.%N)
  "$SANDGATE" scan "$DIR/fat.img" >"$DIR/report.json" || true
  end=$(date +%s.%N)
  rates="$rates $(echo "$SIZE / ($end - $start) / 1000000" | bc -l)"
  r=$((r + 1))
done
objects=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(len(r['objects']), r['verdict'], r['limits']['hit'])" "$DIR/report.json")
echo "objects, verdict, limits hit: $objects"
echo "$rates" | tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {printf "median: %.0f MB/s of image bytes scanned\n", a[int((NR+1)/2)]}'
