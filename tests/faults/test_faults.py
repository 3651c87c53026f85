"""Fault injection: kmirror keeps a complete, ordered copy while things break under load.

Every case: an independent producer (confluent-kafka, idempotent, acks=all; see workload.py)
writes sequence-numbered records steadily into a fresh 4-partition source topic while
`kmirror run` mirrors it; a fault is injected; the producer stops; kmirror catches up; then
`kmirror verify --json` must report nothing missing, mismatched or reordered, and an
independent reader (workload.check_copy) must agree record by record. Duplicates (the price of
at-least-once) are counted and reported, and must be 0 where the fault is graceful.

Short by default (CI, about 20 minutes: every case on the default path, some on a forced
one); `KMIRROR_FAULTS=full` (`make faults`) runs the full
version: 10 SIGKILLs, 5 SIGTERMs, 3 restarts of each broker, a 30 s freeze, ... Figures are
printed (run with -s) and appended as JSON lines to $KMIRROR_FAULT_RESULTS when it is set.
Random moments come from a seed printed per case; set KMIRROR_FAULTS_SEED to replay one.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import kmirror_cmd
from tests.faults.conftest import SOURCE, TARGET, FaultClusters
from tests.faults.toxiproxy import PROXY_HOST, Toxiproxy, ensure_toxiproxy, java_home_shim
from tests.faults.workload import (
    CopyCheck,
    SequenceProducer,
    check_copy,
    committed,
    highest_sequences,
    member_partitions,
    report,
    retrying,
    scale,
    target_total,
)
from tests.helpers.kafka_io import create_topic, end_offsets
from tests.helpers.mirror_run import MirrorProcess, write_config

MODE = scale()
KIP848_TAKEOVER_S = 45  # broker default group.consumer.session.timeout.ms

pytestmark = pytest.mark.integration


def _timeout(short_s: float, full_s: float) -> pytest.MarkDecorator:
    return pytest.mark.timeout(full_s if MODE.full else short_s)


def _paths(*short: str, full: tuple[str, ...] = ()) -> pytest.MarkDecorator:
    """The paths a case runs on: ``short`` always, ``full`` only in the full version (`make
    faults`; the short one, in `make test`, keeps within its time)."""
    skip = pytest.mark.skipif(not MODE.full, reason="the full version (make faults) runs it")
    return pytest.mark.parametrize(
        "path", [*short, *(pytest.param(p, marks=skip) for p in full)])


class Case:
    """One fault case: topic, workload, mirror processes, and the final proof."""

    def __init__(self, name: str, source: str, target: str, workdir: Path) -> None:
        uid = uuid.uuid4().hex[:8]
        self.name = name
        self.source, self.target = source, target
        self.topic = f"faults-{name}-{uid}"
        self.group = f"g-faults-{name}-{uid}"
        self.workdir = workdir
        self.seed = int(os.environ.get("KMIRROR_FAULTS_SEED") or random.randrange(2**31))
        self.rng = random.Random(self.seed)
        self.started = time.monotonic()
        self.mirrors: list[MirrorProcess] = []
        self.figures: dict[str, object] = {}
        self.problems: list[str] = []  # checked at the very end, after the data was proven
        print(f"\nfault case {name} ({MODE.name}): topic {self.topic}, seed {self.seed}")
        create_topic(source, self.topic, MODE.partitions, {"retention.ms": str(7 * 86_400_000)})
        self.workload = SequenceProducer(source, self.topic, MODE.partitions, MODE.rate).start()
        self.producing = True
        src = write_config(workdir, f"source-{uid}", bootstrap__servers=source,
                           group__id=self.group)
        dst = write_config(workdir, f"target-{uid}", bootstrap__servers=target)
        self.args = ["--consumer.config", str(src), "--producer.config", str(dst),
                     "--include", self.topic, "--metrics.port", "0",
                     "--offset.commit.interval.ms", "1000", "--no-live"]

    # --- mirror processes ---------------------------------------------------------------------

    def start_mirror(self, *extra: str) -> MirrorProcess:
        log = self.workdir / f"mirror-{len(self.mirrors) + 1}.log"
        mirror = MirrorProcess([*self.args, *extra], log)
        self.mirrors.append(mirror)
        return mirror

    def expect(self, ok: bool, problem: str) -> None:
        """A failure that must not stop the case before its data is proven."""
        if not ok:
            print(f"PROBLEM: {problem}")
            self.problems.append(problem)

    def terminate(self, mirror: MirrorProcess, whole_group: bool = False,
                  timeout_s: float = 120) -> int:
        """SIGTERM to kmirror's main process (as `docker stop`/Kubernetes do), or to its whole
        process group (as systemd's default KillMode=control-group and a terminal's Ctrl-C do)."""
        if whole_group:
            return mirror.stop(signal.SIGTERM, timeout_s)
        if mirror.process.poll() is None:
            os.kill(mirror.process.pid, signal.SIGTERM)
        try:
            return mirror.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"kmirror did not exit {timeout_s:.0f} s after SIGTERM:\n"
                                 f"{self.logs()}") from None

    def logs(self, lines: int = 30) -> str:
        """The end of every mirror process's output, for failure messages (without the
        client library's connection retries, which flood it while a broker is down)."""
        out = []
        for m in self.mirrors:
            kept = [line for line in m.output().splitlines()
                    if not line.startswith(("FAIL [", "%"))]
            out.append(f"--- {m.log.name} (exit {m.process.poll()}):\n"
                       + "\n".join(kept[-lines:]))
        return "\n".join(out)

    def alive(self, *mirrors: MirrorProcess) -> None:
        for mirror in mirrors:
            assert mirror.process.poll() is None, (
                f"kmirror exited on its own (code {mirror.process.returncode}):\n{self.logs()}")

    def wait_mirroring(self, mirror: MirrorProcess, beyond: int, timeout_s: float = 120) -> float:
        """Block until the target holds more than ``beyond`` records; the seconds it took."""
        start = time.monotonic()
        while target_total(self.target, self.topic) <= beyond:
            self.alive(mirror)
            assert time.monotonic() - start < timeout_s, (
                f"nothing mirrored for {timeout_s:.0f} s (target holds {beyond:,}):\n{self.logs()}")
            time.sleep(0.5)
        return time.monotonic() - start

    def survive(self, mirror: MirrorProcess, seconds: float, when: str) -> MirrorProcess:
        """Let it run ``seconds``; if kmirror exits meanwhile, record that as a problem and
        start a new one, so the case still proves what reached the target."""
        until = time.monotonic() + seconds
        while time.monotonic() < until and mirror.process.poll() is None:
            time.sleep(0.25)
        if mirror.process.poll() is None:
            return mirror
        errors = [line for line in mirror.output().splitlines()
                  if line.startswith(("error", "kmirror: mirrored", "MirrorError"))]
        self.expect(False, f"{when}: kmirror exited on its own with code "
                           f"{mirror.process.returncode} ({mirror.log.name}): "
                           + " | ".join(errors[-3:]))
        return self.start_mirror()

    def steady(self, *mirrors: MirrorProcess, seconds: float | None = None) -> None:
        """Let the workload and the mirror run; the mirror must stay up."""
        until = time.monotonic() + (MODE.steady_s if seconds is None else seconds)
        while time.monotonic() < until:
            self.alive(*mirrors)
            time.sleep(min(0.5, max(0.0, until - time.monotonic())))

    def committed(self) -> dict[int, int]:
        return committed(self.source, self.group, self.topic, MODE.partitions)

    def check_not_ahead(self) -> None:
        """After a crash: no committed source offset is past what the target holds."""
        done = self.committed()
        highest = highest_sequences(self.target, self.topic, MODE.partitions)
        for p, offset in done.items():
            assert offset <= highest[p] + 1, (
                f"partition {p}: offset {offset} committed, but the target's highest sequence "
                f"number is {highest[p]}:\n{self.logs()}")

    # --- the end ------------------------------------------------------------------------------

    def stop_workload(self) -> int:
        self.producing = False
        records = self.workload.stop()
        self.figures["produce_s"] = round(self.workload.stopped - self.workload.started, 1)
        return records

    def wait_caught_up(self, mirror: MirrorProcess, timeout_s: float) -> float:
        """Block until the group committed the source's end offsets (the mirror stays up)."""
        start = time.monotonic()
        ends = retrying(lambda: end_offsets(self.source, self.topic))
        while True:
            done = self.committed()
            if all(done.get(p) == end for p, end in ends.items()):
                return time.monotonic() - start
            self.alive(mirror)
            assert time.monotonic() - start < timeout_s, (
                f"not caught up after {timeout_s:.0f} s: committed {done}, source ends {ends}, "
                f"target ends {end_offsets(self.target, self.topic)}:\n{self.logs()}")
            time.sleep(1)

    def finish(self, mirror: MirrorProcess, catch_up_s: float = 180,
               no_duplicates: bool = False) -> None:
        """Stop the workload, let the running mirror catch up, stop it gracefully, prove."""
        if self.producing:
            self.steady(mirror)
            self.stop_workload()
        self.figures["catch_up_s"] = round(self.wait_caught_up(mirror, catch_up_s), 1)
        code = self.terminate(mirror)
        self.expect(code == 0, f"SIGTERM after catching up: exit {code}")
        self.prove(no_duplicates)

    def prove(self, no_duplicates: bool = False) -> None:
        """kmirror verify, the independent reader on both sides, the report, the asserts."""
        verify_started = time.monotonic()
        out = subprocess.run(
            kmirror_cmd("verify", "--source.bootstrap.servers", self.source,
                        "--target.bootstrap.servers", self.target, "--include", self.topic,
                        "--json"),
            capture_output=True, text=True, timeout=1200, check=False,
        )
        assert out.returncode in (0, 1), f"kmirror verify failed: {out.stderr}"
        totals = json.loads(out.stdout)["totals"]
        verify_s = time.monotonic() - verify_started
        source = check_copy(self.source, self.workload)
        target = check_copy(self.target, self.workload)
        records = self.workload.produced
        self.figures = {
            "records": records, "duplicates": totals["duplicates"],
            "seconds": round(time.monotonic() - self.started, 1), **self.figures,
            "verify": totals, "verify_s": round(verify_s, 1),
            "independent": {k: v for k, v in target.as_json().items() if k != "expected"},
            "rate": MODE.rate, "seed": self.seed,
        }
        if self.problems:
            self.figures["problems"] = self.problems
        report(self.name, MODE, self.figures)
        _assert_source_intact(source, records)
        assert out.returncode == 0 and totals["missing"] == 0 and totals["mismatched"] == 0 \
            and totals["reordered"] == 0 and totals["extra"] == 0, (
                f"kmirror verify: {totals}\n{out.stdout[-3000:]}\n{self.logs()}")
        assert totals["matched"] == records, totals
        assert (target.missing, target.mismatched, target.reordered, target.unknown) == \
            (0, 0, 0, 0), f"independent check of the target: {target.as_json()}"
        assert target.records == records + target.duplicates, target.as_json()
        if no_duplicates:
            assert totals["duplicates"] == target.duplicates == 0, (
                f"duplicates where none may be: verify {totals['duplicates']}, "
                f"independent {target.duplicates}")
        assert not self.problems, "\n".join(self.problems) + "\n" + self.logs()

    def cleanup(self) -> None:
        for mirror in self.mirrors:
            if mirror.process.poll() is None:
                mirror.stop(signal.SIGKILL, 30)
            elif not mirror._file.closed:
                mirror._file.close()
        if self.producing:
            self.producing = False
            try:
                self.workload.stop(30)
            except AssertionError:
                pass


