import numpy as np
import pytest

from ensemble import patterns


def test_vowels_shapes_and_values():
    X, Y = patterns.vowels()
    assert X.shape == (5, 35) and Y.shape == (5, 5)
    assert set(np.unique(X)) <= {0.0, 1.0}
    np.testing.assert_array_equal(Y, np.eye(5))


def test_vowels_and_digits_shapes_and_distinct():
    X, Y = patterns.vowels_and_digits()
    assert X.shape == (15, 35) and Y.shape == (15, 15)
    np.testing.assert_array_equal(Y, np.eye(15))
    # all 15 bitmaps differ pairwise in at least two pixels
    d = np.abs(X[:, None, :] - X[None, :, :]).sum(-1)
    assert np.all(d[~np.eye(15, dtype=bool)] >= 2)
    np.testing.assert_array_equal(X[:5], patterns.vowels()[0])


def test_bitmap_rows_are_row_major():
    X, _ = patterns.vowels()
    # "E": top row is all black, fourth row "####."
    e = X[1].reshape(7, 5)
    np.testing.assert_array_equal(e[0], np.ones(5))
    np.testing.assert_array_equal(e[3], [1, 1, 1, 1, 0])
    assert patterns.render("E").splitlines()[3] == "####."


def test_unknown_glyph_rejected():
    with pytest.raises(ValueError, match="char"):
        patterns.bitmap("Z")
    with pytest.raises(ValueError, match="chars"):
        patterns.dataset("AA")
