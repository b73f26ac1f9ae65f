"""The probe analyses on hand-made event logs: each fires on its violation and stays quiet otherwise."""

from __future__ import annotations

from golfkit.probe.probes import (
    Run,
    Score,
    causality,
    consumed_at,
    coverage,
    score_before_update,
    single_pass,
)

WHERE = {"file": "train_gpt.py", "line": 1}
STREAM = [1, 10, 11, 12, 13, 14, 15, 16, 17]  # 8 targets


def run(scores, train_uses=(), updates=()):
    return Run([Score(p, STREAM[p + 1], loss, t, False) for p, loss, t in scores], list(train_uses),
               list(updates), 0, 0, {}, None, len(STREAM))


def score_first_ttt():
    """Chunk [0, 4) scored at t=1..4, trained at t=5, update at t=6; chunk [4, 8) scored at t=7..10."""
    scores = [(p, 1.0, 1 + p) for p in range(4)] + [(p, 1.0, 3 + p) for p in range(4, 8)]
    return run(scores, train_uses=[(0, 4, 5)], updates=[6])


def test_single_pass_fires_when_a_target_is_rescored_after_an_update():
    log = score_first_ttt()
    log.scores.append(Score(2, STREAM[3], 0.9, 11, False))  # second pass over position 2
    (finding,) = single_pass("ev", log, WHERE)
    assert finding.id == "probe.single_pass.rescored"
    assert finding.evidence["positions"] == [[2, 2]]


def test_single_pass_and_score_before_update_quiet_on_score_first_ttt():
    log = score_first_ttt()
    assert single_pass("ev", log, WHERE) == []
    assert score_before_update("ev", log, WHERE) == []
    assert coverage("ev", log, STREAM, WHERE) == []


def test_rescore_without_update_is_coverage_not_single_pass():
    log = run([(p, 1.0, 1 + p) for p in range(8)] + [(7, 1.0, 20)])
    assert single_pass("ev", log, WHERE) == []
    assert [f.id for f in coverage("ev", log, STREAM, WHERE)] == ["probe.coverage.double_scored"]


def test_training_before_scoring_fires_c3():
    # chunk [4, 8) is trained on (tokens 4..8) and updated at t=6, then scored at t=7..10
    log = run([(p, 1.0, 1 + p) for p in range(4)] + [(p, 1.0, 3 + p) for p in range(4, 8)],
              train_uses=[(4, 8, 5)], updates=[6])
    (finding,) = score_before_update("ev", log, WHERE)
    assert finding.id == "probe.score_before_update.trained_first"
    assert finding.evidence["positions"] == [[4, 7]]
    assert consumed_at(log, 6) == 6


def test_causality_ignores_changes_that_came_through_an_update():
    base = score_first_ttt()
    edited = score_first_ttt()
    # the target of position 2 was edited; position 1 was scored before any update: it must not move
    edited.scores[1] = Score(1, STREAM[2], 1.5, 2, False)
    (finding,) = causality("ev", base, {2: edited}, WHERE)
    assert finding.id == "probe.causality.future_token"
    # trained on chunk [4, 8) before scoring it: position 5 moves when the target of position 6 changes,
    # but only through the update that trained on it, which is C3's finding
    def train_first():
        return run([(p, 1.0, 1 + p) for p in range(4)] + [(p, 1.0, 3 + p) for p in range(4, 8)],
                   train_uses=[(4, 8, 5)], updates=[6])

    base, edited = train_first(), train_first()
    edited.scores[5] = Score(5, STREAM[6], 1.5, 8, False)
    assert causality("ev", base, {6: edited}, WHERE) == []
