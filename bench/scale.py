"""Many topics and partitions: how kmirror and MirrorMaker 2 cope with N partitions.

Usage (starts, and unless --keep purges, two local clusters of its own, scale-source and
scale-target; the default local clusters are left alone):

    .venv/bin/python bench/scale.py --sizes 100,1000,10000 --partitions-per-topic 10 \
        --records-per-partition 2 --tools kmirror,mm2 --idle-s 30 --settle-s 30 --join \
        [--heap 2g] [--timeout-s 600] [--no-verify] [--keep] [--out FILE.json]

For each size N (total partitions): N / PARTITIONS_PER_TOPIC topics s{N}-00000... on the
source, RECORDS_PER_PARTITION small records in every partition. Each tool then starts on an
emptied target, on the topics s{N}-.*; the target's end offsets are polled every 0.5 s (time
to the first record and to caught up, from the launch); then the tool's CPU while idle for
IDLE_S seconds right after, and again after SETTLE_S more seconds (the steady state: kmirror
moves partitions idle for 30 s to its batch path), and the peak resident memory of its
process tree. kmirror is also checked by
`kmirror verify --strict`; with --join, at the largest size (kmirror running last there), a
second `kmirror run` joins its consumer group: time until both hold partitions, time from the
last of one new record per partition written until all are mirrored (and how long writing
them took), and every partition's end offset compared exactly (a
duplicate would make the target longer); then the second one leaves (SIGTERM): time until the
first holds every partition again, one more record per partition, end offsets compared again.
Prints a table and one JSON document (to --out when
given, else to stdout); outside the test suite, as benchmarks are.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from confluent_kafka import KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from kmirror.bench import java, tools
from kmirror.bench.sampler import TreeSampler
from kmirror.local import pinned_kafka_version

KMIRROR = [sys.executable, "-m", "kmirror"]
CLUSTERS = ("--name", "scale-source", "--name", "scale-target")
POLL_S = 0.5
CHUNK = 500  # topics per CreateTopics / DeleteTopics request
OFFSETS_SLICE = 1000  # partitions per ListOffsets call
DELETE_SETTLE_FROM, DELETE_SETTLE_S = 100, 65.0  # topics deleted; the broker's delete delay
Offsets = dict[tuple[str, int], int]


def say(text: str) -> None:
    """Progress, on stderr (stdout carries the table and the JSON)."""
    print(f"[scale {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def clusters_up(heap: str) -> tuple[str, str]:
    """Start scale-source and scale-target; their bootstrap servers."""
    done = subprocess.run([*KMIRROR, "local", "up", *CLUSTERS, "--heap", heap, "--json"],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"kmirror local up failed:\n{done.stderr or done.stdout}")
    servers = {c["name"]: c["bootstrap_servers"] for c in json.loads(done.stdout)["clusters"]}
    return servers["scale-source"], servers["scale-target"]


def wait_until(ready: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``ready`` every POLL_S until true; SystemExit after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(POLL_S)


def create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    """Create the topics (replication factor 1), CHUNK per request, and wait for metadata."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for i in range(0, len(names), CHUNK):
        futures = admin.create_topics([NewTopic(n, partitions, 1) for n in names[i:i + CHUNK]],
                                      request_timeout=120)
        for future in futures.values():
            future.result(180)
    wanted = set(names)
    wait_until(lambda: wanted <= set(admin.list_topics(timeout=30).topics), 300,
               f"{len(names)} new topics in the metadata")


