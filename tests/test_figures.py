"""The shared figures draw what their docstrings say: means, sample SDs, every seed."""

import numpy as np
import pytest

from tp2.figures import curves_and_dots_figure
from tp2.results import pyplot


@pytest.fixture
def two_experiments():
    rng = np.random.default_rng(3)
    curves = [rng.uniform(0.9, 1.0, (3, 4)), rng.uniform(0.8, 0.9, (5, 4))]  # seeds x epochs
    dots = [rng.uniform(0.9, 1.0, 3), rng.uniform(0.8, 0.9, 5)]  # one final value per seed
    figure = curves_and_dots_figure(curves, dots, ["first", "second"], ("val", "left title"),
                                    ("test", "right title"), "the suptitle")
    yield curves, dots, figure
    pyplot().close(figure)


def test_curves_are_the_mean_per_epoch_with_a_sample_sd_band(two_experiments):
    curves, _, figure = two_experiments
    left = figure.axes[0]
    for line, band, runs in zip(left.get_lines(), left.collections, curves):
        assert line.get_xdata().tolist() == [1, 2, 3, 4]
        assert line.get_ydata() == pytest.approx(runs.mean(axis=0))
        vertices = band.get_paths()[0].vertices
        sd = runs.std(axis=0, ddof=1)
        assert vertices[:, 1].min() == pytest.approx((runs.mean(axis=0) - sd).min())
        assert vertices[:, 1].max() == pytest.approx((runs.mean(axis=0) + sd).max())
    assert [text.get_text() for text in left.get_legend().get_texts()] == ["first", "second"]
    assert (left.get_xlabel(), left.get_ylabel(), left.get_title()) == ("epoch", "val", "left title")


def test_every_seed_is_a_dot_and_the_bar_is_the_mean_and_sample_sd(two_experiments):
    _, dots, figure = two_experiments
    right = figure.axes[1]
    scatters = [c for c in right.collections if len(c.get_offsets()) > 1]
    assert [len(s.get_offsets()) for s in scatters] == [3, 5]
    for row, (scatter, finals) in enumerate(zip(scatters, dots)):
        assert np.asarray(scatter.get_offsets())[:, 0] == pytest.approx(finals)
        assert set(np.asarray(scatter.get_offsets())[:, 1]) == {row}
    bars = right.containers  # one errorbar per experiment: (mean point, caps, the horizontal bar)
    assert [bar.lines[0].get_xdata()[0] for bar in bars] == pytest.approx([finals.mean() for finals in dots])
    assert [bar.lines[0].get_ydata()[0] for bar in bars] == [0, 1]
    widths = [np.ptp(bar.lines[2][0].get_segments()[0][:, 0]) for bar in bars]
    assert widths == pytest.approx([2 * finals.std(ddof=1) for finals in dots])
    assert [t.get_text() for t in right.get_yticklabels()] == ["first", "second"]
    assert figure.get_suptitle() == "the suptitle"
