"""Bad input: the exception type and a message that says what was wrong."""
import numpy as np
import pytest

import signmf


@pytest.fixture(scope="module")
def model(W):
    return signmf.Model(dim=8, epochs=2).fit(W)


def test_error_hierarchy():
    assert issubclass(signmf.NotFoundError, KeyError)
    assert issubclass(signmf.ParseError, ValueError)
    assert issubclass(signmf.FileError, OSError)
    for cls in (signmf.ParseError, signmf.NotFoundError, signmf.FileError, signmf.RangeError):
        assert issubclass(cls, signmf.Error)
    assert str(signmf.NotFoundError("x 1")) == "x 1"  # not KeyError's quoted repr


@pytest.mark.parametrize("X, exc, text", [
    (np.zeros((3, 4), dtype=complex), TypeError, "complex"),
    (np.zeros((3, 4), dtype=bool), TypeError, "bool"),
    (np.zeros((3, 4), dtype=object), TypeError, "object"),
    (np.ones(5), ValueError, "2-D"),
    (np.ones((2, 2, 2)), ValueError, "2-D"),
    (42, TypeError, "int"),
    ((np.array([1.5, 2]), np.array([1, 2]), np.array([3.0, 4])), TypeError, "integer ids"),
    ((np.array([1, 2]), np.array([1]), np.array([3.0, 4])), ValueError, "equal length"),
    ((np.array([1, 2]), np.array([1, 2]), np.array([3.0, np.nan])), ValueError, "position 1"),
])
def test_bad_inputs(X, exc, text):
    with pytest.raises(exc, match=text):
        signmf.Model(dim=4).fit(X)


def test_nan_in_dense_names_the_element(W):
    X = W.copy()
    X[3, 7] = np.nan
    with pytest.raises(ValueError, match=r"\[3, 7\]") as e:
        signmf.Model(dim=4).fit(X)
    assert isinstance(e.value, signmf.RangeError)


def test_all_zero_is_empty():
    with pytest.raises(signmf.EmptyError, match="no ratings"):
        signmf.Model(dim=4).fit(np.zeros((3, 3)))


def test_sparse_negative_index_and_duplicates(W):
    sp = pytest.importorskip("scipy.sparse")
    X = sp.csr_matrix(W)
    X.indices[4] = -1
    with pytest.raises(ValueError, match="column index .* found -1"):
        signmf.Model(dim=4).fit(X)
    X = sp.csr_matrix(W)
    r0 = X.indptr[0]
    X.indices[r0 + 1] = X.indices[r0]
    with pytest.raises(signmf.DuplicateError, match="row 0: column"):
        signmf.Model(dim=4).fit(X)


def test_duplicate_triplets():
    with pytest.raises(signmf.DuplicateError, match="triplet 3"):
        signmf.Model(dim=4).fit((np.array([1, 2, 1]), np.array([1, 1, 1]),
                                 np.array([3.0, 4, 5])))


def test_parse_error_names_file_line_and_column(tmp_path):
    p = tmp_path / "bad.tsv"
    p.write_text("1\t1\t5\n2\t1\t4\n3\tx\t2\n")
    with pytest.raises(signmf.ParseError) as e:
        signmf.Model(dim=4).fit(p)
    assert f"{p}:3:" in str(e.value) and e.value.line == 3 and e.value.column > 0


def test_missing_file(tmp_path):
    with pytest.raises(signmf.FileError, match="nope.tsv") as e:
        signmf.Model(dim=4).fit(tmp_path / "nope.tsv")
    assert isinstance(e.value, OSError)
    with pytest.raises(signmf.FileError, match="nope.smf"):
        signmf.load(tmp_path / "nope.smf")


def test_corrupt_model_file(model, tmp_path):
    p = tmp_path / "m.smf"
    model.save(p)
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(signmf.Error, match="m.smf"):
        signmf.load(p, mmap=False)


@pytest.mark.parametrize("kw, text", [
    ({"dim": 0}, "dim"), ({"dim": 2.5}, "dim"), ({"lr": float("nan")}, "lr"),
    ({"lr": -1}, "lr"), ({"seed": -1}, "seed"), ({"seed": 2**32}, "seed"),
    ({"precision": "f16"}, "precision"), ({"method": "als"}, "notebook"),
    ({"sign_rule": "median"}, "sign_rule"), ({"sign_rule": "threshold"}, "threshold"),
    ({"sign_rule": "threshold:abc"}, "threshold"), ({"threshold": 3}, "threshold"),
    ({"threads": -1}, "threads"), ({"epochs": -1}, "epochs"),
])
def test_bad_parameters(kw, text):
    with pytest.raises((ValueError, TypeError), match=text):
        signmf.Model(**kw)


def test_method_validates_against_the_library():
    assert "notebook" in signmf.METHODS
    signmf.Model(method="notebook")


def test_unknown_ids(model):
    with pytest.raises(KeyError, match="found 100000") as e:
        model.recommend(100000)
    assert isinstance(e.value, signmf.NotFoundError)
    with pytest.raises(KeyError, match="found -1"):
        model.recommend(-1)
    with pytest.raises(KeyError, match="found 999"):
        model.recommend(np.array([0, 999]))
    with pytest.raises(KeyError, match="found 5000"):
        model.similar_items(5000)
    with pytest.raises(KeyError, match="found 5000"):
        model.recommend_new([1, 5000], [4.0, 2.0])


def test_bad_serving_arguments(model):
    with pytest.raises(TypeError, match="integer"):
        model.recommend(np.array([0.5, 1.0]))
    with pytest.raises(TypeError):
        model.recommend(True)
    with pytest.raises(ValueError, match="N"):
        model.recommend(0, N=-1)
    with pytest.raises(ValueError, match="equal lengths"):
        model.recommend_new([1, 2], [4.0])
    with pytest.raises(ValueError, match="finite"):
        model.recommend_new([1, 2], [4.0, np.inf])
    with pytest.raises(signmf.DuplicateError, match="rated twice"):
        model.recommend_new([1, 1], [4.0, 2.0])
    with pytest.raises(TypeError, match="item"):
        model.similar_items("3")
    with pytest.raises(ValueError, match="k"):
        model.evaluate(np.eye(3), k=0)


def test_not_fitted():
    m = signmf.Model()
    for call in (m.loss, lambda: m.user_factors, lambda: m.recommend(0),
                 lambda: m.save("x.smf")):
        with pytest.raises(signmf.NotFittedError, match="not fitted"):
            call()


def test_bad_progress(W):
    with pytest.raises(TypeError, match="progress"):
        signmf.Model(dim=4).fit(W, progress="yes")