def _assert_source_intact(source: CopyCheck, records: int) -> None:
    """The workload's own guarantee (not kmirror's): the source holds exactly what was written."""
    assert source.as_json() | {"problems": []} == CopyCheck(
        records=records, expected=records).as_json(), (
        f"the SOURCE does not hold what the workload wrote (a test or broker problem, not "
        f"kmirror's): {source.as_json()}")


@pytest.fixture
def new_case(tmp_path: Path) -> Iterator[Callable[..., Case]]:
    cases: list[Case] = []

    def make(name: str, source: str, target: str) -> Case:
        case = Case(name, source, target, tmp_path)
        cases.append(case)
        return case

    yield make
    for case in cases:
        case.cleanup()


# --- the cases ------------------------------------------------------------------------------


@_timeout(420, 2400)
@_paths("default", "exactly-once", full=("records", "shallow"))
def test_sigkill_at_random_moments(fault_clusters: FaultClusters,
                                   new_case: Callable[..., Case], path: str) -> None:
    # Given a mirror under steady load
    case = new_case(_name("sigkill", path), fault_clusters.source, fault_clusters.target)
    _choose_path(case, path)
    mirror = case.start_mirror()
    case.wait_mirroring(mirror, 0)
    takeovers: list[float] = []
    until_caught_up = 0.0
    for kill in range(1, MODE.kills + 1):
        last = kill == MODE.kills
        if last:
            # (the last kill hits a mirror that is catching up with a stopped workload)
            case.steady(mirror)
            case.stop_workload()
        # When it is killed with SIGKILL at a random moment
        case.steady(mirror, seconds=case.rng.uniform(0.5, MODE.steady_s))
        mirror.stop(signal.SIGKILL, 30)
        # Then nothing was committed past what the target holds
        case.check_not_ahead()
        time.sleep(1)  # what the killed process had sent has landed by now
        before = target_total(case.target, case.topic)
        # And a restarted mirror (after the KIP-848 session of the dead member expired) resumes
        if last:
            mirror = case.start_mirror("--until-caught-up")
            took = time.monotonic()
            code = mirror.process.wait(KIP848_TAKEOVER_S + 300)
            until_caught_up = round(time.monotonic() - took, 1)
            print(f"kill {kill}/{MODE.kills}: `kmirror run --until-caught-up` exited {code} "
                  f"after {until_caught_up:.1f} s")
            assert code == 0, f"--until-caught-up after a kill: exit {code}:\n{case.logs()}"
        else:
            mirror = case.start_mirror()
            takeovers.append(round(case.wait_mirroring(mirror, before,
                                                       KIP848_TAKEOVER_S + 90), 1))
            print(f"kill {kill}/{MODE.kills}: the restarted mirror moved records after "
                  f"{takeovers[-1]:.1f} s")
    case.figures.update(kills=MODE.kills, restart_to_progress_s=takeovers,
                        until_caught_up_s=until_caught_up)
    # And no record is there twice: what the target held past the last commit was checked
    # and not sent again (issue 21); with --exactly-once a read_committed reader sees every
    # record once, kills or not
    case.prove(no_duplicates=True)


