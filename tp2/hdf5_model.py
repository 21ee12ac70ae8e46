"""Exercise 2c's machinery: a Keras model in HDF5, read back whole (optimizer state included)
and measured (`measure` gives the numbers behind h5_answer.md), and drawn by plot_model
(`write_figure2`: Figure 2, or its Graphviz source when `dot` is missing)."""

import shutil
import tempfile
import time
import zipfile
from pathlib import Path

import lazy_loader
import numpy as np

from tp2 import grid_store
from tp2.keras_setup import load_keras
from tp2.results import atomic_write, write_text

h5py = lazy_loader.load("h5py")
pd = lazy_loader.load("pandas")  # imported on first use, so that --help answers at once


def load_model_h5(path):
    """`keras.models.load_model` of an .h5 file, with the optimizer state the file holds.

    Keras 3's legacy HDF5 loader builds the optimizer on the model's own variables,
    which for a Sequential model are none, so it drops the saved Adam moments with a
    warning and training would restart its optimizer (seen with keras 3.15). The state is
    in the file, group `optimizer_weights`: read it with h5py and give it to a rebuilt
    optimizer, in the order of its `weight_names` attribute.
    """
    model = load_keras().models.load_model(path)
    with h5py.File(path, "r") as h5:
        if "optimizer_weights" not in h5:
            return model
        group = h5["optimizer_weights"]
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs["weight_names"]]
        values = [group[name][()] for name in names]
    if len(model.optimizer.variables) != len(values):
        optimizer = type(model.optimizer).from_config(model.optimizer.get_config())
        optimizer.build(model.trainable_variables)
        optimizer.set_weights(values)
        model.compile(optimizer=optimizer, loss=model.loss, metrics=["accuracy"])
    return model


def h5_groups(path):
    """'name (kind)' for every group and dataset in an HDF5 file, and the root attributes."""
    items = []
    with h5py.File(path, "r") as h5:
        h5.visititems(lambda name, obj: items.append(
            f"{name} {tuple(obj.shape)} {obj.dtype}" if isinstance(obj, h5py.Dataset) else f"{name}/"))
        return items, sorted(h5.attrs.keys())


def first_kernel(path):
    """The first Dense kernel read straight from the file with h5py, without Keras."""
    with h5py.File(path, "r") as h5:
        found = []
        h5["model_weights"].visititems(
            lambda name, obj: found.append((name, obj)) if isinstance(obj, h5py.Dataset) and obj.ndim == 2 else None)
        name, dataset = found[0]
        start = time.perf_counter()
        kernel = dataset[()]
        return f"model_weights/{name}", kernel, time.perf_counter() - start


def measure(model, model_path, rows, definition, x_test, grid_attributes):
    """Sizes, contents and timings of the model file, and of the grid's `rows` as HDF5 (plain,
    gzip) and CSV: the numbers behind h5_answer.md (written to h5_facts.json)."""
    facts = {"model_size": model_path.stat().st_size, "params": model.count_params()}
    facts["weights_bytes"] = sum(int(np.prod(w.shape)) * 4 for w in model.weights)
    facts["optimizer_bytes"] = sum(int(np.prod(v.shape)) * 4 for v in model.optimizer.variables)
    facts["items"], facts["attributes"] = h5_groups(model_path)
    facts["kernel_name"], kernel, facts["kernel_read_s"] = first_kernel(model_path)
    facts["kernel_shape"] = kernel.shape
    facts["kernel_matches"] = any(np.array_equal(kernel, w) for w in model.get_weights())
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        times = []
        for _ in range(3):
            start = time.perf_counter()
            model.save(scratch / "again.h5")
            save_s = time.perf_counter() - start
            start = time.perf_counter()
            loaded = load_model_h5(scratch / "again.h5")
            times.append((save_s, time.perf_counter() - start))
        facts["save_s"], facts["load_s"] = (float(np.median(column)) for column in zip(*times))
        facts["same_predictions"] = bool(np.allclose(
            model.predict(x_test, verbose=0), loaded.predict(x_test, verbose=0), atol=1e-6))
        model.save(scratch / "model.keras")
        facts["keras_size"] = (scratch / "model.keras").stat().st_size
        with zipfile.ZipFile(scratch / "model.keras") as archive:
            facts["keras_members"] = [f"{i.filename} ({i.file_size} B)" for i in archive.infolist()]
        grid_store.write(scratch / "plain.h5", rows, definition, **grid_attributes)
        grid_store.write(scratch / "gzip.h5", rows, definition, compression="gzip", **grid_attributes)
        facts["grid_plain"] = (scratch / "plain.h5").stat().st_size
        facts["grid_gzip"] = (scratch / "gzip.h5").stat().st_size
        facts["grid_csv"] = len(pd.DataFrame(rows).to_csv(index=False).encode())
    facts["grid_rows"] = len(rows)
    return facts


def model_graph(model, title):
    """plot_model's graph of `model` with each layer's shapes and activation, titled `title`."""
    graph = load_keras().utils.model_to_dot(model, show_shapes=True, show_layer_activations=True)
    graph.set("label", title)
    graph.set("labelloc", "t")
    return graph


def write_figure2(model, results, final=None, title="Figure 2"):
    """Figure 2 as PNG; without Graphviz's `dot`, the .dot source and one line on getting the PNG
    (naming the files in `final`, the folder they end up in)."""
    png, graph = results / "figure2_model.png", model_graph(model, title)
    if shutil.which("dot") is not None:
        try:
            return atomic_write(png, lambda temp: graph.write(temp, format="png"))
        except (ImportError, OSError, AssertionError):  # pydot asserts when dot fails
            pass
    dot = write_text(results / "figure2_model.dot", graph.to_string())
    final = final or results
    print(f"note: Graphviz `dot` not found; wrote {final / dot.name}; install Graphviz and run "
          f"`dot -Tpng {final / dot.name} -o {final / png.name}` for the PNG", flush=True)
    return dot
