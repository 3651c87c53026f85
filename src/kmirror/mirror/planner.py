"""What `kmirror run` mirrors: the topic plan per source cluster, kept up to date.

Before the streams start, ``Planner.prepare`` reaches every cluster, refuses a cluster mirrored
into itself, selects topics, judges their lineage, creates target topics and kmirror's own
compacted topics, and prints the plan. While they run, ``refresh_topics`` (the ``topic-refresh``
job) announces new and grown topics, reports copies of the target's own topics once (they would
loop), reports target topics deleted while mirroring, and keeps lineages. Plans are changed
only by that job (and ``prepare`` before it); what other threads read of a plan (``topics``,
``goals``) is replaced whole, never changed in place.

Clusters are reached through ``Clusters`` (mirror/clusters.py), so this logic runs against
fakes in unit tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from kmirror.config.settings import MirrorSettings, SourceCluster
from kmirror.errors import ConfigError, KmirrorError
from kmirror.kafka.acls import hidden_topics_hint
from kmirror.mirror.clusters import Clusters, SourceAdmin, SourceGroups
from kmirror.mirror.handler import load_handler
from kmirror.mirror.monitor import Monitor
from kmirror.mirror.turns import Turns
from kmirror.observe.status import PlannedSource, Refusal, plan_lines
from kmirror.topics.filter import RegexTopicFilter
from kmirror.topics.lineage import LineageGuard, Verdict
from kmirror.topics.naming import (
    LINEAGE_TOPIC,
    OFFSET_SYNCS_TOPIC,
    IdentityPolicy,
    TopicSelection,
)
from kmirror.topics.plan import TopicAction, TopicSync

Key = tuple[str, int]


@dataclass
class SourcePlan:
    """One source cluster's selected topics and what happens to them on the target."""

    source: SourceCluster
    admin: SourceAdmin
    sync: TopicSync
    groups: SourceGroups
    topics: dict[str, int]  # selected topic -> partitions
    selection: TopicSelection
    lineage: LineageGuard
    actions: list[TopicAction] = field(default_factory=list)
    refused: dict[str, Verdict] = field(default_factory=dict)  # topics the lineage refuses
    goals: dict[Key, int] = field(default_factory=dict)  # --until-caught-up end offsets
    loops_reported: set[str] = field(default_factory=set)  # copies of the target's topics
    turns: Turns = field(default_factory=Turns)  # whose lineage the next refresh judges

    def view(self) -> PlannedSource:
        """The plan as printed (observe/status.py)."""
        return PlannedSource(
            self.source.alias, self.source.bootstrap_servers, self.source.group_id,
            dict(self.topics), tuple(self.actions),
            tuple(Refusal(t, self.selection.target_topic(t), v.kind, v.message)
                  for t, v in sorted(self.refused.items())),
            tuple(sorted(self.loops_reported)),
        )


def partitions(topics: Mapping[str, int]) -> list[Key]:
    """Every partition of these topics."""
    return [(t, p) for t, n in topics.items() for p in range(n)]


