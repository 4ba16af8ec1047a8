"""`GET /metrics`: Herald in Prometheus format, so the guide's own Grafana can watch it.

Every figure is read from the database at scrape time, so it is the same whichever web or worker
process answers, and survives restarts: outbox rows by channel, kind and status, retries, dead
letters, delivery latency (from when a message was due to when the provider took it), open
incidents by severity and status, time to acknowledge, and how each ticker keeps up (skipped runs, tick
and job durations, kept with its heartbeat).
"""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString
from sqlalchemy import case, func, select

from .. import clock, db
from ..rotations.gaps import rotation_gaps, uncovered_seconds
from ..runtime import policy
from ..incidents.models import OPEN_STATUSES, Incident
from ..worker import WorkerHeartbeat
from .models import Notification

blp = Blueprint("metrics", __name__)

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
COVERAGE_WINDOW = timedelta(days=7)
ACK_BUCKETS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 86400)


class HeraldCollector:
    def __init__(self, session):
        self.session = session

    def collect(self):
        yield from self._outbox()
        yield from self._latency()
        yield from self._incidents()
        yield from self._coverage()
        yield from self._tickers()

    def _tickers(self):
        """How each running ticker keeps up, from its heartbeat (a cleanly stopped one has none)."""
        skipped = CounterMetricFamily("herald_ticker_skipped_runs",
                                      "Interval runs that found the ticker's previous tick still running "
                                      "(folded into one more round)", labels=["ticker"])
        last = GaugeMetricFamily("herald_ticker_tick_seconds", "How long the ticker's last tick took",
                                 labels=["ticker"])
        longest = GaugeMetricFamily("herald_ticker_longest_tick_seconds",
                                    "The ticker's longest tick since it started", labels=["ticker"])
        jobs = GaugeMetricFamily("herald_ticker_job_seconds", "How long each tick job took the last time it ran",
                                 labels=["ticker", "job"])
        for row in self.session.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.name)):
            skipped.add_metric([row.name], row.skipped_runs or 0)
            last.add_metric([row.name], (row.last_tick_ms or 0) / 1000)
            longest.add_metric([row.name], (row.longest_tick_ms or 0) / 1000)
            for job, ms in sorted((row.job_ms or {}).items()):
                jobs.add_metric([row.name, job], ms / 1000)
        yield skipped
        yield last
        yield longest
        yield jobs

    def _outbox(self):
        s = self.session
        by_status = GaugeMetricFamily("herald_notifications", "Outbox rows by channel, kind and status",
                                      labels=["channel", "kind", "status"])
        retries = CounterMetricFamily("herald_notification_retries", "Delivery attempts after the first, by channel",
                                      labels=["channel"])
        dead = GaugeMetricFamily("herald_notifications_dead", "Notifications given up on (dead letters), by channel",
                                 labels=["channel"])
        dead_counts: dict[str, int] = {}
        rows = s.execute(select(Notification.channel, Notification.kind, Notification.status, func.count())
                         .group_by(Notification.channel, Notification.kind, Notification.status)).all()
        for channel, kind, status, count in rows:
            by_status.add_metric([channel, kind, status], count)
            if status == "dead":
                dead_counts[channel] = dead_counts.get(channel, 0) + count
        extra = case((Notification.attempts > 1, Notification.attempts - 1), else_=0)
        for channel, total in s.execute(select(Notification.channel, func.sum(extra)).group_by(Notification.channel)):
            retries.add_metric([channel], float(total or 0))
        for channel, count in dead_counts.items():
            dead.add_metric([channel], count)
        yield by_status
        yield retries
        yield dead

    def _latency(self):
        family = HistogramMetricFamily("herald_notification_delivery_seconds",
                                       "From when a notification was due to when the provider accepted it",
                                       labels=["channel"])
        ms = Notification.latency_ms
        columns = [func.sum(case((ms <= int(b * 1000), 1), else_=0)) for b in LATENCY_BUCKETS]
        query = (select(Notification.channel, func.count(), func.sum(ms), *columns)
                 .where(Notification.status == "sent", ms.is_not(None)).group_by(Notification.channel))
        for channel, count, total_ms, *cumulative in self.session.execute(query):
            buckets = [(floatToGoString(b), int(c or 0)) for b, c in zip(LATENCY_BUCKETS, cumulative)] + [("+Inf", count)]
            family.add_metric([channel], buckets, (total_ms or 0) / 1000)
        yield family

    def _incidents(self):
        s = self.session
        open_family = GaugeMetricFamily("herald_incidents_open", "Open incidents by severity and status",
                                        labels=["severity", "status"])
        for severity, status, count in s.execute(
                select(Incident.severity, Incident.status, func.count())
                .where(Incident.status.in_(OPEN_STATUSES)).group_by(Incident.severity, Incident.status)):
            open_family.add_metric([severity, status], count)
        yield open_family

        ack = HistogramMetricFamily("herald_time_to_acknowledge_seconds",
                                    "From an incident's start to its first acknowledgement by a paged role",
                                    labels=["severity"])
        by_severity: dict[str, list[float]] = {}
        for severity, started, acknowledged in s.execute(
                select(Incident.severity, Incident.started_at, Incident.acknowledged_at)
                .where(Incident.acknowledged_at.is_not(None))):
            by_severity.setdefault(severity, []).append(max((acknowledged - started).total_seconds(), 0.0))
        for severity, values in sorted(by_severity.items()):
            buckets = [(floatToGoString(b), sum(1 for v in values if v <= b)) for b in ACK_BUCKETS] + [("+Inf", len(values))]
            ack.add_metric([severity], buckets, sum(values))
        yield ack

    def _coverage(self):
        family = GaugeMetricFamily("herald_rotation_uncovered_seconds",
                                   "Seconds of the next 7 days with nobody known on call, per rotation a role uses",
                                   labels=["rotation"])
        now = clock.now()
        until = now + COVERAGE_WINDOW
        for name in sorted(policy().rotations_in_use()):
            family.add_metric([name], uncovered_seconds(rotation_gaps(self.session, name, now, until), now, until))
        yield family


@blp.get("/metrics")
def metrics() -> Response:
    """Prometheus exposition; no token needed (counts only, no names), like /api/health."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HeraldCollector(db.session))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
