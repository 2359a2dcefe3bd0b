"""What a command loads: a cron monitoring run and ``--help`` import only what they use."""

from __future__ import annotations

import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


def test_help_and_monitoring_run_do_not_load_the_classifier_or_the_generator():
    loaded = _modules_after(
        "import agririsk.cli, agririsk.monitoring.run\nagririsk.cli.build_parser()"
    )
    assert "agririsk.monitoring.run" in loaded
    # scikit-learn (the crop classifier, ~0.9 s) only when the crops are checked; the sample
    # generator (scipy.stats, ~0.8 s) only for sample-region; scipy.ndimage only for n-d masks
    for heavy in ("sklearn", "agririsk.sample._region", "scipy.stats", "scipy.ndimage"):
        assert heavy not in loaded, heavy


def test_lazy_package_names_resolve():
    import agririsk.crop_models as cm
    import agririsk.sample as sample
    import agririsk.weather as weather

    for package in (cm, weather):
        for name in package.__all__:
            assert getattr(package, name) is not None, name
    assert callable(sample.make_sample_region)
    assert cm.DEFAULT_LAMBDA > 0


def test_a_function_named_like_its_submodule_stays_the_function():
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import agririsk.crop_models.phenology\n"
            "from agririsk.crop_models import phenology\n"
            "print(callable(phenology))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "True"