def delete_topics(bootstrap: str, doomed: Callable[[str], bool]) -> int:
    """Delete every topic ``doomed`` selects and wait until the metadata no longer lists them."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    names = [n for n in admin.list_topics(timeout=30).topics if doomed(n)]
    for i in range(0, len(names), CHUNK):
        for future in admin.delete_topics(names[i:i + CHUNK], request_timeout=120).values():
            future.result(180)
    wait_until(lambda: not any(doomed(n) for n in admin.list_topics(timeout=30).topics), 300,
               f"{len(names)} deleted topics to leave the metadata")
    return len(names)


def mm2_internal(name: str) -> bool:
    """Topics MirrorMaker 2 (Connect) creates for itself."""
    return name.startswith("mm2-") or ".internal" in name or "heartbeats" in name


def produce(bootstrap: str, partitions: list[TopicPartition], count: int, tag: str) -> None:
    """Write ``count`` small, distinct records to every partition; fail on any delivery error."""
    failures: list[str] = []
    delivered = 0

    def report(err: object, msg: object) -> None:
        nonlocal delivered
        if err is None:
            delivered += 1
        else:
            failures.append(f"{msg.topic()}[{msg.partition()}]: {err}")  # type: ignore[attr-defined]

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                         "linger.ms": 20})
    for tp in partitions:
        for i in range(count):
            key = f"{tp.topic[-5:]}.{tp.partition}.{tag}{i}".encode()
            while True:
                try:
                    producer.produce(tp.topic, b"v" + key, key, tp.partition, on_delivery=report)
                    break
                except BufferError:
                    producer.poll(0.1)
        producer.poll(0)
    left = producer.flush(300)
    expected = len(partitions) * count
    if failures or left or delivered != expected:
        raise SystemExit(f"produce failed: {delivered} of {expected} delivered, {left} pending, "
                         f"{len(failures)} errors, first: {failures[:3]}")


def probe(bootstrap: str) -> AdminClient:
    """An admin client for metadata and end offsets only."""
    return AdminClient({"bootstrap.servers": bootstrap})


def end_offsets(admin: AdminClient, partitions: list[TopicPartition]) -> Offsets:
    """End offsets, all asked at once in slices of OFFSETS_SLICE; a partition that errors
    (a target partition not ready yet: "unknown topic or partition", "not leader") is left
    out, never the whole answer (a consumer's offsets_for_times failed as a whole then: the
    first 10,000-partition runs saw the first record a minute late)."""
    futures: dict[Any, Any] = {}
    for i in range(0, len(partitions), OFFSETS_SLICE):
        futures.update(admin.list_offsets(
            {TopicPartition(tp.topic, tp.partition): OffsetSpec.latest()
             for tp in partitions[i:i + OFFSETS_SLICE]}, request_timeout=30))
    ends: Offsets = {}
    for tp, future in futures.items():
        with contextlib.suppress(KafkaException):
            offset = future.result().offset
            if offset >= 0:
                ends[(tp.topic, tp.partition)] = offset
    return ends


def source_ends(bootstrap: str, partitions: list[TopicPartition]) -> Offsets:
    """The source's end offsets of ``partitions``, all of them or SystemExit."""
    ends = end_offsets(probe(bootstrap), partitions)
    if len(ends) != len(partitions):
        raise SystemExit(f"the source answered for {len(ends)} of {len(partitions)} partitions")
    return ends


def target_total(admin: AdminClient, prefix: str) -> int | None:
    """Sum of the end offsets of the target topics starting with ``prefix`` (the partitions
    its metadata lists, those that answer); None when the metadata could not be read."""
    try:
        topics = admin.list_topics(timeout=30).topics
    except KafkaException:
        return None
    listed = [TopicPartition(name, p) for name, meta in topics.items()
              if name.startswith(prefix) and meta.error is None for p in meta.partitions]
    return sum(end_offsets(admin, listed).values())


def check_alive(processes: list[subprocess.Popen[bytes]]) -> None:
    """SystemExit when a launched tool has exited (nothing here stops one before the end)."""
    for process in processes:
        if process.poll() is not None:
            raise SystemExit(f"pid {process.pid} exited with {process.returncode}: "
                             f"{str(process.args)[:300]}; its log is in its workdir")


def watch(admin: AdminClient, prefix: str, goal: int, started: float, timeout_s: float,
          processes: list[subprocess.Popen[bytes]]) -> tuple[float | None, float | None, int]:
    """Poll every POLL_S: seconds since ``started`` to the first record and to ``goal``
    records (None if not within ``timeout_s``), and the last total seen."""
    first, total = None, 0
    while True:
        polled = time.monotonic()
        check_alive(processes)
        seen = target_total(admin, prefix)
        elapsed = round(time.monotonic() - started, 2)
        total = total if seen is None else seen
        if first is None and total > 0:
            first = elapsed
        if total >= goal:
            return first, elapsed, total
        if elapsed > timeout_s:
            return first, None, total
        time.sleep(max(0.0, POLL_S - (time.monotonic() - polled)))


def verify(source: str, target: str, pattern: str, skip: bool) -> dict[str, object] | None:
    """`kmirror verify --strict` of the pattern's topics: exit code and the totals."""
    if skip:
        return None
    done = subprocess.run([*KMIRROR, "verify", "--source.bootstrap.servers", source,
                           "--target.bootstrap.servers", target, "--include", pattern,
                           "--strict", "--json"], capture_output=True, text=True, check=False)
    try:
        doc = json.loads(done.stdout)
        return {"exit_code": done.returncode, "totals": doc["totals"],
                "partitions": len(doc["topics"]), "seconds": doc["seconds"]}
    except (ValueError, KeyError):
        return {"exit_code": done.returncode, "error": done.stderr.strip()[-2000:]}


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def assigned(port: int) -> int | None:
    """Sum of ``kmirror_assigned_partitions`` served on ``port``; None if it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
            text = answer.read().decode()
    except OSError:
        return None
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
               if line.startswith("kmirror_assigned_partitions"))


def stop(process: subprocess.Popen[bytes], grace_s: float = 120) -> int:
    """SIGTERM; after ``grace_s`` kill the process and every descendant. The exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            return process.wait(grace_s)
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(process.pid)
            for proc in [*root.children(recursive=True), root]:
                with contextlib.suppress(psutil.Error):
                    proc.kill()
    return process.wait(30)


