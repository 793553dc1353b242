"""LFW protocol readers on small synthetic files, and on the real ones when present."""

from __future__ import annotations

from pathlib import Path

import pytest

from maskgate.eval.lfw_protocol import Pair, read_pairs, read_people

# Two folds of two pairs per class; tabs and spaces both separate fields.
PAIRS = """2\t2
Ann_Lee\t1\t2
Bo_Ma 3 4
Ann_Lee\t1\tBo_Ma\t2
Cy_Nu 1 Ann_Lee 3
Dee_Ox\t1\t12
Dee_Ox\t2\t3
Eve_Po\t1\tDee_Ox\t1
Eve_Po\t2\tFox_Qi\t1

"""

PEOPLE = """2
2
Ann_Lee\t3
Bo_Ma\t4
3
Dee_Ox\t12
Eve_Po\t2
Fox_Qi\t1
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_read_pairs(tmp_path: Path) -> None:
    pairs = read_pairs(_write(tmp_path, "pairs.txt", PAIRS))
    assert len(pairs) == 8
    assert pairs[0] == Pair(0, "Ann_Lee", 1, "Ann_Lee", 2, True)
    assert pairs[3] == Pair(0, "Cy_Nu", 1, "Ann_Lee", 3, False)
    assert pairs[4] == Pair(1, "Dee_Ox", 1, "Dee_Ox", 12, True)
    assert [p.fold for p in pairs] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert [p.same for p in pairs] == [True, True, False, False] * 2


def test_pair_paths() -> None:
    pair = Pair(0, "Ann_Lee", 1, "Bo_Ma", 12, False)
    assert pair.paths(Path("/lfw")) == (
        Path("/lfw/images/Ann_Lee/Ann_Lee_0001.jpg"),
        Path("/lfw/images/Bo_Ma/Bo_Ma_0012.jpg"),
    )


def test_read_people(tmp_path: Path) -> None:
    folds = read_people(_write(tmp_path, "people.txt", PEOPLE))
    assert folds == [
        [("Ann_Lee", 3), ("Bo_Ma", 4)],
        [("Dee_Ox", 12), ("Eve_Po", 2), ("Fox_Qi", 1)],
    ]


def _replace_line(text: str, lineno: int, line: str | None) -> str:
    lines = text.splitlines()
    if line is None:
        del lines[lineno - 1]
    else:
        lines[lineno - 1] = line
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("lineno", "line", "where"),
    [
        (1, "2", ":1:"),  # header without the pairs per class
        (1, "2 x", ":1:"),
        (3, "Bo_Ma 3", ":3:"),  # a same pair with one index
        (4, "Ann_Lee 1 Bo_Ma", ":4:"),
        (5, "Cy_Nu 1 Cy_Nu 3", ":5:"),  # a different pair of one person
        (6, "Dee_Ox 0 12", ":6:"),  # indices are 1-based
        (7, "", ":7:"),  # blank line inside a fold
        (9, None, ":9:"),  # one pair short: the end of file comes early
    ],
)
def test_read_pairs_malformed(tmp_path: Path, lineno: int, line: str | None, where: str) -> None:
    path = _write(tmp_path, "pairs.txt", _replace_line(PAIRS, lineno, line))
    with pytest.raises(ValueError, match=where):
        read_pairs(path)


def test_read_pairs_extra_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "pairs.txt", PAIRS.rstrip("\n") + "\nGus_Re 1 2\n")
    with pytest.raises(ValueError, match=":10: unexpected extra line"):
        read_pairs(path)


@pytest.mark.parametrize(
    ("lineno", "line", "where"),
    [
        (1, "two", ":1:"),
        (2, "2 people", ":2:"),
        (3, "Ann_Lee", ":3:"),
        (4, "Bo_Ma -4", ":4:"),
        (5, "4", ":9:"),  # the fold claims one more person than the file holds
    ],
)
def test_read_people_malformed(tmp_path: Path, lineno: int, line: str | None, where: str) -> None:
    path = _write(tmp_path, "people.txt", _replace_line(PEOPLE, lineno, line))
    with pytest.raises(ValueError, match=where):
        read_people(path)


@pytest.mark.lfw
def test_real_lfw_files(lfw_dir: Path) -> None:
    pairs = read_pairs(lfw_dir / "pairs.txt")
    assert len(pairs) == 6000
    assert sum(p.same for p in pairs) == 3000
    assert sorted({p.fold for p in pairs}) == list(range(10))
    missing = [path for p in pairs for path in p.paths(lfw_dir) if not path.is_file()]
    assert not missing, f"{len(missing)} images missing, e.g. {missing[:3]}"

    people = read_people(lfw_dir / "people.txt")
    assert len(people) == 10
    for fold, listed in enumerate(people):
        names = {name for name, _ in listed}
        assert all(p.name_a in names and p.name_b in names for p in pairs if p.fold == fold)
