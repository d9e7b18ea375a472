"""text_data.corpus: a binary file is called binary (no conversion advice); text in another encoding gets the
iconv hint with the encoding to convert from."""

from __future__ import annotations

import gzip
import random

import pytest

from seqgan.base.errors import UserError
from text_data.corpus import binary_kind, load_lines

TEXT = "héllo wörld, ça va\nsecond line\n"
_rng = random.Random(0)
RANDOM_BYTES = bytes(_rng.randrange(1, 256) for _ in range(3000))  # no NUL byte at all


@pytest.mark.parametrize("name, data, kind", ids=["gz", "png", "nul", "random"], argvalues=[
    ("gz", gzip.compress(TEXT.encode() * 50, mtime=0), "gzip-compressed data"),
    ("png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "a PNG image"),
    ("nul", b"abc\x00\x01\x02", "binary data with NUL bytes"),
    # random bytes without a single NUL (the case that used to get the iconv advice)
    ("random", RANDOM_BYTES, "binary data, full of control bytes"),
])
def test_binary_files_get_no_conversion_advice(tmp_path, name, data, kind):
    path = tmp_path / f"{name}.txt"
    path.write_bytes(data)
    assert binary_kind(data) == kind
    with pytest.raises(UserError) as err:
        load_lines(path)
    message = str(err.value)
    assert f"is not a text file (it looks like {kind})" in message
    assert "iconv" not in message and "convert" not in message and "\n" not in message


@pytest.mark.parametrize("encoding, source", [("latin-1", "latin1"), ("cp1252", "latin1"), ("utf-16", "utf-16")])
def test_text_in_another_encoding_gets_the_iconv_hint(tmp_path, encoding, source):
    path = tmp_path / "old.txt"
    data = TEXT.encode(encoding)
    path.write_bytes(data)
    assert binary_kind(data) is None
    with pytest.raises(UserError, match=rf"not valid UTF-8 .* `iconv -f {source} -t utf-8 old.txt > old.utf8.txt`"):
        load_lines(path)
    # the advice works: the converted file reads back as the original text
    path.write_text(data.decode(encoding), encoding="utf-8")
    assert load_lines(path) == ["héllo wörld, ça va", "second line"]


def test_utf8_text_that_starts_like_a_magic_number_is_still_text(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("BZh is how bzip2 files start\nPK too\n", encoding="utf-8")
    assert load_lines(path) == ["BZh is how bzip2 files start", "PK too"]