@_timeout(300, 900)
@_paths("default", "records", "shallow", "exactly-once")
def test_sigterm_drains_and_commits(fault_clusters: FaultClusters,
                                    new_case: Callable[..., Case], path: str) -> None:
    case = new_case(_name("sigterm", path), fault_clusters.source, fault_clusters.target)
    _choose_path(case, path)
    mirror = case.start_mirror()
    case.wait_mirroring(mirror, 0)
    stops = []
    for stop in range(1, MODE.sigterms + 1):
        case.steady(mirror, seconds=case.rng.uniform(1.0, MODE.steady_s))
        # When the mirror gets SIGTERM under load, in turn to its process group and to its
        # main process only
        whole_group = stop % 2 == 1
        to = "its process group" if whole_group else "its main process"
        took = time.monotonic()
        code = case.terminate(mirror, whole_group, 90)
        stops.append(round(time.monotonic() - took, 1))
        # Then it exits 0 having committed exactly what the target holds
        case.expect(code == 0, f"SIGTERM {stop} to {to}: exit {code} "
                               f"(log {mirror.log.name})")
        held = retrying(lambda: end_offsets(case.target, case.topic))
        if path == "exactly-once":  # the target's end offsets count transaction markers too
            held = {p: h + 1 for p, h in highest_sequences(case.target, case.topic,
                                                           MODE.partitions).items()}
        done = case.committed()
        case.expect(done == held, f"after SIGTERM {stop} to {to}: committed {done}, "
                                  f"but the target holds {held}")
        # And a restarted mirror takes over at once
        mirror = case.start_mirror()
        case.wait_mirroring(mirror, sum(held.values()), 60)
    case.figures.update(sigterms=MODE.sigterms, stop_s=stops)
    # And a graceful stop never causes duplicates
    case.finish(mirror, no_duplicates=True)


