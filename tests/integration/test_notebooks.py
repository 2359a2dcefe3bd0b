"""The analyst notebooks run headless, top to bottom, without error (nbclient + ipykernel)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))
#: per-notebook budget, seconds (all three take well under a minute together on 2 cores)
TIMEOUT_S = 90

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")


def test_notebooks__are_present_and_stored_without_outputs():
    assert [p.name for p in NOTEBOOKS] == [
        "01_region_overview.ipynb",
        "02_farm_deep_dive.ipynb",
        "03_portfolio_risk.ipynb",
    ]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code and all(not c.outputs and c.execution_count is None for c in code), path.name


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook__executes_headless_without_error(
    path, sample_region_pristine, monkeypatch, tmp_path
):
    # the notebooks make the same small sample region themselves; the test hands over the
    # session's copy (seed 3, 80 parcels, 256 px) to save that step
    monkeypatch.setenv("AGRIRISK_SAMPLE_REGION", str(sample_region_pristine))
    # each notebook makes its work folder with tempfile.mkdtemp and leaves it for the analyst;
    # the kernel inherits TMPDIR, so under test that folder lands in pytest's tmp_path and is
    # removed with it (left in /tmp, 40 MB a notebook a run filled the CI machine's disk)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    t0 = time.monotonic()
    client.execute()  # raises CellExecutionError naming the failing cell
    elapsed = time.monotonic() - t0
    figures = sum(
        1
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if "image/png" in o.get("data", {})
    )
    assert figures >= 3, f"{path.name}: only {figures} figures drawn"
    assert elapsed < TIMEOUT_S
