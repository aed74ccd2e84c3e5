import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INSTALLED_AS = {"fmat": "fmat", "envs": "fmat.envs", "baselines": "fmat.baselines"}


def test_every_source_package_is_installed():
    """setup.cfg lists packages explicitly (envs/ and baselines/ are remapped), so a new
    subpackage must be added there or a non-editable install would lack it."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    found = set()
    for top, name in INSTALLED_AS.items():
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top).parts
            found.add(".".join((name, *rel)))
    assert found == listed