class Planner:
    """Plans the topics of every source cluster and keeps the plans up to date."""

    def __init__(self, settings: MirrorSettings, clusters: Clusters, monitor: Monitor,
                 out: Callable[[str], None]) -> None:
        if settings.message_handler:
            # Each stream loads its own; loading it here first refuses a bad one before any
            # cluster is touched.
            load_handler(settings.message_handler, settings.message_handler_args)
        self.settings, self._clusters, self._monitor, self.out = settings, clusters, monitor, out
        self.filter = RegexTopicFilter(settings.include, settings.exclude)
        self.plans: list[SourcePlan] = []
        self.dry_run = False

    def views(self) -> list[PlannedSource]:
        """Every source cluster's plan as printed."""
        return [p.view() for p in self.plans]

    # --- before the streams start ------------------------------------------------------------

    def prepare(self, dry_run: bool = False) -> None:
        """Reach every cluster, refuse loops, plan and create target topics (with
        ``dry_run``: plan only, write nothing), and print the plan."""
        self.dry_run = dry_run
        settings, target = self.settings, self._clusters.target
        target_id = target.cluster_id()
        for source in settings.sources:
            label = f"source cluster '{source.alias}' ({source.bootstrap_servers})"
            admin, groups = self._clusters.source(source, label)
            policy = settings.policy()
            if admin.cluster_id() == target_id and isinstance(policy, IdentityPolicy):
                raise ConfigError([
                    f"{source.config_file}: the source cluster ({source.bootstrap_servers}) is "
                    f"the target cluster ({settings.target['bootstrap.servers']}): "
                    "mirroring a cluster into itself under the same topic names would copy "
                    "every record again and again; point --producer.config at another "
                    "cluster, or give copies other names with --replication.policy prefix"
                ])
            selection = TopicSelection(self.filter.should_mirror, policy, source.alias,
                                       settings.target_alias)
            sync = TopicSync(admin, target, settings.replication_factor,
                             rename=selection.target_topic)
            guard = LineageGuard(
                admin, target, self._clusters.lineages, source_cluster=admin.cluster_id,
                source_alias=source.alias, label=label,
                target_label=f"target cluster ({settings.target['bootstrap.servers']})",
                rename=selection.target_topic,
                recreate_target=settings.recreate_target_topics)
            self.plans.append(SourcePlan(source, admin, sync, groups, {}, selection, guard))
        # kmirror's own topics first: a topic is writable once the target's broker has made
        # every partition created before it (measured: 13-17 s for 10,000 new partitions on
        # one local broker), and the lineage claims wait for the store's. Their refusals are
        # only warnings, printed after the topics' own (the real error, if any).
        warnings: list[str] = []
        if not dry_run:
            self._create_internal_topic(
                self._clusters.lineages.create, "a source topic deleted and created again is "
                "recognized only while this kmirror runs, not across restarts", warnings)
        if settings.emit_offset_syncs and not dry_run:
            self._create_internal_topic(
                lambda rf: target.create_topic(
                    OFFSET_SYNCS_TOPIC, 1, rf, {"cleanup.policy": "compact"}),
                "offset syncs are off (or run with --emit.offset.syncs false)", warnings)
        for source_plan in self.plans:
            self._refresh(source_plan, first=True)
            if settings.until_caught_up and not dry_run:
                source_plan.goals = source_plan.admin.end_offsets(
                    partitions(source_plan.topics))
        for warning in warnings:
            self.out(warning)
        if not dry_run:
            for source_plan in self.plans:
                self._keep_lineages(source_plan)
        for line in plan_lines(settings, self.views(), dry_run):
            self.out(line)

    def _create_internal_topic(self, create: Callable[[int], object], consequence: str,
                               warnings: list[str]) -> None:
        """One of kmirror's compacted topics in the target; a refusal is a warning (added to
        ``warnings``) saying what is lost without it (mirroring itself does not need it)."""
        try:
            create(self.settings.replication_factor)
        except KmirrorError as exc:
            warnings.append(f"warning: {exc}: {consequence}")

    # --- while the streams run ---------------------------------------------------------------

    def check_target(self) -> None:
        """Whether the target answers (for /ready, and before topic refreshes)."""
        try:
            self._clusters.target.cluster_id(timeout_s=3.0, topic=LINEAGE_TOPIC)
            self._monitor.target_problem = None
        except KmirrorError:
            self._monitor.target_problem = (
                f"target cluster ({self.settings.target['bootstrap.servers']}) does not answer"
            )

    def refresh_topics(self) -> None:
        """The topic-refresh job: every source cluster's topics looked at again, unless the
        target does not answer (each call would wait for it, and fail)."""
        self.check_target()
        if self._monitor.target_problem is not None:
            return
        for source_plan in self.plans:
            try:
                self._refresh(source_plan)
            except KmirrorError as exc:
                self.out(f"warning: topic refresh failed: {exc}")

    def _refresh(self, plan: SourcePlan, first: bool = False) -> None:
        all_topics = plan.admin.topics()
        selected = {t: n for t, n in all_topics.items() if plan.selection.selects(t)}
        self._report_loops(plan, all_topics)
        new = sorted(set(selected) - set(plan.topics))
        grown = sorted(t for t, n in selected.items() if t in plan.topics and plan.topics[t] < n)
        self._report_empty_filter(plan, selected, all_topics)
        if first:
            plan.actions = plan.sync.plan(self._judge_lineage(plan, selected, None))
            if not self.dry_run:
                plan.sync.apply(plan.actions)
            plan.topics = selected
            return
        # Deleted target topics are looked for before this refresh creates any: a topic
        # created a moment ago may not be in the target's metadata yet (seen under load: a new
        # topic reported "deleted while mirroring" right after its creation). Their source
        # topics are judged now, whoever's turn it is (the lineage names the deletion).
        gone = plan.sync.vanished()
        sources = {plan.selection.target_topic(t): t for t in selected}
        changed = [*new, *grown]
        changed += [sources[t] for t in gone if t in sources and sources[t] not in changed]
        allowed = self._judge_lineage(plan, selected, changed)
        self._check_target_topics(plan, selected, gone)
        if new or grown:
            actions = plan.sync.ensure({t: selected[t] for t in new + grown if t in allowed})
            for topic in new:
                if topic not in plan.refused:  # (a refused one was reported as an error)
                    self.out(f"new topic {topic} ({selected[topic]} partitions) from "
                             f"'{plan.source.alias}': mirroring it")
            for topic in grown:
                self.out(f"topic {topic} of '{plan.source.alias}' grew to "
                         f"{selected[topic]} partitions")
            for action in actions:
                self.out(f"  target: {action.describe()}")
        self._keep_lineages(plan)
        plan.topics = selected

    def _report_loops(self, plan: SourcePlan, all_topics: Mapping[str, int]) -> None:
        """Copies of the target's own topics are never mirrored back; each is named once."""
        for topic in sorted(set(all_topics) - plan.loops_reported):
            if self.filter.should_mirror(topic) and plan.selection.loops_back(topic):
                plan.loops_reported.add(topic)
                self.out(
                    f"  {plan.source.alias} -> {self.settings.target_alias}: {topic}: not "
                    f"mirrored: a copy of a topic of '{self.settings.target_alias}' "
                    "(mirroring it back would close a loop)"
                )

    def _report_empty_filter(self, plan: SourcePlan, selected: Mapping[str, int],
                             all_topics: Mapping[str, int]) -> None:
        """A filter selecting nothing is a warning, and a reason /ready gives."""
        empty = [r for r in self._monitor.empty_filters if f"'{plan.source.alias}'" not in r]
        if not selected:
            settings = self.settings
            reason = (
                f"--include {settings.include!r}"
                + (f" --exclude {settings.exclude!r}" if settings.exclude else "")
                + f" selects none of the {len(all_topics)} topics of source cluster "
                f"'{plan.source.alias}'"
            )
            empty.append(reason)
            self.out(
                f"warning: {reason}{hidden_topics_hint(plan.source.client)}; kmirror keeps "
                "looking every "
                f"{settings.topic_refresh_interval_ms / 1000:g} s"
            )
        self._monitor.empty_filters = empty  # (replaced whole: /ready reads it meanwhile)

    def _judge_lineage(self, plan: SourcePlan, selected: dict[str, int],
                       changed: list[str] | None) -> dict[str, int]:
        """Refused topics (re-created source, deleted target; topics/lineage.py) are reported
        once and left out; returns the topics whose target topics may be created or grown.

        ``changed``: at a refresh, the new and grown topics, judged now; the others are judged
        in turn (mirror/turns.py: at 10,000 partitions, describing every topic on both
        clusters at each refresh took a tenth of a core) and keep their last verdict
        meanwhile. None: every topic (the first plan)."""
        judged = selected
        if changed is not None:
            known = {t: n for t, n in selected.items() if t not in changed}
            judged = {t: selected[t] for t in [*changed, *plan.turns.next(known)]}
        verdicts = plan.lineage.check(judged)
        refused = {t: v for t, v in plan.refused.items() if t in selected and t not in judged}
        refused.update({t: v for t, v in verdicts.items() if not v.allowed})
        plan.refused = refused
        for verdict in refused.values():
            if verdict.message and not self.dry_run:
                self._monitor.print_once(f"error: {verdict.message}", self.out)
        return {t: n for t, n in selected.items() if t not in refused}

    def _check_target_topics(self, plan: SourcePlan, selected: dict[str, int],
                             gone: list[str]) -> None:
        """A target topic deleted while mirroring (``gone``): reported, and created again only
        with --recreate.target.topics (never behind the user's back)."""
        if not gone:
            return
        names = {plan.selection.target_topic(t): t for t in selected}
        for topic in gone:
            if names.get(topic) in plan.refused:
                continue  # reported by the lineage check, with what to do
            if self.settings.recreate_target_topics and topic in names:
                plan.sync.ensure({names[topic]: selected[names[topic]]})
                self.out(f"target topic {topic} was deleted while mirroring: created again "
                         "(--recreate.target.topics); records written to it before are gone")
            else:
                self.out(
                    f"error: target topic {topic} was deleted while mirroring; kmirror does not "
                    "create it again behind your back: the partitions writing to it stop. "
                    "Create it yourself, or restart with --recreate.target.topics (the "
                    "records it held are gone either way)"
                )

    def _keep_lineages(self, plan: SourcePlan) -> None:
        plan.lineage.keep(lambda problem: self.out(f"warning: {problem}"))
