"""Network-wide statistics as the nodes and the server make them (each hospital adds its share of
Gaussian noise, the sum is released): against the pooled truth, on FLamby's four heart sites and
a Dirichlet split of diabetes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medfed.analytics import local, noise
from medfed.analytics.query import Query, layout
from medfed.analytics.release import NoiseOnSum, release, site_differences
from medfed.core.catalog import get_disease
from medfed.ml.datasets import LabelledData, load_dataset
from medfed.simulation import partition

TRIALS = 400


def _sites(name: str, datasets_dir: Path) -> list[list[tuple[dict, int]]]:
    spec = get_disease(name)
    data: LabelledData = load_dataset(spec, datasets_dir)
    if name == "heart":
        split = partition.natural(data.sites)
    else:
        split = partition.dirichlet(data.labels, 6, 0.5, np.random.default_rng(11))
    return [[(data.rows[i], int(data.labels[i])) for i in indices] for indices in split.values()]


class Network:
    """The sites' exact answers to one query, computed once; each release draws fresh noise."""

    def __init__(self, query: Query, sites: list) -> None:
        spec = get_disease(query.disease)
        self.query, self.shape = query, layout(spec, query)
        self.plan = noise.plan(query.mechanism, query.epsilon, query.delta, self.shape.touched)
        self.exact = [
            local.scaled(self.shape, local.statistics(spec, query, self.shape, rows))
            for rows in sites
        ]

    def release(self, rng: np.random.Generator, min_cell: int = 10) -> list:
        t = len(self.exact)  # each adds 1/t of the variance: the sum carries one full draw
        total = sum(e + noise.draw(self.plan, self.shape.size, rng, 1 / t) for e in self.exact)
        return release(self.query, self.shape, total, NoiseOnSum(self.plan, 1.0), min_cell)


def _released(query: Query, sites: list, rng: np.random.Generator, min_cell: int = 10) -> list:
    return Network(query, sites).release(rng, min_cell)


def _truth(query: Query, sites: list) -> np.ndarray:
    spec = get_disease(query.disease)
    shape = layout(spec, query)
    return local.statistics(spec, query, shape, [row for rows in sites for row in rows])


@pytest.mark.parametrize("disease", ["heart", "diabetes"])
def test_counts_and_means_cover_the_pooled_truth_as_stated(
    disease: str, datasets_dir: Path
) -> None:
    sites = _sites(disease, datasets_dir)
    rng = np.random.default_rng(2026)
    feature = "age"
    count = Query(disease, "count", epsilon=0.5)
    mean = Query(disease, "mean", feature=feature, epsilon=1.0)
    true_rows = _truth(count, sites)[0]
    true_present, true_offset, _ = _truth(mean, sites)  # summed about the range's middle
    low, high = get_disease(disease).feature(feature).range or (0, 0)
    true_mean = (low + high) / 2 + true_offset / true_present
    counts, means = Network(count, sites), Network(mean, sites)
    hits = {"count": 0, "mean": 0}
    for _ in range(TRIALS):
        (counted,) = counts.release(rng)
        hits["count"] += abs(counted["rows"] - true_rows) <= counted["dp_error"]
        (averaged,) = means.release(rng)
        hits["mean"] += abs(averaged["mean"] - true_mean) <= averaged["dp_error"]
    for kind, hit in hits.items():  # 95 % intervals: 400 trials land in [0.92, 0.98]
        assert 0.92 <= hit / TRIALS <= 0.98, (kind, hit / TRIALS)
    assert counted["dp_error"] < 20 and averaged["dp_error"] < 1.2  # useful, not just true


def test_small_cells_never_appear_and_bins_under_the_threshold_are_withheld(
    datasets_dir: Path,
) -> None:
    sites = _sites("heart", datasets_dir)
    rng = np.random.default_rng(5)
    # Resting ECG by chest pain: some cells are tiny at the four sites together.
    query = Query("heart", "prevalence", breakdown="resting_ecg", epsilon=1.0)
    truth = _truth(query, sites).reshape(-1, 2)[:, 0]
    network = Network(query, sites)
    for _ in range(50):
        cells = network.release(rng, min_cell=25)
        for cell, true_rows in zip(cells, truth, strict=True):
            if cell["suppressed"]:
                assert set(cell) == {"cell", "label", "suppressed"}  # nothing else of it leaves
            else:
                assert cell["rows"] >= 25
            if true_rows < 5:  # far under the threshold: never released
                assert cell["suppressed"]
    histogram = Query("heart", "histogram", feature="age", bins=(20, 30, 40, 50, 60, 70, 80))
    (released,) = _released(histogram, sites, rng, min_cell=10)
    counts = [b["count"] for b in released["bins"]]
    assert counts[0] is None  # 20 to 30: a handful of patients
    assert all(c is None or c >= 10 for c in counts)


