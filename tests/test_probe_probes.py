"""The probe analyses on hand-made event logs: each fires on its violation and stays quiet otherwise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from golfkit.data.token_bytes import TokenByteTable
from golfkit.probe.probes import (
    Run,
    Score,
    byte_accounting,
    causality,
    consumed_at,
    coverage,
    document_isolation,
    normalization,
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


@pytest.mark.fires("probe.single_pass.rescored")
def test_single_pass_fires_when_a_target_is_rescored_after_an_update():
    log = score_first_ttt()
    log.scores.append(Score(2, STREAM[3], 0.9, 11, False))  # second pass over position 2
    (finding,) = single_pass("ev", log, WHERE)
    assert finding.id == "probe.single_pass.rescored"
    assert finding.evidence["positions"] == [[2, 2]]


@pytest.mark.quiet("probe.single_pass.rescored", "probe.score_before_update.trained_first",
                   "probe.coverage.double_scored", "probe.coverage.skipped", "probe.coverage.wrong_target")
def test_single_pass_and_score_before_update_quiet_on_score_first_ttt():
    log = score_first_ttt()
    assert single_pass("ev", log, WHERE) == []
    assert score_before_update("ev", log, WHERE) == []
    assert coverage("ev", log, STREAM, WHERE) == []


@pytest.mark.fires("probe.coverage.double_scored")
@pytest.mark.quiet("probe.single_pass.rescored")
def test_rescore_without_update_is_coverage_not_single_pass():
    log = run([(p, 1.0, 1 + p) for p in range(8)] + [(7, 1.0, 20)])
    assert single_pass("ev", log, WHERE) == []
    assert [f.id for f in coverage("ev", log, STREAM, WHERE)] == ["probe.coverage.double_scored"]


@pytest.mark.fires("probe.coverage.double_scored", "probe.single_pass.rescored")
def test_double_scored_counts_the_extra_scores_of_one_model_version_only():
    # position 6 scored twice before the update at t=20 and once after it: one extra score (the re-score
    # after the update is C4's); position 7 scored three times before it: two extra
    log = run([(p, 1.0, 1 + p) for p in range(8)] + [(6, 1.0, 9), (6, 1.0, 21), (7, 1.0, 10), (7, 1.0, 11)],
              updates=[20])
    (finding,) = coverage("ev", log, STREAM, WHERE)
    assert finding.evidence["positions"] == [[6, 7]] and finding.evidence["extra_scores"] == 3
    assert "2 of 8 targets" in finding.message and "(3 extra scores added)" in finding.message
    assert single_pass("ev", log, WHERE)[0].evidence["positions"] == [[6, 6]]


@pytest.mark.fires("probe.score_before_update.trained_first")
def test_training_before_scoring_fires_c3():
    # chunk [4, 8) is trained on (tokens 4..8) and updated at t=6, then scored at t=7..10
    log = run([(p, 1.0, 1 + p) for p in range(4)] + [(p, 1.0, 3 + p) for p in range(4, 8)],
              train_uses=[(4, 8, 5)], updates=[6])
    (finding,) = score_before_update("ev", log, WHERE)
    assert finding.id == "probe.score_before_update.trained_first"
    assert finding.evidence["positions"] == [[4, 7]]
    assert consumed_at(log, 6) == 6


@pytest.mark.fires("probe.causality.future_token")
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


@pytest.mark.quiet("probe.causality.future_token")
def test_causality_quiet_when_only_later_scores_move():
    base, edited = score_first_ttt(), score_first_ttt()
    edited.scores[2] = Score(2, 99, 1.5, 3, False)  # the edited position itself, and later ones, may move
    edited.scores[6] = Score(6, STREAM[7], 1.7, 9, False)
    assert causality("ev", base, {2: edited}, WHERE) == []


@pytest.mark.fires("probe.coverage.skipped", "probe.coverage.wrong_target")
@pytest.mark.quiet("probe.coverage.double_scored")
def test_coverage_fires_on_a_skipped_target_and_on_a_wrong_target():
    log = run([(p, 1.0, 1 + p) for p in range(8) if p != 5])
    log.scores[2] = Score(2, STREAM[2], 1.0, 3, False)  # position 2 scored against its own input token
    skipped, wrong = coverage("ev", log, STREAM, WHERE)
    assert skipped.id == "probe.coverage.skipped" and skipped.evidence["positions"] == [[5, 5]]
    assert wrong.id == "probe.coverage.wrong_target" and wrong.evidence["positions"] == [[2, 2]]


# every token of STREAM is one byte, and a leading space (one byte more) after a non-boundary token
TABLE = TokenByteTable(np.ones(32, dtype=np.int64), np.arange(32) % 2 == 0, np.arange(32) == 1)


def with_returned(log: Run, bytes_divided_by: float) -> Run:
    total = math.fsum(s.loss for s in log.scores)
    log.returned = (total / len(log.scores), total / math.log(2) / bytes_divided_by)
    return log


@pytest.mark.quiet("probe.bytes.mismatch")
def test_bytes_quiet_when_the_evaluator_divides_by_golfkits_count():
    ours = int(TABLE.target_bytes(np.asarray(STREAM)).sum())
    # targets 10..17: 10, 12, 14 and 16 carry a leading space, but 10 follows the boundary token 1
    assert ours == 8 + 3
    assert byte_accounting("ev", with_returned(score_first_ttt(), ours), STREAM, TABLE, WHERE) == []


@pytest.mark.fires("probe.bytes.mismatch")
def test_bytes_fire_when_the_evaluator_counts_leading_spaces_twice_and_after_a_boundary():
    (finding,) = byte_accounting("ev", with_returned(score_first_ttt(), 8 + 2 * 4), STREAM, TABLE, WHERE)
    assert finding.id == "probe.bytes.mismatch"
    assert finding.evidence["golfkit_bytes"] == 11 and round(finding.evidence["evaluator_bytes"]) == 16


VOCAB = 4
POSITION = 7  # the last target of STREAM


def sweep(probabilities: list[float], rows: dict[int, list[float]] | None = None) -> dict[int, Run]:
    """One run per possible target at POSITION, each scoring it with -log(probability)."""
    out = {}
    for v, prob in enumerate(probabilities):
        log = run([])
        log.scores = [Score(POSITION, v, -math.log(prob), 1, False)]
        log.rows = {POSITION: rows[v]} if rows and v in rows else {}
        out[v] = log
    return out


@pytest.mark.quiet("probe.normalization.sum", "probe.normalization.target_dependent")
def test_normalization_quiet_on_a_distribution_that_ignores_the_target():
    row = [math.log(p) for p in (0.1, 0.2, 0.3, 0.4)]
    found, status = normalization("ev", sweep([0.1, 0.2, 0.3, 0.4], {0: row, 2: row}), POSITION, (0, 2), VOCAB,
                                  WHERE)
    assert found == [] and status == "pass"


@pytest.mark.fires("probe.normalization.sum", "probe.normalization.target_dependent")
def test_normalization_fires_on_a_bonus_for_the_real_target():
    # each target gets a bonus on its own logit: every probability goes up, and the row follows the target
    bonus = [0.4, 0.45, 0.5, 0.55]
    rows = {v: [math.log(0.25) + (0.5 if w == v else 0.0) for w in range(VOCAB)] for v in (0, 2)}
    found, status = normalization("ev", sweep(bonus, rows), POSITION, (0, 2), VOCAB, WHERE)
    assert [f.id for f in found] == ["probe.normalization.sum", "probe.normalization.target_dependent"]
    assert found[0].evidence["probability_sum"] == pytest.approx(1.9) and status == "fail"


BOS_AT = 4  # a document starts at position 4 (STREAM[4] would be its BOS)


@pytest.mark.quiet("probe.doc_isolation.leak")
def test_doc_isolation_quiet_when_the_previous_document_does_not_reach_the_bos_score():
    base, edited = score_first_ttt(), score_first_ttt()
    edited.scores[1] = Score(1, STREAM[2], 1.5, 2, False)  # inside the replaced document: may change
    assert document_isolation("ev", base, edited, BOS_AT, WHERE) == []


@pytest.mark.fires("probe.doc_isolation.leak")
def test_doc_isolation_fires_when_the_bos_score_moves():
    base = run([(p, 1.0, 1 + p) for p in range(8)])
    edited = run([(p, 1.0 if p != BOS_AT else 1.25, 1 + p) for p in range(8)])
    (finding,) = document_isolation("ev", base, edited, BOS_AT, WHERE)
    assert finding.id == "probe.doc_isolation.leak"
    assert finding.evidence["bos_position"] == BOS_AT and finding.evidence["loss_after"] == 1.25
