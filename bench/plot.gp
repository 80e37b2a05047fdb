# SPDX-License-Identifier: GPL-2.0-or-later
# Success p50 latency against the number of mailboxes (one process), from pambench's
# latency-vs-users.dat.  bench/run calls:
#   gnuplot -e "datafile='...dat'; outfile='...png'" bench/plot.gp
set terminal pngcairo size 900,600 font "DejaVu Sans,11" noenhanced
set output outfile
set title "Successful login, p50 latency (pam_start + pam_authenticate + pam_end, 1 process)"
set xlabel "mailboxes enrolled"
set ylabel "p50 latency (ms, log scale)"
set logscale xy
set xrange [0.5:200000]
set xtics ("1" 1, "10" 10, "100" 100, "1,000" 1000, "10,000" 10000, "100,000" 100000)
set grid xtics ytics mytics
set yrange [0.1:500]
set key top left box opaque
set style line 1 lc rgb "#1b7837" lw 2.5 pt 7 ps 1.3
set style line 2 lc rgb "#5aae61" lw 2 pt 5 ps 1.1 dt 2
set style line 3 lc rgb "#2166ac" lw 2 pt 9 ps 1.3
set style line 4 lc rgb "#b2182b" lw 2 pt 11 ps 1.3
set style line 5 lc rgb "#777777" lw 1.5 dt 3
plot datafile using 1:2 with linespoints ls 1 title "pam_mailotp (simple stack)", \
     datafile using 1:3 with linespoints ls 2 title "pam_mailotp (hardened stack)", \
     datafile using 1:4 with linespoints ls 3 title "pam_google_authenticator (DISALLOW_REUSE)", \
     datafile using 1:5 with linespoints ls 4 title "pam_oath (one usersfile)", \
     datafile using 1:6 with lines ls 5 title "pam_permit alone (PAM floor)"