def join(job: tools.Job, port1: int, partitions: list[TopicPartition], target_probe: AdminClient,
         args: argparse.Namespace, processes: list[subprocess.Popen[bytes]]
         ) -> dict[str, object]:
    """A second `kmirror run` joins the first: the same job, so the same properties files
    (written again, identical), group and pattern; only its metrics port differs."""
    n, timeout_s = len(partitions), args.timeout_s
    source, target = job.source_bootstrap, job.target_bootstrap
    port2 = free_port()
    second = tools.Kmirror(1, name="kmirror-joiner", extra_args=("--metrics.port", str(port2)))
    processes.append(second.launch(job))
    started = time.monotonic()
    last: tuple[int | None, int | None] = (None, None)
    while not (last[0] and last[1] and last[0] + last[1] == n):
        if time.monotonic() - started > timeout_s:
            return {"join_to_both_assigned_s": None, "assigned_last_seen": last,
                    "note": f"not both assigned within {timeout_s:g} s"}
        time.sleep(POLL_S)
        check_alive(processes)
        last = (assigned(port1), assigned(port2))
    result: dict[str, object] = {"join_to_both_assigned_s": round(time.monotonic() - started, 2),
                                 "assigned": list(last)}
    result |= one_more_record("join", "j", partitions, target_probe, job, timeout_s, processes)
    result["verify"] = verify(source, target, str(job.pattern), args.no_verify)
    result["leave"] = leave(processes, port1, partitions, target_probe, job, timeout_s)
    return result


def leave(processes: list[subprocess.Popen[bytes]], port1: int,
          partitions: list[TopicPartition], target_probe: AdminClient, job: tools.Job,
          timeout_s: float) -> dict[str, object]:
    """The joiner leaves (SIGTERM: it drains, commits and leaves the group): time until the
    first process holds every partition again, then one more record per partition, and every
    partition's end offset compared exactly (a record copied twice makes the target longer)."""
    n = len(partitions)
    say("the second kmirror leaves the group")
    started = time.monotonic()
    code = stop(processes.pop())
    held = None
    while held != n:
        if time.monotonic() - started > timeout_s:
            return {"leave_to_all_assigned_s": None, "exit_code": code,
                    "note": f"one process held {held} of {n} after {timeout_s:g} s"}
        time.sleep(POLL_S)
        check_alive(processes)
        held = assigned(port1)
    out: dict[str, object] = {"exit_code": code,
                              "leave_to_all_assigned_s": round(time.monotonic() - started, 2)}
    return out | one_more_record("leave", "l", partitions, target_probe, job, timeout_s,
                                 processes)


def one_more_record(step: str, tag: str, partitions: list[TopicPartition],
                    target_probe: AdminClient, job: tools.Job, timeout_s: float,
                    processes: list[subprocess.Popen[bytes]]) -> dict[str, object]:
    """One more record in every partition; seconds from the last one written until the target
    holds them all (``{step}_new_records_caught_up_s``), how long writing took, and every
    partition's end offset compared exactly, source against target."""
    source = job.source_bootstrap
    writing = time.monotonic()
    produce(source, partitions, 1, tag)
    written = time.monotonic()
    src_ends = source_ends(source, partitions)
    _, caught, seen = watch(target_probe, f"{job.topic}-", sum(src_ends.values()), written,
                            timeout_s, processes)
    tgt_ends = end_offsets(target_probe, partitions)
    differ = [f"{t}[{p}] {e} vs {tgt_ends.get((t, p))}" for (t, p), e in src_ends.items()
              if tgt_ends.get((t, p)) != e]
    return {f"{step}_new_records_caught_up_s": caught,
            f"{step}_produce_s": round(written - writing, 2),
            "source_total": sum(src_ends.values()), "target_total": seen,
            "partitions_differing": len(differ), "differing_examples": differ[:5]}


