#!/usr/bin/env bash
# Measures what a wiped follower's rejoin costs the cluster: starts the
# stopped devnet in DIR (e.g. the directory `fundtrail bench cluster --dir
# DIR` leaves), wipes one follower's data directory, restarts it, and prints
# how long it took to reach the leader's head and every node's Raft term
# before and 10 s after. A term that moved means elections the rejoin caused.
#
#   scripts/snapshot-rejoin.sh DIR [FUNDTRAIL_BINARY]
#
# It sets `snapshot_every = 1` and `keep_logs = 0` in DIR's node.toml files,
# so the follower must catch up through a whole-chain snapshot, and stops
# the nodes at the end. Not part of the test suite.
set -euo pipefail

dir=$(realpath "${1:?usage: $0 DIR [FUNDTRAIL_BINARY]}")
bin=$(realpath "${2:-target/release/fundtrail}")
mapfile -t orgs < <(ls "$dir/nodes")
api_of() { sed -n 's/^api = "\(.*\)"/\1/p' "$dir/nodes/$1/node.toml"; }
head_of() { curl -s "http://$(api_of "$1")/v1/head" || true; }
field() { grep -o "\"$1\":[0-9a-z\"]*" | head -1 | cut -d: -f2 | tr -d '"'; }
terms() { for o in "${orgs[@]}"; do printf '%s term=%s  ' "$o" "$(head_of "$o" | field term)"; done; echo; }
stop_all() { pkill -f "run --config $dir/nodes/" || true; }
trap stop_all EXIT

sed -i 's/^snapshot_every = .*/snapshot_every = 1/; s/^keep_logs = .*/keep_logs = 0/' "$dir"/nodes/*/node.toml
"$bin" devnet up --dir "$dir" --nodes "${#orgs[@]}" --base-port "$(sed -n 's|^listen = "/ip4/127.0.0.1/tcp/\([0-9]*\)"|\1|p' "$dir/nodes/${orgs[0]}/node.toml")" >/dev/null

height=""
for _ in $(seq 1 300); do
  sleep 1
  heights=$(for o in "${orgs[@]}"; do echo "h$(head_of "$o" | field height)"; done | sort -u)
  if [ "$heights" != "h" ] && [ "$(echo "$heights" | wc -l)" -eq 1 ]; then height=${heights#h}; break; fi
done
[ -n "$height" ] || { echo "the nodes did not reach one head" >&2; exit 1; }
sleep 3
leader=$(head_of "${orgs[0]}" | field leader)
victim=""
for o in "${orgs[@]}"; do
  [ "$(head_of "$o" | field node_id)" != "$leader" ] && { victim=$o; break; }
done
[ -n "$victim" ] || { echo "no follower found (leader: '$leader')" >&2; exit 1; }
echo "head at height $height, leader node $leader, wiping $victim"
echo "before: $(terms)"

pkill -9 -f "run --config $dir/nodes/$victim/node.toml"
sleep 1
rm -rf "$dir/nodes/$victim/data"
start=$(date +%s%N)
nohup "$bin" run --config "$dir/nodes/$victim/node.toml" >>"$dir/nodes/$victim/node.log" 2>&1 &
caught_up=""
for _ in $(seq 1 600); do
  sleep 1
  if [ "$(head_of "$victim" | field height)" = "$height" ]; then caught_up=yes; break; fi
done
[ -n "$caught_up" ] || { echo "$victim did not reach height $height in 600 s" >&2; exit 1; }
echo "caught up after $(( ($(date +%s%N) - start) / 1000000 )) ms"
sleep 10
echo "after:  $(terms)"
