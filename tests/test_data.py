"""The data layer: folder resolution, image loading, cache, splits, downloads."""

import hashlib
import http.server
import io
import shutil
import tarfile
import threading
import zipfile
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from conftest import write_image

from tp2 import UserError, data
from tp2.splits import stratified_split, stratified_subset


# --- folder resolution ---------------------------------------------------------------


def test_data_dir_prefers_option_then_environment_then_default(monkeypatch):
    monkeypatch.setenv("TP2_DATA_DIR", "/from/env")
    assert data.resolve_data_dir("/from/option") == Path("/from/option")
    assert data.resolve_data_dir(None) == Path("/from/env")
    monkeypatch.delenv("TP2_DATA_DIR")
    assert data.resolve_data_dir(None) == Path("data")


# --- image loading -------------------------------------------------------------------


def test_loads_both_classes_resized_with_labels(image_root):
    images, labels, paths = data.load_image_classes(image_root, size=28, mode="L", use_cache=False)
    assert images.shape == (12, 28, 28) and images.dtype == np.uint8
    assert labels.tolist() == [0] * 6 + [1] * 6
    assert all(p.parent.name == ("airplanes" if l == 0 else "Motorbikes") for p, l in zip(paths, labels))
    rgb, _, _ = data.load_image_classes(image_root, size=64, mode="RGB", use_cache=False)
    assert rgb.shape == (12, 64, 64, 3)


def test_unreadable_files_are_skipped_with_their_path(image_root, capsys):
    bikes = image_root / "Motorbikes"
    (bikes / "empty.jpg").write_bytes(b"")
    (bikes / "notes.jpg").write_text("this is not an image")
    good = (bikes / "image_0000.jpg").read_bytes()
    (bikes / "truncated.jpg").write_bytes(good[: len(good) // 3])
    images, labels, paths = data.load_image_classes(image_root, size=28, mode="L", use_cache=False)
    warnings = capsys.readouterr().err.splitlines()
    for name in ("empty.jpg", "notes.jpg", "truncated.jpg"):
        assert sum(name in line and line.startswith("warning:") for line in warnings) == 1
        assert bikes / name not in paths
    assert len(images) == 12


def test_grayscale_image_becomes_rgb(image_root):
    write_image(image_root / "airplanes" / "gray.jpg", mode="L", seed=99)
    images, _, paths = data.load_image_classes(image_root, size=16, mode="RGB", use_cache=False)
    gray = images[paths.index(image_root / "airplanes" / "gray.jpg")]
    assert gray.shape == (16, 16, 3)
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 1], gray[..., 2])


def test_missing_or_empty_class_folder_names_the_path(image_root):
    with pytest.raises(UserError, match="class folder not found: .*helicopters"):
        data.load_image_classes(image_root, classes=("airplanes", "helicopters"))
    (image_root / "empty_class").mkdir()
    with pytest.raises(UserError, match="class folder is empty: .*empty_class"):
        data.load_image_classes(image_root, classes=("airplanes", "empty_class"))


def test_class_with_only_unreadable_files_is_an_error(image_root):
    bad = image_root / "broken"
    bad.mkdir()
    (bad / "a.jpg").write_text("nope")
    with pytest.raises(UserError, match="no readable image in .*broken"):
        data.load_image_classes(image_root, classes=("airplanes", "broken"), use_cache=False)


def test_cache_is_reused_and_invalidated_when_the_file_list_changes(image_root, tmp_path, monkeypatch):
    monkeypatch.setenv("TP2_CACHE_DIR", str(tmp_path / "cache"))
    first, _, _ = data.load_image_classes(image_root, size=20)
    assert len(list((tmp_path / "cache").glob("images-*.npz"))) == 1
    decoded = []
    monkeypatch.setattr(data, "decode_image", lambda *a: decoded.append(a) or np.zeros((20, 20), np.uint8))
    again, _, _ = data.load_image_classes(image_root, size=20)
    assert decoded == [] and np.array_equal(first, again)  # served from the cache
    write_image(image_root / "airplanes" / "new.jpg", seed=7)
    changed, labels, _ = data.load_image_classes(image_root, size=20)
    assert len(decoded) == 13 and len(changed) == 13  # the new file list decodes again
    (image_root / "airplanes" / "new.jpg").unlink()
    data.load_image_classes(image_root, size=20)
    assert len(decoded) == 13  # back to the first list: its cache entry is still valid


def test_an_image_rewritten_with_other_pixels_is_decoded_again(image_root, tmp_path, monkeypatch):
    monkeypatch.setenv("TP2_CACHE_DIR", str(tmp_path / "cache"))
    path = image_root / "airplanes" / "image_0003.jpg"
    before, _, paths = data.load_image_classes(image_root, size=20)
    write_image(path, seed=1234)  # same name, other pixels
    after, _, _ = data.load_image_classes(image_root, size=20)
    index = paths.index(path)
    assert not np.array_equal(before[index], after[index])
    np.testing.assert_array_equal(after[index], data.decode_image(path, 20, "L"))  # the new pixels came back
    others = [i for i in range(len(paths)) if i != index]
    np.testing.assert_array_equal(before[others], after[others])


def test_real_caltech_images(real_data_dir):
    root = data.ensure_caltech(real_data_dir)
    images, labels, _ = data.load_image_classes(root, size=28, mode="L")
    assert images.shape == (1598, 28, 28)
    assert np.bincount(labels).tolist() == [800, 798]


# --- MNIST ---------------------------------------------------------------------------


