#!/bin/bash
# A real S3 server on 127.0.0.1 for the S3 storage driver's tests: Ceph's RADOS Gateway as a
# single-host cluster (one monitor, one OSD on memstore — data in memory — and radosgw), all bound
# to 127.0.0.1, authentication between daemons off. Ready in about 2 s. Debian 12 packages:
#   apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd      (.ci/run does it)
#
#   CEPH_DIR=<empty dir> RGW_PORT=7480 MON_PORT=3300 test/helpers/ceph-s3.sh start
#       prints "ready on http://127.0.0.1:<RGW_PORT> (pids: …)"
#   CEPH_DIR=<same dir> test/helpers/ceph-s3.sh stop      stops radosgw, osd, mon by PID
#
# Credentials: user `registry`, access key $S3_ACCESS_KEY (default AKIAREGISTRYTEST), secret
# $S3_SECRET_KEY (default registrysecretkey0123456789); region us-east-1, path-style addressing.
# Buckets are created by the client. OSD_STORE=bluestore keeps data on disk (about 6.5 s to start);
# memstore holds MEMSTORE_BYTES (default 4 GiB) in RAM, and RGW blocks writes when it is full.
# Logs are in $CEPH_DIR/log. MON_PORT lets several clusters run at once (one per test run).
#
# Pitfalls found on the way (Ceph 16.2, @aws-sdk/client-s3 3.117x+):
# 1. SDK versions from 3.729 stream Readable bodies as `aws-chunked` with a checksum trailer, which
#    Ceph 16 rejects (411) though AWS accepts it: use requestChecksumCalculation 'WHEN_REQUIRED'
#    (src/storage/s3.ts does), or send Buffers / known lengths.
# 2. Ceph's CompleteMultipartUpload returns an empty ETag: read it with HeadObject if needed.
#    ListParts after an abort answers NoSuchKey instead of NoSuchUpload.
# 3. `ceph -s` shows "0 pools" and a global_id warning (no manager daemon): harmless.
# 4. The npm `s3rver` fake does not check signatures, lacks UploadPartCopy and silently stores the
#    aws-chunked framing as object data: not a faithful stand-in, hence this script.
set -euo pipefail
D=${CEPH_DIR:-${TMPDIR:-/tmp}/ceph-s3}
CMD=${1:-start}

if [ "$CMD" = stop ]; then
  # stop by PID in order rgw -> osd -> mon; SIGKILL after 10 s
  for p in rgw osd mon; do
    f="$D/$p.pid"; [ -f "$f" ] || continue; pid=$(cat "$f")
    kill "$pid" 2>/dev/null || { rm -f "$f"; continue; }
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then echo "SIGKILL $p $pid"; kill -9 "$pid"; fi
    rm -f "$f"
  done
  exit 0
fi
[ "$CMD" = start ] || { echo "usage: $0 start|stop" >&2; exit 2; }

T0=$EPOCHREALTIME; t(){ echo "[$(awk "BEGIN{printf \"%.2f\", $EPOCHREALTIME-$T0}")s] $*"; }
PORT=${RGW_PORT:-7480}
MON=${MON_PORT:-3300}
STORE=${OSD_STORE:-memstore}
rm -rf "$D"; mkdir -p "$D"/{mon,osd,log,run,rgw}
FSID=$(cat /proc/sys/kernel/random/uuid)
cat > "$D/ceph.conf" <<CONF
[global]
fsid = $FSID
mon_host = v2:127.0.0.1:$MON
public_addr = 127.0.0.1
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_bind_ipv4 = true
ms_bind_ipv6 = false
ms_mon_client_mode = crc
run_dir = $D/run
admin_socket = $D/run/\$name.asok
log_file = $D/log/\$name.log
mon_data = $D/mon/\$id
osd_data = $D/osd/\$id
osd_objectstore = $STORE
memstore_device_bytes = ${MEMSTORE_BYTES:-4294967296}
bluestore_block_path = $D/osd/osd\$id.block
bluestore_block_create = true
bluestore_block_size = 10737418240
bluestore_cache_autotune = false
bluestore_cache_size = 268435456
osd_memory_target = 939524096
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_max_pg_per_osd = 1000
osd_crush_chooseleaf_type = 0
osd_op_num_shards = 2
osd_op_num_threads_per_shard = 1
mon_data_avail_warn = 1
mon_data_avail_crit = 0
paxos_propose_interval = 0.05
paxos_min_wait = 0.01
osd_mon_report_interval = 1
[client.rgw.a]
rgw_frontends = beast endpoint=127.0.0.1:$PORT
rgw_data = $D/rgw
rgw_dns_name = 127.0.0.1
rgw_thread_pool_size = 32
# Deleted objects' data is reclaimed by RGW's garbage collector after 2 h by default; memstore is
# small, so reclaim within seconds.
rgw_gc_obj_min_wait = 5
rgw_gc_processor_period = 2
CONF
C="-c $D/ceph.conf"
monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON]" "$D/monmap" >/dev/null
ceph-mon $C --mkfs -i a --monmap "$D/monmap"
t mkfs done; ceph-mon $C -i a -f >"$D/log/mon.out" 2>&1 & echo $! > "$D/mon.pid"
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
OSD_ID=$(ceph $C --connect-timeout 20 osd new "$OSD_UUID")
mkdir -p "$D/osd/$OSD_ID"
ceph-osd $C -i "$OSD_ID" --mkfs --osd-uuid "$OSD_UUID" >"$D/log/osd-mkfs.out" 2>&1
t osd mkfs done; ceph-osd $C -i "$OSD_ID" -f >"$D/log/osd.out" 2>&1 & echo $! > "$D/osd.pid"
# wait for OSD up
for _ in $(seq 1 60); do ceph $C osd stat 2>/dev/null | grep -q '1 up' && break; sleep 0.5; done
ceph $C osd stat 2>/dev/null | grep -q '1 up' || { echo "the OSD did not come up (logs in $D/log)" >&2; exit 1; }
t osd up; radosgw $C -n client.rgw.a -f >"$D/log/rgw.out" 2>&1 & echo $! > "$D/rgw.pid"
for _ in $(seq 1 120); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.5; done
(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || { echo "radosgw did not listen on 127.0.0.1:$PORT (logs in $D/log)" >&2; exit 1; }
t rgw http up; radosgw-admin $C user create --uid=registry --display-name=registry \
  --access-key="${S3_ACCESS_KEY:-AKIAREGISTRYTEST}" --secret-key="${S3_SECRET_KEY:-registrysecretkey0123456789}" >"$D/log/user.json"
t user created
echo "ready on http://127.0.0.1:$PORT (pids: mon=$(cat "$D/mon.pid") osd=$(cat "$D/osd.pid") rgw=$(cat "$D/rgw.pid"))"
