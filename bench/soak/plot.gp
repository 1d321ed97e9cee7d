# Plots the soak's per-minute CSV (bench/soak/run.sh calls it):
#   gnuplot -e "csv='soak.csv'; png='soak.png'; warm=5; rate='900'; capacity='1800'; cores=2" plot.gp
# Columns: see kCsvHeader in soak_driver.cpp.
# CSVs written since the machine columns exist get a fourth panel with them.
if (!exists("cores")) cores = 2
machine = strstrt(system(sprintf("head -1 '%s'", csv)), "machine_busy_percent") > 0
height = machine ? 1450 : 1150
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size 1100,height font "sans,10"
} else {
  set terminal png size 1100,height
}
set output png
set datafile separator ","
set key autotitle columnhead
set key outside right top vertical
set grid ytics
set xlabel "minute"
set xtics 1
stats csv using 1 nooutput
set xrange [0.5:STATS_max + 0.5]
set arrow 1 from warm + 0.5, graph 0 to warm + 0.5, graph 1 nohead dashtype 2 linecolor rgb "#555555"
set y2range [0:1]
unset y2tics
set style fill transparent solid 0.18 noborder
set boxwidth 1.0
set lmargin 10
set rmargin 32
set multiplot layout (machine ? 4 : 3),1 title sprintf("bookmcp soak: %s calls/s open loop (about half of the measured %s calls/s), HTTP + WebSocket + stdio, Postgres", rate, capacity)

set title "latency per minute, from the instant each call was due (dashed line: end of warm-up)"
set ylabel "ms"
set logscale y
plot csv using 1:($5 > 0 ? 1 : 0) axes x1y2 with boxes linecolor rgb "#999999" title "Postgres restarted", \
     csv using 1:17 with linespoints pointtype 7 pointsize 0.6 linewidth 2 linecolor rgb "#1b9e77" title "p50, all", \
     csv using 1:18 with linespoints pointtype 7 pointsize 0.6 linewidth 2 linecolor rgb "#000000" title "p99, all", \
     csv using 1:10 with lines dashtype 2 linecolor rgb "#d95f02" title "p99, HTTP", \
     csv using 1:13 with lines dashtype 2 linecolor rgb "#7570b3" title "p99, WebSocket", \
     csv using 1:16 with lines dashtype 2 linecolor rgb "#e7298a" title "p99, stdio"
unset logscale y

set ylabel "MiB"
set yrange [0:*]
if (machine) {
  set title "resident memory (VmRSS read every second: the minute's mean, and its highest reading)"
  plot csv using 1:($5 > 0 ? 1 : 0) axes x1y2 with boxes linecolor rgb "#999999" title "Postgres restarted", \
       csv using 1:35 with linespoints pointtype 7 pointsize 0.6 linewidth 2 linecolor rgb "#1b9e77" title "bookmcp --listen, mean", \
       csv using 1:36 with lines dashtype 2 linecolor rgb "#1b9e77" title "bookmcp --listen, highest", \
       csv using 1:37 with linespoints pointtype 5 pointsize 0.6 linewidth 2 linecolor rgb "#7570b3" title "bookmcp --stdio, mean", \
       csv using 1:38 with lines dashtype 2 linecolor rgb "#7570b3" title "bookmcp --stdio, highest"
} else {
  set title "resident memory (VmRSS at the end of each minute)"
  plot csv using 1:($5 > 0 ? 1 : 0) axes x1y2 with boxes linecolor rgb "#999999" title "Postgres restarted", \
       csv using 1:20 with linespoints pointtype 7 pointsize 0.6 linewidth 2 title "bookmcp --listen", \
       csv using 1:23 with linespoints pointtype 5 pointsize 0.6 linewidth 2 title "bookmcp --stdio"
}

set title "open file descriptors"
set ylabel "descriptors"
plot csv using 1:($5 > 0 ? 1 : 0) axes x1y2 with boxes linecolor rgb "#999999" title "Postgres restarted", \
     csv using 1:21 with linespoints pointtype 7 pointsize 0.6 linewidth 2 title "bookmcp --listen", \
     csv using 1:24 with linespoints pointtype 5 pointsize 0.6 linewidth 2 title "bookmcp --stdio"

if (machine) {
  set title sprintf("the machine (%d cores, shared with other jobs): CPU busy, and the CPU each server used", cores)
  set ylabel "% (100 = one core)"
  set yrange [0:*]
  plot csv using 1:($5 > 0 ? 1 : 0) axes x1y2 with boxes linecolor rgb "#999999" title "Postgres restarted", \
       csv using 1:($32 * cores) with linespoints pointtype 7 pointsize 0.6 linewidth 2 linecolor rgb "#000000" title sprintf("machine busy (%d = all cores)", 100 * cores), \
       csv using 1:33 with linespoints pointtype 7 pointsize 0.6 linewidth 2 title "bookmcp --listen", \
       csv using 1:34 with linespoints pointtype 5 pointsize 0.6 linewidth 2 title "bookmcp --stdio"
}
unset multiplot
