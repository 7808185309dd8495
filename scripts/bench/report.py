#!/usr/bin/env python3
"""Turn the VM benchmark's results.json (scripts/bench/vm_bench.sh) into
docs/benchmarks.md, docs/benchmarks.json (results plus the checked targets)
and the data file of docs/img/latency.png (scripts/bench/latency.gp); print
the ratios table. Called by scripts/bench/run.sh. Standard library only.

The syncing benchmark (scripts/bench/vm_sync.sh) is run and written up by hand
in docs/benchmarks-sync.md, which this script never touches: it ends
benchmarks.md with a section that links to that file (when it exists beside
--md)."""
import argparse
import datetime
import json
import os


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


SWEEP_SIZES = [32, 1024, 16384, 262144, 1048576]
SMALL_MAX = 1024  # up to here a GET's READ is within 5% of the value: 1.15x
BW_SIZES = [65536, 1048576]


def size_name(n):
    return (f"{n >> 20} MiB" if n >= 1 << 20 and n % (1 << 20) == 0 else
            f"{n >> 10} KiB" if n >= 1024 and n % 1024 == 0 else f"{n} B")


def sweep_refs(r):
    """Per sweep size: the perftest runs to compare with. The 32 B point is
    compared at the warm GET's read size (the 80 B block), the others at the
    value size (perftest -s SIZE)."""
    pt = r["perftest"]
    out = {}
    for sz in SWEEP_SIZES:
        rk, wk = (("read_lat_get", "write_lat_get") if sz == 32
                  else (f"read_lat_{sz}", f"write_lat_{sz}"))
        out[sz] = dict(read=dig(pt, rk, "t_typical_us"), read_b=dig(pt, rk, "bytes"),
                       write=dig(pt, wk, "t_typical_us"), write_b=dig(pt, wk, "bytes"))
    return out


def sweep_rows(r):
    """The sweep's numbers per size, with the ratios and their targets."""
    sw, refs = r.get("sweep") or {}, sweep_refs(r)
    atomic = dig(r, "perftest", "atomic_lat", "t_typical_us")
    rows = []
    for sz in SWEEP_SIZES:
        g, p, ref = sw.get(f"sw_get_{sz}"), sw.get(f"sw_put_{sz}"), refs[sz]
        gp50 = dig(g, "latency_us", "get", "p50")
        pp50 = dig(p, "latency_us", "put", "p50")
        # The raw verbs the PUT posted, per op (counted by kvcli bench): a warm
        # PUT is a WRITE and three CAS (swing the word; retire, commit).
        na = per_op(p, "atomics") if p else None
        nw = per_op(p, "writes") if p else None
        put_ref = (nw * ref["write"] + na * atomic
                   if None not in (ref["write"], atomic, na, nw) else None)
        rows.append(dict(size=sz, keys=dig(g, "keys") or dig(p, "keys"), get_p50=gp50,
                         put_atomics=na, put_writes=nw,
                         get_client=dig(g, "time_split_mean", "client_us"),
                         put_client=dig(p, "time_split_mean", "client_us"),
                         put_p50=pp50, read=ref["read"], read_b=ref["read_b"],
                         write=ref["write"], write_b=ref["write_b"], atomic=atomic,
                         put_ref=put_ref,
                         get_ratio=gp50 / ref["read"] if gp50 is not None and ref["read"] else None,
                         put_ratio=pp50 / put_ref if pp50 is not None and put_ref else None,
                         get_target=1.15 if sz <= SMALL_MAX else 1.3, put_target=1.15,
                         get_db=per_op(g, "doorbells") if g else None,
                         put_db=per_op(p, "doorbells") if p else None,
                         get_rb=per_op(g, "read_bytes") if g else None,
                         complete=(dig(g, "complete"), dig(p, "complete"))))
    return rows


