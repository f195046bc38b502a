"""The backend is registered on `import tensorforge`, and through the package's
torch_dynamo_backends entry point without any import."""

import importlib.metadata
import subprocess
import sys

import pytest
import torch

import tensorforge  # noqa: F401


def test_registered_on_import():
    assert "tensorforge" in torch._dynamo.list_backends(exclude_tags=())


def _entry_point_installed() -> bool:
    return any(ep.name == "tensorforge" for ep in importlib.metadata.entry_points(group="torch_dynamo_backends"))


@pytest.mark.skipif(not _entry_point_installed(), reason="the package is not pip-installed here (no entry-point "
                                                         "metadata), as in scripts/dev-build.sh checkouts")
def test_entry_point_works_without_import():
    code = ("import sys, torch\n"
            "f = torch.compile(lambda x: torch.relu(x) * 2 + 1, backend='tensorforge', options={'min_block_size': 1})\n"
            "x = torch.randn(5)\n"
            "assert torch.allclose(f(x), torch.relu(x) * 2 + 1)\n"
            "assert 'tensorforge' in sys.modules\n"
            "from tensorforge.dynamo import STATS\n"
            "assert STATS['engines'] == 1, STATS\n")
    subprocess.run([sys.executable, "-c", code], check=True)