def test_real_mnist_has_the_keras_layout(real_data_dir):
    (x_train, y_train), (x_test, y_test) = data.load_mnist(real_data_dir)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


def test_corrupt_mnist_is_a_clear_error(tmp_path):
    (tmp_path / "mnist.npz").write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(UserError, match="is not a readable MNIST file"):
        data.load_mnist(tmp_path)


def test_missing_files_offline_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TP2_OFFLINE", "1")
    with pytest.raises(UserError, match="MNIST .*not found in"):
        data.ensure_mnist(tmp_path)
    with pytest.raises(UserError, match="class folder not found"):
        data.ensure_caltech(tmp_path)


# --- splits --------------------------------------------------------------------------


def test_stratified_split_is_disjoint_complete_stratified_and_seeded():
    labels = np.array([0] * 800 + [1] * 798)
    train, val, test = stratified_split(labels, (0.7, 0.1, 0.2), seed=3)
    assert len(set(train) | set(val) | set(test)) == len(labels)
    assert not (set(train) & set(test) or set(train) & set(val) or set(val) & set(test))
    for part, share in ((train, 0.7), (val, 0.1), (test, 0.2)):
        counts = np.bincount(labels[part])
        assert abs(counts[0] - 800 * share) <= 1 and abs(counts[1] - 798 * share) <= 1
    again = stratified_split(labels, (0.7, 0.1, 0.2), seed=3)
    other = stratified_split(labels, (0.7, 0.1, 0.2), seed=4)
    assert all(np.array_equal(a, b) for a, b in zip((train, val, test), again))
    assert not np.array_equal(train, other[0])


def test_stratified_subset_keeps_class_shares():
    labels = np.repeat(np.arange(10), 100)
    subset = stratified_subset(labels, 0.25, seed=0)
    assert np.bincount(labels[subset]).tolist() == [25] * 10


# --- downloads, on archives built here and served on loopback --------------------------


@pytest.fixture
def loopback_server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def build_caltech_zip(path, classes=("airplanes", "Motorbikes", "Faces"), per_class=3):
    """A small caltech-101.zip with the official layout; returns (zip md5, inner tar md5)."""
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w:gz") as tar:
        for c, name in enumerate(classes):
            for i in range(per_class):
                jpeg = io.BytesIO()
                write_image(jpeg, seed=c * 10 + i)
                info = tarfile.TarInfo(f"101_ObjectCategories/{name}/image_{i:04d}.jpg")
                info.size = len(jpeg.getvalue())
                tar.addfile(info, io.BytesIO(jpeg.getvalue()))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("caltech-101/101_ObjectCategories.tar.gz", tar_bytes.getvalue())
        archive.writestr("caltech-101/show_annotation.m", "% not needed")
    return hashlib.md5(Path(path).read_bytes()).hexdigest(), hashlib.md5(tar_bytes.getvalue()).hexdigest()


def test_caltech_download_extracts_only_the_requested_classes(tmp_path, loopback_server, monkeypatch):
    served, url = loopback_server
    zip_md5, tar_md5 = build_caltech_zip(served / "caltech-101.zip")
    monkeypatch.delenv("TP2_OFFLINE", raising=False)
    monkeypatch.setattr(data, "CALTECH_URL", f"{url}/caltech-101.zip")
    monkeypatch.setattr(data, "CALTECH_HASH", f"md5:{zip_md5}")
    monkeypatch.setattr(data, "CALTECH_INNER_HASH", f"md5:{tar_md5}")
    target = tmp_path / "fresh"
    root = data.ensure_caltech(target)
    assert sorted(p.name for p in root.iterdir()) == ["Motorbikes", "airplanes"]
    assert len(list((root / "airplanes").glob("*.jpg"))) == 3
    images, labels, _ = data.load_image_classes(root, use_cache=False)
    assert images.shape == (6, 28, 28)
    with pytest.raises(UserError, match="class Helicopters is not in Caltech101"):
        data.ensure_caltech(target, classes=("airplanes", "Helicopters"))
    assert not (root / "Helicopters").exists() and not list(target.glob("tmp*"))


def test_download_with_a_wrong_checksum_is_a_clear_error(tmp_path, loopback_server, monkeypatch):
    served, url = loopback_server
    (served / "mnist.npz").write_bytes(b"not the real file")
    monkeypatch.delenv("TP2_OFFLINE", raising=False)
    monkeypatch.setattr(data, "MNIST_URL", f"{url}/mnist.npz")
    with pytest.raises(UserError, match="failed its checksum"):
        data.ensure_mnist(tmp_path)
    assert not (tmp_path / "mnist.npz").exists()


def test_mnist_download_with_the_right_checksum(tmp_path, loopback_server, monkeypatch, real_data_dir):
    served, url = loopback_server
    shutil.copy(real_data_dir / "mnist.npz", served / "mnist.npz")
    digest = hashlib.sha256((served / "mnist.npz").read_bytes()).hexdigest()
    monkeypatch.delenv("TP2_OFFLINE", raising=False)
    monkeypatch.setattr(data, "MNIST_URL", f"{url}/mnist.npz")
    monkeypatch.setattr(data, "MNIST_HASH", f"sha256:{digest}")
    (x_train, _), _ = data.load_mnist(tmp_path)
    assert x_train.shape == (60000, 28, 28)


def test_unreachable_source_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("TP2_OFFLINE", raising=False)
    monkeypatch.setattr(data, "MNIST_URL", "http://127.0.0.1:9/mnist.npz")
    with pytest.raises(UserError, match="could not download MNIST"):
        data.ensure_mnist(tmp_path)
