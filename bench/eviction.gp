# bench/eviction's chart: miss ratio per trace (size, Zipf alpha, scans), one bar per policy.
# gnuplot -e "datafile='...'; outfile='...'" bench/eviction.gp
set terminal pngcairo size 1400,600 font ",10"
set output outfile
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set ylabel "miss ratio (cachext, equal to the reference simulation)"
set yrange [0:*]
set xtics rotate by -45 scale 0
set key top right
set grid ytics
set title "L1 miss ratio: lru vs sieve (one partition; C entries, 10 x C keys, 20 x C requests)"
plot datafile using 2:xtic(1) title "lru", '' using 3 title "sieve"
