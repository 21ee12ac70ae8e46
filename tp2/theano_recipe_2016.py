"""The author's 2016 recipe for Exercise 1, as his code ran it (`theano_tp2.py --protocol 2016`).

Read from original-code/tp2: theano_tp2.py, logRegression.py, loadPlanesvsBikes.py,
loadImages.py and dataPartition.py. `CHANGES` are the fields of theano_tp2's Settings that his
recipe sets otherwise, `experiments_2016` his training of Table 1's four models,
`normal_initial_parameters` his starting weights, and `ABLATIONS_2016` one change each to his
recipe, to measure what explains the distance to the revised protocol.
"""

import numpy as np

# Minibatch models draw 10 images with replacement per step and stop when the mean cross-entropy
# changes by less than 0.1% (or after 500 steps); their "train accuracy" is that of the last minibatch of 10.
MINIBATCH_2016 = dict(batch_size=10, learning_rate=0.1, epochs=500, stop_change=0.001)
FULL_BATCH_2016 = dict(learning_rate=0.1, epochs=500)  # gradient descent: 500 steps at 0.1

CHANGES = dict(
    protocol="2016",
    classes=("Motorbikes", "airplanes"),  # loadPlanesvsBikes.py: Motorbikes are class 0
    color="RGB",  # 28 x 28 x 3 = 2,352 features
    resize="rescale-pad",
    storage_dtype="int8",  # loadImages.py stores the [0, 1] floats in np.byte: all but exact 1.0 become 0
    standardise=False,
    dtype="float64",  # T.dmatrix / T.dvector
    init="normal",  # rng.randn for every weight matrix, the hidden layer's too; biases 0
    loss_form="sigmoid",
    split="shuffle",  # dataPartition.py: shuffle all, the first round(0.2 N) are the test split
    seeds=(750, 2, 123, 489, 1000, 656, 22, 123, 159, 953),  # as listed: 123 twice, so two repetitions repeat
    repetitions=10,
    sd_ddof=0,  # np.std's default
    random_check=dict(n_train=320, n_test=80, features=784, steps=50, learning_rate=0.1),  # 400 samples, 20% test
)


def experiments_2016(experiments):
    """Table 1's experiments ({name: spec}) trained as his code did: full batch with
    FULL_BATCH_2016, the three minibatch models with MINIBATCH_2016."""
    return {name: dict(spec, **(MINIBATCH_2016 if spec["batch_size"] else FULL_BATCH_2016))
            for name, spec in experiments.items()}


def normal_initial_parameters(n_features, hidden, hidden_units, rng, dtype):
    """logRegression.py's starting weights: N(0, 1) drawn from the RandomState `rng` in his order
    (hidden weights, a discarded draw for the hidden biases, output weights); biases 0."""
    if hidden is None:
        return {"w": rng.randn(n_features), "b": np.zeros((), dtype)}
    w1, b1 = rng.randn(n_features, hidden_units), rng.randn(hidden_units) * 0.0
    return {"w1": w1, "b1": b1, "w": rng.randn(hidden_units), "b": np.zeros((), dtype)}


ABLATIONS_2016 = {
    "float features (no int8 storage)": dict(storage_dtype=None),
    "grayscale (784 features)": dict(color="L"),
    "small initial weights (zeros and Glorot)": dict(init="tutorial"),
    "stratified split": dict(split="stratified"),
}
