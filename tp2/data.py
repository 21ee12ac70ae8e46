"""The data folder: where it is, fetching what is missing, and reading it.

Layout (the same as `keras.datasets` and the Caltech101 archive give):

    <data dir>/mnist.npz
    <data dir>/101_ObjectCategories/<class>/*.jpg

The folder is `--data-dir`, else `$TP2_DATA_DIR`, else `./data`. A missing file is
downloaded from its official source with pooch and checked against its published hash;
`TP2_OFFLINE=1` turns downloads off (the error then says what to put where);
`TP2_MNIST_URL` / `TP2_CALTECH_URL` point at a mirror (the hashes are still checked).

Decoded images are cached as `.npz` files (in `$TP2_CACHE_DIR`, else `~/.cache/tp2`),
keyed by the folder, class names, size, colour mode and the list of files with their
sizes and modification times: adding, removing or touching an image re-decodes.
"""

import hashlib
import json
import os
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from tp2.cli import UserError, warn
from tp2.splits import stratified_split, stratified_subset

MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
MNIST_HASH = "sha256:731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
CALTECH_URL = "https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip?download=1"
CALTECH_HASH = "md5:3138e1922a9193bfa496528edbbc45d0"
CALTECH_INNER_TAR = "caltech-101/101_ObjectCategories.tar.gz"
CALTECH_INNER_HASH = "md5:b224c7392d521a49829488ab0f1120d9"
CALTECH_FOLDER = "101_ObjectCategories"
DEFAULT_CLASSES = ("airplanes", "Motorbikes")
MNIST_KEYS = ("x_train", "y_train", "x_test", "y_test")
CACHE_VERSION = 1


def resolve_data_dir(data_dir=None):
    """--data-dir, else $TP2_DATA_DIR, else ./data."""
    return Path(data_dir or os.environ.get("TP2_DATA_DIR") or "data")


def offline():
    return os.environ.get("TP2_OFFLINE", "") not in ("", "0")


def cache_dir():
    return Path(os.environ.get("TP2_CACHE_DIR") or Path.home() / ".cache" / "tp2")


# --- Downloads -----------------------------------------------------------------------


def download(url, known_hash, folder, fname, what):
    """Fetch `url` into folder/fname with pooch, checking `known_hash`; UserError on failure."""
    import pooch

    if offline():
        raise UserError(
            f"{what} not found in {folder} and downloads are off (TP2_OFFLINE); "
            f"put it there or pass --data-dir"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot create data folder {folder}: {error.strerror}; pass --data-dir")
    print(f"downloading {what} from {url} ...", file=sys.stderr, flush=True)
    try:
        return Path(pooch.retrieve(url, known_hash, fname=fname, path=folder, progressbar=False))
    except ValueError as error:  # pooch's hash mismatch
        raise UserError(f"download of {what} failed its checksum ({error}); try again later")
    except Exception as error:  # network errors come in many types
        raise UserError(
            f"could not download {what} from {url} ({type(error).__name__}); "
            f"check the network or put the file in {folder}"
        )


def ensure_mnist(data_dir=None):
    """Path of mnist.npz in the data folder, downloading it when absent."""
    folder = resolve_data_dir(data_dir)
    path = folder / "mnist.npz"
    if not path.exists():
        url = os.environ.get("TP2_MNIST_URL") or MNIST_URL
        download(url, MNIST_HASH, folder, "mnist.npz", "MNIST (mnist.npz)")
    return path


def file_hash(path, algorithm):
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def extract_caltech_classes(archive, folder, classes):
    """From caltech-101.zip, extract only <folder>/101_ObjectCategories/<class>/ for `classes`."""
    archive, folder = Path(archive), Path(folder)
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        with zipfile.ZipFile(archive) as outer:
            if CALTECH_INNER_TAR not in outer.namelist():
                raise UserError(f"{archive} does not hold {CALTECH_INNER_TAR}; delete it and retry")
            inner_path = Path(outer.extract(CALTECH_INNER_TAR, scratch))
        algorithm, expected = CALTECH_INNER_HASH.split(":")
        if file_hash(inner_path, algorithm) != expected:
            raise UserError(f"{CALTECH_INNER_TAR} inside {archive} failed its checksum; delete it and retry")
        wanted = tuple(f"{CALTECH_FOLDER}/{name}/" for name in classes)
        with tarfile.open(inner_path) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith(wanted)]
            found = {m.name.split("/")[1] for m in members}
            unknown = sorted(set(classes) - found)
            if unknown:
                raise UserError(f"class {', '.join(unknown)} is not in Caltech101; check --classes")
            staging = Path(scratch) / "out"
            tar.extractall(staging, members=members, filter="data")
        target = folder / CALTECH_FOLDER
        target.mkdir(exist_ok=True)
        for name in classes:
            if not (target / name).exists():
                os.replace(staging / CALTECH_FOLDER / name, target / name)
    return folder / CALTECH_FOLDER