def test_quantiles_and_prevalence_read_like_the_pooled_data(datasets_dir: Path) -> None:
    sites = _sites("heart", datasets_dir)
    rng = np.random.default_rng(9)
    quantiles = Query("heart", "quantiles", feature="age", epsilon=2.0, quantiles=(0.25, 0.5, 0.75))
    (released,) = _released(quantiles, sites, rng)
    ages = np.asarray([r["age"] for rows in sites for r, _ in rows if r["age"] is not None])
    for q, value in released["quantiles"].items():
        assert abs(value - np.quantile(ages, float(q))) <= 2.5  # bins of 4.6 years
    prevalence = Query("heart", "prevalence", epsilon=1.0)
    (cell,) = _released(prevalence, sites, rng)
    (outcome,) = cell["outcomes"]
    labels = [label for rows in sites for _, label in rows]
    truth = float(np.mean(labels))
    assert abs(outcome["prevalence"] - truth) <= 3 * outcome["dp_error"] + 1e-9
    low, high = outcome["ci95"]
    assert low < truth < high and high - low < 0.1


def test_what_a_hospital_sends_is_its_exact_figures_plus_its_noise_share(
    datasets_dir: Path,
) -> None:
    rows = _sites("heart", datasets_dir)[0]
    spec = get_disease("heart")
    query = Query("heart", "mean", feature="cholesterol", breakdown="sex")
    shape = layout(spec, query)
    plan = noise.plan(noise.GAUSSIAN, 1.0, 1e-6, shape.touched)
    exact = local.scaled(shape, local.statistics(spec, query, shape, rows))
    sent = local.noisy_answer(spec, query, shape, rows, plan, np.random.default_rng(1), 1 / 4)
    expected = exact + noise.draw(plan, shape.size, np.random.default_rng(1), 1 / 4)
    assert np.allclose(sent, expected) and not np.allclose(sent, exact)
    # Cholesterol is clipped to its range (80 to 700 mg/dL), then summed about its middle.
    present, total, squares = local.statistics(spec, query, shape, rows)[:3]
    assert abs(total) <= 310 * present and squares <= 310**2 * present


def test_how_different_each_site_is_reads_through_the_noise(datasets_dir: Path) -> None:
    sites = _sites("heart", datasets_dir)
    spec = get_disease("heart")
    query = Query("heart", "histogram", feature="age", bins=tuple(range(20, 90, 10)), epsilon=1.0)
    shape = layout(spec, query)
    plan = noise.plan(query.mechanism, query.epsilon, query.delta, shape.touched)
    exact = {str(i): local.statistics(spec, query, shape, rows) for i, rows in enumerate(sites)}
    truth = site_differences(exact)
    rng = np.random.default_rng(4)
    noisy = site_differences(  # each site's own release carries all the noise (share 1)
        {name: h + noise.draw(plan, shape.size, rng) for name, h in exact.items()}
    )
    assert all(0 <= value <= 1 for value in truth.values())
    for name in truth:
        assert abs(noisy[name] - truth[name]) < 0.05, (name, noisy[name], truth[name])
    # Budapest's younger patients (site 1, mean age 48) and Long Beach's older ones (site 3, 59)
    # stand out from the rest, in the noisy reading too; Cleveland's are the most typical.
    for reading in (truth, noisy):
        ranked = sorted(reading, key=reading.__getitem__)
        assert set(ranked[-2:]) == {"1", "3"} and ranked[0] == "0"
    same = site_differences({"a": exact["0"], "b": exact["0"]})
    assert same == {"a": 0.0, "b": 0.0}
    with pytest.raises(ValueError, match="at least two"):
        site_differences({"a": exact["0"]})
