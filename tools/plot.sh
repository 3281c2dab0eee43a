#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Plot a benchmark's results: `make plot`, or
#
#	tools/plot.sh [LOG [OUT]]
#
# LOG is a console log of `make bench` (default: the newest
# build/logs/bench-*.log) or the output of tools/bench itself; OUT is the
# PNG to write (default build/performance.png; `make plot
# OUT=Documentation/performance.png` for the image beside performance.rst).
# LOG= and OUT= in the environment do the same as the arguments.
#
# It reads only the "BENCH backend metric dev= tmpfs= ratio=" lines and the
# "#" notes bench prints, and draws two panels with gnuplot (Debian's
# gnuplot-nox, installed here if missing): (a) the fault_window sweep, the
# first-touch ratio to tmpfs against the window; (b) PTE against PMD, the
# sequential and random first-touch ratios of pages0, vmalloc4 and pages9.
set -euo pipefail

# shellcheck source=SCRIPTDIR/rig/lib.sh
. "$(dirname "$0")/rig/lib.sh"

LOG=${1:-${LOG:-}}
OUT=${2:-${OUT:-$BUILD/performance.png}}

if [ -z "$LOG" ]; then
	# shellcheck disable=SC2012 # the rig's own names, newest first
	LOG=$(ls -t "$BUILD"/logs/bench-*.log 2>/dev/null | head -n 1 || true)
	[ -n "$LOG" ] || die "no $BUILD/logs/bench-*.log: run make bench first, or give LOG="
fi
[ -r "$LOG" ] || die "cannot read $LOG"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A console log holds bench's output twice (as it ran, then the results
# dump between markers): take the dump if there is one, else the file.
# Everything below reads this copy whole (no grep -q or head in a pipe,
# whose early exit pipefail would count as a failure).
tr -d '\r' <"$LOG" >"$tmp/log"
if grep '^@@RIG-RESULTS-BEGIN' "$tmp/log" >/dev/null; then
	sed -n '/^@@RIG-RESULTS-BEGIN/,/^@@RIG-RESULTS-END/p' "$tmp/log" >"$tmp/results"
else
	cp "$tmp/log" "$tmp/results"
fi
grep '^BENCH ' "$tmp/results" >/dev/null ||
	die "$LOG has no BENCH lines: not a bench log, or the bench failed"

# The first line of the results that sed script $1 prints.
first() {
	sed -n "$1" "$tmp/results" | sed -n 1p
}

# The ratio of backend $1, metric $2, or "?" (gnuplot's missing value).
ratio() {
	awk -v be="$1" -v m="$2" '
		$1 == "BENCH" && $2 == be && $3 == m && !found {
			for (i = 4; i <= NF; i++)
				if ($i ~ /^ratio=/) { print substr($i, 7); found = 1 }
		}
		END { if (!found) print "?" }' "$tmp/results"
}

need_packages gnuplot-nox

# (a) window N, ratio; sorted by N.
awk '$1 == "BENCH" && $3 ~ /^window[0-9]+$/ {
		for (i = 4; i <= NF; i++)
			if ($i ~ /^ratio=/) print substr($3, 7), substr($i, 7)
	}' "$tmp/results" | sort -n -u >"$tmp/sweep.dat"

# (b) label, sequential ratio, random ratio.  Whether pages9 took the PMD
# path is in bench's note: "PMD-mapped after it: N KiB".
pmd_kb=$(first 's/^# pages9: .*PMD-mapped after it: \([0-9]*\) KiB.*/\1/p')
case $(ratio pages9 seq_touch)-$pmd_kb in
\?-*)	pmd_label="pages9 (not in this log)" ;;
*-)	pmd_label="pages9 (PMD path unknown)" ;;
*-0)	pmd_label="pages9 (no PMD: PTEs)" ;;
*)	pmd_label="pages9 (PMD)" ;;
esac
{
	printf '"%s"\t%s\t%s\n' "pages0 (PTE)" "$(ratio pages0 seq_touch)" "$(ratio pages0 rand_touch)"
	printf '"%s"\t%s\t%s\n' "vmalloc4 (PTE)" "$(ratio vmalloc4 seq_touch)" "$(ratio vmalloc4 rand_touch)"
	printf '"%s"\t%s\t%s\n' "$pmd_label" "$(ratio pages9 seq_touch)" "$(ratio pages9 rand_touch)"
} >"$tmp/pte-pmd.dat"

# The title: the kernel (init's "rig: VERSION, job bench" line) and the run.
kernel=$(sed -n 's/^rig: \(.*\), job bench$/\1/p' "$tmp/log" | sed -n 1p)
run=$(first 's/^# bench: \([0-9]* MiB per test, median of [0-9]*\).*/\1/p')
pmd_kib=$(first 's/^# bench: a PMD maps \([0-9]*\) KiB.*/\1/p')
pmd_size="${pmd_kib:-2048} KiB"
[ "${pmd_kib:-2048}" = 2048 ] && pmd_size="2 MiB"
title="scullmap bench${kernel:+, kernel $kernel}${run:+: $run}; ratio = device / tmpfs, lower is faster"

sweep_plot="'$tmp/sweep.dat' using 1:2 with linespoints lw 2 pt 7 title 'pages0, sequential first touch'"
if [ ! -s "$tmp/sweep.dat" ]; then
	sweep_plot="1/0 notitle"
	sweep_note='set label 1 "no fault_window sweep in this log" at graph 0.5, graph 0.5 center; set xrange [1:256]'
fi

mkdir -p "$(dirname "$OUT")"
gnuplot <<EOF
set terminal pngcairo noenhanced size 1400,560 font "sans,11"
set output "$OUT"
set multiplot layout 1,2 title "${title//\"/\\\"}"
set datafile separator "\t"
set datafile missing "?"
set grid ytics
set key top right

# (a) the fault_window sweep
set title "(a) pages0: one fault maps up to fault_window pages"
set logscale x 2
set xlabel "fault_window (pages)"
set ylabel "first touch, device / tmpfs"
set yrange [0:*]
set datafile separator whitespace
${sweep_note:-}
plot $sweep_plot, 1 with lines dt 2 lc rgb "gray40" title "tmpfs"
unset label 1
unset logscale x

# (b) PTE against PMD
set title "(b) PTE runs against one PMD per $pmd_size quantum"
set datafile separator "\t"
set xlabel ""
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set xtics nomirror
set xrange [-0.6:2.6]
set yrange [0:*]
plot "$tmp/pte-pmd.dat" using 2:xtic(1) title "sequential" lc rgb "#3465a4", \
     "" using 3 title "random (shuffled pages)" lc rgb "#f57900", \
     "" using (\$0 - 1.0 / 6):(\$2):(sprintf("%.3f", \$2)) with labels offset 0,0.7 notitle, \
     "" using (\$0 + 1.0 / 6):(\$3):(sprintf("%.3f", \$3)) with labels offset 0,0.7 notitle, \
     1 with lines dt 2 lc rgb "gray40" title "tmpfs"
unset multiplot
EOF
say "plot: $LOG -> $OUT"
