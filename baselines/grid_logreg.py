"""GridSearchCV for logistic regression: regularisation strength and pixel scaling.

    python baselines/grid_logreg.py --data DIR [--quick]
"""

from _common import main

GRID = {"C": [0.001, 0.01, 0.1, 1.0, 10.0], "mode": ["negative", "positive", "binary"]}
QUICK = {"C": [0.01, 1.0]}

if __name__ == "__main__":
    main("logreg", GRID, QUICK, __doc__)
