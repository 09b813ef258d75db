"""Two steps of make mutate over cosmic-ray sessions (scripts/mutate runs them).

``skip-annotations SESSION``: marks the mutants that lie wholly inside a type annotation as
skipped. Every engine module starts with ``from __future__ import annotations``, so annotations
are never evaluated: such a mutant (``str | None`` -> ``str - None``) is equivalent by
construction, and a quarter of cosmic-ray's mutants are of this kind.

``score SESSION...``: each session's killed, surviving, skipped and pending mutants, each
survivor with its place and diff, and the total.
"""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

Span = tuple[tuple[int, int], tuple[int, int]]
FUTURE = "from __future__ import annotations"


@cache
def annotation_spans(path: Path) -> tuple[Span, ...]:
    """Where the module's annotations are (line, column), when they are never evaluated."""
    source = path.read_text()
    if FUTURE not in source:
        return ()
    spans: list[Span] = []
    for node in ast.walk(ast.parse(source)):
        annotations: list[ast.expr | None] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            a = node.args
            every = [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]
            annotations += [argument.annotation for argument in every if argument is not None]
            annotations.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        spans += [
            ((n.lineno, n.col_offset), (n.end_lineno or n.lineno, n.end_col_offset or 0))
            for n in annotations
            if n is not None
        ]
    return tuple(spans)


def skip_annotations(session: str) -> None:
    with use_db(session, WorkDB.Mode.open) as db:
        skipped = 0
        for item in db.work_items:  # a result from before this filter is replaced too
            if all(
                any(
                    start <= tuple(m.start_pos) and tuple(m.end_pos) <= end
                    for start, end in annotation_spans(m.module_path)
                )
                for m in item.mutations
            ):
                db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
                skipped += 1
    print(f"{session}: {skipped} mutants inside annotations skipped (never evaluated)")


def score(sessions: list[str]) -> None:
    totals = [0, 0, 0, 0]
    for session in sessions:
        with use_db(session, WorkDB.Mode.open) as db:
            killed = survived = skipped = 0
            for item, result in db.completed_work_items:
                if result.worker_outcome == WorkerOutcome.SKIPPED:
                    skipped += 1
                elif result.test_outcome == TestOutcome.SURVIVED:
                    survived += 1
                    (m,) = item.mutations
                    print(f"survived: {m.module_path}:{m.start_pos[0]} {m.operator_name} #{m.occurrence}")
                    print(
                        "    "
                        + "\n    ".join(
                            line
                            for line in (result.diff or "").splitlines()
                            if line[:1] in "+-" and line[:3] not in ("---", "+++")
                        )
                    )
                else:
                    killed += 1
            pending = db.num_work_items - killed - survived - skipped
        counts = f"{killed} killed, {survived} survived, {skipped} skipped, {pending} pending"
        print(f"== {Path(session).stem}: {counts}")
        totals = [t + n for t, n in zip(totals, (killed, survived, skipped, pending), strict=True)]
    killed, survived, skipped, pending = totals
    run = killed + survived
    share = f"{100 * killed / run:.1f}%" if run else "n/a"
    print(f"== engine: {killed} of {run} mutants run killed ({share}); {skipped} skipped, {pending} pending")


if __name__ == "__main__":
    command, *paths = sys.argv[1:]
    if command == "skip-annotations":
        for path in paths:
            skip_annotations(path)
    elif command == "score":
        score(paths)
    else:
        sys.exit(f"error: unknown command {command!r}: skip-annotations or score")
