"""Class folders of images read with Keras' own primitives, as Exercise 2b asks.

Each file is read by `keras.utils.load_img` (RGB, resized to size×size) and
`keras.utils.img_to_array`, the way the report's `flow_from_directory` read it; the
folders are decoded once and cached across processes by `tp2.data.load_image_classes`
(README, Performance notes), and unreadable files are skipped with a warning.
"""

import functools

from tp2.data import load_image_classes
from tp2.keras_setup import load_keras


def decode(path, size, interpolation="bilinear"):
    """One image file as uint8 (size, size, 3)."""
    keras = load_keras()
    image = keras.utils.load_img(path, color_mode="rgb", target_size=(size, size), interpolation=interpolation)
    return keras.utils.img_to_array(image, dtype="uint8")


def decode_or_none(path, size, mode="RGB", interpolation="bilinear"):
    try:
        return decode(path, size, interpolation)
    except Exception:  # PIL raises several types for broken files
        return None


def read_class_folders(root, classes, size, interpolation, reader):
    """(images uint8 (n, size, size, 3), labels int64, paths); `reader` names the decoding in the cache key."""
    decoder = functools.partial(decode_or_none, interpolation=interpolation)
    return load_image_classes(root, tuple(classes), size, mode="RGB", decoder=decoder, reader=reader)
