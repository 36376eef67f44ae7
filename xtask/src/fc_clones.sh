# The clones job (`Snapshot::Clones` in firecracker.rs), run from the job's directory as
# `sh snapshot.sh FIRECRACKER [FLAG...]`: one snapshot, restored four times.
#  1. In a new network namespace with the rig's side of the guest's network (`net_up`): boot from vm.json
#     with MMDS metadata.json, wait for the guest's mark, pause, take a full snapshot, stop that Firecracker;
#     restore it (clone 1) beside the same tap and echo server, so the guest's held TCP connection is kept.
#  2. Clone 2: the same snapshot again, in its own directory and network namespace (a new tap with the same
#     name, address and MAC; its own echo server and vsock host side): the held connection is reset there.
#  3. Clones 3 and 4 at once, each as clone 2.
# Every restore loads the snapshot paused, shows what MMDS has (GET /mmds; PATCH /mmds, which needs a data
# store), puts the clone's own metadata, resumes, and prints the time from the load request to the guest's
# first line after the restore. The exit status is 0 when every Firecracker exited 0.
fc=$1
shift
flags="$*"

# The rig's uptime in milliseconds, to 10 ms (busybox date has no %N).
now_ms() {
  read -r up _ < /proc/uptime
  echo $((${up%.*}${up#*.} * 10))
}

# The rig's side of the guest's network in this network namespace: a persistent tap with the address and MAC
# the guest knew before the snapshot (so that its neighbour cache stays right), and a TCP echo server.
net_up() {
  ip link set lo up
  tunctl -t tap0 > /dev/null || echo "fcrig: FAIL tunctl -t tap0"
  ip link set tap0 address @TAP_MAC@
  ip addr add @RIG_ADDR@/16 dev tap0
  ip link set tap0 up
  timeout 250 nc -ll -p @RIG_PORT@ -e /bin/cat &
  echo_server=$!
}

# restore N EXISTING: restores the snapshot in this directory as clone N, whose held TCP connection should be
# EXISTING (kept or reset), and runs it to the end; prints its log and the restore time.
restore() {
  rm -f api.sock
  timeout 60 "$fc" --api-sock api.sock --level Info $flags > run.log 2>&1 &
  pid=$!
  n=0
  while [ ! -S api.sock ] && [ $n -lt 1000 ]; do usleep 10000; n=$((n + 1)); done
  t0=$(now_ms)
  "$job/fc-api" api.sock PUT /snapshot/load "{\"snapshot_path\": \"$job/snap.state\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$job/snap.mem\"}, \"resume_vm\": false}" &&
    "$job/fc-api" api.sock GET /mmds &&
    { "$job/fc-api" api.sock PATCH /mmds '{"clone": {}}' || true; } &&
    "$job/fc-api" api.sock PUT /mmds "{\"clone\": {\"index\": \"$1\", \"existing\": \"$2\"}}" &&
    "$job/fc-api" api.sock PATCH /vm '{"state": "Resumed"}' || kill $pid
  n=0
  while ! grep -q "@FIRST@" run.log && kill -0 $pid 2> /dev/null && [ $n -lt 6000 ]; do
    usleep 10000
    n=$((n + 1))
  done
  t1=$(now_ms)
  wait $pid
  status=$?
  cat run.log
  echo "fcrig: clone $1: restore to first response: $((t1 - t0)) ms (load, MMDS put, resume, guest)"
  return $status
}

# Clone N in its own directory and network namespace (this script again, as PHASE=clone).
clone() {
  mkdir -p "c$1"
  cd "c$1" && PHASE=clone N=$1 unshare -n sh "$job/snapshot.sh" "$fc" $flags > clone.log 2>&1
}

case "$PHASE" in
first)
  net_up
  rm -f api1.sock snap.state snap.mem
  timeout 40 "$fc" --api-sock api1.sock --boot-timer --level Info --config-file vm.json --metadata metadata.json $flags > run1.log 2>&1 &
  pid=$!
  n=0
  while ! grep -q "@MARK@" run1.log && kill -0 $pid 2> /dev/null && [ $n -lt 400 ]; do sleep 0.1; n=$((n + 1)); done
  ./fc-api api1.sock PATCH /vm '{"state": "Paused"}' &&
    ./fc-api api1.sock PUT /snapshot/create '{"snapshot_type": "Full", "snapshot_path": "snap.state", "mem_file_path": "snap.mem"}'
  made=$?
  kill $pid 2> /dev/null
  { wait $pid; } 2> /dev/null
  cat run1.log
  if [ $made != 0 ]; then
    echo "fcrig: snapshot: none was made"
    kill $echo_server
    exit 1
  fi
  echo "fcrig: snapshot: made; the first Firecracker is stopped"
  # Firecracker binds the vsock socket again at the restore and leaves the stale one behind.
  rm -f @UDS@
  restore 1 kept
  status=$?
  kill $echo_server
  exit $status
  ;;
clone)
  net_up
  timeout 60 "$job/vsock-host" echo @UDS@_5000 1 > echo.log &
  echoer=$!
  timeout 60 "$job/vsock-host" send @UDS@ 6000 @HOST_BYTES@ > send.log &
  sender=$!
  restore $N reset
  status=$?
  wait $echoer
  wait $sender
  cat echo.log send.log
  kill $echo_server
  exit $status
  ;;
esac

job=$(pwd)
export job
rc=0
PHASE=first unshare -n sh "$job/snapshot.sh" "$fc" $flags || rc=1
[ -f snap.state ] || exit 1
(clone 2) || rc=1
cat c2/clone.log
(clone 3) &
three=$!
(clone 4) || rc=1
wait $three || rc=1
cat c3/clone.log c4/clone.log
rm -f snap.state snap.mem
exit $rc