def bw_rows(r):
    sw, pt = r.get("sweep") or {}, r["perftest"]
    rows = []
    for sz in BW_SIZES:
        g = sw.get(f"sw_get_{sz}")
        ops = dig(g, "ops_per_sec")
        mibs = ops * sz / 2**20 if ops is not None else None
        t1 = dig(pt, f"read_bw_{sz}_t1", "bw_avg_MBps")
        t128 = dig(pt, f"read_bw_{sz}_t128", "bw_avg_MBps")
        rows.append(dict(size=sz, ops=ops, mibs=mibs, t1=t1, t128=t128,
                         t1_runs=dig(pt, f"read_bw_{sz}_t1", "msg_rate_runs"),
                         ratio=mibs / t1 if mibs is not None and t1 else None,
                         ratio128=mibs / t128 if mibs is not None and t128 else None,
                         p50=dig(g, "latency_us", "get", "p50"), n=dig(g, "ops")))
    return rows


CAP_SIZES = [("32", 32), ("256", 256), ("4096", 4096), ("1m", 1 << 20)]


def cap_rows(cap):
    rows = []
    for k, sz in CAP_SIZES:
        o, rd = (cap or {}).get(f"ours_{k}"), (cap or {}).get(f"redis_{k}")
        oc, rc = dig(o, "count"), dig(rd, "count")
        rows.append(dict(key=k, size=sz, ours=o, redis=rd, oc=oc, rc=rc,
                         ratio=oc / rc if oc is not None and rc else None))
    return rows


