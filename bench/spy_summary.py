"""Summarise py-spy's collapsed stacks (`py-spy record --format raw`): where the samples are, by function.

  self        samples whose innermost frame is the function (where the CPU was)
  inclusive   samples with the function anywhere on the stack (what it cost, callees included)

Idle samples (threads waiting in select/poll/accept/lock waits) are counted apart, so the shares are of
busy samples. Run: .venv/bin/python bench/spy_summary.py FILE [FILE ...] [--top 25] [--match service/]
"""
from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

IDLE = re.compile(r"\b(select|poll|epoll|accept|wait|_wait_for_tstate_lock|acquire|sleep|recv_into|readinto|"
                  r"get|_worker|serve_forever|run_forever|main_loop)\b \(")


def frames(stack: str) -> list[str]:
    """'fn (file.py:12)' frames, outermost first, without line numbers (so a function counts once)."""
    return [re.sub(r":\d+\)$", ")", f) for f in stack.split(";") if f]


def summarise(paths: list[Path], top: int, match: str | None) -> str:
    own, inclusive, total, idle = Counter(), Counter(), 0, 0
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            chain = frames(stack)
            if not chain or IDLE.search(chain[-1]):
                idle += n
                continue
            total += n
            own[chain[-1]] += n
            for frame in set(chain):
                inclusive[frame] += n
    lines = [f"{total} busy samples ({idle} idle) in {len(paths)} file(s)"]
    for title, counter in (("self", own), ("inclusive", inclusive)):
        lines.append(f"-- {title}")
        shown = [(f, n) for f, n in counter.most_common() if match is None or match in f][:top]
        lines += [f"{n / max(total, 1) * 100:6.1f}%  {f}" for f, n in shown]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", help="only functions whose frame contains this text (e.g. service/)")
    args = parser.parse_args()
    print(summarise(args.files, args.top, args.match))


if __name__ == "__main__":
    main()
