#!/usr/bin/env bash
# A stand-in scheduler for the cluster-generic executor. Snakemake calls it as
#   submit.sh <rule> <mem_mb> <runtime> <threads> <job script>
# It runs the job script as a process of its own in the background, on this machine, and
# prints its process id as the job id: each job starts a fresh interpreter and sees the other
# jobs only through the shared working directory, as on a cluster. What the job asked for
# and what it used (wall seconds, peak RSS in KB) go to logs/cluster/usage.tsv.
set -euo pipefail
rule="$1" mem_mb="$2" runtime="$3" threads="$4"
jobscript="${*: -1}"
mkdir -p logs/cluster
out="logs/cluster/$(basename "$jobscript" .sh).out"
if [ -x /usr/bin/time ]; then
  nohup /usr/bin/time -a -o logs/cluster/usage.tsv \
    -f "${rule}\t${mem_mb}\t${runtime}\t${threads}\t%e\t%M\t%x" \
    bash "$jobscript" >"$out" 2>&1 </dev/null &
else
  nohup bash "$jobscript" >"$out" 2>&1 </dev/null &
fi
echo $!