def checks(r, cap=None):
    pt, st = r["perftest"], r["store"]
    typ = lambda k: dig(pt, k, "t_typical_us")  # noqa: E731 (perftest median)
    read_get, read_get_b = typ("read_lat_get"), dig(pt, "read_lat_get", "bytes")
    atomic, write1 = typ("atomic_lat"), typ("write_lat_get")
    write_b = dig(pt, "write_lat_get", "bytes")
    bw_runs = [x * 1e6 for x in dig(pt, "read_bw_64_t16", "msg_rate_runs") or []]
    bw = dig(pt, "read_bw_64_t16", "msg_rate_mpps")
    bw = bw * 1e6 if bw else None
    get_p50 = dig(st, "get_d1", "latency_us", "get", "p50")
    put_p50 = dig(st, "put_d1", "latency_us", "put", "p50")
    get16 = dig(st, "get_d16", "ops_per_sec")
    redis_get = dig(r, "redis", "p1", "get", "p50_ms")
    redis_get = redis_get * 1000 if redis_get is not None else None
    cpu = r.get("server_cpu", {})
    pd = st.get("put_d1")
    p_na, p_nw, p_nr = ((per_op(pd, "atomics"), per_op(pd, "writes"), per_op(pd, "reads"))
                        if pd else (None, None, None))
    put_ref = (p_nw * write1 + p_na * atomic + p_nr * read_get
               if None not in (write1, atomic, read_get, p_na, p_nw, p_nr) else None)
    ratio = lambda a, b: a / b if a is not None and b else None  # noqa: E731

    c = []
    v = ratio(get_p50, read_get)
    c.append(dict(key="get_vs_read", name=f"GET p50 (1000 keys) / ib_read_lat {read_get_b} B",
                  calc=f"{fmt(get_p50)} / {fmt(read_get, 2)} us", value=v, op="<=", target=1.15,
                  need=f"needs p50 ≤ {1.15 * read_get:.1f} us" if read_get else None))
    v = ratio(put_p50, put_ref)
    c.append(dict(key="put_vs_verbs",
                  name=f"PUT p50 (1000 keys) / its verbs (ib_write_lat {write_b} B, ib_atomic_lat,"
                       f" ib_read_lat {read_get_b} B, each times its count per op)",
                  calc=f"{fmt(put_p50)} / ({fmt(p_nw, 2)} x {fmt(write1, 2)} + {fmt(p_na, 2)} x"
                       f" {fmt(atomic, 2)} + {fmt(p_nr, 2)} x {fmt(read_get, 2)})"
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
    # The value-size sweep (issue 8).
    for x in sweep_rows(r):
        sz, kind = x["size"], "small" if x["size"] <= SMALL_MAX else "large"
        c.append(dict(key=f"sweep_get_{sz}",
                      name=f"{kind} GET {size_name(sz)} p50 / ib_read_lat {x['read_b']} B",
                      calc=f"{fmt(x['get_p50'])} / {fmt(x['read'], 2)} us", value=x["get_ratio"],
                      op="<=", target=x["get_target"],
                      need=f"needs p50 ≤ {x['get_target'] * x['read']:.1f} us" if x["read"] else None))
        c.append(dict(key=f"sweep_put_{sz}",
                      name=f"PUT {size_name(sz)} p50 / its verbs (ib_write_lat {x['write_b']} B"
                           f" + {fmt(x['put_atomics'], 2)} x ib_atomic_lat)",
                      calc=f"{fmt(x['put_p50'])} / ({fmt(x['put_writes'], 2)} x {fmt(x['write'], 2)}"
                           f" + {fmt(x['put_atomics'], 2)} x {fmt(x['atomic'], 2)})"
                           f" = {fmt(x['put_p50'])} / {fmt(x['put_ref'], 2)} us",
                      value=x["put_ratio"], op="<=", target=1.15,
                      need=f"needs p50 ≤ {1.15 * x['put_ref']:.1f} us" if x["put_ref"] else None))
    for x in bw_rows(r):
        c.append(dict(key=f"bw_{x['size']}",
                      name=f"GET {size_name(x['size'])} MiB/s (depth 1) / ib_read_bw -t 1 at that size",
                      calc=f"{fmt(x['mibs'], 2)} / {fmt(x['t1'], 2)} MiB/s", value=x["ratio"],
                      op=">=", target=0.8,
                      need=f"needs ≥ {0.8 * x['t1']:.2f} MiB/s" if x["t1"] else None))
    if cap is not None:
        x = {y["key"]: y for y in cap_rows(cap)}
        cut = lambda y, what: (what if y["ours"] is not None and not y["ours"].get("full")  # noqa: E731
                               else None)
        c.append(dict(key="capacity_32", name="items of 16 B key + 32 B value in 64 MiB: store / Redis",
                      calc=f"{x['32']['oc']} / {x['32']['rc']}", value=x["32"]["ratio"],
                      op=">=", target=1.0, lower_bound=cut(x["32"], "the store's fill")))
        c.append(dict(key="capacity_1m", name="1 MiB values in 64 MiB (store)",
                      calc=f"{x['1m']['oc']} items", value=x["1m"]["oc"], op=">=", target=56,
                      lower_bound=cut(x["1m"], "the store's fill")))
    for x in c:
        x["result"], x["pass"] = verdict(x["value"], x["op"], x["target"], x.get("need"))
        # A fill cut short by its time bound counts a lower bound: below the
        # target it says nothing.
        lb = x.get("lower_bound")
        if lb and x["pass"] is False:
            x["result"], x["pass"] = (f"**not decided**: {lb} was cut by the time bound before"
                                      f" the store was full; its count is a lower bound"), None
    ctx = dict(read_get=read_get, read_get_b=read_get_b, atomic=atomic, write1=write1,
               write_b=write_b, bw=bw, bw_runs=bw_runs, get_p50=get_p50,
               put_p50=put_p50, get16=get16, redis_get=redis_get, put_ref=put_ref)
    return c, ctx


def explain(c, ctx, r):
    """One paragraph per check, from the numbers; the 'why' of every miss."""
    st, cpu = r["store"], r.get("server_cpu", {})
    g, p, g16 = st.get("get_d1"), st.get("put_d1"), st.get("get_d16")
    out = []
    by = {x["key"]: x for x in c}

    x = by["get_vs_read"]
    if g and ctx["get_p50"] and ctx["read_get"]:
        rd, db, rb = per_op(g, "reads"), per_op(g, "doorbells"), per_op(g, "read_bytes")
        t = (f"**GET vs READ.** A warm GET (this client has read or written the key before"
             f" and remembers its index word) is one READ of the block the word names,"
             f" committed and not retired, {ctx['read_get_b']} B for a 13 B key and a"
             f" 32 B value (32 B header, key, value, in 16 B granules), so the reference is"
             f" ib_read_lat at {ctx['read_get_b']} B ({ctx['read_get']:.2f} us; 80 B rather"
             f" than 64 B because that is the block's size). A cold GET reads both 64 B"
             f" buckets, then the block: two round trips. The 1000-key phase posted {rd:.2f}"
             f" READs ({rb:.0f} B) in {db:.2f} doorbells per operation: the"
             f" {max(0.0, db - 1):.2f} extra round trips per op are cold GETs, the first read"
             f" of each key by this connection and keys whose entry in the client's cache of"
             f" word positions (4096 entries, two-way) another key took.")
        gs, gh = st.get("get_split"), st.get("get_hot")
        split_known = bool(dig(gs, "time_split_mean", "client_us") is not None
                           and dig(gh, "latency_us", "get", "p50"))
        if x["pass"] is False and split_known:
            gsm = gs["time_split_mean"]
            hot, cold = gh["latency_us"]["get"]["p50"], dig(gs, "latency_us", "get", "p50")
            t += (f" **Why it misses:** the gap is {ctx['get_p50'] - ctx['read_get']:.1f} us."
                  f" Timed apart (`--split`, a separate run that clocks each doorbell to its"
                  f" completion), a GET spends {gsm['client_us']} us of its mean"
                  f" {gsm['op_us']} us in kvcli and {gsm['wait_us']} us waiting for its READs;"
                  f" the wait is one READ of the block, as perftest's is, but at a"
                  f" different place of the 64 MiB slab each time where perftest reads one"
                  f" buffer over and over, and the cold GETs' extra round trips. A GET of one hot key has p50 {hot} us against"
                  f" {cold} us for 1000 keys in the same conditions. The server's CPU used"
                  f" {fmt(dig(cpu, 'get_d1', 'cpu_ms'), 2)} ms in the whole phase, as for a bare"
                  f" connection.")
        elif x["pass"] is False:
            t += (" **Why it misses:** this run has no `--split` phases, so it cannot say"
                  " whether the time beyond the READ is the client's or the wire's.")
        s32 = by.get("sweep_get_32")
        if s32 and s32["value"] is not None:
            t += (f" The sweep's 32 B point (32 keys, all warm) has ratio {s32['value']:.2f}"
                  f" to the same reference.")
        out.append(t)

    x = by["put_vs_verbs"]
    if p and ctx["put_ref"]:
        db = per_op(p, "doorbells")
        t = (f"**PUT vs its verbs.** A warm PUT (an update of a key this client knows) is two"
             f" doorbells: a WRITE of the new block ({ctx['write_b']} B at 32 B values) out of"
             f" place and a CAS of the 8 B index word from the old block to the new; then a CAS"
             f" that retires the old block (the instant the PUT takes effect) and one that"
             f" commits the new. The reference is the sum of the raw verbs it posted, each"
             f" counted per op: ib_write_lat at the block size ({ctx['write1']:.2f}"
             f" us, which perftest reports as half its ping-pong round trip, i.e. the WRITE's"
             f" one-way time), ib_atomic_lat ({ctx['atomic']:.2f} us, a round trip) and, for"
             f" cold PUTs, ib_read_lat: {ctx['put_ref']:.2f} us. The phase posted per op"
             f" {per_op(p, 'reads'):.2f} READs, {per_op(p, 'atomics'):.2f} CAS,"
             f" {per_op(p, 'writes'):.2f} WRITEs in {db:.2f} doorbells, with"
             f" {dig(p, 'retries', 'lock_conflicts')} lost CASes and"
             f" {dig(p, 'retries', 'torn_reads')} torn reads.")
        if x["pass"] is False:
            gap = ctx["put_p50"] - ctx["put_ref"]
            ps = dig(st.get("put_split"), "time_split_mean")
            if ps:
                t += (f" **Why it misses:** {gap:.1f} us above the sum. Timed apart"
                      f" (`--split`), a PUT spends {ps['client_us']} us of its mean"
                      f" {ps['op_us']} us in kvcli (encoding the block and its XXH3 checksum"
                      f" included) and {ps['wait_us']} us waiting for its doorbells. The server"
                      f" used {fmt(dig(cpu, 'put_d1', 'cpu_ms'), 2)} ms of CPU in the whole"
                      f" phase.")
            else:
                t += (" **Why it misses:** this run has no `--split` phases, so it cannot say"
                      " whether the time beyond the verbs is the client's or the wire's.")
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
             f" {ctx['get16']:.0f} ops/s with {rd:.2f} READs per op (the block of each key,"
             f" warm, all 16 keys' READs behind one doorbell), i.e."
             f" {ctx['get16'] * rd:.0f} READs/s, with p50 latency"
             f" {fmt(dig(g16, 'latency_us', 'get', 'p50'))} us (16 ops queued on one QP).")
        if x["value"] and x["value"] > 1:
            t += (f" The store's READ rate is above perftest's, whose runs spread"
                  f" {min(ctx['bw_runs']):.0f}–{max(ctx['bw_runs']):.0f} msg/s: under TCG the"
                  f" perftest number is a reference, not a hard ceiling, and a ratio above 1"
                  f" says the store keeps up with the verbs layer.")
        if x["pass"] is False:
            t += (f" **Why it misses:** {rd:.2f} READs per op cap the store at"
                  f" {ctx['bw'] / rd:.0f} ops/s at perftest's READ rate; the rest is client"
                  f" time per op (see GET above), which one client thread pays serially.")
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
    for k, note in [("read_lat_get", "the warm GET's block (KV_GET_READ_BYTES)"),
                    ("write_lat_get", "the PUT's block at 32 B values; **one-way**: half the"
                                      " round trip"),
                    ("atomic_lat", "compare-and-swap, 8 B, as the PUT's publishing CAS")] + \
            [(f"{op}_lat_{sz}", "sweep" + ("; one-way" if op == "write" else ""))
             for sz in SWEEP_SIZES[1:] for op in ("read", "write")]:
        x = pt.get(k)
        if x:
            lat.append([x["cmd"].split()[0], x["bytes"], x["iterations"],
                        fmt(x["t_typical_us"], 2), ", ".join(str(v) for v in x["typical_runs"]),
                        fmt(x["t_avg_us"], 2), fmt(x["p99_us"], 2), fmt(x["p999_us"], 2), note])
    bw = []
    for k in ("read_bw_64_t16", "read_bw_64_t128", "read_bw_65536_t1", "read_bw_1048576_t1",
              "read_bw_1048576_t128"):
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
        ms = (fmt(x["cpu_ms"], 2) if x["cpu_ms"] > 0 or (x["cpu_ms"] == 0 and not x["ticks"]) else
              "n/a (the ns sum overflowed busybox awk's %d; fixed)")
        rows.append([ph, x["ticks"], fmt(dig(r, "server_cpu_s", ph), 2), ms,
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
            (f"READ {ctx['read_get_b']} B", ctx["read_get"], 3),
            (f"PUT's verbs (WRITE {ctx['write_b']} B + CAS x3)", ctx["put_ref"], 3),
            ("CAS", ctx["atomic"], 3)]
    return "".join(f'"{lab}" {v:.1f} {grp}\n' for lab, v, grp in rows if v is not None)


def sweep_table(r):
    rows = []
    for x in sweep_rows(r):
        rows.append([size_name(x["size"]), x["keys"] or "n/a", fmt(x["get_p50"]),
                     f"{fmt(x['read'], 2)} ({x['read_b']} B)" if x["read_b"] else "n/a",
                     fmt(x["get_ratio"], 2), f"≤ {x['get_target']}",
                     "met" if x["get_ratio"] is not None and x["get_ratio"] <= x["get_target"]
                     else "n/a" if x["get_ratio"] is None else "**missed**",
                     fmt(x["get_db"], 2), fmt(x["put_p50"]),
                     f"{fmt(x['write'], 2)} + {fmt(x['put_atomics'], 2)} x {fmt(x['atomic'], 2)}"
                     f" = {fmt(x['put_ref'], 2)}", fmt(x["put_ratio"], 2),
                     "met" if x["put_ratio"] is not None and x["put_ratio"] <= 1.15
                     else "n/a" if x["put_ratio"] is None else "**missed**",
                     fmt(x["put_db"], 2), fmt(x["get_client"]), fmt(x["put_client"])])
    return table(["value", "keys", "GET p50 us", "ib_read_lat us (size)", "ratio", "target",
                  "GET", "GET doorbells/op", "PUT p50 us", "its verbs: ib_write_lat + n x ib_atomic_lat us",
                  "ratio (≤ 1.15)", "PUT", "PUT doorbells/op",
                  "GET client us", "PUT client us"], rows)


def bw_table(r):
    rows = []
    for x in bw_rows(r):
        rows.append([size_name(x["size"]), x["n"] if x["n"] is not None else "n/a",
                     fmt(x["p50"]), fmt(x["ops"], 1), fmt(x["mibs"], 2), fmt(x["t1"], 2),
                     ", ".join(f"{v * 1e6 * x['size'] / 2**20:.2f}" for v in x["t1_runs"] or []),
                     fmt(x["ratio"], 2),
                     "met" if x["ratio"] is not None and x["ratio"] >= 0.8
                     else "n/a" if x["ratio"] is None else "**missed**",
                     fmt(x["t128"], 2), fmt(x["ratio128"], 2)])
    return table(["value", "GETs", "GET p50 us", "GET ops/s", "GET MiB/s",
                  "ib_read_bw -t 1 MiB/s (median run)", "-t 1, all runs",
                  "ratio (≥ 0.8)", "target", "ib_read_bw -t 128 MiB/s", "ratio to -t 128"], rows)


def cap_how(x, what):
    if x is None:
        return "not measured"
    if x.get("full"):
        return f"full: {x.get('first_error') or what}"
    return (f"**not full** after {x.get('seconds')} s (bound {x.get('max_items')} items"
            f" or the time): a lower bound")


def cap_table(cap):
    rows = []
    for x in cap_rows(cap):
        o, rd = x["ours"], x["redis"]
        per = 64 * 2**20 / x["oc"] if x["oc"] else None
        rper = 64 * 2**20 / x["rc"] if x["rc"] else None
        rows.append([f"16 B + {size_name(x['size'])}",
                     x["oc"] if x["oc"] is not None else "n/a", cap_how(o, "store full"),
                     fmt(per, 0), x["rc"] if x["rc"] is not None else "n/a",
                     cap_how(rd, "OOM"), fmt(rper, 0), fmt(x["ratio"], 2),
                     fmt(dig(o, "seconds"), 0) + " / " + fmt(dig(rd, "seconds"), 0)])
    return table(["key + value", "store items", "store: how it ended", "64 MiB / item (B)",
                  "Redis items", "Redis: how it ended", "64 MiB / item (B)", "store / Redis",
                  "fill s (store / Redis)"], rows)


def cap_explain(cap):
    """What filled first in each store fill, from kvserver's stats at the end."""
    out = []
    for x in cap_rows(cap):
        o = x["ours"]
        if not o or not o.get("index_words") or not o.get("data_bytes"):
            continue
        items = o.get("server_items") or o.get("count") or 0
        blk = -(-(24 + 16 + x["size"]) // 16) * 16
        alloc = o.get("bytes_allocated") or 0
        out.append(f"{size_name(x['size'])}: {items} items (kvserver's count;"
                   f" the fill counted {o.get('count')}), index {items / o['index_words']:.1%}"
                   f" of its {o['index_words']} words, blocks of {blk} B, data region"
                   f" {alloc / o['data_bytes']:.1%} allocated (largest free extent"
                   f" {o.get('largest_free_extent')} B)")
    if not out:
        return ""
    return ("At the end of each store fill (kvserver's stats): " + "; ".join(out) + ". An index"
            " near full means the refusal came from a key whose two buckets were full; a data"
            " region near full, from the allocator. Space is handed to clients in grants, so"
            " a little of the last grant may be unused when the store says full.")


def sweep_explain(r):
    rows = sweep_rows(r)
    parts = []
    for x in rows:
        if x["get_p50"] is None or x["read"] is None:
            continue
        t = (f"{size_name(x['size'])}: GET {x['get_p50'] - x['read']:+.1f} us against the READ"
             f" ({fmt(x['get_rb'], 0)} B read per op in {fmt(x['get_db'], 2)} doorbells)")
        if x["put_p50"] is not None and x["put_ref"]:
            t += f", PUT {x['put_p50'] - x['put_ref']:+.1f} us against WRITE + CAS"
        parts.append(t)
    if not parts:
        return ""
    return ("Differences to the raw verbs, per size: " + "; ".join(parts) + ". Beyond the"
            " verbs a GET validates the whole block it read (XXH3-64 over header, key and"
            " value) and copies the value out, and a PUT encodes the block and its checksum"
            " before its doorbell: client work that grows with the size, which perftest does"
            " not do. This run does not time the sweep's client work apart (`--split`), so"
            " that share is not measured here.")


def sync_section(md_path, sync_path):
    """The closing section of benchmarks.md: a link to the hand-written
    syncing results (sync_path), or "" if there is no such file."""
    if not os.path.exists(sync_path):
        print(f"report: no {sync_path}: benchmarks.md goes without its Syncing section")
        return ""
    link = os.path.relpath(sync_path, os.path.dirname(os.path.abspath(md_path)) or ".")
    return f"""
## Syncing: what `--sync-interval` costs GET and PUT

Not produced by `scripts/bench/run.sh`: `scripts/bench/vm_sync.sh` is run by hand (it needs a
disk and takes about eight minutes), and its results, with the command, the host's load and what
they show, are in [{os.path.basename(sync_path)}]({link}), which `scripts/bench/report.py`
leaves alone.
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    for a in ("results", "md", "json", "dat", "capacity", "command", "seconds", "vm-status",
              "commit", "host-kernel", "qemu", "host"):
        ap.add_argument("--" + a, required=a in ("results", "md", "json", "dat"), default="")
    ap.add_argument("--sync-md", default="",
                    help="the hand-written syncing results to link to"
                         " (default: benchmarks-sync.md beside --md)")
    a = ap.parse_args()
    sync_md = a.sync_md or os.path.join(os.path.dirname(a.md), "benchmarks-sync.md")
    with open(a.results) as f:
        r = json.load(f)
    cap = None
    if a.capacity:
        try:
            with open(a.capacity) as f:
                cap = json.load(f)
        except (OSError, ValueError) as e:
            print(f"report: no capacity results ({e})")
    c, ctx = checks(r, cap)
    meta = r.get("meta", {})
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    ratio_rows = [[x["name"], x["calc"],
                   fmt(x["value"], 2) if x["op"] != "== 0" else fmt(x["value"], 4) + " s",
                   f"{x['op']} {x['target']}" if x["op"] != "== 0" else "0 s (10 ms ticks)",
                   x["result"]] for x in c]
    ratios = table(["check", "numbers", "value", "target", "result"], ratio_rows)
    lat_t, bw_t = perftest_tables(r)
    failed = meta.get("failed") or "none"
    cap_failed = ""
    if cap is None:
        cap_failed = "; capacity: no results"
        cap_section = "No capacity results in this run (`vm_capacity.sh` did not finish)."
    else:
        cm = cap.get("meta", {})
        if cm.get("failed"):
            cap_failed = f"; capacity: {cm['failed']}"
        cap_section = (f"""`kvserver -m 64M` with default settings (index 3/32 of the slab:
8 B words, 2 candidate buckets of 8 words per key; the rest holds blocks of a 32 B header, key
and value in 16 B granules), filled with distinct 16-byte keys (`k` and 15 digits) until the
first "store full": `kvcli batch` lines `put KEY VALUE` (the count is the OKs before the first
ERROR), and for 1 MiB values one `kvcli put KEY - < file` per item. Redis 7 beside it in the
same VM: `redis-server --maxmemory 64mb --maxmemory-policy noeviction`, the same keys and
values through `redis-cli --pipe` until it answers OOM, counted with `DBSIZE`. Every fill is
bounded in items and in time (the scenario ends by VM uptime {cm.get('deadline_uptime_s')} s;
it took {cm.get('seconds')} s). The issue's reference: Redis 7 held 484,037 items of 16/32 in
64mb; the old store (layout v2, fixed slots) held 21,103.

{cap_table(cap)}

{cap_explain(cap)}
""")
    md = f"""# Benchmarks

Produced by `{a.command}` (from the repository root, after or including the build)
on {when}, commit `{a.commit}`, in {a.seconds} s wall time (VM scenario
{meta.get('vm_seconds')} s; `scripts/vm/run.sh` exit status {a.vm_status};
measurements that failed: {failed}{cap_failed}). The scenarios are
`scripts/bench/vm_bench.sh` (latencies, the value-size sweep, Redis) and
`scripts/bench/vm_capacity.sh` (items per 64 MiB), one after the other in the same VM;
their raw outputs land in `build/bench-out/vm_bench/raw/` and
`build/bench-out/vm_capacity/raw/`, the combined results in `docs/benchmarks.json`.

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
A GET is compared with `ib_read_lat` at its READ size: for small values (32 B and 1 KiB) at
the block it reads (the 32 B point: the 80 B block of a 13 B key and a 32 B value; a warm
GET is one READ of the block), target 1.15×; for large values (16 KiB and up) at the value
size, target 1.3×. A warm PUT is a WRITE of the block and a CAS of the index word behind one
doorbell, then two CAS (retire the old block, commit the new) behind another: its reference
is the sum of those verbs, each counted per op by kvcli bench: `ib_write_lat` at the block
size (which reports half a round trip: the WRITE's one-way time; the sweep runs it at the
value size, 48 B short of the block at most) + 3 × `ib_atomic_lat`, target 1.15×. GET bandwidth at depth
1 (one GET at a time, one READ of the block in flight) is compared with `ib_read_bw -t 1` (one
READ in flight), target 0.8×. Capacity: the issue's targets, at least Redis's count for 16 B
keys with 32 B values, and at least 56 values of 1 MiB.

""" + "\n\n".join(explain(c, ctx, r)) + f"""

## Capacity: items per 64 MiB, the store beside Redis 7

{cap_section}

## Value sizes: latency and bandwidth beside the raw verbs

A separate `kvserver -m 512M` (a 512 MiB slab: the VM has 1 GiB; at 1 MiB a PUT leaves a
1 MiB block behind for the sweep to reclaim, one pass a lease, and a 64 MiB slab would make
an overwrite loop wait for reclamation rather than the wire). For each size, `kvcli bench
--workload put --keys K --value-size SIZE --depth 1` stores K keys (the `keys` column), then
overwrites them (warm PUTs); `--workload get` then reads the same keys over and over (warm
GETs after each key's first read, which reads both buckets first: doorbells/op above 1 says
how many were cold). Ops are
bounded in count and by `--seconds 8`. At depth 1 kvcli bench GETs with `kv_get` (any size);
`kv_get_multi` returns values up to 4 KiB only. A GET READs the block's coded length: up to
1/32 above the block (1 MiB values: 1,081,344 B). The last two columns are the client's own
time per op (`--split`: everything but the wait from doorbell to completion): copying the
value, and the XXH3 checksum a PUT computes over its block and a GET checks, which the VM's
emulated CPU runs far slower than a real one.

{sweep_table(r)}

{sweep_explain(r)}

GET throughput at depth 1, one client (MiB = 2^20 B, as perftest's MB/sec; the store's counts
value bytes, its READs move the whole block):

{bw_table(r)}

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
slab's index is the first to touch it); `connect_N` are 1-op runs (a connection alone); `server_stats` is `kvcli stats`.
Clock ticks are 1/{meta.get('clk_tck')} s (AT_CLKTCK from `/proc/self/auxv`: busybox has no
`getconf`); schedstat gives nanoseconds.

### perftest (`-R -d rxe0`, {meta.get('lat_iterations')} iterations for latency)

{lat_t}

`ib_write_lat` reports **one-way** latency (half of the measured round trip). The small
GET's READ size is {meta.get('get_read_bytes')} B (`KV_GET_READ_BYTES`): the block of a 13 B
key and a 32 B value (kvcli bench's keys); the issue's 16 B keys give the same 80 B. The sweep's
perftest runs use fewer iterations as the size grows (1 MiB: 15), and run once at 1 KiB and
16 KiB, 3 times elsewhere (the median run kept).

{bw_t}

### Redis 7 over TCP loopback (`redis-benchmark -c 1 -d 32 -r 1000`)

{redis_table(r)}

With `-P 16` each latency is that of a request in a pipeline of 16.
""" + sync_section(a.md, sync_md)
    with open(a.md, "w") as f:
        f.write(md)
    if cap is not None:
        r["capacity"] = cap
    r["sweep_table"] = sweep_rows(r)
    r["bandwidth_table"] = bw_rows(r)
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
