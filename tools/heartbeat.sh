#!/bin/sh
# Usage: tools/heartbeat.sh "what is happening" command [args...]
# Runs the command and prints a line every 10 s while it is still running (a first `make run` spends minutes in
# steps that print nothing, such as pip unpacking torch); exits with the command's status.
label=$1
shift
"$@" &
pid=$!
start=$(date +%s)
next=$((start + 10))
while kill -0 "$pid" 2>/dev/null; do
  sleep 1
  now=$(date +%s)
  if [ "$now" -ge "$next" ] && kill -0 "$pid" 2>/dev/null; then
    echo "  ... $label ($((now - start)) s)"
    next=$((next + 10))
  fi
done
wait "$pid"
