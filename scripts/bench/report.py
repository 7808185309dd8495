#!/usr/bin/env python3
"""Turn the VM benchmark's results.json (scripts/bench/vm_bench.sh) into
docs/benchmarks.md, docs/benchmarks.json (results plus the checked targets)
and the data file of docs/img/latency.png (scripts/bench/latency.gp); print
the ratios table. Called by scripts/bench/run.sh. Standard library only."""
import argparse
import datetime
import json


def dig(d, *path):
    """d[path[0]][path[1]]..., or None if any step is missing."""
    for p in path:
        if not isinstance(d, dict) or d.get(p) is None:
            return None
        d = d[p]
    return d


def fmt(x, nd=1):
    return "n/a" if x is None else f"{x:.{nd}f}"


def ticks(n):
    return "n/a ticks" if n is None else f"{n} tick" + ("" if n == 1 else "s")


def connect_ms(cpu):
    """Server CPU ms of a bare connection: median of the 1-op runs."""
    v = sorted(x["cpu_ms"] for k, x in cpu.items() if k.startswith("connect_"))
    return v[(len(v) - 1) // 2] if v else None


def idle_ms_per_s(cpu):
    """Server CPU ms a second with no client: its timer (sweep, keepalives)."""
    ms, wall = dig(cpu, "idle", "cpu_ms"), dig(cpu, "idle", "wall_s")
    return ms / wall if ms is not None and wall else None


def per_op(run, key):
    ops = dig(run, "ops")
    v = dig(run, "verbs", key)
    return v / ops if ops and v is not None else None


def table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


# ---- checks -----------------------------------------------------------------

def verdict(value, op, target, need=None):
    """Result text: pass, or by how much it missed (and what would pass)."""
    if value is None:
        return "n/a (missing measurement)", None
    if op == "<=":
        if value <= target:
            return "pass", True
        text = f"**MISS** by {value / target - 1:.0%} ({value - target:.2f} over)"
    elif op == ">=":
        if value >= target:
            return "pass", True
        text = f"**MISS** by {1 - value / target:.0%} ({target - value:.2f} under)"
    else:  # "== 0", at the resolution of a 10 ms clock tick
        if value < 0.005:
            return "pass", True
        text = f"**MISS** by {value:.2f} s"
    return text + (f"; {need}" if need else ""), False


def checks(r):
    pt, st = r["perftest"], r["store"]
    typ = lambda k: dig(pt, k, "t_typical_us")  # noqa: E731 (perftest median)
    read64, atomic, write1 = typ("read_lat_64"), typ("atomic_lat"), typ("write_lat_64")
    # the single READ of a GET, else the phase's average READ, else the given size
    rg_key = next((k for k in ("read_lat_get_one", "read_lat_get_avg", "read_lat_get_param")
                   if typ(k)), "read_lat_get_param")
    read_get, read_get_b = typ(rg_key), dig(pt, rg_key, "bytes")
    write_rtt = 2 * write1 if write1 else None
    bw_runs = [x * 1e6 for x in dig(pt, "read_bw_64_t16", "msg_rate_runs") or []]
    bw = dig(pt, "read_bw_64_t16", "msg_rate_mpps")
    bw = bw * 1e6 if bw else None
    get_p50 = dig(st, "get_d1", "latency_us", "get", "p50")
    put_p50 = dig(st, "put_d1", "latency_us", "put", "p50")
    get16 = dig(st, "get_d16", "ops_per_sec")
    redis_get = dig(r, "redis", "p1", "get", "p50_ms")
    redis_get = redis_get * 1000 if redis_get is not None else None
    cpu = r.get("server_cpu", {})
    put_ref = (read_get + atomic + write_rtt) if None not in (read_get, atomic, write_rtt) else None
    ratio = lambda a, b: a / b if a is not None and b else None  # noqa: E731

    c = []
    v = ratio(get_p50, read64)
    c.append(dict(key="get_vs_read", name="GET p50 / ib_read_lat 64 B",
                  calc=f"{fmt(get_p50)} / {fmt(read64, 2)} us", value=v, op="<=", target=1.15,
                  need=f"needs p50 ≤ {1.15 * read64:.1f} us" if read64 else None))
    v = ratio(put_p50, put_ref)
    c.append(dict(key="put_vs_verbs",
                  name=f"PUT p50 / (READ {read_get_b} B + CAS + WRITE round trip)",
                  calc=f"{fmt(put_p50)} / ({fmt(read_get, 2)} + {fmt(atomic, 2)} + 2 × {fmt(write1, 2)})"
                       f" = {fmt(put_p50)} / {fmt(put_ref, 2)} us",
                  value=v, op="<=", target=1.15,
                  need=f"needs p50 ≤ {1.15 * put_ref:.1f} us" if put_ref else None))
    v = ratio(get16, bw)
    c.append(dict(key="get16_vs_read_bw", name="GET depth-16 ops/s / ib_read_bw 64 B msg rate",
                  calc=f"{fmt(get16, 0)} / {fmt(bw, 0)} per s", value=v, op=">=", target=0.8,
                  need=f"needs ≥ {0.8 * bw:.0f} ops/s" if bw else None))
    conn, idle = connect_ms(cpu), idle_ms_per_s(cpu)
    for ph, label in (("get_d1", "GET"), ("put_d1", "PUT")):
        tk, secs, ms = dig(cpu, ph, "ticks"), dig(r, "server_cpu_s", ph), dig(cpu, ph, "cpu_ms")
        wall = dig(cpu, ph, "wall_s")
        bg = idle * wall if None not in (idle, wall) else 0.0
        excess = max(0.0, ms - conn - bg) / 1000 if None not in (ms, conn) else secs
        c.append(dict(key=f"server_cpu_{ph}",
                      name=f"server CPU in the {label} depth-1 phase, beyond its connection"
                           f" and its timer",
                      calc=f"{ticks(tk)} = {fmt(secs, 2)} s; by schedstat {fmt(ms, 2)} ms"
                           f" − {fmt(conn, 2)} ms for a bare connection"
                           f" − {fmt(bg, 2)} ms of timer ({fmt(idle, 2)} ms/s idle × {fmt(wall, 1)} s)",
                      value=excess, op="== 0", target=0))
    v = ratio(redis_get, get_p50)
    c.append(dict(key="redis_vs_get", name="Redis GET p50 / store GET p50",
                  calc=f"{fmt(redis_get)} / {fmt(get_p50)} us", value=v, op=">=", target=5,
                  need=f"needs store GET p50 ≤ {redis_get / 5:.1f} us" if redis_get else None))
    for x in c:
        x["result"], x["pass"] = verdict(x["value"], x["op"], x["target"], x.get("need"))
    ctx = dict(read64=read64, read_get=read_get, read_get_b=read_get_b, atomic=atomic,
               write1=write1, write_rtt=write_rtt, bw=bw, bw_runs=bw_runs, get_p50=get_p50,
               put_p50=put_p50, get16=get16, redis_get=redis_get, put_ref=put_ref)
    return c, ctx


def explain(c, ctx, r):
    """One paragraph per check, from the numbers; the 'why' of every miss."""
    st, cpu = r["store"], r.get("server_cpu", {})
    g, p, g16 = st.get("get_d1"), st.get("put_d1"), st.get("get_d16")
    out = []
    by = {x["key"]: x for x in c}

    x = by["get_vs_read"]
    if g and ctx["get_p50"] and ctx["read64"]:
        rd, db, bpr = per_op(g, "reads"), per_op(g, "doorbells"), None
        if dig(g, "verbs", "reads"):
            bpr = g["verbs"]["read_bytes"] / g["verbs"]["reads"]
        rec = dig(r, "server_stats", "geometry", "record_bytes")
        t = (f"**GET vs READ.** The GET phase posted {rd:.2f} READs in {db:.2f} doorbells"
             f" (round trips) per operation, {bpr:.0f} B per READ on average. The median"
             f" GET is one round trip, a single READ of the home slot's two heads"
             f" ({ctx['read_get_b']} B); the extra"
             f" {db - 1:.2f} round trips per op are keys that are not in their home slot,"
             f" which read both buckets' control words and then whole candidate slots"
             f" (2 × {rec} B records each): those make the average READ larger than the"
             f" common one.")
        gs, gh = st.get("get_split"), st.get("get_hot")
        split_known = bool(dig(gs, "time_split_mean", "client_us") is not None
                           and dig(gh, "latency_us", "get", "p50"))
        if x["pass"] is False and ctx["read_get"] and split_known:
            size = ctx["read_get"] - ctx["read64"]
            gsm = gs["time_split_mean"]
            hot, cold = gh["latency_us"]["get"]["p50"], dig(gs, "latency_us", "get", "p50")
            t += (f" **Why it misses:** the gap is {ctx['get_p50'] - ctx['read64']:.1f} us."
                  f" The client's own code is not it: timed apart (`--split`, a separate run"
                  f" that clocks each doorbell to its completion), a GET spends"
                  f" {gsm['client_us']} us of its mean {gsm['op_us']} us in kvcli and"
                  f" {gsm['wait_us']} us waiting for its READ. The READ is: it is larger than"
                  f" 64 B ({ctx['read_get_b']} B; perftest at that size: {ctx['read_get']:.2f}"
                  f" us, {size:+.1f} us, within this wire's noise), and it lands on a different"
                  f" slot of the 64 MiB slab each time, where perftest reads one small buffer"
                  f" over and over. A GET of one hot key, the same slot every time, has p50"
                  f" {hot} us against {cold} us for 1000 keys in the same conditions"
                  f" ({cold - hot:.1f} us: memory and TLB misses of the emulated machine,"
                  f" on the server side of the READ). The server's CPU used"
                  f" {fmt(dig(cpu, 'get_d1', 'cpu_ms'), 2)} ms in the whole phase, as for a bare"
                  f" connection.")
        elif x["pass"] is False:
            t += (" **Why it misses:** this run has no `--split` phases, so it cannot say"
                  " whether the time beyond the READ is the client's or the wire's.")
        out.append(t)

    x = by["put_vs_verbs"]
    if p and ctx["put_ref"]:
        db = per_op(p, "doorbells")
        t = (f"**PUT vs its verbs.** A PUT that updates an existing key is three round trips:"
             f" RT1 one READ of the home slot's two heads (the same READ as a GET, so"
             f" ib_read_lat at the GET's READ size, {ctx['read_get_b']} B:"
             f" {ctx['read_get']:.2f} us), RT2 the lock CAS (ib_atomic_lat:"
             f" {ctx['atomic']:.2f} us), RT3 the WRITE of the record and the WRITE of the"
             f" control word behind one doorbell, which completes when the second WRITE is"
             f" acknowledged: one write round trip. ib_write_lat reports half a round trip"
             f" ({ctx['write1']:.2f} us, one-way), so RT3 is counted as 2 × that ="
             f" {ctx['write_rtt']:.2f} us. Sum {ctx['put_ref']:.2f} us. The phase posted per op"
             f" {per_op(p, 'reads'):.2f} READs, {per_op(p, 'atomics'):.2f} CAS,"
             f" {per_op(p, 'writes'):.2f} WRITEs in {db:.2f} doorbells, with"
             f" {dig(p, 'retries', 'lock_conflicts')} lock conflicts and"
             f" {dig(p, 'retries', 'torn_reads')} torn reads.")
        if x["pass"] is False:
            gap = ctx["put_p50"] - ctx["put_ref"]
            ps = dig(st.get("put_split"), "time_split_mean")
            if ps:
                t += (f" **Why it misses:** the verbs are exactly the three round trips of the"
                      f" model, so the {gap:.1f} us above the sum is not extra verbs, and not the"
                      f" client's code: timed apart (`--split`), a PUT spends {ps['client_us']} us"
                      f" of its mean {ps['op_us']} us in kvcli (building the record and its"
                      f" checksum included) and {ps['wait_us']} us waiting for its three round"
                      f" trips. The waits are longer than the raw verbs' for the reasons GET's"
                      f" READ is (a random slot in a 64 MiB slab, not one hot buffer, for the READ"
                      f" and for the CAS), and RT3 carries two WRITEs where ib_write_lat's round"
                      f" trip has one. The server used {fmt(dig(cpu, 'put_d1', 'cpu_ms'), 2)} ms"
                      f" of CPU in the whole phase, as for a bare connection.")
                out.append(t)
                t = None
        if t is not None and x["pass"] is False:
            t += (" **Why it misses:** this run has no `--split` phases, so it cannot say"
                  " whether the time beyond the verbs is the client's or the wire's.")
        if t is not None:
            out.append(t)

    x = by["get16_vs_read_bw"]
    if g16 and ctx["bw"]:
        rd = per_op(g16, "reads")
        runs = ", ".join(f"{v:.0f}" for v in ctx["bw_runs"])
        t128 = dig(r, "perftest", "read_bw_64_t128", "msg_rate_mpps")
        t = (f"**Throughput.** ib_read_bw (64 B, 16 READs in flight, the depth of the GET"
             f" phase) gave {runs} msg/s in {len(ctx['bw_runs'])} runs; the median,"
             f" {ctx['bw']:.0f}, is the reference (perftest's default 128 in flight gave"
             f" {fmt(t128 * 1e6 if t128 else None, 0)} msg/s). GET at depth 16 made"
             f" {ctx['get16']:.0f} ops/s with {rd:.2f} READs per op, i.e."
             f" {ctx['get16'] * rd:.0f} READs/s, with p50 latency"
             f" {fmt(dig(g16, 'latency_us', 'get', 'p50'))} us (16 ops queued on one QP).")
        if x["value"] and x["value"] > 1:
            t += (f" The store's READ rate is above perftest's, whose runs spread"
                  f" {min(ctx['bw_runs']):.0f}–{max(ctx['bw_runs']):.0f} msg/s: under TCG the"
                  f" perftest number is a reference, not a hard ceiling, and a ratio above 1"
                  f" says the store keeps up with the verbs layer.")
        if x["pass"] is False:
            t += (f" **Why it misses:** {rd:.2f} READs per op cap the store at"
                  f" {ctx['bw'] / rd:.0f} ops/s at this READ rate; the rest is client time per"
                  f" op (see GET above), which one client thread pays serially.")
        out.append(t)

    conn, first = connect_ms(cpu), dig(cpu, "first_connect", "cpu_ms")
    if conn is not None:
        t = (f"**Server CPU.** utime+stime of kvserver around each kvcli run, in clock ticks"
             f" (1/{r['meta'].get('clk_tck')} s, from AT_CLKTCK in /proc/self/auxv: busybox has"
             f" no getconf) and in nanoseconds from /proc/PID/task/*/schedstat. Each run"
             f" includes one connection, which the server's event loop sets up and tears down:"
             f" alone (median of three 1-op `connect_N` runs) it cost {conn:.2f} ms, so it"
             f" crosses a tick"
             f" boundary about {min(conn / 10, 1):.0%} of the time and a phase shows 0 or 1 tick"
             f" by chance. The check therefore takes the schedstat time beyond a bare"
             f" connection, and beyond the server's timer (the sweep's step ten times a lease,"
             f" the keepalives), which cost {fmt(idle_ms_per_s(cpu), 2)} ms a second with no"
             f" client (the `idle` row: 5 s alone), in proportion to the phase's wall time.")
        for ph in ("get_d1", "put_d1"):
            ms, ops = dig(cpu, ph, "cpu_ms"), dig(st, ph, "ops")
            if ms is None or not ops:
                continue
            t += (f" {ph}: {ticks(dig(cpu, ph, 'ticks'))}, {ms:.2f} ms over"
                  f" {dig(cpu, ph, 'wall_s')} s and {ops} ops: {ms - conn:+.2f} ms against a bare"
                  f" connection ({max(0, ms - conn) / ops * 1e6:.0f} ns per op at most).")
            if by[f"server_cpu_{ph}"]["pass"] is False:
                t += (" **Why:** (open) the server worked more than a connection needs during"
                      " this phase; this run cannot say on what.")
        t += (" GET and PUT are one-sided: the operations never wake the server."
              + (f" (`first_connect`, the first `kvcli stats` after start, which also"
                 f" counts the slab's first census: {first:.0f} ms.)" if first else ""))
        out.append(t)

    x = by["redis_vs_get"]
    if ctx["redis_get"] and ctx["get_p50"]:
        t = (f"**Redis.** redis-benchmark, one client, no pipelining, GET p50"
             f" {ctx['redis_get']:.0f} us over TCP loopback in the same VM: every request"
             f" crosses the loopback TCP stack twice and wakes redis-server, where a store GET"
             f" is one READ that the server's CPU never sees.")
        if x["pass"] is False:
            t += (" **Why it misses:** the store's GET p50 is above what the target needs"
                  " (see the GET paragraph).")
        out.append(t)
    return out


# ---- absolute numbers ---------------------------------------------------------

STORE_PHASES = [("load", "load (1000 keys, then updates)"), ("get_d1", "GET, depth 1"),
                ("put_d1", "PUT, depth 1"), ("get_d16", "GET, depth 16"),
                ("ycsb_a", "YCSB A (50/50), zipf"), ("ycsb_b", "YCSB B (95/5), zipf"),
                ("ycsb_c", "YCSB C (reads), zipf"),
                ("get_split", "GET, depth 1, timed with --split"),
                ("get_hot", "GET of one hot key, --split"),
                ("put_split", "PUT, depth 1, timed with --split")]


def store_table(r):
    rows = []
    for ph, label in STORE_PHASES:
        run = r["store"].get(ph)
        if not run:
            rows.append([label] + ["n/a"] * 11)
            continue
        for op in ("get", "put"):
            lat = dig(run, "latency_us", op)
            if not lat:
                continue
            rows.append([label, op.upper(), f"{run['ops_per_sec']:.0f}", lat["count"],
                         fmt(lat["p50"]), fmt(lat["p99"]), fmt(lat["p999"]), fmt(lat["max"]),
                         fmt(per_op(run, "reads"), 2), fmt(per_op(run, "atomics"), 2),
                         fmt(per_op(run, "writes"), 2), fmt(per_op(run, "doorbells"), 2)])
    return table(["phase", "op", "ops/s (all ops)", "count", "p50 us", "p99 us", "p99.9 us",
                  "max us", "READs/op", "CAS/op", "WRITEs/op", "doorbells/op"], rows)


def perftest_tables(r):
    pt = r["perftest"]
    lat = []
    for k, note in [("read_lat_64", ""),
                    ("read_lat_get_param", "GET READ size given (KV_GET_READ_BYTES)"),
                    ("read_lat_get_avg", "GET phase's read_bytes/reads, rounded up to 8"),
                    ("read_lat_get_one", "the one READ of a 1-op GET run"),
                    ("write_lat_64", "**one-way**: half the round trip"),
                    ("atomic_lat", "compare-and-swap, 8 B, as the PUT's lock")]:
        x = pt.get(k)
        if x:
            lat.append([x["cmd"].split()[0], x["bytes"], x["iterations"],
                        fmt(x["t_typical_us"], 2), ", ".join(str(v) for v in x["typical_runs"]),
                        fmt(x["t_avg_us"], 2), fmt(x["p99_us"], 2), fmt(x["p999_us"], 2), note])
    bw = []
    for k in ("read_bw_64_t16", "read_bw_64_t128"):
        x = pt.get(k)
        if x:
            bw.append([f"`{x['cmd']}`", f"{x['msg_rate_mpps'] * 1e6:.0f}",
                       ", ".join(f"{v * 1e6:.0f}" for v in x["msg_rate_runs"]),
                       fmt(x["bw_avg_MBps"], 2), fmt(x["bw_peak_MBps"], 2)])
    return (table(["test", "bytes", "iterations", "typical us (median run)", "typical, all runs",
                   "avg us", "p99 us", "p99.9 us", "note"], lat),
            table(["command (and the address, on the client)", "msg/s (median run)",
                   "msg/s, all runs", "BW avg MB/s", "BW peak MB/s"], bw))


def redis_table(r):
    rows = []
    for p in ("p1", "p16"):
        for op in ("get", "set"):
            x = dig(r, "redis", p, op)
            if x:
                rows.append([x["pipeline"], op.upper(), x["requests"], f"{x['rps']:.0f}",
                             fmt(x["p50_ms"] * 1000, 0), fmt(x["p95_ms"] * 1000, 0),
                             fmt(x["p99_ms"] * 1000, 0), fmt(x["max_ms"] * 1000, 0)])
    return table(["pipeline", "op", "requests", "requests/s", "p50 us", "p95 us", "p99 us",
                  "max us"], rows)


def cpu_table(r):
    rows = []
    for ph, x in r.get("server_cpu", {}).items():
        ops = 1 if ph.startswith("connect_") else dig(r, "store", ph, "ops") or ""
        rows.append([ph, x["ticks"], fmt(dig(r, "server_cpu_s", ph), 2), fmt(x["cpu_ms"], 2),
                     fmt(x["wall_s"], 2), ops])
    return table(["phase", "ticks", "CPU s (ticks)", "CPU ms (schedstat)", "wall s", "ops"], rows)


def chart_data(r, ctx):
    """label, p50 us, group (1 store, 2 Redis, 3 verbs) for latency.gp."""
    st = r["store"]
    rows = [("GET", dig(st, "get_d1", "latency_us", "get", "p50"), 1),
            ("PUT", dig(st, "put_d1", "latency_us", "put", "p50"), 1),
            ("GET depth 16", dig(st, "get_d16", "latency_us", "get", "p50"), 1),
            ("YCSB A read", dig(st, "ycsb_a", "latency_us", "get", "p50"), 1),
            ("YCSB B read", dig(st, "ycsb_b", "latency_us", "get", "p50"), 1),
            ("YCSB C read", dig(st, "ycsb_c", "latency_us", "get", "p50"), 1),
            ("Redis GET", ctx["redis_get"], 2),
            ("Redis SET", (dig(r, "redis", "p1", "set", "p50_ms") or 0) * 1000 or None, 2),
            ("READ 64 B", ctx["read64"], 3),
            (f"READ {ctx['read_get_b']} B", ctx["read_get"], 3),
            ("WRITE RTT", ctx["write_rtt"], 3),
            ("CAS", ctx["atomic"], 3)]
    return "".join(f'"{lab}" {v:.1f} {grp}\n' for lab, v, grp in rows if v is not None)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    for a in ("results", "md", "json", "dat", "command", "seconds", "vm-status", "commit",
              "host-kernel", "qemu", "host"):
        ap.add_argument("--" + a, required=a in ("results", "md", "json", "dat"), default="")
    a = ap.parse_args()
    with open(a.results) as f:
        r = json.load(f)
    c, ctx = checks(r)
    meta = r.get("meta", {})
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    ratio_rows = [[x["name"], x["calc"],
                   fmt(x["value"], 2) if x["op"] != "== 0" else fmt(x["value"], 4) + " s",
                   f"{x['op']} {x['target']}" if x["op"] != "== 0" else "0 s (10 ms ticks)",
                   x["result"]] for x in c]
    ratios = table(["check", "numbers", "value", "target", "result"], ratio_rows)
    lat_t, bw_t = perftest_tables(r)
    failed = meta.get("failed") or "none"
    md = f"""# Benchmarks

Produced by `{a.command}` (from the repository root, after or including the build)
on {when}, commit `{a.commit}`, in {a.seconds} s wall time (VM scenario
{meta.get('vm_seconds')} s; `scripts/vm/run.sh` exit status {a.vm_status};
measurements that failed: {failed}). The scenario is `scripts/bench/vm_bench.sh`;
its raw outputs land in `build/bench-out/vm_bench/raw/`, the combined results in
`docs/benchmarks.json`.

**What these numbers are.** Everything runs inside one QEMU VM without KVM (TCG, {a.qemu},
`-cpu max -smp 2`, host kernel {a.host_kernel}, {a.host}), guest kernel {meta.get('vm_kernel')}, with
Soft-RoCE (`rdma_rxe`) on a dummy netdev: client, server and the "NIC" are software on the
same two emulated CPUs. Absolute latencies and rates are those of emulated code, tens of times
slower than hardware RDMA and noisy from run to run (whatever else the host runs takes CPU
from the two emulated ones: see the load average); **only ratios within one run mean
anything**, and those are what the targets are about.

## Ratios and targets

{ratios}

Reference latencies are perftest's `t_typical` (its median), store latencies kvcli bench's p50.
The PUT reference is the sum of its three round trips: READ at the GET's READ size + CAS +
**2 ×** `ib_write_lat` (which reports half a round trip, see below).

""" + "\n\n".join(explain(c, ctx, r)) + f"""

![p50 latency per operation, store and Redis beside the raw verbs](img/latency.png)

## Absolute numbers

### Store: `kvcli bench`, 1 client, {dig(r, 'store', 'get_d1', 'keys') or 1000} keys, {dig(r, 'store', 'get_d1', 'value_size') or 32} B values

{store_table(r)}

Verbs per op count every operation of the phase, including those that also read the buckets.
The `load` phase stores every key and then measures updates. Percentiles come from kvcli's
log-bucketed histogram (its resolution: `client/kv_hist.h`).

### Server CPU (kvserver, utime+stime around each kvcli run)

{cpu_table(r)}

`first_connect` is the first connection after start (a `kvcli stats`, whose census of the
slab's control words is the first to touch them); `connect_N` are 1-op runs (a connection alone); `server_stats` is `kvcli stats`.
Clock ticks are 1/{meta.get('clk_tck')} s (AT_CLKTCK from `/proc/self/auxv`: busybox has no
`getconf`); schedstat gives nanoseconds.

### perftest (`-R -d rxe0`, {meta.get('lat_iterations')} iterations for latency)

{lat_t}

`ib_write_lat` reports **one-way** latency (half of the measured round trip); a WRITE the
client waits for costs 2 × that. The GET's READ size: given {meta.get('get_read_bytes_param')} B
(`KV_GET_READ_BYTES`); the GET phase's read_bytes/reads {meta.get('get_read_bytes_avg')} B
(pulled up by the few keys outside their home slot, which read whole slots); the single READ
of a 1-op GET {meta.get('get_read_bytes_one')} B, the common case, used for the references
({ctx['read_get_b']} B).

{bw_t}

### Redis 7 over TCP loopback (`redis-benchmark -c 1 -d 32 -r 1000`)

{redis_table(r)}

With `-P 16` each latency is that of a request in a pipeline of 16.
"""
    with open(a.md, "w") as f:
        f.write(md)
    r["targets"] = {x["key"]: {"name": x["name"], "value": x["value"], "op": x["op"],
                               "target": x["target"], "pass": x["pass"]} for x in c}
    r["run"] = {"date": when, "command": a.command, "seconds": a.seconds, "commit": a.commit,
                "vm_status": a.vm_status, "host_kernel": a.host_kernel, "qemu": a.qemu,
                "host": a.host}
    with open(a.json, "w") as f:
        json.dump(r, f, indent=1)
        f.write("\n")
    with open(a.dat, "w") as f:
        f.write(chart_data(r, ctx))
    print(ratios)


if __name__ == "__main__":
    main()
