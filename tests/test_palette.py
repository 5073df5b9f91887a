"""The charts' colours: one palette, and within every colour mapping colours that readers with the common
colour-vision deficiencies tell apart.

Colour-vision deficiencies are simulated with the matrices of Machado, Oliveira and Fernandes (2009, severity 1:
protanopia, deuteranopia, tritanopia) applied in linear sRGB; two colours count as told apart when their CIELAB
distance (CIE76 Delta E) is at least MIN_DELTA_E under normal vision and under each simulation.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import labsupport as ls
from labsupport import charts

SIMULATIONS = {
    "normal vision": np.eye(3),
    "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "tritanopia": np.array([[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                            [0.004733, 0.691367, 0.303900]]),
}
MIN_DELTA_E = 20.0  # about the distance of two clearly different shades; the old red/green pair was 7.3 apart
MAPPINGS = {name: getattr(charts, name) for name in
            ("CATEGORY_COLORS", "REWARD_COLORS", "SIGN_COLORS", "CREDIT_COLORS", "RM_SOURCE_COLORS", "STAT_COLORS")}
SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
WHITE = np.array([0.95047, 1.0, 1.08883])  # D65


def linear_rgb(color: str) -> np.ndarray:
    """A "#rrggbb" colour in linear sRGB (components in [0, 1])."""
    c = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)]) / 255
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of a linear sRGB colour (clipped to the gamut)."""
    xyz = SRGB_TO_XYZ @ np.clip(rgb, 0, 1) / WHITE
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def delta_e(a: str, b: str, simulation: np.ndarray) -> float:
    """CIE76 distance of two colours as seen through ``simulation``."""
    return float(np.linalg.norm(lab(simulation @ linear_rgb(a)) - lab(simulation @ linear_rgb(b))))


def test_colour_science_against_known_values():
    """The conversion gives the textbook values: white L*=100, black 0, sRGB red (53.24, 80.09, 67.20); pure red
    and pure green, 170 apart to normal vision, are about 20 apart under deuteranopia (their classic confusion)."""
    assert lab(linear_rgb("#FFFFFF")) == pytest.approx([100, 0, 0], abs=0.05)
    assert lab(linear_rgb("#000000")) == pytest.approx([0, 0, 0], abs=1e-9)
    assert lab(linear_rgb("#FF0000")) == pytest.approx([53.24, 80.09, 67.20], abs=0.1)
    normal = delta_e("#FF0000", "#00FF00", SIMULATIONS["normal vision"])
    deutan = delta_e("#FF0000", "#00FF00", SIMULATIONS["deuteranopia"])
    assert normal > 150 and deutan < normal / 4


def test_every_colour_mapping_uses_the_palette():
    palette = set(charts.PALETTE.values())
    for name, mapping in MAPPINGS.items():
        assert set(mapping.values()) <= palette, f"{name} has colours outside charts.PALETTE: {mapping}"
    assert set(charts.SERIES_COLORS) <= palette and len(set(charts.SERIES_COLORS)) == len(charts.SERIES_COLORS)
    assert set(charts.CATEGORY_COLORS) == {"harmful", "benign", "beneficial", "unclassified"}


@pytest.mark.parametrize("name", sorted(MAPPINGS))
def test_colours_of_a_mapping_are_told_apart_with_colour_vision_deficiencies(name):
    too_close = [(f"{a}={mapping[a]}", f"{b}={mapping[b]}", seen, round(d, 1))
                 for mapping in [MAPPINGS[name]]
                 for a, b in itertools.combinations(mapping, 2)
                 for seen, matrix in SIMULATIONS.items()
                 if (d := delta_e(mapping[a], mapping[b], matrix)) < MIN_DELTA_E]
    assert not too_close, f"{name}: colours closer than Delta E {MIN_DELTA_E}: {too_close}"


def test_the_renderer_draws_other_nominal_encodings_in_the_series_colours():
    """Outputs and run labels (no explicit scale) take SERIES_COLORS, whose first colours (those of a chart of the
    toy's three outputs) are told apart as well."""
    assert charts.EMBED_OPTIONS["config"]["range"]["category"] == charts.SERIES_COLORS
    first = charts.SERIES_COLORS[:4]
    for seen, matrix in SIMULATIONS.items():
        assert min(delta_e(a, b, matrix) for a, b in itertools.combinations(first, 2)) >= MIN_DELTA_E, seen


def test_the_category_colours_and_orders_are_the_theorys_categories():
    """One list of categories: the colour map's keys, the table's row and column orders and theory's lists agree."""
    assert tuple(charts.CATEGORY_COLORS) == ls.theory.CATEGORIES
    assert tuple(charts.PREDICTED_ORDER) == ls.theory.CATEGORIES
    assert tuple(charts.MEASURED_ORDER) == ls.theory.MEASURED_CATEGORIES
