# docs/img/latency.png: p50 latency per operation, the store and Redis beside
# the raw verbs. Data (from report.py): "label" microseconds group, where
# group 1 is the store, 2 Redis, 3 perftest.
#   gnuplot -e "datafile='l.dat'; outfile='latency.png'" scripts/bench/latency.gp
set terminal pngcairo size 1100,600 font "sans,11"
set output outfile
set title "p50 latency per operation (Soft-RoCE in a TCG VM: compare bars, not absolutes)"
set ylabel "microseconds (log scale)"
set logscale y
set grid ytics
set xtics rotate by -35 left nomirror
stats datafile using 2 nooutput
set xrange [-0.6:STATS_records - 0.4]
set yrange [5:STATS_max * 8] # room for the key above the bars
set style fill solid 0.85 border -1
set boxwidth 0.7
set key top left reverse Left
color(g) = g == 1 ? 0x1f77b4 : g == 2 ? 0xd62728 : 0x8c8c8c
plot datafile using 0:2:(color($3)) with boxes lc rgb variable notitle, \
	'' using 0:2:(sprintf("%.1f", $2)) with labels offset 0,0.8 notitle, \
	'' using 0:(5):xtic(1) with points pt -1 notitle, \
	NaN with boxes lc rgb color(1) title "store (kvcli bench)", \
	NaN with boxes lc rgb color(2) title "Redis, TCP loopback", \
	NaN with boxes lc rgb color(3) title "raw verbs (perftest; WRITE RTT = 2 x one-way)"
