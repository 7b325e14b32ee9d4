"""The gradient checker itself: rel_error as cs231n defines it, and central differences."""
import numpy as np
import pytest

from minivae.gradcheck import numerical_gradient, rel_error


def test_rel_error_definition():
    assert rel_error(np.array([1.0]), np.array([1.0])) == 0
    assert rel_error(np.array([1.0, 3.0]), np.array([1.1, 3.0])) == pytest.approx(0.1 / 2.1)
    assert rel_error(np.array([0.0]), np.array([1e-12])) == pytest.approx(1e-12 / 1e-8)


@pytest.mark.parametrize("order, tol", [(2, 1e-7), (4, 1e-10)])
def test_numerical_gradient_of_a_cubic(order, tol):
    x = np.array([0.3, -1.2, 2.0])
    g = numerical_gradient(lambda: np.sum(x ** 3), x, h=1e-4 if order == 2 else 1e-3, order=order)
    assert rel_error(g, 3 * x ** 2) < tol
    np.testing.assert_array_equal(x, [0.3, -1.2, 2.0])  # restored


def test_bad_order():
    with pytest.raises(ValueError, match="order must be 2 or 4"):
        numerical_gradient(lambda: 0.0, np.zeros(1), order=3)


def test_checker_catches_a_wrong_gradient():
    x = np.array([0.5, 1.5])
    wrong = 2 * x ** 2  # the derivative of x^3 is 3x^2
    assert rel_error(wrong, numerical_gradient(lambda: np.sum(x ** 3), x)) > 0.1