def _restart_broker(case: Case, clusters: FaultClusters, name: str,
                    mirror: MirrorProcess) -> tuple[float, float]:
    """Down, then up at the same address; (seconds down, seconds of them waiting for the
    ports)."""
    before = clusters.addresses[name]
    started = time.monotonic()
    case.alive(mirror)
    clusters.down(name)
    time.sleep(MODE.down_s)
    # `kmirror local up` keeps a cluster's ports when a bind() with SO_REUSEADDR succeeds (as
    # the broker binds), so the connections in TIME_WAIT after `down` do not move it; wait
    # only for the ports to be released. See docs/reliability.md.
    waited = clusters.wait_ports_free(name, 150)
    address = str(clusters.up(name)[name]["bootstrap_servers"])
    took = time.monotonic() - started
    clusters.addresses[name] = address
    # The cluster came back at the same address, so its clients can reconnect
    assert address == before, f"{name} came back at {address}, not {before}"
    return took, waited


def _name(case: str, path: str) -> str:
    return case if path == "default" else f"{case}-{path}"


# The ways a case's mirrors run: the default command line (batches whole or records, per
# partition: the workload writes both kinds of batches), and each path forced.
PATH_FLAGS = {"default": [], "records": ["--no-shallow"], "shallow": ["--shallow"],
              "exactly-once": ["--exactly-once"]}


