"""Columnar traces: files in and out, and errors that name the file and the row or line."""
from __future__ import annotations

import numpy as np
import pytest

from kvexp.trace import DEFAULT_SCALARS, PageTable, Trace, TraceError


def sample() -> Trace:
    pages = PageTable(
        n_scalars=np.array([10, 20, 30]), layer=np.array([0, 1, 2]), head_group=np.array([3, 4, 5]),
        token_start=np.array([0, 16, 32]), token_end=np.array([16, 32, 48]), seq_id=np.array([7, 7, 8]),
    )
    return Trace([0, 0, 1, 2], [2, 0, 1, 2], [0, 1, 0, 0], pages, meta={"workload": "hand", "seed": 3})


def test_npz_round_trip_keeps_every_column_and_meta(tmp_path):
    tr = sample()
    path = tr.save(tmp_path / "t.npz")
    back = Trace.load(path)
    for col in ("step", "page", "op"):
        assert np.array_equal(getattr(back, col), getattr(tr, col))
    assert (back.page.dtype, back.op.dtype, back.step.dtype) == (np.int32, np.uint8, np.int64)
    for col in PageTable.COLUMNS:
        assert np.array_equal(getattr(back.pages, col), getattr(tr.pages, col)), col
    assert back.meta == {"workload": "hand", "seed": 3}
    assert back.source == str(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.npz"]  # no temp file left


def write(tmp_path, text: str, name: str = "t.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_import(tmp_path):
    path = write(tmp_path, "step,page,op,scalars\n0,2,,64\n0,0,write,\n1,2,READ,64\n\n3,4,read,\n")
    tr = Trace.load(path)
    assert tr.step.tolist() == [0, 0, 1, 3]
    assert tr.page.tolist() == [2, 0, 2, 4]
    assert tr.op.tolist() == [0, 1, 0, 0]  # an empty op means read
    assert tr.pages.n_scalars.tolist() == [DEFAULT_SCALARS, DEFAULT_SCALARS, 64, DEFAULT_SCALARS, DEFAULT_SCALARS]
    minimal = Trace.from_csv(write(tmp_path, "page, step\n1,5\n", "m.csv"))  # no op column, spaces in header
    assert (minimal.step.tolist(), minimal.page.tolist(), minimal.op.tolist()) == ([5], [1], [0])


@pytest.mark.parametrize("text, message", [
    ("step,page\n0,1\n0,-3\n", "line 3: page id -3 must be >= 0"),
    ("step,page,scalars\n0,1,0\n", "line 2: scalars expected > 0, got 0"),
    ("step,page,scalars\n0,1,-5\n", "line 2: scalars expected > 0, got -5"),
    ("step,page,scalars\n0,1,8\n1,1,9\n", "line 3: page 1 has scalars 9, earlier 8"),
    ("step,page\n0,1\n2,1\n\n1,1\n", "line 5: step 1 goes backwards (previous 2)"),
    ("step,page,op\n0,1,read\n0,1,erase\n", "line 3: op 'erase' unknown"),
    ("step,page\n0,x\n", "line 2: step and page must be integers"),
    ("step,page,scalars\n0,1,big\n", "line 2: scalars must be an integer"),
    ("step,page\n0\n", "line 2: step and page must be integers"),
    ("step,pages\n0,1\n", "line 1: header must name a 'page' column"),
    ("", "file is empty"),
    ("step,page\n", "has a header but no rows"),
])
def test_csv_errors_name_file_and_line(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(TraceError) as err:
        Trace.load(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_files(tmp_path):
    for name in ("gone.npz", "gone.csv"):
        with pytest.raises(TraceError, match=f"{tmp_path / name}: trace file not found"):
            Trace.load(tmp_path / name)
    with pytest.raises(TraceError, match="gone.csv: trace file not found"):
        Trace.from_csv(tmp_path / "gone.csv")


def save_arrays(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    base = dict(step=np.array([0, 1, 2]), page=np.array([0, 1, 0]), op=np.array([0, 0, 0]),
                pages_n_scalars=np.array([8, 8]))
    base.update(arrays)
    np.savez(path, **{k: v for k, v in base.items() if v is not None})
    return path


@pytest.mark.parametrize("arrays, message", [
    (dict(page=np.array([0, 2, 0])), "row 1: page id 2 out of range [0, 2)"),
    (dict(page=np.array([0, -1, 0])), "row 1: page id -1 out of range [0, 2)"),
    (dict(page=np.array([0, 2**31, 0])), "row 1: page id 2147483648 out of range"),  # no int32 wrap-around
    (dict(step=np.array([0, 5, 4])), "row 2: step 4 goes backwards (previous 5)"),
    (dict(op=np.array([0, 0, 7])), "row 2: op code 7 unknown"),
    (dict(op=np.array([0, 256, 0])), "row 1: op code 256 unknown"),  # no uint8 wrap-around
    (dict(page=np.array([0, 0.5, 1])), "row 1: column 'page' expected an integer, got 0.5"),
    (dict(step=np.array([0, 1])), "columns step/page/op have different lengths"),
    (dict(pages_n_scalars=np.array([8, 0])), "page 1: n_scalars expected > 0, got 0"),
    (dict(page=None), "not a kvexp trace, missing arrays ['page']"),
])
def test_npz_errors_name_file_and_row(tmp_path, arrays, message):
    path = save_arrays(tmp_path, **arrays)
    with pytest.raises(TraceError) as err:
        Trace.load(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


def test_not_a_trace(tmp_path):
    text, npy = tmp_path / "a.npz", tmp_path / "b.npz"
    text.write_text("hello")
    with open(npy, "wb") as f:  # a lone .npy array under an .npz name
        np.save(f, np.arange(3))
    for path in (text, npy):
        with pytest.raises(TraceError, match=f"^{path}: not a kvexp trace"):
            Trace.load(path)


def test_in_memory_errors_name_the_source():
    with pytest.raises(TraceError, match="^<memory>: row 1: page id 9 out of range"):
        Trace([0, 1], [0, 9], [0, 0], PageTable.uniform(2))
    with pytest.raises(TraceError, match=r"^page table: page 0: n_scalars expected > 0"):
        PageTable(np.array([-4, 2]))


def test_next_use_and_first_use_by_hand():
    #           pos: 0  1  2  3  4  5
    tr = Trace(range(6), [3, 1, 3, 3, 0, 1], [0] * 6, PageTable.uniform(5))
    assert tr.next_use.tolist() == [2, 5, 3, 6, 6, 6]
    assert tr.first_use.tolist() == [4, 1, 6, 0, 6]  # page 2 never appears: len(trace)
