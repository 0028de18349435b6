"""DeepFaceLab pickles are read with arrays and plain data only; a payload that would run code is refused."""

from __future__ import annotations

import collections
import pickle
from pathlib import Path

import numpy as np
import pytest

from i2i.errors import I2IError
from i2i.io import dfl_pickle

FIXTURES = Path(__file__).parents[1] / "fixtures" / "saehd"


class _Call:
    """Pickles as a call of `module.name(*args)`, the way a malicious file would be written."""

    def __init__(self, module: str, name: str, *args: object) -> None:
        self.module, self.name, self.args = module, name, args

    def __reduce__(self):
        target = __import__(self.module, fromlist=[self.name])
        return getattr(target, self.name), self.args


def _payloads(marker: Path) -> dict[str, bytes]:
    """Pickles that would touch `marker`, keyed by the callable they name."""
    shell = f"touch {marker}"
    python = f"open({str(marker)!r}, 'w').write('ran')"
    return {
        # written by hand: pickle.dumps would name os.system by its home module, posix
        "os.system": b"cos\nsystem\n(" + f"V{shell}\n".encode() + b"tR.",
        "posix.system": pickle.dumps({"w": _Call("posix", "system", shell)}, protocol=4),
        "builtins.eval": pickle.dumps([_Call("builtins", "eval", python)], protocol=3),
        "builtins.exec": pickle.dumps(_Call("builtins", "exec", python), protocol=4),
        "subprocess.call": pickle.dumps(_Call("subprocess", "call", ["touch", str(marker)]), protocol=5),
    }


def test_a_real_dfl_part_file_loads() -> None:
    weights = dfl_pickle.load(FIXTURES / "df_ud_32" / "new_SAEHD_encoder.npy")
    assert weights["down1/downs_0/conv1/weight:0"].shape == (5, 5, 3, 4)
    assert weights["down1/downs_3/conv1/bias:0"].dtype == np.float32
    data = dfl_pickle.load(FIXTURES / "liae_ud_32" / "new_SAEHD_data.dat")
    assert data["options"]["archi"] == "liae-ud"
    assert data["options"]["resolution"] == 32


def test_plain_data_numpy_scalars_and_ordered_dicts_round_trip() -> None:
    value = {
        "a": [1, 2.5, True, None, "s", b"b"],
        "t": (np.float32(1.5), np.int64(3)),
        "o": collections.OrderedDict(x=np.arange(6, dtype=np.float16).reshape(2, 3)),
    }
    for protocol in (2, 4, 5):
        back = dfl_pickle.loads(pickle.dumps(value, protocol=protocol), "value")
        assert back["a"] == value["a"]
        assert back["t"] == value["t"]
        np.testing.assert_array_equal(back["o"]["x"], value["o"]["x"])


@pytest.mark.parametrize(
    "callee", ["os.system", "posix.system", "builtins.eval", "builtins.exec", "subprocess.call"]
)
def test_a_payload_is_refused_with_one_line_and_not_executed(tmp_path: Path, callee: str) -> None:
    marker = tmp_path / "executed"
    payload = _payloads(marker)[callee]
    with pytest.raises(I2IError) as err:
        dfl_pickle.loads(payload, "model.npy")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("model.npy: refused: the pickle would call ")
    assert callee in message
    assert not marker.exists()


@pytest.mark.parametrize("callee", ["os.system", "builtins.exec"])
def test_the_payload_would_really_run_without_the_guard(tmp_path: Path, callee: str) -> None:
    marker = tmp_path / "executed"
    pickle.loads(_payloads(marker)[callee])  # the unguarded control: the payloads above are live
    assert marker.exists()


def test_a_planted_file_is_refused_by_path(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    planted = tmp_path / "new_SAEHD_encoder.npy"
    planted.write_bytes(_payloads(marker)["os.system"])
    with pytest.raises(I2IError, match="refused: the pickle would call"):
        dfl_pickle.load(planted)
    assert not marker.exists()


def test_damaged_and_empty_files_are_one_line_errors(tmp_path: Path) -> None:
    real = (FIXTURES / "df_ud_32" / "new_SAEHD_inter.npy").read_bytes()
    with pytest.raises(I2IError, match="not a readable DeepFaceLab pickle"):
        dfl_pickle.loads(real[: len(real) // 2], "half.npy")
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    with pytest.raises(I2IError, match="empty"):
        dfl_pickle.load(empty)