def run_tool(name: str, partitions: list[TopicPartition], source: str, target: str,
             args: argparse.Namespace, with_join: bool) -> dict[str, object]:
    """One tool at one size: launch on an empty target, until caught up, idle, stop."""
    n = len(partitions)
    prefix = f"s{n}-"
    removed = delete_topics(target, lambda t: t.startswith(prefix) or mm2_internal(t))
    if removed > DELETE_SETTLE_FROM:
        # A broker closes a deleted partition's files file.delete.delay.ms (60 s) later:
        # 10,000 partitions deleted and 10,000 created at once passed this machine's limit of
        # 20,000 open files, and the target broker stopped ("Too many open files").
        say(f"{removed} target topics deleted: waiting {DELETE_SETTLE_S:g} s for the broker "
            "to close their files")
        time.sleep(DELETE_SETTLE_S)
    goal = sum(source_ends(source, partitions).values())
    workdir = Path(tempfile.mkdtemp(prefix=f"kmirror-scale-{name}-{n}-"))
    job = tools.Job(source, target, topic=f"s{n}", compression="none",
                    run_id=uuid.uuid4().hex[:8], workdir=workdir, pattern=f"{prefix}.*")
    port = free_port()  # a later --metrics.port overrides the tool's "--metrics.port 0"
    tool: tools.Tool = (tools.Kmirror(1, extra_args=("--metrics.port", str(port)))
                        if name == "kmirror" else tools.MirrorMaker2(1))
    result: dict[str, object] = {"workdir": str(workdir), "source_total": goal,
                                 "target_topics_deleted_first": removed}
    processes: list[subprocess.Popen[bytes]] = []
    target_probe = probe(target)
    try:
        say(f"{name} at {n} partitions: launching (logs in {workdir})")
        processes.append(tool.launch(job))
        started = time.monotonic()
        sampler = TreeSampler(processes[0].pid).start()
        first, caught, seen = watch(target_probe, prefix, goal, started, args.timeout_s,
                                    processes)
        result |= {"time_to_first_record_s": first, "time_to_caught_up_s": caught,
                   "target_total": seen, "cpu_s_to_caught_up": round(sampler.sample()
                                                                      .cpu_seconds, 2)}
        if caught is None:
            result["note"] = f"not caught up within {args.timeout_s:g} s ({seen} of {goal})"
        else:
            say(f"{name} caught up after {caught} s; idle for {args.idle_s:g} s")
            before, t0 = sampler.sample().cpu_seconds, time.monotonic()
            time.sleep(args.idle_s)
            cpu, idle_s = sampler.sample().cpu_seconds - before, time.monotonic() - t0
            result |= {"idle_s": round(idle_s, 2), "idle_cpu_s": round(cpu, 3),
                       "idle_cpu_percent_of_one_core": round(100 * cpu / idle_s, 2)}
            if args.settle_s > 0:
                # kmirror moves partitions idle for 30 s to the batch path (paths/choice.py):
                # the steady state of a mirror with nothing to copy, measured once it is there.
                say(f"{name}: {args.settle_s:g} s more, then idle for {args.idle_s:g} s again")
                time.sleep(args.settle_s)
                before, t0 = sampler.sample().cpu_seconds, time.monotonic()
                time.sleep(args.idle_s)
                cpu, idle_s = sampler.sample().cpu_seconds - before, time.monotonic() - t0
                result |= {"settled_after_s": args.settle_s,
                           "settled_idle_cpu_percent_of_one_core": round(100 * cpu / idle_s, 2)}
        usage = sampler.stop()
        result |= {"peak_rss_mb": round(usage.peak_rss_mb, 1),
                   "peak_process_rss_mb": round(usage.peak_process_rss_mb, 1),
                   "processes": usage.processes}
        if name == "kmirror" and caught is not None:
            result["verify"] = verify(source, target, f"{prefix}.*", args.no_verify)
            if with_join:
                say(f"a second kmirror joins the group at {n} partitions")
                check_alive(processes)
                result["join"] = join(job, port, partitions, target_probe, args, processes)
        result["exit_codes"] = [stop(p) for p in processes]
    finally:
        for process in processes:
            stop(process, grace_s=0)  # (after an error; a no-op for those stopped)
    return result


