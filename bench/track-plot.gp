# Capture versus memory-scan interval (issue 4), from the table that
# tests/e2e/track_interval.t or bench/track-plot.sh writes:
#   interval interval_ms tw_buckets conns memory_pct nic_pct combined_pct
#   gnuplot -e "in='build/bench/capture_interval.txt'; out='build/bench/capture_interval.png'" bench/track-plot.gp
if (!exists("in")) in = 'build/bench/capture_interval.txt'
if (!exists("out")) out = 'build/bench/capture_interval.png'
if (!exists("sub")) sub = ''
set terminal pngcairo size 900,640 font ",11" noenhanced
set output out
set title "cotrackd: connections captured vs memory-scan interval\n(two-VM service; ".sub.")"
set logscale x 10
set xrange [0.5:2000]
set xtics ("1 ms" 1, "10 ms" 10, "100 ms" 100, "1 s" 1000)
set xlabel "memory-scan interval"
# y from 10 below the lowest value (at most 0) to a little over 100
stats in using 5 nooutput
lo = STATS_min
stats in using 6 nooutput
lo = (STATS_min < lo) ? STATS_min : lo
ymin = floor(lo / 10) * 10 - 10
ymin = (ymin < 0) ? 0 : ymin
set yrange [ymin:103]
set ytics 0,10,100
set ylabel "connections recorded (% of ground truth)"
set grid
set key below box
set bmargin 10
set datafile commentschars "#"
big(tw) = (tw > 512)
plot in using 2:(big($3) ? $7 : 1/0) with linespoints lw 3 pt 7 ps 1.6 lc rgb "#1a9641" title "both views (asserted 100%)", \
     in using 2:(big($3) ? $5 : 1/0) with linespoints lw 2 pt 5 ps 1.2 lc rgb "#2b83ba" title "memory view alone", \
     in using 2:(big($3) ? $6 : 1/0) with linespoints lw 2 pt 9 ps 1.4 lc rgb "#d7191c" title "NIC view alone (never sees localhost)", \
     in using 2:($3 <= 512 ? $5 : 1/0) with linespoints lw 2 dt 2 pt 4 ps 1.4 lc rgb "#2b83ba" title "memory alone, guest TIME_WAIT table 512 (kernel default)", \
     in using 2:($3 <= 512 ? $7 : 1/0) with linespoints lw 2 dt 2 pt 6 ps 1.4 lc rgb "#1a9641" title "both views, TIME_WAIT table 512"
