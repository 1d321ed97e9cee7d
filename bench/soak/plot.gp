# Plots the soak's per-minute CSV (bench/soak/run.sh calls it):
#   gnuplot -e "csv='soak.csv'; png='soak.png'; warm=5; rate='900'; capacity='1800'" plot.gp
# Columns: see kCsvHeader in soak_driver.cpp.
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size 1100,1150 font "sans,10"
} else {
  set terminal png size 1100,1150
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
set multiplot layout 3,1 title sprintf("bookmcp soak: %s calls/s open loop (about half of the measured %s calls/s), HTTP + WebSocket + stdio, Postgres", rate, capacity)

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

set title "resident memory (VmRSS)"
set ylabel "MiB"
set yrange [0:*]
plot csv using 1:($5 > 0 ? 1 : 0) axes x1y2 with boxes linecolor rgb "#999999" title "Postgres restarted", \
     csv using 1:20 with linespoints pointtype 7 pointsize 0.6 linewidth 2 title "bookmcp --listen", \
     csv using 1:23 with linespoints pointtype 5 pointsize 0.6 linewidth 2 title "bookmcp --stdio"

set title "open file descriptors"
set ylabel "descriptors"
plot csv using 1:($5 > 0 ? 1 : 0) axes x1y2 with boxes linecolor rgb "#999999" title "Postgres restarted", \
     csv using 1:21 with linespoints pointtype 7 pointsize 0.6 linewidth 2 title "bookmcp --listen", \
     csv using 1:24 with linespoints pointtype 5 pointsize 0.6 linewidth 2 title "bookmcp --stdio"
unset multiplot