def ensure_caltech(data_dir=None, classes=DEFAULT_CLASSES):
    """Path of 101_ObjectCategories/, downloading and extracting classes that are absent."""
    folder = resolve_data_dir(data_dir)
    root = folder / CALTECH_FOLDER
    missing = [name for name in classes if not (root / name).is_dir()]
    if not missing:
        return root
    archive = folder / "caltech-101.zip"
    if not archive.exists():
        if offline() or (root.is_dir() and any(root.iterdir())):
            where = ", ".join(str(root / name) for name in missing)
            raise UserError(
                f"class folder not found: {where}; check --classes, or pass the --data-dir "
                f"that holds {CALTECH_FOLDER}/"
            )
        url = os.environ.get("TP2_CALTECH_URL") or CALTECH_URL
        archive = download(url, CALTECH_HASH, folder, archive.name, "Caltech101 (caltech-101.zip)")
    extract_caltech_classes(archive, folder, missing)
    return root


# --- Reading -------------------------------------------------------------------------


def load_mnist(data_dir=None):
    """(x_train, y_train), (x_test, y_test) as uint8 arrays, like keras.datasets.mnist.

    UserError, naming the file and what is wrong, for a file that is not an MNIST npz:
    unreadable, keys missing, images not n x 28 x 28 uint8, labels not 0-9 (or one-hot).
    """
    path = ensure_mnist(data_dir)
    if path.is_dir():
        raise UserError(f"{path} is a folder, not the MNIST file; remove it to download mnist.npz there")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [key for key in MNIST_KEYS if key not in npz.files]
            if missing:
                raise UserError(f"{path} lacks {', '.join(missing)} (it holds {', '.join(npz.files) or 'nothing'}); "
                                f"an MNIST file has {', '.join(MNIST_KEYS)}: delete it to download it again")
            arrays = {key: npz[key] for key in MNIST_KEYS}
    except UserError:
        raise
    except PermissionError as error:
        raise UserError(f"cannot read {path} ({error.strerror}); check its permissions or pass --data-dir")
    except Exception as error:
        raise UserError(
            f"{path} is not a readable MNIST file ({type(error).__name__}: {error}); "
            f"delete it to download it again"
        )
    for part in ("train", "test"):
        check_mnist_part(path, part, arrays[f"x_{part}"], arrays[f"y_{part}"])
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def mnist_pixels(images):
    """uint8 (n, 28, 28) → float32 (n, 784) in [0, 1], as in the original example."""
    return images.reshape(len(images), 28 * 28).astype("float32") / 255.0


def load_mnist_splits(data_dir, split_seed, settings):
    """keras_mnist.py's data: train / validation from the 60,000 training images (stratified), test = the
    official 10,000.

    Returns a dict of arrays (x_* float32 (n, 784), y_* int labels) plus `train_index`
    and `val_index`, the positions of both parts in the official training set.
    `settings` (keras_mnist.Settings) gives `validation`, `validation_fraction` and `train_size`;
    `settings.train_size` keeps a stratified subset of the training part (for --quick).
    With `validation="test"` (the 2016 protocol) all 60,000 images train, the validation
    data is the test set and `val_index` is empty.
    """
    (x_train, y_train), (x_test, y_test) = load_mnist(data_dir)
    if settings.validation == "test":
        train_index, val_index = np.arange(len(y_train)), np.array([], dtype=int)
    else:
        fractions = (1 - settings.validation_fraction, settings.validation_fraction)
        train_index, val_index = stratified_split(y_train, fractions, split_seed)
    if settings.train_size is not None and settings.train_size < len(train_index):
        keep = stratified_subset(y_train[train_index], settings.train_size / len(train_index), split_seed)
        train_index = train_index[keep]
    x_val, y_val = (x_test, y_test) if settings.validation == "test" else (x_train[val_index], y_train[val_index])
    if len(train_index) == 0 or len(x_val) == 0:
        raise UserError(f"the MNIST file in {data_dir or 'the data folder'} has too few images for a training and a "
                        "validation split; use the full mnist.npz")
    return {
        "x_train": mnist_pixels(x_train[train_index]), "y_train": y_train[train_index],
        "x_val": mnist_pixels(x_val), "y_val": y_val,
        "x_test": mnist_pixels(x_test), "y_test": y_test,
        "train_index": train_index, "val_index": val_index,
    }