def measure_size(n: int, args: argparse.Namespace, source: str, target: str,
                 with_join: bool) -> dict[str, object]:
    """Load the source with N partitions, run every tool on it, remove the topics."""
    prefix, per_topic = f"s{n}-", args.partitions_per_topic
    delete_topics(source, lambda t: t.startswith(prefix))  # left by an earlier --keep run
    names = [f"{prefix}{i:05d}" for i in range(n // per_topic)]
    say(f"size {n}: creating {len(names)} topics of {per_topic} partitions")
    create_topics(source, names, per_topic)
    partitions = [TopicPartition(t, p) for t in names for p in range(per_topic)]
    produce(source, partitions, args.records_per_partition, "")
    expected = n * args.records_per_partition
    held = sum(source_ends(source, partitions).values())
    if held != expected:
        raise SystemExit(f"the source holds {held} records, expected {expected}")
    # The join writes to the source: kmirror goes last, so every tool copies the same records.
    order = sorted(args.tools, key=lambda t: t == "kmirror") if with_join else args.tools
    out: dict[str, object] = {"partitions": n, "topics": len(names), "records": expected}
    out["tools"] = {name: run_tool(name, partitions, source, target, args, with_join)
                    for name in order}
    if not args.keep:
        for cluster in (source, target):
            delete_topics(cluster, lambda t: t.startswith(prefix) or mm2_internal(t))
    return out


def table(results: list[dict[str, Any]]) -> str:
    """The figures that matter, one line per size and tool."""
    rows: list[tuple[str, ...]] = [("size", "tool", "first_s", "caught_s", "idle_cpu%",
                                    "settled%", "rss_mb", "max_proc_mb", "verify", "join_s",
                                    "join_new_s", "differ", "leave_s", "leave_new_s",
                                    "leave_differ")]
    for size in results:
        for name, r in size["tools"].items():
            j = r.get("join", {})
            lv = j.get("leave", {})
            rows.append(tuple(str(x) for x in (
                size["partitions"], name, r.get("time_to_first_record_s"),
                r.get("time_to_caught_up_s"), r.get("idle_cpu_percent_of_one_core"),
                r.get("settled_idle_cpu_percent_of_one_core", "-"), r.get("peak_rss_mb"),
                r.get("peak_process_rss_mb"),
                (r.get("verify") or {}).get("exit_code", "-"),
                j.get("join_to_both_assigned_s", "-"),
                j.get("join_new_records_caught_up_s", "-"), j.get("partitions_differing", "-"),
                lv.get("leave_to_all_assigned_s", "-"), lv.get("leave_new_records_caught_up_s",
                                                               "-"),
                lv.get("partitions_differing", "-"))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True))
                     for row in rows)


def main() -> int:
    """Measure every size and tool, print the table and the JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,10000", help="total partitions, comma list")
    parser.add_argument("--partitions-per-topic", type=int, default=10)
    parser.add_argument("--records-per-partition", type=int, default=2)
    parser.add_argument("--tools", default="kmirror,mm2", help="kmirror and/or mm2")
    parser.add_argument("--idle-s", type=float, default=30)
    parser.add_argument("--settle-s", type=float, default=30,
                        help="after the first idle window, wait this long and measure again")
    parser.add_argument("--timeout-s", type=float, default=600)
    parser.add_argument("--join", action="store_true", help="second kmirror at the largest size")
    parser.add_argument("--no-verify", action="store_true", help="skip `kmirror verify`")
    parser.add_argument("--heap", default="2g", help="each broker's Java heap")
    parser.add_argument("--keep", action="store_true", help="leave clusters and topics running")
    parser.add_argument("--out", type=Path, help="write the JSON document here")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    args.tools = args.tools.split(",")
    if any(n % args.partitions_per_topic for n in sizes) or set(args.tools) - {"kmirror", "mm2"}:
        parser.error("each size must be a multiple of --partitions-per-topic; tools: kmirror, mm2")
    # SIGTERM unwinds like Ctrl-C: the finally blocks stop the tools and the clusters.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if "mm2" in args.tools:
        java.mm2_runtime()  # fetch MirrorMaker 2's jars now, outside every measurement
    say("starting clusters scale-source and scale-target")
    source, target = clusters_up(args.heap)
    try:
        results = [measure_size(n, args, source, target, args.join and n == max(sizes))
                   for n in sizes]
    finally:
        if not args.keep:
            say("stopping and purging scale-source and scale-target")
            subprocess.run([*KMIRROR, "local", "down", "--purge", *CLUSTERS], check=False,
                           stdout=sys.stderr)
    ram_gb = round(psutil.virtual_memory().total / 2**30, 1)
    document = {
        "command": " ".join(["bench/scale.py", *sys.argv[1:]]),
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cores": os.cpu_count(), "ram_gb": ram_gb, "os": platform.platform(),
                    "python": platform.python_version()},
        "kafka_version": pinned_kafka_version(), "broker_heap": args.heap,
        "partitions_per_topic": args.partitions_per_topic,
        "records_per_partition": args.records_per_partition, "results": results,
    }
    print(table(results))
    text = json.dumps(document, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
        print(f"written to {args.out}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
