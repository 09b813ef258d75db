"""Two steps of make mutate over cosmic-ray sessions (scripts/mutate runs them).

``prepare SESSION``: marks the mutants that lie wholly in code never evaluated as skipped, and
makes an earlier run's survivors pending again (the tests may have changed since). Every engine
module starts with ``from __future__ import annotations``, so annotations are never evaluated,
nor is the body of ``if TYPE_CHECKING:``: such a mutant (``str | None`` -> ``str - None``) is
equivalent by construction, and a quarter of cosmic-ray's mutants are of this kind.

``carry OLD_SESSION OLD_SOURCE NEW_SESSION``: the module changed since OLD_SESSION: the new
session keeps the old kills of mutants on unchanged lines (by operator, line text and column).

``score SESSION...``: each session's killed, equivalent, surviving, skipped and pending mutants,
each survivor with its place and diff, and the total. A survivor listed in mutate-equivalent.toml
(by module, the source line it changes and the operator) is equivalent, with the reason given.
"""

from __future__ import annotations

import ast
import sqlite3
import sys
import tomllib
from collections import Counter
from contextlib import closing
from functools import cache
from pathlib import Path

from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import MutationSpec, TestOutcome, WorkerOutcome, WorkResult

Span = tuple[tuple[int, int], tuple[int, int]]
FUTURE = "from __future__ import annotations"
EQUIVALENT = Path(__file__).parent.parent / "mutate-equivalent.toml"
KINDS = ("killed", "equivalent", "survived", "skipped", "pending")


@cache
def unevaluated_spans(path: Path) -> tuple[Span, ...]:
    """Where the module's code is never evaluated (line, column): its annotations, when the module
    has ``from __future__ import annotations``, and the body of ``if TYPE_CHECKING:``."""
    source = path.read_text()
    postponed = FUTURE in source
    nodes: list[ast.expr | ast.stmt | None] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and postponed:
            a = node.args
            every = [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]
            nodes += [argument.annotation for argument in every if argument is not None]
            nodes.append(node.returns)
        elif isinstance(node, ast.AnnAssign) and postponed:
            nodes.append(node.annotation)
        elif isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            nodes += node.body
    return tuple(
        ((n.lineno, n.col_offset), (n.end_lineno or n.lineno, n.end_col_offset or 0))
        for n in nodes
        if n is not None
    )


def prepare(session: str) -> None:
    """Before a run: mutants in code never evaluated skipped; the survivors of an earlier run
    pending again, so that a rerun judges them by today's tests (the killed stay killed)."""
    with use_db(session, WorkDB.Mode.open) as db:
        skipped = 0
        for item in db.work_items:  # a result from before this filter is replaced too
            if all(
                any(
                    start <= tuple(m.start_pos) and tuple(m.end_pos) <= end
                    for start, end in unevaluated_spans(m.module_path)
                )
                for m in item.mutations
            ):
                db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
                skipped += 1
    # WorkDB deletes no single result: the survivors' rows go directly (it stores the outcome's name).
    with closing(sqlite3.connect(session)) as connection, connection:
        again = connection.execute(
            "DELETE FROM work_results WHERE test_outcome = ?", (TestOutcome.SURVIVED.name,)
        )
    print(
        f"{session}: {skipped} mutants in code never evaluated skipped, {again.rowcount} survivors to run again"
    )


def _place(mutation: MutationSpec, lines: list[str]) -> tuple[object, ...]:
    """Where a mutant is, in terms that survive edits elsewhere in the module: its operator, the
    text of its lines, and its columns from their indentation."""
    (first, start), (last, end) = mutation.start_pos, mutation.end_pos
    text = tuple(line.strip() for line in lines[first - 1 : last])
    indent = [len(lines[row - 1]) - len(lines[row - 1].lstrip()) for row in (first, last)]
    return (mutation.operator_name, repr(mutation.operator_args), text, start - indent[0], end - indent[1])


def carry(old_session: str, old_source: str, new_session: str) -> None:
    """The module changed since ``old_session`` (made from ``old_source``): the new session keeps
    the old kills of the mutants whose lines are unchanged; the rest run again."""
    old_lines = Path(old_source).read_text().splitlines()
    killed: dict[tuple[object, ...], int] = Counter()
    with use_db(old_session, WorkDB.Mode.open) as old:
        for item, result in old.completed_work_items:
            if result.worker_outcome != WorkerOutcome.SKIPPED and result.test_outcome == TestOutcome.KILLED:
                killed[_place(item.mutations[0], old_lines)] += 1
    kept = 0
    with use_db(new_session, WorkDB.Mode.open) as new:
        new_lines = Path(next(iter(new.work_items)).mutations[0].module_path).read_text().splitlines()
        for item in new.work_items:
            place = _place(item.mutations[0], new_lines)
            if killed[place] > 0:
                killed[place] -= 1
                new.set_result(
                    item.job_id,
                    WorkResult(worker_outcome=WorkerOutcome.NORMAL, test_outcome=TestOutcome.KILLED),
                )
                kept += 1
    print(f"{new_session}: {kept} kills kept from the session of the module as it was")


def equivalents() -> dict[tuple[str, str, str], str]:
    """mutate-equivalent.toml: (module, mutated source line, operator) -> why it is equivalent."""
    listed = tomllib.loads(EQUIVALENT.read_text())["equivalent"]
    return {(e["module"], e["source"], e["operator"]): e["reason"] for e in listed}


def changed_lines(diff: str | None) -> list[str]:
    return [line for line in (diff or "").splitlines() if line[:1] in "+-" and line[:3] not in ("---", "+++")]


def score(sessions: list[str]) -> None:
    """Killed, equivalent (listed with a reason), survived, skipped and pending; the score is
    killed / (killed + survived): equivalent mutants cannot be killed."""
    known = equivalents()
    totals = Counter[str]()
    for session in sessions:
        module = Path(session).stem
        counts = Counter[str]()
        with use_db(session, WorkDB.Mode.open) as db:
            for item, result in db.completed_work_items:
                (m,) = item.mutations
                if result.worker_outcome == WorkerOutcome.SKIPPED:
                    counts["skipped"] += 1
                elif result.test_outcome != TestOutcome.SURVIVED:
                    counts["killed"] += 1
                else:
                    lines = changed_lines(result.diff)
                    source = next((line[1:].strip() for line in lines if line[1:].strip()), "")
                    reason = known.get((module, source, m.operator_name))
                    verdict = "equivalent" if reason else "survived"
                    counts[verdict] += 1
                    print(f"{verdict}: {module}.py:{m.start_pos[0]} {m.operator_name}")
                    print("    " + "\n    ".join(lines))
                    if reason:
                        print(f"    ({reason})")
            counts["pending"] = db.num_work_items - sum(counts.values())
        print(f"== {module}: " + ", ".join(f"{counts[k]} {k}" for k in KINDS))
        totals.update(counts)
    run = totals["killed"] + totals["survived"]
    share = f"{100 * totals['killed'] / run:.1f}%" if run else "n/a"
    print(f"== engine: {', '.join(f'{totals[k]} {k}' for k in KINDS)}")
    print(f"== score: {share} (killed of killed + survived; equivalent and skipped mutants cannot be killed)")


if __name__ == "__main__":
    command, *paths = sys.argv[1:]
    if command == "carry":
        carry(*paths)
    elif command == "prepare":
        for path in paths:
            prepare(path)
    elif command == "score":
        score(paths)
    else:
        sys.exit(f"error: unknown command {command!r}: carry, prepare or score")
