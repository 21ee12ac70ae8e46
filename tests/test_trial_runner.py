"""tp2/trial_runner.py: which trials remain, progress lines, the resumed grid, a reused model."""

import numpy as np
import pytest

from tp2 import trial_runner
from tp2.cli import format_eta
from tp2.keras_setup import keras

CONFIGS = [{"augmentation": 0, "n1": n1, "n2": 0, "dropout": 0.0, "activation": "relu"} for n1 in (16, 32)]


def fake_trial(config, seed, offset):
    return dict(config, seed=seed, val_acc=0.5 + offset, test_acc=0.25, epochs=seed + 1, train_time_s=0.1)


def test_only_missing_pairs_run_with_the_seeds_of_a_configuration_together():
    done = [fake_trial(CONFIGS[0], 1, 0.0)]
    todo = trial_runner.pairs_to_run(CONFIGS, [0, 1], done)
    assert [(c["n1"], s) for c, s in todo] == [(16, 0), (32, 0), (32, 1)]
    extra = fake_trial(CONFIGS[1], 7, 0.0)  # a seed this run does not ask for
    assert trial_runner.wanted_rows(done + [extra], CONFIGS, [0, 1]) == done


@pytest.mark.parametrize("seconds, text", [(0, "0m00s"), (65.4, "1m05s"), (3599, "59m59s"), (3720, "1h02m")])
def test_eta_reads_minutes_then_hours(seconds, text):
    assert format_eta(seconds) == text


def test_a_resumed_grid_runs_the_rest_saves_after_each_trial_and_returns_the_wanted_rows(capsys):
    kept = [fake_trial(CONFIGS[0], 0, 0.0), fake_trial(CONFIGS[0], 9, 0.0)]  # seed 9: not wanted
    saved = []
    rows = trial_runner.run_grid(fake_trial, CONFIGS, [0, 1], kept, lambda rows: saved.append(len(rows)), 0.1,
                                 source="grid.h5")
    assert sorted((r["n1"], r["seed"]) for r in rows) == [(16, 0), (16, 1), (32, 0), (32, 1)]
    assert saved == [3, 4, 5]  # every finished trial saved with all the rows so far
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "resuming: 2 trials already in grid.h5, 3 to go"
    assert out[1] == "grid: 2 configurations × 2 seeds = 4 trials on 1 job(s)"
    assert out[2].startswith("trial 3/4 aug=0 n1=16 n2=- dropout=0.0 relu seed=1: val 0.600 test 0.250 (2 epochs, 0.1 s)")
    assert all("ETA" in line for line in out[2:]) and len(out) == 5


def test_a_reused_model_takes_the_fresh_models_initial_state():
    def build(seed):
        def fresh():
            keras.utils.set_random_seed(seed)
            model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dropout(0.5, seed=seed),
                                      keras.layers.Dense(1, activation="sigmoid")])
            model.compile(optimizer="adam", loss="binary_crossentropy")
            return model
        return fresh

    trial_runner._last_model.clear()
    first = trial_runner.reused_model("a", build(0))
    first.fit(np.ones((4, 3), "float32"), np.ones(4, "float32"), epochs=1, verbose=0)
    reused = trial_runner.reused_model("a", build(1))
    assert reused is first
    expected = build(1)()
    expected.optimizer.build(expected.trainable_variables)
    for got, want in zip(reused.variables + reused.optimizer.variables,
                         expected.variables + expected.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(got.value), np.asarray(want.value))
    assert trial_runner.reused_model("b", build(1)) is not first and list(trial_runner._last_model) == ["b"]
