# bench/chart.gp: the chart of bench/run, median tps per scenario variant and client
# count (log scale). Called with -e "datafile='…'; outfile='…'; clients='1 2 8'";
# datafile has one row per variant: its label, then one median per client count.
set terminal pngcairo size 1600,800 font ',9' noenhanced
set bmargin 10
set output outfile
set title 'cachext bench: median transactions per second (log scale; multi_get counts transactions of 10 or 100 keys, see results.csv)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set ylabel 'tps'
set grid ytics
set xtics rotate by -45 left
set key top right
set datafile missing '-'
n = words(clients)
plot for [i=1:n] datafile using (column(i + 1)):xtic(1) title sprintf('%s client(s)', word(clients, i))