def _choose_path(case: Case, path: str) -> None:
    """Every mirror of the case runs with the flags of ``path`` (PATH_FLAGS)."""
    case.args.extend(PATH_FLAGS[path])


@_timeout(360, 1200)
@_paths("default", "shallow", full=("records",))
@pytest.mark.parametrize("broker", ["source", "target"])
def test_broker_restart(fault_clusters: FaultClusters, new_case: Callable[..., Case],
                        broker: str, path: str) -> None:
    name = SOURCE if broker == "source" else TARGET
    case = new_case(_name(f"{broker}-restart", path), fault_clusters.source,
                    fault_clusters.target)
    _choose_path(case, path)
    mirror = case.start_mirror()
    case.wait_mirroring(mirror, 0)
    outages, port_waits = [], []
    for restart in range(1, MODE.restarts + 1):
        case.steady(mirror)
        # When the broker is stopped and started again
        took, waited = _restart_broker(case, fault_clusters, name, mirror)
        outages.append(round(took, 1))
        port_waits.append(round(waited, 1))
        # Then the same mirror process carries on (if it gave up, that is recorded, and a new
        # one is started so the copy can still be proven)
        mirror = case.survive(mirror, MODE.steady_s, f"{broker} broker restart {restart}")
        case.wait_mirroring(mirror, target_total(case.target, case.topic),
                            120 + KIP848_TAKEOVER_S)
    case.figures.update(restarts=MODE.restarts, outage_s=outages, port_wait_s=port_waits)
    case.finish(mirror)


@_timeout(300, 900)
@_paths("default", full=("records", "shallow"))
def test_target_frozen(fault_clusters: FaultClusters, new_case: Callable[..., Case],
                       path: str) -> None:
    case = new_case(_name("target-frozen", path), fault_clusters.source, fault_clusters.target)
    _choose_path(case, path)
    mirror = case.start_mirror()
    case.wait_mirroring(mirror, 0)
    case.steady(mirror)
    # When the target broker is frozen (SIGSTOP) under load
    pid = fault_clusters.pid(TARGET)
    os.kill(pid, signal.SIGSTOP)
    try:
        case.steady(mirror, seconds=MODE.freeze_s)
    finally:
        os.kill(pid, signal.SIGCONT)
    # Then the same mirror process resumes
    resumed = case.wait_mirroring(mirror, target_total(case.target, case.topic), 120)
    case.figures.update(freeze_s=MODE.freeze_s, resumed_after_s=round(resumed, 1))
    case.finish(mirror)


@_timeout(300, 900)
@_paths("default", full=("records", "shallow"))
def test_second_member_joins_and_leaves(fault_clusters: FaultClusters,
                                        new_case: Callable[..., Case], path: str) -> None:
    case = new_case(_name("rebalance", path), fault_clusters.source, fault_clusters.target)
    _choose_path(case, path)
    first = case.start_mirror()
    case.wait_mirroring(first, 0)
    case.steady(first)
    # When a second kmirror process joins the group
    second = case.start_mirror()
    split = _wait_members(case, lambda owned: len(owned) == 2 and all(owned), first, second)
    case.steady(first, second)
    # And leaves it (SIGTERM) while records flow
    code = case.terminate(second)
    case.expect(code == 0, f"the second member's SIGTERM: exit {code}")
    back = _wait_members(case, lambda owned: owned == [list(range(MODE.partitions))], first)
    case.figures.update(split_after_s=round(split, 1), back_after_s=round(back, 1))
    case.finish(first)


