"""tp2/tp1_in_keras.py: each Keras version of a TP1 image function against a NumPy version
written here from what the TP1 function does, on real Caltech images; the patches; the
patches-vs-whole-image experiment (determinism, accuracy band)."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tp2 import tp1_in_keras as tk
from tp2.keras_setup import keras

SIZE = (64, 64)
# Two airplanes and two motorbikes (wide images of four shapes); image_0512 is greyscale.
SAMPLES = ("airplanes/image_0001.jpg", "airplanes/image_0400.jpg",
           "Motorbikes/image_0001.jpg", "Motorbikes/image_0512.jpg")
GREY_SAMPLE = "Motorbikes/image_0512.jpg"


@pytest.fixture(scope="module")
def caltech(real_data_dir):
    return real_data_dir / "101_ObjectCategories"


@pytest.fixture(scope="module")
def samples(caltech):
    """{name: (path, NumPy-read image)} for SAMPLES."""
    return {name: (caltech / name, numpy_read_rgb(caltech / name)) for name in SAMPLES}


# --- NumPy versions of the TP1 functions (from their description, not from tp1_in_keras) --


def numpy_read_rgb(path):
    """TP1's reading: the decoded pixels; a grey image stacked into 3 channels, alpha dropped."""
    with Image.open(path) as image:
        pixels = np.asarray(image, dtype=np.float64)
    if pixels.ndim == 2:
        pixels = np.stack([pixels, pixels, pixels], axis=-1)
    return pixels[..., :3]


def numpy_bilinear_weights(size_in, size_out):
    """(lower index, upper index, upper weight) per output pixel: pixel centres at
    (i + 0.5) * in / out - 0.5, clamped to the image; no anti-aliasing."""
    position = np.clip((np.arange(size_out) + 0.5) * size_in / size_out - 0.5, 0, size_in - 1)
    lower = np.floor(position).astype(int)
    upper = np.minimum(lower + 1, size_in - 1)
    return lower, upper, position - lower


def numpy_resize(image, rows, cols):
    lower, upper, weight = numpy_bilinear_weights(image.shape[0], rows)
    image = image[lower] * (1 - weight)[:, None, None] + image[upper] * weight[:, None, None]
    lower, upper, weight = numpy_bilinear_weights(image.shape[1], cols)
    return image[:, lower] * (1 - weight)[None, :, None] + image[:, upper] * weight[None, :, None]


def numpy_fit_top_left(image, size):
    """TP1's loadImages: rescale by min(size / shape) (sides rounded), zero-pad bottom/right."""
    scale = min(size[0] / image.shape[0], size[1] / image.shape[1])
    rows, cols = int(np.round(image.shape[0] * scale)), int(np.round(image.shape[1] * scale))
    padded = np.zeros((*size, image.shape[2]))
    padded[:rows, :cols] = numpy_resize(image, rows, cols)
    return padded, (rows, cols)


