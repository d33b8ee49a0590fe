"""`triage run`: poll every configured source on an interval, for months, unattended.

APScheduler runs one interval job; `max_instances=1` and `coalesce=True` mean a slow poll is never
overlapped by the next one and missed ticks do not pile up. A failing poll (server down, bad
password) is logged and simply tried again at the next tick. SIGTERM or Ctrl-C lets the message in
hand finish, then stops.
"""
from __future__ import annotations

import logging
import signal
import threading

from apscheduler.schedulers.blocking import BlockingScheduler

from triage.config import Settings
from triage.log import event
from triage.pipeline import Outcome, Pipeline
from triage.sources import Source, open_source

log = logging.getLogger("triage.worker")


class Worker:
    def __init__(self, settings: Settings, pipeline: Pipeline) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.stopping = threading.Event()
        self._busy = threading.Lock()  # held while a poll runs, so shutdown waits for the message in hand
        self.sources: list[Source] = [open_source(s, settings.max_message_bytes) for s in settings.sources]

    def poll_once(self) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for source in self.sources:
            if self.stopping.is_set():
                break
            try:
                got = self.pipeline.run_source(source, stop=self.stopping.is_set)
                outcomes += got
                event(log, "poll_done", source=source.name, messages=len(got),
                      cases=sum(1 for o in got if o.note == "case opened"))
            except Exception as e:  # the next tick retries; the worker itself must not die
                event(log, "poll_failed", logging.ERROR, source=source.name, error=f"{type(e).__name__}: {e}")
                try:
                    source.close()
                except Exception:
                    pass
        self.after_poll()
        return outcomes

    def after_poll(self) -> None:
        """Housekeeping between polls: staff edits read back from Drafts, new drafts put there, silent customers flagged."""
        from triage import review, sla

        with self.pipeline.sessions() as session:
            try:
                sla.flag_silent(session, self.settings)
            except Exception as e:
                event(log, "silence_check_failed", logging.ERROR, error=f"{type(e).__name__}: {e}")
            client = self.review_client()
            if client is not None:
                try:
                    review.sync_mailbox_edits(session, self.settings, client)
                except Exception as e:  # the database copy stays as it was; tried again next poll
                    event(log, "draft_sync_failed", logging.ERROR, error=f"{type(e).__name__}: {e}")
                try:
                    review.publish_pending(session, self.settings, client)
                except Exception as e:  # drafts stay pending in the database and are tried next time
                    event(log, "draft_publish_failed", logging.ERROR, error=f"{type(e).__name__}: {e}")

    def review_client(self):
        name = self.settings.review.mailbox
        if not name:
            return None
        for source in self.sources:
            if source.name == name and hasattr(source, "connect"):
                try:
                    return source.connect()
                except Exception as e:
                    event(log, "review_mailbox_unreachable", logging.ERROR, mailbox=name, error=f"{type(e).__name__}: {e}")
        return None

    def run(self, max_polls: int | None = None) -> None:
        scheduler = BlockingScheduler()
        polls = {"n": 0}

        def tick() -> None:
            with self._busy:
                self.poll_once()
            polls["n"] += 1
            if max_polls is not None and polls["n"] >= max_polls:
                self.stop()

        def on_signal(signum, _frame) -> None:
            event(log, "stopping", signal=signal.Signals(signum).name)
            self.stop()

        self._scheduler = scheduler
        scheduler.add_job(tick, "interval", seconds=self.settings.poll_interval_seconds, max_instances=1,
                          coalesce=True, next_run_time=_now(), id="poll")
        watchers = [threading.Thread(target=self._watch, args=(cfg, scheduler), daemon=True, name=f"idle-{cfg.name}")
                    for cfg in self.settings.sources if cfg.kind == "imap" and cfg.idle]
        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        for w in watchers:
            w.start()
        event(log, "worker_started", interval_seconds=self.settings.poll_interval_seconds,
              sources=",".join(s.name for s in self.sources))
        try:
            scheduler.start()
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
            with self._busy:
                pass
            for src in self.sources:
                src.close()
            event(log, "worker_stopped", polls=polls["n"])

    def _watch(self, cfg, scheduler) -> None:
        """IMAP IDLE on a connection of its own: new mail wakes the poll at once instead of at the next tick."""
        from triage.sources.imap import ImapSource

        watcher = ImapSource(cfg)
        try:
            while not self.stopping.is_set():
                news = watcher.wait_for_news(max(30.0, float(self.settings.poll_interval_seconds)), stop=self.stopping.is_set)
                if news and not self.stopping.is_set() and scheduler.running:
                    event(log, "new_mail_signalled", source=cfg.name)
                    try:
                        scheduler.modify_job("poll", next_run_time=_now())
                    except Exception:  # the scheduler is shutting down
                        return
                    self.stopping.wait(1.0)  # let the poll start; IDLE again afterwards
        finally:
            watcher.close()

    def stop(self) -> None:
        self.stopping.set()
        sched = getattr(self, "_scheduler", None)
        if sched is not None and sched.running:
            # wait=False: we may be inside the job's own thread; the running job sees `stopping` and returns.
            sched.shutdown(wait=False)


def _now():
    from datetime import datetime

    return datetime.now()