def _wait_members(case: Case, done: Callable[[list[list[int]]], bool],
                  *mirrors: MirrorProcess, timeout_s: float = 90) -> float:
    start = time.monotonic()
    owned: list[list[int]] = []
    while time.monotonic() - start < timeout_s:
        case.alive(*mirrors)
        owned = member_partitions(case.source, case.group)
        if done(owned):
            print(f"group {case.group}: members own {owned} after "
                  f"{time.monotonic() - start:.1f} s")
            return time.monotonic() - start
        time.sleep(0.5)
    raise AssertionError(f"group {case.group}: members own {owned}:\n{case.logs()}")


# --- a slow, lossy link (toxiproxy) ---------------------------------------------------------

PROXIED = "faults-proxied"


@pytest.fixture
def proxied_target(fault_clusters: FaultClusters, tmp_path: Path) -> Iterator[
        tuple[str, Toxiproxy]]:
    """A third cluster whose clients all go through toxiproxy: (address via the proxy, proxy)."""
    binary, why = ensure_toxiproxy()
    if binary is None:
        pytest.skip(f"toxiproxy unavailable: {why}")
    print(f"\n{why}")
    env = {**fault_clusters.env, "JAVA_HOME": str(java_home_shim(tmp_path))}
    direct = str(fault_clusters.up(PROXIED, env=env)[PROXIED]["bootstrap_servers"])
    port = direct.rsplit(":", 1)[1]
    proxy = Toxiproxy(binary, tmp_path / "toxiproxy.log")
    try:
        proxy.proxy("kafka", f"{PROXY_HOST}:{port}", direct)
        yield f"{PROXY_HOST}:{port}", proxy
    finally:
        proxy.stop()
        fault_clusters.down(PROXIED, purge=True)


@_timeout(420, 1200)
@_paths("default", full=("records", "shallow"))
def test_slow_lossy_link_to_the_target(fault_clusters: FaultClusters,
                                       new_case: Callable[..., Case],
                                       proxied_target: tuple[str, Toxiproxy], path: str) -> None:
    address, proxy = proxied_target
    # Given a target reached only through toxiproxy (the broker advertises the proxy's address)
    case = new_case(_name("lossy-link", path), fault_clusters.source, address)
    _choose_path(case, path)
    # with 40 ms +- 20 ms latency each way and 4 MB/s upstream
    proxy.toxic("kafka", "latency-up", "latency", "upstream", latency=40, jitter=20)
    proxy.toxic("kafka", "latency-down", "latency", "downstream", latency=40, jitter=20)
    proxy.toxic("kafka", "bandwidth-up", "bandwidth", "upstream", rate=4096)
    mirror = case.start_mirror()
    case.wait_mirroring(mirror, 0, 180)
    # When, in cycles, connections are cut mid-request, reset, and black-holed
    cuts = 0
    until = time.monotonic() + MODE.proxy_s
    while True:
        for name, kind, stream, hold_s, attributes in (
            ("cut", "limit_data", "upstream", 3, {"bytes": 200_000}),
            ("reset", "reset_peer", "downstream", 2, {"timeout": 500}),
            ("blackhole", "timeout", "upstream", 5, {"timeout": 3000}),
        ):
            case.steady(mirror, seconds=MODE.steady_s / 2)
            proxy.toxic("kafka", name, kind, stream, **attributes)
            try:
                case.steady(mirror, seconds=hold_s)
            finally:
                proxy.remove("kafka", name)
            cuts += 1
        if time.monotonic() > until:
            break
    # Then, with the link slow but whole again, the same mirror process catches up
    case.wait_mirroring(mirror, target_total(case.target, case.topic), 120)
    case.figures.update(link_faults=cuts, latency_ms="40+-20 each way", bandwidth_up_kbs=4096)
    case.steady(mirror)
    case.stop_workload()
    for name in ("latency-up", "latency-down", "bandwidth-up"):
        proxy.remove("kafka", name)
    case.finish(mirror, catch_up_s=240)