def numpy_fit_centred(image, size):
    """TP1's resize applied to the image zero-padded evenly above and below (or left and
    right) to the target's aspect ratio: Keras' documented pad_to_aspect_ratio."""
    rows, cols = image.shape[:2]
    half_rows = (max(rows, cols * size[0] // size[1]) - rows) // 2
    half_cols = (max(cols, rows * size[1] // size[0]) - cols) // 2
    padded = np.pad(image, ((half_rows, half_rows), (half_cols, half_cols), (0, 0)))
    return numpy_resize(padded, *size)


def numpy_zscore(image):
    """TP1's normalizeImage: each channel minus its mean, over its population SD."""
    return (image - image.mean(axis=(0, 1))) / image.std(axis=(0, 1))


def numpy_scale_range(image):
    """TP1's scaleRange: min-max over the whole array to [0, 1]."""
    return (image - image.min()) / (image.max() - image.min())


def window_positions(image, patch):
    """Every (row, col) where `patch` equals the slice of `image` starting there."""
    size = patch.shape[0]
    corners = zip(*np.nonzero(np.all(image[: image.shape[0] - size + 1, : image.shape[1] - size + 1] == patch[0, 0],
                                      axis=-1)))
    return [(r, c) for r, c in corners if np.array_equal(image[r:r + size, c:c + size], patch)]


# --- loadImages ----------------------------------------------------------------------


def test_grey_sample_is_greyscale_on_disk(caltech):
    with Image.open(caltech / GREY_SAMPLE) as image:
        assert image.mode == "L"


@pytest.mark.parametrize("name", SAMPLES)
def test_load_rgb_equals_numpy_reading(samples, name):
    path, expected = samples[name]
    pixels = tk.load_rgb(path)
    # Same decoder (Pillow) on both sides, integers held exactly in float32: only the
    # channel handling can differ, so no tolerance.
    assert pixels.shape == expected.shape and pixels.shape[2] == 3
    np.testing.assert_array_equal(pixels, expected)
    if name == GREY_SAMPLE:
        assert np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(pixels[..., 0], pixels[..., 2])


@pytest.mark.parametrize("name", SAMPLES)
def test_fit_to_size_top_left_equals_tp1_layout(samples, name):
    _, image = samples[name]
    expected, (rows, cols) = numpy_fit_top_left(image, SIZE)
    fitted = keras.ops.convert_to_numpy(tk.fit_to_size_top_left(image.astype("float32"), SIZE))
    assert fitted.shape == (*SIZE, 3)
    assert max(rows, cols) == SIZE[0] and min(rows, cols) < SIZE[0]  # a real padding case
    # Tolerance 0.01 grey level (of 255): float32 bilinear sums of 4 terms err by ~1e-4;
    # a wrong size, padding side or pixel-centre convention errs by whole grey levels.
    np.testing.assert_allclose(fitted, expected, rtol=0, atol=0.01)
    assert np.all(fitted[rows:] == 0) and np.all(fitted[:, cols:] == 0)


@pytest.mark.parametrize("name", SAMPLES)
def test_fit_to_size_centres_the_same_content(samples, name):
    """Keras' pad_to_aspect_ratio centres the image where TP1 pads the bottom: same
    content (TP1's bilinear resize of the image), other layout."""
    _, image = samples[name]
    expected, (rows, cols) = numpy_fit_top_left(image, SIZE)
    fitted = keras.ops.convert_to_numpy(tk.fit_to_size(image.astype("float32"), SIZE))
    assert fitted.shape == (*SIZE, 3)
    assert cols == SIZE[1] and rows < SIZE[0]  # the samples are wide: padding goes in rows
    blank = np.all(fitted == 0, axis=(1, 2))
    top, bottom = int(np.argmin(blank)), int(np.argmin(blank[::-1]))
    # Zero bands on both sides (TP1: all at the bottom), equal to within a row, and the
    # content as tall as TP1's to within the rows shared by content and padding.
    assert top > 0 and abs(top - bottom) <= 1
    assert abs((SIZE[0] - top - bottom) - rows) <= 2
    # Keras pads first and resizes the padded image, so its content grid is shifted from
    # TP1's by a fraction of a pixel: compare with TP1's resize of the evenly padded image.
    # Tolerance as in the top-left test.
    np.testing.assert_allclose(fitted, numpy_fit_centred(image, SIZE), rtol=0, atol=0.01)


def test_load_images_stacks_fitted_images(samples):
    paths = [samples[name][0] for name in SAMPLES[:2]]
    images = tk.load_images(paths, SIZE, centred=False)
    assert images.shape == (2, *SIZE, 3) and images.dtype == np.float32
    for fitted, name in zip(images, SAMPLES[:2]):
        np.testing.assert_allclose(fitted, numpy_fit_top_left(samples[name][1], SIZE)[0], rtol=0, atol=0.01)


# --- normalizeImage ------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLES)
def test_standardize_per_image_equals_numpy_zscore(samples, name):
    _, image = samples[name]
    assert np.all(image.std(axis=(0, 1)) > 10)  # the tolerance below assumes it
    standardized = keras.ops.convert_to_numpy(tk.standardize_per_image(image))
    # Tolerance 1e-4 (z units): epsilon=1e-3 on a variance over 100 moves z by under
    # |z| * 5e-6 (|z| < 20 here), float32 rounding of x * inv - mean * inv by ~1e-6.
    np.testing.assert_allclose(standardized, numpy_zscore(image), rtol=0, atol=1e-4)


def test_standardize_per_image_works_image_by_image_in_a_batch(samples):
    batch = np.stack([numpy_fit_top_left(samples[name][1], SIZE)[0] for name in SAMPLES])
    standardized = keras.ops.convert_to_numpy(tk.standardize_per_image(batch))
    for one, image in zip(standardized, batch):
        np.testing.assert_allclose(one, numpy_zscore(image), rtol=0, atol=1e-4)


# --- scaleRange ----------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLES)
def test_scale_to_unit_range_equals_numpy_to_8_bits(samples, name):
    _, image = samples[name]
    standardized = numpy_zscore(image)  # as TP1 used it: scaleRange(normalizeImage(image))
    scaled = tk.scale_to_unit_range(standardized)
    expected = numpy_scale_range(standardized)
    # array_to_img makes 8-bit pixels by truncation: 0 <= expected - scaled < 1/255
    # (1e-5 for float32 rounding at exact multiples of 1/255).
    gap = expected - scaled
    assert gap.min() >= -1e-5 and gap.max() <= 1 / 255 + 1e-5, (gap.min(), gap.max())
    assert scaled.min() == 0 and scaled.max() == 1


# --- getPatches ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["airplanes/image_0001.jpg", GREY_SAMPLE])
def test_random_patches_come_from_inside_the_image(samples, name):
    _, image = samples[name]
    patches = keras.ops.convert_to_numpy(tk.random_patches(image[None], 20, 16, seed=3))
    assert patches.shape == (1, 20, 16, 16, 3)
    positions = [window_positions(image, patch) for patch in patches[0]]
    assert all(positions), "a patch is not a 16x16 slice of its image"


def test_random_patches_of_a_batch_come_from_their_own_image(samples):
    batch = np.stack([numpy_fit_top_left(samples[name][1], SIZE)[0] for name in SAMPLES]).astype("float32")
    patches = keras.ops.convert_to_numpy(tk.random_patches(batch, 5, 16, seed=0))
    assert patches.shape == (len(SAMPLES), 5, 16, 16, 3)
    for image, image_patches in zip(batch, patches):
        assert all(window_positions(image, patch) for patch in image_patches)


def position_image(rows, cols, index=0):
    """An image whose pixel (r, c) holds (r, c, index): a patch tells where it was cut."""
    row, col = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    return np.stack([row, col, np.full_like(row, index)], axis=-1).astype("float32")


def test_random_patches_draw_a_position_per_patch_and_image():
    """Unlike RandomCrop (one window per call), as TP1: 3 images x 50 patches, 49 x 49 positions."""
    batch = np.stack([position_image(64, 64, index) for index in range(3)])
    patches = keras.ops.convert_to_numpy(tk.random_patches(batch, 50, 16, seed=2))
    for index, image_patches in enumerate(patches):
        assert np.all(image_patches[..., 2] == index)  # cut from their own image
    corners = {tuple(corner) for corner in patches[:, :, 0, 0, :2].reshape(-1, 2).astype(int)}
    assert len(corners) > 120  # 150 draws from 2,401 positions: ~5 repeats expected by chance


def test_random_patches_cover_every_position_uniformly():
    """Corners included, as TP1's randint(S/2, side - S/2): on an image whose pixels encode
    their position, 20x21 with 16x16 patches: 5 x 6 = 30 positions."""
    image = position_image(20, 21)
    patches = keras.ops.convert_to_numpy(tk.random_patches(image[None], 1500, 16, seed=1))[0]
    corners = patches[:, 0, 0, :2].astype(int)
    np.testing.assert_array_equal(patches, np.stack([image[r:r + 16, c:c + 16] for r, c in corners]))
    counts = np.zeros((5, 6), int)
    np.add.at(counts, (corners[:, 0], corners[:, 1]), 1)
    # Expected 50 per position, binomial SD ~7: [20, 80] is +-4.3 SD.
    assert counts.min() >= 20 and counts.max() <= 80, counts


def test_random_patches_are_reproducible_from_the_seed(samples):
    _, image = samples[GREY_SAMPLE]
    first, again, other = (keras.ops.convert_to_numpy(tk.random_patches(image[None], 8, 16, seed=s))
                           for s in (5, 5, 6))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_grid_patches_equal_the_image_slices(samples):
    _, image = samples["airplanes/image_0400.jpg"]
    image = image[:100, :130].astype("float32")
    patches = keras.ops.convert_to_numpy(tk.grid_patches(image[None], 16))
    expected = [image[r:r + 16, c:c + 16] for r in range(0, 100 - 15, 16) for c in range(0, 130 - 15, 16)]
    assert patches.shape == (1, 6 * 8, 16, 16, 3)
    np.testing.assert_array_equal(patches[0], np.stack(expected))


# --- The experiment ------------------------------------------------------------------


def read_64(paths):
    """As keras_imageTools reads the classes: 64x64 RGB, bilinear, aspect ratio not kept."""
    return np.stack([keras.utils.img_to_array(keras.utils.load_img(path, color_mode="rgb", target_size=SIZE,
                                                                   interpolation="bilinear"), dtype="uint8")
                     for path in paths])


def class_images(caltech, every=1):
    paths, labels = [], []
    for label, name in enumerate(("airplanes", "Motorbikes")):
        files = sorted((caltech / name).glob("*.jpg"))[::every]
        paths += files
        labels += [label] * len(files)
    return read_64(paths), np.asarray(labels)


def test_experiment_is_deterministic_under_a_seed(caltech):
    images, labels = class_images(caltech, every=40)  # 20 + 20 images
    quick = dict(repeats=1, epochs=2, patches_per_image=2)
    first = tk.patches_vs_whole_image(images, labels, seed=7, **quick)
    again = tk.patches_vs_whole_image(images, labels, seed=7, **quick)
    pd.testing.assert_frame_equal(first, again)
    assert list(first["arm"]) == list(tk.ARMS)
    assert (first["train_images"] + first["test_images"] == len(labels)).all()


def test_experiment_accuracy_is_sensible_on_real_data(caltech):
    images, labels = class_images(caltech)  # all 1,598 images, one seed
    result = tk.patches_vs_whole_image(images, labels, seed=0, repeats=1).set_index("arm")
    accuracy = result["test_accuracy_mean"]
    assert result.loc["whole image", "test_images"] == 320
    assert accuracy["whole image"] > 0.8 and accuracy["patches"] > 0.8, accuracy
    # Averaging a test image's 16 patch scores beats one patch alone.
    assert accuracy["patches"] > accuracy["single patch"], accuracy
