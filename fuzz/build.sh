#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# fuzz/build.sh [OUTDIR]: build the libFuzzer harnesses of the option and
# config parsers (lib/vs_conf.c) with clang, AddressSanitizer and UBSan,
# into OUTDIR (default build-fuzz/). Needs clang and libclang-rt-14-dev
# (apt-get install -y clang libclang-rt-14-dev) and libdpdk-dev.
#
#   fuzz/build.sh /tmp/vsfuzz
#   /tmp/vsfuzz/fuzz_conf_args fuzz/corpus/fuzz_conf_args -max_total_time=30
#   /tmp/vsfuzz/fuzz_conf_file fuzz/corpus/fuzz_conf_file -max_total_time=30
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
OUT=${1:-$REPO/build-fuzz}
CC=${CC:-clang}
mkdir -p "$OUT"

command -v "$CC" >/dev/null || {
	echo "build.sh: $CC not found (apt-get install -y clang libclang-rt-14-dev)" >&2
	exit 1
}
# -march from libdpdk.pc stays: rte_config.h wants the same ISA as DPDK.
DPDK_CFLAGS=$(pkg-config --cflags libdpdk)
DPDK_LIBS="-lrte_cfgfile -lrte_eal"
CFLAGS="-g -O1 -fno-omit-frame-pointer -std=gnu11 -DALLOW_EXPERIMENTAL_API \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-I$REPO/lib -I$HERE"

for h in fuzz_conf_args fuzz_conf_file; do
	# shellcheck disable=SC2086
	"$CC" $CFLAGS $DPDK_CFLAGS -o "$OUT/$h" "$HERE/$h.c" \
		"$REPO/lib/vs_conf.c" $DPDK_LIBS
	echo "build.sh: $OUT/$h"
done
