"""keras_imageTools.py and som_analysis.py --protocol 2016: the author's 600-configuration grid,
his training recipe (original-code/tp2/keras_imageTools.py), his SOM encoding and his ranking.
Expected values are the numbers written in his code and in the issue that quotes it."""

import json
from dataclasses import replace

import keras
import numpy as np
import pandas as pd
import pytest
from test_keras_imageTools import class_folders

import keras_imageTools as kit
import som_analysis
from tp2 import grid_store
from tp2.augmentation import copies_needed, stream_batches

# His loops: augmentationv, nhidv, nhid2v, dropoutv, actfuncv.
AUTHORS_LEVELS = {"augmentation": {0, 1}, "n1": {16, 32, 64, 128, 256, 512}, "n2": {0, 32, 64, 128, 256},
                  "dropout": {0.0, 0.1, 0.2, 0.5, 0.7}, "activation": {"relu", "sigmoid"}}


def test_the_2016_grid_is_the_authors_600_configurations():
    configs = grid_store.configurations(kit.PROTOCOL_2016.grid)
    assert len(configs) == 600 and len({grid_store.config_key(c) for c in configs}) == 600
    for factor, levels in AUTHORS_LEVELS.items():
        assert {c[factor] for c in configs} == levels, factor
    # Both runs of one network follow each other, so that they share its traced model.
    assert all(grid_store.network_key(a) == grid_store.network_key(b) for a, b in zip(configs[::2], configs[1::2]))


def test_the_2016_recipe_is_the_authors():
    s = kit.PROTOCOL_2016
    assert (s.optimizer, s.learning_rate, s.batch_size, s.max_epochs, s.steps_per_epoch) == ("rmsprop", 1e-3, 64, 15, 20)
    assert s.patience is None and s.label_smoothing == 0 and s.seeds == 1 and s.image_size == 64
    assert s.input_scale == (1 / 255, 0.0) and s.interpolation == "nearest"
    layers = dict(s.augmentation)
    assert layers["RandomRotation"]["factor"] * 360 == pytest.approx(40)
    assert (layers["RandomTranslation"]["height_factor"], layers["RandomTranslation"]["width_factor"]) == (0.2, 0.2)
    assert layers["RandomShear"]["x_factor"] == 0.2
    assert (layers["RandomZoom"]["height_factor"], layers["RandomZoom"]["width_factor"]) == (0.2, 0.2)
    assert layers["RandomFlip"]["mode"] == "horizontal"

    model = kit.build_model({"augmentation": 0, "n1": 16, "n2": 32, "dropout": 0.5, "activation": "sigmoid"}, 0, s)
    assert isinstance(model.optimizer, keras.optimizers.RMSprop)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3) and model.optimizer.rho == pytest.approx(0.9)
    rescaling = [layer for layer in model.layers if isinstance(layer, keras.layers.Rescaling)][0]
    assert rescaling.scale == pytest.approx(1 / 255) and rescaling.offset == 0
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [(d.units, d.activation.__name__) for d in dense] == [(16, "sigmoid"), (32, "sigmoid"), (1, "sigmoid")]
    assert [d.rate for d in model.layers if isinstance(d, keras.layers.Dropout)] == [0.5, 0.5]


def test_the_held_out_split_is_50_per_class_and_the_same_for_every_seed():
    labels = np.repeat([0, 1], [800, 798])
    splits = [kit.split_indices(labels, seed, kit.PROTOCOL_2016) for seed in range(4)]
    first = splits[0]
    assert set(first) == {"train", "test"}
    assert np.bincount(labels[first["test"]]).tolist() == [50, 50]
    assert np.bincount(labels[first["train"]]).tolist() == [750, 748]
    assert not set(first["train"]) & set(first["test"])
    assert all(np.array_equal(s["test"], first["test"]) for s in splits[1:])
    # The revised protocol still draws a new stratified split from each seed.
    revised = [kit.split_indices(labels, seed)["test"] for seed in (0, 1)]
    assert not np.array_equal(*revised)