def check_mnist_part(path, part, images, labels):
    """UserError unless `images` is (n, 28, 28) uint8 and `labels` n digits 0-9 of an integer type."""
    fix = "delete it to download it again"
    if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) == 0:
        raise UserError(f"{path}: x_{part} has shape {images.shape}, expected (n, 28, 28) images; {fix}")
    if images.dtype != np.uint8:
        raise UserError(f"{path}: x_{part} has dtype {images.dtype}, expected uint8 pixels 0-255; {fix}")
    if labels.ndim == 2 and labels.shape[1] == 10:
        raise UserError(f"{path}: y_{part} is one-hot (shape {labels.shape}), expected one digit 0-9 per image; {fix}")
    if labels.shape != (len(images),):
        raise UserError(f"{path}: y_{part} has shape {labels.shape}, expected ({len(images)},), one label per image; {fix}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise UserError(f"{path}: y_{part} has dtype {labels.dtype}, expected integer digits 0-9; {fix}")
    if labels.min() < 0 or labels.max() > 9:
        raise UserError(f"{path}: y_{part} holds labels from {labels.min()} to {labels.max()}, expected digits 0-9; {fix}")


def list_class_files(root, classes):
    """Sorted image paths per class; UserError for a missing or empty class folder."""
    root = Path(root)
    files = {}
    for name in classes:
        folder = root / name
        if not folder.is_dir():
            raise UserError(f"class folder not found: {folder}; check --classes or --data-dir")
        paths = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        if not paths:
            raise UserError(f"class folder is empty: {folder}; put the class images there or delete it to download")
        files[name] = paths
    return files


def decode_image(path, size, mode):
    """One image as a (size, size[, 3]) uint8 array, or None when Pillow cannot read it."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image = image.convert(mode).resize((size, size), Image.BILINEAR)
            return np.asarray(image, dtype=np.uint8)
    except Exception:
        return None


def rescale_and_pad_2016(path, size, mode):
    """One image as the report's own loader made it (TP2 `loadImages.py`), floats in [0, 1].

    The image is read in `mode` ("RGB" or "L"), rescaled keeping its aspect ratio so that
    its longer side is `size` (scikit-image 0.12's `rescale`: bilinear, no anti-aliasing,
    output side round(side * scale), pixel centres mapped as (i + 0.5) * in/out - 0.5), and
    zero-padded at the bottom and the right to size × size. Returns None when Pillow cannot
    read the file. The storage dtype the author then used is the caller's business.
    """
    from PIL import Image
    from scipy import ndimage

    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert(mode), dtype=np.float64) / 255.0
    except Exception:
        return None
    pixels = pixels.reshape(*pixels.shape[:2], -1)
    rows, cols = pixels.shape[:2]
    scale = min(size / rows, size / cols)
    out_rows, out_cols = int(np.round(rows * scale)), int(np.round(cols * scale))
    grid = np.meshgrid((np.arange(out_rows) + 0.5) * rows / out_rows - 0.5,
                       (np.arange(out_cols) + 0.5) * cols / out_cols - 0.5, indexing="ij")
    padded = np.zeros((size, size, pixels.shape[2]))
    for channel in range(pixels.shape[2]):
        padded[:out_rows, :out_cols, channel] = ndimage.map_coordinates(
            pixels[..., channel], grid, order=1, mode="constant", cval=0.0)
    padded = np.clip(padded, 0.0, 1.0)
    return padded if mode == "RGB" else padded[..., 0]


def cache_key(root, classes, size, mode, files):
    listing = [
        (str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
        for name in classes
        for p in files[name]
    ]
    text = json.dumps([CACHE_VERSION, str(Path(root).resolve()), list(classes), size, mode, listing])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def load_image_classes(root, classes=DEFAULT_CLASSES, size=28, mode="L", use_cache=True,
                       decoder=None, reader=None):
    """Images of `classes` under `root`, resized to size×size, and their labels.

    Returns (images, labels, paths): images uint8 of shape (n, size, size) for mode "L"
    or (n, size, size, 3) for "RGB"; labels int64 with the index of the class in
    `classes`; paths of the images kept. Unreadable files are skipped with one warning
    line each. Grayscale images are converted to `mode`. `decoder(path, size, mode)`
    reads one file (None when it cannot; default `decode_image`, Pillow); another decoder
    names itself with `reader`, which goes into the cache key in place of the mode.
    """
    decoder = decoder or decode_image
    if mode not in ("L", "RGB"):
        raise ValueError(f"mode must be 'L' or 'RGB', got {mode!r}")
    root = Path(root)
    files = list_class_files(root, classes)
    key = cache_key(root, classes, size, reader or mode, files)
    cached = cache_dir() / f"images-{key}.npz"
    if use_cache and cached.exists():
        try:
            with np.load(cached, allow_pickle=False) as npz:
                for path in npz["skipped"]:
                    warn(f"skipped unreadable image {path}")
                return npz["images"], npz["labels"], [Path(p) for p in npz["paths"]]
        except Exception:
            warn(f"ignoring damaged cache file {cached}")

    images, labels, kept, skipped = [], [], [], []
    for label, name in enumerate(classes):
        for path in files[name]:
            pixels = decoder(path, size, mode)
            if pixels is None:
                warn(f"skipped unreadable image {path}")
                skipped.append(str(path))
                continue
            images.append(pixels)
            labels.append(label)
            kept.append(path)
    for label, name in enumerate(classes):
        if label not in labels:
            raise UserError(f"no readable image in {root / name}; check the files or delete the folder to download")
    images = np.stack(images)
    labels = np.asarray(labels, dtype=np.int64)
    if use_cache:
        save_cache(cached, images, labels, kept, skipped)
    return images, labels, kept


def save_cache(path, images, labels, paths, skipped):
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
        with os.fdopen(fd, "wb") as stream:
            np.savez(
                stream,
                images=images,
                labels=labels,
                paths=np.asarray([str(p) for p in paths]),
                skipped=np.asarray(skipped, dtype=str),
            )
        os.replace(temp, path)
    except OSError as error:
        warn(f"could not write image cache {path}: {error}")



def load_caltech_vectors(settings, data_dir):
    """Two Caltech101 classes as float vectors in [0, 1] (n, size * size [* 3]) and labels 0/1 (the
    index of the class), read as `settings` says (Exercise 1's: classes, image_size, color, resize,
    storage_dtype, dtype).

    The 2016 recipe stores the rescaled, padded [0, 1] floats in an array of `storage_dtype`
    (loadImages.py's np.byte): the cast truncates, so every pixel but an exact 1.0 becomes 0.
    """
    classes = settings.classes
    root = ensure_caltech(data_dir, classes)
    if settings.resize == "rescale-pad":
        images, labels, _ = load_image_classes(root, classes, size=settings.image_size, mode=settings.color,
                                               decoder=rescale_and_pad_2016, reader=f"loadImages.py {settings.color}")
    else:
        images, labels, _ = load_image_classes(root, classes, size=settings.image_size, mode=settings.color)
        images = images / np.asarray(255, settings.dtype)
    if min(np.bincount(labels, minlength=2)) < 2:
        raise UserError(f"each class needs at least 2 readable images for a train/test split in {root}")
    if settings.storage_dtype is not None:
        images = images.astype(settings.storage_dtype)  # float -> int8 truncates toward 0, as the assignment did
    x = images.reshape(len(images), -1).astype(settings.dtype)
    return x, labels.astype(settings.dtype)


def feature_facts(x, y, classes, storage_dtype):
    """What a storage dtype leaves of feature vectors `x` (labels `y`, the index in `classes`): their
    count, the share of non-zero features overall and per class, and their mean."""
    return {"features": int(x.shape[1]), "storage_dtype": storage_dtype,
            "nonzero_share": float(np.mean(x != 0)),
            "nonzero_share_by_class": {c: float(np.mean(x[y == i] != 0)) for i, c in enumerate(classes)},
            "mean": float(x.mean())}


def main():
    """`python -m tp2.data [--data-dir D]`: fetch whatever the scripts need and is absent."""
    from tp2.cli import add_data_dir_option, make_parser

    parser = make_parser("Fetch MNIST and Caltech101 (airplanes, Motorbikes) into the data folder if absent.")
    add_data_dir_option(parser)
    args = parser.parse_args()
    mnist = ensure_mnist(args.data_dir)
    root = ensure_caltech(args.data_dir)
    print(f"data ready: {mnist} and {root}/{{{','.join(DEFAULT_CLASSES)}}}")


if __name__ == "__main__":
    from tp2.cli import run

    run(main)
