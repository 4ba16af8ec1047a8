"""The loopback sinks (Teams webhook, SMTP) the delivery benchmarks send to, run in a process of their own."""
from __future__ import annotations


def run_sinks(pipe) -> None:
    """Start both sinks, send back (teams url, smtp port), then answer "count" and "stop" over `pipe`."""
    from tests.doubles.smtp import SmtpSink
    from tests.doubles.teams import TeamsWebhook

    teams, smtp = TeamsWebhook().start(), SmtpSink().start()
    pipe.send((teams.url, smtp.port))
    while True:
        command = pipe.recv()
        if command == "count":
            pipe.send((len(teams.messages), len(smtp.raw)))
        elif command == "stop":
            teams.stop()
            smtp.stop()
            pipe.send("stopped")
            return