def test_stream_batches_are_full_and_each_pass_uses_every_training_image_once_with_its_copy():
    copies, n = 3, 10
    # pool[c, i] holds the number 100 * c + i in every pixel, so each image says where it came from.
    pool = (100 * np.arange(copies)[:, None] + np.arange(n)[None, :]).astype(np.uint16)[..., None, None, None]
    index = np.array([0, 2, 3, 5, 7, 8, 9])  # 1, 4 and 6 are held out
    labels = np.arange(n) % 2
    stream = stream_batches(pool, index, labels, seed=0, batch_size=4)
    seen = []
    for _ in range(7):  # 28 samples = 4 passes over 7 images
        images, batch_labels = next(stream)
        assert images.shape[0] == 4
        codes = images[:, 0, 0, 0].astype(int)
        assert np.array_equal(batch_labels, labels[codes % 100])
        seen += codes.tolist()
    for p in range(4):
        part = seen[7 * p : 7 * (p + 1)]
        assert sorted(c % 100 for c in part) == index.tolist()
        assert {c // 100 for c in part} == {p % copies}


@pytest.mark.parametrize("n_train", [1000, 1498, 1600, 19_200])
def test_the_2016_grid_caches_one_augmented_copy_per_pass_and_no_more(n_train):
    """His generator augmented every batch afresh: a run of 15 epochs of 20 batches of 64 images makes
    ceil(19,200 / n_train) passes over the training split, and each pass gets its own cached copy."""
    settings = kit.PROTOCOL_2016
    images_drawn = settings.max_epochs * settings.steps_per_epoch * settings.batch_size
    copies = copies_needed(settings, n_train)
    assert copies * n_train >= images_drawn > (copies - 1) * n_train
    assert copies_needed(kit.FULL, n_train) == kit.FULL.augmented_copies  # the revised grid: its fixed count


def test_a_2016_trial_trains_on_the_training_split_only_with_no_validation_and_records_train_accuracy(
        tmp_path, monkeypatch):
    images, labels, _ = kit.read_images(class_folders(tmp_path) / "101_ObjectCategories", ("airplanes", "Motorbikes"),
                                        kit.PROTOCOL_2016)
    settings = replace(kit.PROTOCOL_2016, test_per_class=5, max_epochs=2, steps_per_epoch=3, batch_size=8,
                       steps_per_execution=1)
    streamed, fits = [], []
    real_stream, real_fit = kit.stream_batches, keras.Model.fit
    monkeypatch.setattr(kit, "stream_batches", lambda pool, index, *a: streamed.append(index) or real_stream(pool, index, *a))

    def spy_fit(model, *args, **kwargs):
        fits.append(kwargs)
        return real_fit(model, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy_fit)
    config = {"augmentation": 0, "n1": 8, "n2": 0, "dropout": 0.0, "activation": "relu"}
    row = kit.run_trial(config, 3, images, labels, None, settings)
    test = kit.split_indices(labels, 3, settings)["test"]
    assert len(streamed) == 1 and not set(streamed[0]) & set(test) and len(streamed[0]) == len(labels) - 10
    assert fits[0]["steps_per_epoch"] == 3 and fits[0]["epochs"] == 2
    assert "validation_data" not in fits[0] and not fits[0].get("callbacks")
    assert row["val_acc"] == row["test_acc"] and 0 <= row["train_acc"] <= 1 and row["epochs"] == 2


def test_the_grid_file_keeps_train_accuracy_when_trials_have_it_and_not_otherwise(tmp_path):
    base = {"augmentation": 1, "n1": 16, "n2": 0, "dropout": 0.5, "activation": "relu", "seed": 0,
            "val_acc": 0.9, "test_acc": 0.9, "epochs": 15, "train_time_s": 1.0}
    rows = [dict(base, train_acc=0.75), dict(base, n1=32, train_acc=0.5)]
    grid_store.save(tmp_path, rows, {"factors": {}})
    assert grid_store.read_rows(tmp_path / grid_store.GRID_FILE, {"factors": {}}) == rows
    assert pd.read_csv(tmp_path / grid_store.GRID_CSV)["train_acc"].tolist() == [0.75, 0.5]
    assert grid_store.read_trials(tmp_path / grid_store.GRID_FILE)["train_acc"].tolist() == [0.75, 0.5]
    assert grid_store.summarise(grid_store.read_trials(tmp_path / grid_store.GRID_FILE))["train_acc_mean"].tolist() == [0.75, 0.5]
    plain = tmp_path / "plain"
    plain.mkdir()
    grid_store.save(plain, [base], {"factors": {}})
    assert "train_acc" not in pd.read_csv(plain / grid_store.GRID_CSV).columns


def test_a_2016_trial_on_real_images_learns(real_data_dir):
    settings = kit.PROTOCOL_2016
    classes = ("airplanes", "Motorbikes")
    images, labels, _ = kit.read_images(real_data_dir / "101_ObjectCategories", classes, settings)
    assert images.shape == (1598, 64, 64, 3)
    config = {"augmentation": 0, "n1": 64, "n2": 32, "dropout": 0.2, "activation": "relu"}
    row = kit.run_trial(config, 0, images, labels, None, settings)
    assert row["test_acc"] >= 0.85 and row["train_acc"] >= 0.85


# --- som_analysis.py --protocol 2016 -------------------------------------------------


def test_the_authors_som_encoding_is_linear_with_binary_activation_planes():
    configurations = pd.DataFrame({
        "augmentation": [0, 1, 0], "n1": [16, 128, 512], "n2": [0, 32, 256], "dropout": [0.0, 0.7, 0.2],
        "activation": ["relu", "sigmoid", "relu"], "test_acc_mean": [0.5, 0.9, 0.7]})
    matrix, _ = som_analysis.som_matrix(configurations, som_analysis.PROTOCOL_2016)
    assert list(matrix.columns) == ["augmentation", "n1", "n2", "dropout", "sigmoid", "relu", "accuracy"]
    assert matrix["n1"].tolist() == pytest.approx([0, 112 / 496, 1])
    assert matrix["n2"].tolist() == pytest.approx([0, 32 / 256, 1])
    assert matrix["dropout"].tolist() == pytest.approx([0, 1, 0.2 / 0.7])
    assert matrix["relu"].tolist() == [1, 0, 1] and matrix["accuracy"].tolist() == pytest.approx([0, 1, 0.5])
    revised, _ = som_analysis.som_matrix(configurations, som_analysis.FULL)
    assert "has_second_layer" in revised and revised["n1"].tolist() == pytest.approx([0, 0.5, 1])


def planted_2016_grid(folder):
    """One run per configuration of a 2 × 3 × 2 × 2 × 2 grid; the best is planted."""
    rng = np.random.default_rng(0)
    rows = []
    for aug in (0, 1):
        for n1 in (16, 64, 512):
            for n2 in (0, 32):
                for dropout in (0.0, 0.5):
                    for activation in ("relu", "sigmoid"):
                        acc = 0.7 + 0.1 * (activation == "sigmoid") - 0.05 * aug + rng.uniform(0, 0.02)
                        rows.append(dict(augmentation=aug, n1=n1, n2=n2, dropout=dropout, activation=activation,
                                         seed=0, val_acc=acc, test_acc=acc, epochs=15, train_time_s=1.0, train_acc=acc))
    rows[5] = dict(rows[5], val_acc=0.99, test_acc=0.99)
    folder.mkdir(parents=True)
    grid_store.save(folder, rows, {"factors": {}})
    return rows[5]


def test_som_analysis_2016_reads_results_2016_and_ranks_on_held_out_test_accuracy(tmp_path):
    best = planted_2016_grid(tmp_path / "2016")
    som_analysis.main(["--protocol", "2016", "--quick", "--results-dir", str(tmp_path)])
    table3 = pd.read_csv(tmp_path / "2016" / "table3.csv")
    assert table3.iloc[0][["n1", "n2", "dropout", "activation"]].tolist() == [best["n1"], best["n2"], best["dropout"],
                                                                           best["activation"]]
    assert table3.iloc[0]["test_acc_mean"] == pytest.approx(0.99)
    facts = json.loads((tmp_path / "2016" / "som_facts.json").read_text())
    assert facts["settings"]["encoding"] == "2016" and facts["trials"] == 48
    assert "has_second_layer" not in facts["som"]["correlations"]
    assert (tmp_path / "2016" / "figure1_som.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "table3.csv").exists()  # the revised protocol's folder is not touched


def test_a_model_compiled_for_the_other_protocol_is_never_reused(tmp_path):
    images, labels, _ = kit.read_images(class_folders(tmp_path) / "101_ObjectCategories", ("airplanes", "Motorbikes"))
    config = {"augmentation": 0, "n1": 8, "n2": 0, "dropout": 0.0, "activation": "relu"}
    revised = kit.train_model(config, 0, images, labels, settings=replace(kit.FULL, max_epochs=1))[0]
    rerun = kit.train_model(config, 0, images, labels, settings=replace(
        kit.PROTOCOL_2016, test_per_class=5, max_epochs=1, steps_per_epoch=2, batch_size=8, steps_per_execution=1))[0]
    assert rerun is not revised and isinstance(rerun.optimizer, keras.optimizers.RMSprop)
